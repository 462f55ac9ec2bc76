/**
 * @file arch/arm64/include/arch/page.h
 */
#ifndef XTF_ARM64_PAGE_H
#define XTF_ARM64_PAGE_H

#define PAGE_SHIFT 12
#define PAGE_SIZE  (1UL << PAGE_SHIFT)

#endif /* XTF_ARM64_PAGE_H */
