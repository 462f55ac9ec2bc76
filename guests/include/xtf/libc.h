/**
 * @file include/xtf/libc.h
 *
 * The small subset of the C library the framework provides.
 */
#ifndef XTF_LIBC_H
#define XTF_LIBC_H

#include <xtf/compiler.h>
#include <xtf/types.h>

size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *s1, const char *s2);
int strncmp(const char *s1, const char *s2, size_t n);
char *strstr(const char *haystack, const char *needle);

void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *s1, const void *s2, size_t n);

/* True if all @n bytes at @s equal @c. */
bool memis(const void *s, int c, size_t n);

int vsnprintf(char *buf, size_t size, const char *fmt, va_list args)
    __printf(3, 0);
int snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

#endif /* XTF_LIBC_H */
