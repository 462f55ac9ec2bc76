/**
 * @file include/xtf/test.h
 *
 * What a test provides to the framework.
 */
#ifndef XTF_TEST_H
#define XTF_TEST_H

/* One line describing the test, printed at boot. */
extern const char test_title[];

/* The test.  Returning is fine: xtf_exit() is called afterwards. */
void test_main(void);

#endif /* XTF_TEST_H */
