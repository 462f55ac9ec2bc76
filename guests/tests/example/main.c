/**
 * @file tests/example/main.c
 *
 * The smallest test: print through the console and succeed.
 */
#include <xtf.h>

const char test_title[] = "Example: print Hello World";

void test_main(void)
{
    printk("Hello World\n");

    xtf_success(NULL);
}
