/*
 * The hypercall page: Xen writes its stubs here when the guest writes the
 * page's address to the hypercall MSR (arch_setup()).  It must be inside the
 * image, writable and executable.  Until then it holds int3.
 */
#include <arch/asm_macros.h>
#include <xen-abi-defs.h>

        .section .hypercall_page, "awx", @progbits
        .balign XEN_PAGE_SIZE
GLOBAL(hypercall_page)
        .fill   XEN_PAGE_SIZE, 1, 0xcc
        .type   hypercall_page, STT_OBJECT
        .size   hypercall_page, . - hypercall_page
