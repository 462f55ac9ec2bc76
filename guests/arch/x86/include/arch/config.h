/**
 * @file arch/x86/include/arch/config.h
 *
 * The environment a guest is built for (-DCONFIG_ENV_<env>).
 *
 *   env       mode                    paging
 *   hvm32     32-bit protected mode   none
 *   hvm32pse  32-bit protected mode   2 levels, 4 MiB PSE superpages
 *   hvm32pae  32-bit protected mode   3 levels (PAE), NX
 *   hvm64     64-bit long mode        4 levels, NX
 */
#ifndef XTF_X86_CONFIG_H
#define XTF_X86_CONFIG_H

#if defined(CONFIG_ENV_hvm32)
# define CONFIG_PAGING_LEVELS 0
# define ENVIRONMENT_NAME "hvm32"
# define ENVIRONMENT_DESCRIPTION "HVM 32bit (No paging)"
#elif defined(CONFIG_ENV_hvm32pse)
# define CONFIG_PAGING_LEVELS 2
# define ENVIRONMENT_NAME "hvm32pse"
# define ENVIRONMENT_DESCRIPTION "HVM 32bit (PSE 2 levels)"
#elif defined(CONFIG_ENV_hvm32pae)
# define CONFIG_PAGING_LEVELS 3
# define ENVIRONMENT_NAME "hvm32pae"
# define ENVIRONMENT_DESCRIPTION "HVM 32bit (PAE 3 levels)"
#elif defined(CONFIG_ENV_hvm64)
# define CONFIG_PAGING_LEVELS 4
# define ENVIRONMENT_NAME "hvm64"
# define ENVIRONMENT_DESCRIPTION "HVM 64bit (Long mode 4 levels)"
#else
# error "Build with -DCONFIG_ENV_<hvm32|hvm32pse|hvm32pae|hvm64>"
#endif

#if defined(CONFIG_ENV_hvm64) != defined(__x86_64__)
# error "hvm64 is the only 64-bit environment"
#endif

/* Where every guest is linked and loaded (identity mapped). */
#define XTF_LOAD_ADDR 0x100000

#endif /* XTF_X86_CONFIG_H */
