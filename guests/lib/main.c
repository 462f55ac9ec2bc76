/**
 * @file lib/main.c
 *
 * xtf_main(): entered from head.S once the environment is set up.
 */
#include <xtf.h>
#include <arch/setup.h>

void __noreturn xtf_main(void)
{
    arch_setup();

    printk("--- Xen Test Framework ---\n");
    printk("Environment: %s\n", ENVIRONMENT_DESCRIPTION);
#ifdef __aarch64__
    printk("Xen %u.%u, device tree at %#lx\n", xen_major, xen_minor, arm64_dtb_pa);
#else
    if ( xen_present )
        printk("Xen %u.%u, CPUID leaves at %#x\n", xen_major, xen_minor,
               xen_cpuid_base);
    else
        printk("Xen not detected: running on bare (virtual) hardware\n");
    if ( !pvh_start_info || pvh_start_info->magic != XEN_HVM_START_MAGIC_VALUE )
        panic("No hvm_start_info at %#x\n", pvh_start_info_pa);
#endif
    printk("%s\n", test_title);

    test_main();

    xtf_exit();
}
