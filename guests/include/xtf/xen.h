/**
 * @file include/xtf/xen.h
 *
 * Xen detection and the guest's view of Xen.  Every Xen number and struct
 * layout comes from the generated xen-abi.h (hvsim.abi.cheader).
 */
#ifndef XTF_XEN_H
#define XTF_XEN_H

#include <xtf/types.h>
#include <xen-abi.h>

/* Set at boot if CPUID has the "XenVMMXenVMM" signature. */
extern bool xen_present;

/* The base leaf of Xen's CPUID leaves (0x40000000 unless Viridian is on). */
extern uint32_t xen_cpuid_base;

/* Xen's major/minor version, from CPUID leaf base+1 (0 without Xen). */
extern unsigned int xen_major, xen_minor;

/* The hvm_start_info the PVH entry handed us in %ebx. */
extern const struct hvm_start_info *pvh_start_info;

/* The page Xen fills with hypercall stubs (HYPERCALL_PAGE_SLOT_SIZE each). */
extern uint8_t hypercall_page[XEN_PAGE_SIZE];

/* Name of a Xen errno ("EPERM"), or NULL if unknown; takes a positive value. */
const char *xen_errno_name(long err);

#endif /* XTF_XEN_H */
