/**
 * @file arch/arm64/include/arch/config.h
 *
 * The arm64 environment: an EL1 kernel booted as Xen boots an Arm domain.
 */
#ifndef XTF_ARM64_CONFIG_H
#define XTF_ARM64_CONFIG_H

#if !defined(CONFIG_ENV_arm64) || !defined(__aarch64__)
# error "Build with aarch64-linux-gnu-gcc -DCONFIG_ENV_arm64"
#endif

#define ENVIRONMENT_NAME "arm64"
#define ENVIRONMENT_DESCRIPTION "arm64 EL1 (MMU off)"

/* Where every guest is linked and loaded: GUEST_RAM0_BASE + the Image's usual text_offset. */
#define XTF_LOAD_ADDR 0x40080000

#endif /* XTF_ARM64_CONFIG_H */
