/**
 * @file include/xtf/report.h
 *
 * Test status reporting, with XTF's semantics: the status only gets worse
 * (SUCCESS < SKIP < ERROR < FAILURE), failure messages are printed as they
 * happen, and xtf_exit() prints the single final "Test result: X" line.
 */
#ifndef XTF_REPORT_H
#define XTF_REPORT_H

#include <xtf/compiler.h>
#include <xtf/types.h>

enum test_status {
    STATUS_RUNNING,  /* Nothing reported yet. */
    STATUS_SUCCESS,
    STATUS_SKIP,     /* The test could not run here: not a failure. */
    STATUS_ERROR,    /* The test itself went wrong. */
    STATUS_FAILURE,  /* The thing under test misbehaved. */
};

/* Each takes an optional message (fmt may be NULL). */
void xtf_success(const char *fmt, ...) __printf(1, 2);
void xtf_skip(const char *fmt, ...) __printf(1, 2);
void xtf_error(const char *fmt, ...) __printf(1, 2);
void xtf_failure(const char *fmt, ...) __printf(1, 2);

enum test_status xtf_status(void);
bool xtf_status_reported(void);

/* Print "Test result: <status>" and end the domain. */
void __noreturn xtf_exit(void);

/* Something impossible happened: print and crash the domain. */
void __noreturn panic(const char *fmt, ...) __printf(1, 2);

/*
 * Counted checks.  Each call counts one check; a failed one prints
 * "Fail: <message>" and makes the test a FAILURE.  xtf_exit() prints
 * "Checks: N run, M failed" so a runner can tell work was done.
 */
bool xtf_check(bool ok, const char *fmt, ...) __printf(2, 3);
bool xtf_check_eq(const char *what, unsigned long long got,
                  unsigned long long exp);
bool xtf_check_rc(const char *what, long got, long exp);

extern unsigned int xtf_nr_checks, xtf_nr_failed_checks;

#endif /* XTF_REPORT_H */
