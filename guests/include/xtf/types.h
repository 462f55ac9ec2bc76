/**
 * @file include/xtf/types.h
 *
 * The compiler's freestanding headers are all the C library types we need.
 */
#ifndef XTF_TYPES_H
#define XTF_TYPES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#endif /* XTF_TYPES_H */
