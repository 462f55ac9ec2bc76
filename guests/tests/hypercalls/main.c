/**
 * @file tests/hypercalls/main.c
 *
 * Hypercalls with good and bad arguments, against the exact results of a
 * debug build of Xen for a plain PVH domU (not a console domain), or on
 * arm64 for a domU of Xen on Arm: console_io, xen_version, sched_op, hvm_op
 * (every HVM param), memory_op, unknown hypercall numbers, and on x86
 * hypercalls from ring 3 and (hvm64) the 32-bit ABI from a
 * compatibility-mode code segment.
 *
 * Where Xen on Arm differs (its hypercall table in hypercall-defs.c,
 * xen/arch/arm/hvm.c, xen/arch/arm/mm.c): hvm_op has the parameters and
 * guest_request_vm_event only, with five readable parameters and none a
 * guest may set; memory_op has no memory map and no gmfn spaces;
 * set_timer_op and the deprecated hypercalls are -ENOSYS; the feature map
 * has the SMC calling convention instead of x86's HVM bits.  (hvc from EL0
 * is an undefined instruction: arm64-traps tests it.)
 */
#include <xtf.h>
#ifdef __aarch64__
#include <arch/setup.h>
#include <xtf/ctl.h>
#endif

const char test_title[] = "Hypercalls: good and bad arguments";

/*
 * Guest-physical memory that is not populated (RAM is [0, 128 MiB) on x86,
 * from 0x40000000 on Arm), and identity mapped where there is paging: Xen's
 * copies to and from it fail.
 */
#define BAD_PTR ((void *)0xdead0000ul)

/* A domid that exists nowhere. */
#define NO_SUCH_DOMID (DOMID_FIRST_RESERVED - 1)

/* Xen's e820 entry (XENMEM_memory_map), not in xen-abi.h. */
struct e820entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __packed;
_Static_assert(sizeof(struct e820entry) == E820_ENTRY_SIZE, "e820 entry layout");

static domid_t own_domid;

static void test_console_io(void)
{
    static const char msg[] = "console_io: CONSOLEIO_write works\n";
    char buf[16];

    printk("Testing console_io\n");
    xtf_check_rc("CONSOLEIO_write",
                 hypercall_console_io(CONSOLEIO_write, strlen(msg), msg), 0);
    xtf_check_rc("CONSOLEIO_write, count 0, bad pointer",
                 hypercall_console_io(CONSOLEIO_write, 0, BAD_PTR), 0);
    xtf_check_rc("CONSOLEIO_write, bad pointer",
                 hypercall_console_io(CONSOLEIO_write, 10, BAD_PTR), -EFAULT);
    xtf_check_rc("CONSOLEIO_read (not a console domain)",
                 hypercall_console_io(CONSOLEIO_read, sizeof(buf), buf), -EPERM);
    xtf_check_rc("console_io, unknown command",
                 hypercall_console_io(CONSOLEIO_read + 1, 0, NULL), -EPERM);
}

/* A NUL-terminated string, zero padded to @size, and nothing written past it. */
static bool check_padded_string(const char *what, const char *buf, size_t size,
                                size_t slack)
{
    size_t len = strnlen(buf, size);

    return (xtf_check(len < size, "%s: not NUL-terminated in %u bytes", what,
                      (unsigned int)size) &&
            xtf_check(memis(buf + len, 0, size - len),
                      "%s: not zero padded to %u bytes", what, (unsigned int)size) &&
            xtf_check(memis(buf + size, 0xaa, slack),
                      "%s: written past %u bytes", what, (unsigned int)size));
}

#define SLACK 16

/* Sub-ops that copy a fixed-size string into the guest's buffer. */
static void check_string_op(const char *what, unsigned int cmd, char *buf,
                            size_t size)
{
    char msg[64];

    memset(buf, 0xaa, size + SLACK);
    snprintf(msg, sizeof(msg), "xen_version %s", what);
    if ( xtf_check_rc(msg, hypercall_xen_version(cmd, buf), 0) &&
         check_padded_string(msg, buf, size, SLACK) )
        printk("  %s: \"%s\"\n", what, buf);

    snprintf(msg, sizeof(msg), "xen_version %s, bad pointer", what);
    xtf_check_rc(msg, hypercall_xen_version(cmd, BAD_PTR), -EFAULT);
}

/* The variable-length sub-ops (XENVER_*2) against their fixed-size versions. */
static struct {
    struct xen_varbuf hdr;
    char buf[XEN_CAPABILITIES_INFO_LEN + SLACK];
} vb;
_Static_assert(offsetof(typeof(vb), buf) == sizeof(struct xen_varbuf), "varbuf");

static void check_varbuf_op(const char *what, unsigned int cmd, const char *str)
{
    long sz = strlen(str), rc;
    char msg[64];

    snprintf(msg, sizeof(msg), "xen_version %s, size query", what);
    if ( !xtf_check_rc(msg, hypercall_xen_version(cmd, NULL), sz) )
        return;

    if ( sz )
    {
        vb.hdr.len = sz - 1;
        snprintf(msg, sizeof(msg), "xen_version %s, buffer too small", what);
        xtf_check_rc(msg, hypercall_xen_version(cmd, &vb), -ENOBUFS);
    }

    vb.hdr.len = sizeof(vb.buf);
    memset(vb.buf, 0xaa, sizeof(vb.buf));
    rc = hypercall_xen_version(cmd, &vb);
    snprintf(msg, sizeof(msg), "xen_version %s", what);
    if ( xtf_check_rc(msg, rc, sz) )
    {
        xtf_check(!memcmp(vb.buf, str, sz), "%s: wrong string", msg);
        xtf_check(vb.buf[sz] == (char)0xaa, "%s: wrote a NUL terminator", msg);
        xtf_check_eq("xen_varbuf.len after the call", vb.hdr.len, sizeof(vb.buf));
    }

    snprintf(msg, sizeof(msg), "xen_version %s, bad pointer", what);
    xtf_check_rc(msg, hypercall_xen_version(cmd, BAD_PTR), -EFAULT);
}

static void test_xen_version(void)
{
    static char extraversion[XEN_EXTRAVERSION_LEN + SLACK];
    static char changeset[XEN_CHANGESET_INFO_LEN + SLACK];
    static char capabilities[XEN_CAPABILITIES_INFO_LEN + SLACK];
    static char cmdline[XEN_COMMANDLINE_LEN];
    static union {
        struct xen_compile_info ci;
        char raw[sizeof(struct xen_compile_info) + SLACK];
    } compile;
    uint8_t buf[sizeof(struct xen_platform_parameters) + SLACK];
    uint8_t handle[XEN_DOMAIN_HANDLE_LEN + SLACK];
    struct xen_feature_info fi;
    long rc;

    printk("Testing xen_version\n");

    rc = hypercall_xen_version(XENVER_version, NULL);
#ifdef __aarch64__
    {
        /* The device tree's /hypervisor says "xen,xen-<major>.<minor>" first. */
        const char *compat = fdt_top_prop("hypervisor", "compatible");
        char exp[32];

        snprintf(exp, sizeof(exp), "xen,xen-%lu.%lu", rc >> 16, rc & 0xffff);
        xtf_check(compat && !strcmp(compat, exp),
                  "XENVER_version %#lx, device tree /hypervisor compatible \"%s\"", rc,
                  compat ?: "(none)");
    }
#else
    xtf_check_eq("XENVER_version = CPUID leaf base+1 EAX", rc,
                 cpuid_eax(xen_cpuid_base + 1));
#endif

    check_string_op("extraversion", XENVER_extraversion, extraversion,
                    XEN_EXTRAVERSION_LEN);
    check_string_op("changeset", XENVER_changeset, changeset, XEN_CHANGESET_INFO_LEN);
    check_string_op("capabilities", XENVER_capabilities, capabilities,
                    XEN_CAPABILITIES_INFO_LEN);
#ifdef __aarch64__
    xtf_check(!strcmp(capabilities, "xen-3.0-aarch64 "),
              "capabilities are not Xen on Arm's (no AArch32 guests)");
#else
    xtf_check(strstr(capabilities, "hvm-3.0-x86_32 ") &&
              strstr(capabilities, "hvm-3.0-x86_64 "),
              "capabilities lack the hvm-3.0-x86_32/64 tokens");
#endif

    memset(&compile, 0xaa, sizeof(compile));
    if ( xtf_check_rc("xen_version compile_info",
                      hypercall_xen_version(XENVER_compile_info, &compile), 0) )
    {
        check_padded_string("compiler", compile.ci.compiler,
                            sizeof(compile.ci.compiler), 0);
        check_padded_string("compile_by", compile.ci.compile_by,
                            sizeof(compile.ci.compile_by), 0);
        check_padded_string("compile_domain", compile.ci.compile_domain,
                            sizeof(compile.ci.compile_domain), 0);
        check_padded_string("compile_date", compile.ci.compile_date,
                            sizeof(compile.ci.compile_date), SLACK);
    }
    xtf_check_rc("xen_version compile_info, bad pointer",
                 hypercall_xen_version(XENVER_compile_info, BAD_PTR), -EFAULT);

    /* HVM: virt_start is 0, in this ABI's xen_ulong_t (8 or 4 bytes). */
    memset(buf, 0xaa, sizeof(buf));
    if ( xtf_check_rc("xen_version platform_parameters",
                      hypercall_xen_version(XENVER_platform_parameters, buf), 0) )
        xtf_check(memis(buf, 0, sizeof(struct xen_platform_parameters)) &&
                  memis(buf + sizeof(struct xen_platform_parameters), 0xaa, SLACK),
                  "platform_parameters: expected %u zero bytes",
                  (unsigned int)sizeof(struct xen_platform_parameters));
    xtf_check_rc("xen_version platform_parameters, bad pointer",
                 hypercall_xen_version(XENVER_platform_parameters, BAD_PTR), -EFAULT);

    fi = (struct xen_feature_info){ .submap_idx = 0 };
    if ( xtf_check_rc("xen_version get_features",
                      hypercall_xen_version(XENVER_get_features, &fi), 0) )
#ifdef __aarch64__
        xtf_check_eq("get_features submap 0 (Arm domU)", fi.submap,
                     (1u << XENFEAT_writable_page_tables) |
                     (1u << XENFEAT_auto_translated_physmap) |
                     (1u << XENFEAT_memory_op_vnode_supported) |
                     (1u << XENFEAT_ARM_SMCCC_supported) |
                     (1u << XENFEAT_not_direct_mapped) |
                     (1u << XENFEAT_runstate_phys_area));
#else
        xtf_check_eq("get_features submap 0 (PVH domU)", fi.submap,
                     (1u << XENFEAT_writable_page_tables) |
                     (1u << XENFEAT_auto_translated_physmap) |
                     (1u << XENFEAT_hvm_callback_vector) |
                     (1u << XENFEAT_hvm_safe_pvclock) |
                     (1u << XENFEAT_memory_op_vnode_supported) |
                     (1u << XENFEAT_not_direct_mapped) |
                     (1u << XENFEAT_runstate_phys_area) |
                     (1u << XENFEAT_vcpu_time_phys_area) |
                     (1u << XENFEAT_dm_msix_all_writes));
#endif
    fi = (struct xen_feature_info){ .submap_idx = XENFEAT_NR_SUBMAPS };
    xtf_check_rc("xen_version get_features, no such submap",
                 hypercall_xen_version(XENVER_get_features, &fi), -EINVAL);
    xtf_check_rc("xen_version get_features, bad pointer",
                 hypercall_xen_version(XENVER_get_features, BAD_PTR), -EFAULT);

    xtf_check_rc("xen_version pagesize",
                 hypercall_xen_version(XENVER_pagesize, NULL), XEN_PAGE_SIZE);
    xtf_check_rc("xen_version pagesize, non-NULL argument",
                 hypercall_xen_version(XENVER_pagesize, buf), -EINVAL);

    memset(handle, 0xaa, sizeof(handle));
    if ( xtf_check_rc("xen_version guest_handle",
                      hypercall_xen_version(XENVER_guest_handle, handle), 0) )
        xtf_check(memis(handle + XEN_DOMAIN_HANDLE_LEN, 0xaa, SLACK),
                  "guest_handle: wrote more than %u bytes", XEN_DOMAIN_HANDLE_LEN);
    xtf_check_rc("xen_version guest_handle, bad pointer",
                 hypercall_xen_version(XENVER_guest_handle, BAD_PTR), -EFAULT);

    /* Denied to a domU: "<denied>" and success, not an error. */
    memset(cmdline, 0xaa, sizeof(cmdline));
    if ( xtf_check_rc("xen_version commandline",
                      hypercall_xen_version(XENVER_commandline, cmdline), 0) )
    {
        xtf_check(!strcmp(cmdline, "<denied>"), "commandline: \"%.16s\", not <denied>",
                  cmdline);
        xtf_check(memis(cmdline + sizeof("<denied>"), 0xaa,
                        sizeof(cmdline) - sizeof("<denied>")),
                  "commandline: wrote more than \"<denied>\"");
    }
    xtf_check_rc("xen_version commandline, bad pointer",
                 hypercall_xen_version(XENVER_commandline, BAD_PTR), -EFAULT);

    vb.hdr.len = sizeof(vb.buf);
    xtf_check_rc("xen_version build_id (denied)",
                 hypercall_xen_version(XENVER_build_id, &vb), -EPERM);
    xtf_check_rc("xen_version commandline2 (denied)",
                 hypercall_xen_version(XENVER_commandline2, &vb), -EPERM);
    check_varbuf_op("extraversion2", XENVER_extraversion2, extraversion);
    check_varbuf_op("capabilities2", XENVER_capabilities2, capabilities);
    check_varbuf_op("changeset2", XENVER_changeset2, changeset);

    xtf_check_rc("xen_version, unknown sub-op",
                 hypercall_xen_version(XENVER_commandline2 + 1, NULL), -ENOSYS);
    xtf_check_rc("xen_version, sub-op 0x7fffffff",
                 hypercall_xen_version(0x7fffffff, NULL), -ENOSYS);
}

static void test_sched_op(void)
{
    struct sched_shutdown shutdown = { .reason = SHUTDOWN_poweroff };
    struct sched_remote_shutdown remote = { .reason = SHUTDOWN_poweroff };
    struct sched_pin_override pin = { .pcpu = -1 };

    printk("Testing sched_op\n");

    xtf_check_rc("SCHEDOP_yield", hypercall_sched_op(SCHEDOP_yield, NULL), 0);
    /* Latches the code the final SCHEDOP_shutdown will use anyway. */
    xtf_check_rc("SCHEDOP_shutdown_code",
                 hypercall_sched_op(SCHEDOP_shutdown_code, &shutdown), 0);

    remote.domain_id = own_domid;
    xtf_check_rc("SCHEDOP_remote_shutdown of itself (no privilege)",
                 hypercall_sched_op(SCHEDOP_remote_shutdown, &remote), -EPERM);
    remote.domain_id = DOMID_SELF;
    xtf_check_rc("SCHEDOP_remote_shutdown of DOMID_SELF (not resolved)",
                 hypercall_sched_op(SCHEDOP_remote_shutdown, &remote), -ESRCH);
    xtf_check_rc("SCHEDOP_pin_override (not the hardware domain)",
                 hypercall_sched_op(SCHEDOP_pin_override, &pin), -EPERM);

    xtf_check_rc("SCHEDOP_shutdown, bad pointer",
                 hypercall_sched_op(SCHEDOP_shutdown, BAD_PTR), -EFAULT);
    xtf_check_rc("SCHEDOP_shutdown_code, bad pointer",
                 hypercall_sched_op(SCHEDOP_shutdown_code, BAD_PTR), -EFAULT);
    xtf_check_rc("SCHEDOP_remote_shutdown, bad pointer",
                 hypercall_sched_op(SCHEDOP_remote_shutdown, BAD_PTR), -EFAULT);

    xtf_check_rc("sched_op, unknown sub-op",
                 hypercall_sched_op(SCHEDOP_pin_override + 1, NULL), -ENOSYS);
}

/*
 * HVM params: what a PVH domU gets for each index on itself.  Indices that
 * public/hvm/params.h marks deprecated or that are unused have no name in
 * xen-abi.h.
 */
#define PARAM_UNUSED_3                  3
#define PARAM_PAE_ENABLED               4   /* Deprecated. */
#define PARAM_UNUSED_7                  7
#define PARAM_UNUSED_8                  8
#define PARAM_DM_DOMAIN                 13  /* Deprecated. */
#define PARAM_MEMORY_EVENT_CR0          20  /* Deprecated, to ... */
#define PARAM_MEMORY_EVENT_SINGLE_STEP  25  /* ... (NESTEDHVM is 24). */
#define PARAM_MEMORY_EVENT_MSR          30  /* Deprecated. */

struct param_rule {
    long get, set;      /* Results of get, and of set (with value 0). */
};

/* Settable ones are marked set = 0 and tested one by one below. */
#define GUEST_PARAM     { 0, 0 }
#define READ_ONLY       { 0, -EPERM }
#define PRIVATE         { -EPERM, -EPERM }
#define DEPRECATED      { -EINVAL, -EINVAL }

#ifdef __aarch64__
/*
 * Xen on Arm (hvm_allow_{get,set}_param()): five parameters a domain reads
 * and may not set, one for the toolstack alone, every other index -EINVAL.
 */
#define GUEST_READS     { 0, -EPERM }
#define INVALID         { -EINVAL, -EINVAL }

static const struct param_rule param_rules[HVM_NR_PARAMS] = {
    [0 ... HVM_NR_PARAMS - 1]           = INVALID,
    [HVM_PARAM_CALLBACK_IRQ]            = GUEST_READS,
    [HVM_PARAM_STORE_PFN]               = GUEST_READS,
    [HVM_PARAM_STORE_EVTCHN]            = GUEST_READS,
    [HVM_PARAM_CONSOLE_PFN]             = GUEST_READS,
    [HVM_PARAM_CONSOLE_EVTCHN]          = GUEST_READS,
    [HVM_PARAM_MONITOR_RING_PFN]        = PRIVATE,
};
#else
static const struct param_rule param_rules[HVM_NR_PARAMS] = {
    [HVM_PARAM_CALLBACK_IRQ]            = GUEST_PARAM,
    [HVM_PARAM_STORE_PFN]               = READ_ONLY,
    [HVM_PARAM_STORE_EVTCHN]            = GUEST_PARAM,
    [PARAM_UNUSED_3]                    = PRIVATE,
    [PARAM_PAE_ENABLED]                 = DEPRECATED,
    [HVM_PARAM_IOREQ_PFN]               = PRIVATE,
    [HVM_PARAM_BUFIOREQ_PFN]            = PRIVATE,
    [PARAM_UNUSED_7]                    = PRIVATE,
    [PARAM_UNUSED_8]                    = PRIVATE,
    [HVM_PARAM_VIRIDIAN]                = PRIVATE,
    [HVM_PARAM_TIMER_MODE]              = PRIVATE,
    [HVM_PARAM_HPET_ENABLED]            = PRIVATE,
    [HVM_PARAM_IDENT_PT]                = PRIVATE,
    [PARAM_DM_DOMAIN]                   = DEPRECATED,
    [HVM_PARAM_ACPI_S_STATE]            = PRIVATE,
    [HVM_PARAM_VM86_TSS]                = GUEST_PARAM,
    [HVM_PARAM_VPT_ALIGN]               = PRIVATE,
    [HVM_PARAM_CONSOLE_PFN]             = READ_ONLY,
    [HVM_PARAM_CONSOLE_EVTCHN]          = GUEST_PARAM,
    [HVM_PARAM_ACPI_IOPORTS_LOCATION]   = { 0, -ENODEV },   /* No vPM on PVH. */
    [PARAM_MEMORY_EVENT_CR0 ... PARAM_MEMORY_EVENT_SINGLE_STEP] = DEPRECATED,
    [HVM_PARAM_BUFIOREQ_EVTCHN]         = DEPRECATED,
    [HVM_PARAM_PAGING_RING_PFN]         = PRIVATE,
    [HVM_PARAM_MONITOR_RING_PFN]        = PRIVATE,
    [HVM_PARAM_SHARING_RING_PFN]        = PRIVATE,
    [PARAM_MEMORY_EVENT_MSR]            = DEPRECATED,
    [HVM_PARAM_TRIPLE_FAULT_REASON]     = PRIVATE,
    [HVM_PARAM_IOREQ_SERVER_PFN]        = PRIVATE,
    [HVM_PARAM_NR_IOREQ_SERVER_PAGES]   = PRIVATE,
    [HVM_PARAM_VM_GENERATION_ID_ADDR]   = GUEST_PARAM,
    [HVM_PARAM_ALTP2M]                  = READ_ONLY,
    [HVM_PARAM_X87_FIP_WIDTH]           = GUEST_PARAM,
    [HVM_PARAM_VM86_TSS_SIZED]          = GUEST_PARAM,
    [HVM_PARAM_MCA_CAP]                 = PRIVATE,
};
#endif

static uint64_t get_param(unsigned int idx)
{
    uint64_t val = ~0ull;
    char msg[40];

    snprintf(msg, sizeof(msg), "get param %u", idx);
    xtf_check_rc(msg, hvm_get_param(idx, &val), 0);
    return val;
}

#ifndef __aarch64__     /* Arm: a domain sets none of its params */
/* Set, read back @exp, return the value read. */
static void check_set_param(unsigned int idx, uint64_t val, uint64_t exp)
{
    char msg[48];

    snprintf(msg, sizeof(msg), "set param %u = %#llx", idx, (unsigned long long)val);
    if ( xtf_check_rc(msg, hvm_set_param(idx, val), 0) )
    {
        snprintf(msg, sizeof(msg), "param %u read back", idx);
        xtf_check_eq(msg, get_param(idx), exp);
    }
}
#endif

static void test_hvm_param_table(void)
{
    unsigned int idx;
    uint64_t val;
    char msg[48];

    for ( idx = 0; idx <= HVM_NR_PARAMS + 1; idx++ )
    {
        struct param_rule r = { -EINVAL, -EINVAL };     /* >= HVM_NR_PARAMS */

        if ( idx < HVM_NR_PARAMS )
            r = param_rules[idx];

        snprintf(msg, sizeof(msg), "HVMOP_get_param %u", idx);
        xtf_check_rc(msg, hvm_get_param(idx, &val), r.get);
        if ( r.set )
        {
            snprintf(msg, sizeof(msg), "HVMOP_set_param %u", idx);
            xtf_check_rc(msg, hvm_set_param(idx, 0), r.set);
        }
    }
}

#ifdef __aarch64__
/* What the toolstack put there (libxl's Arm domain build, xg_dom_arm.c). */
static void test_guest_params(void)
{
    xtf_check_eq("CALLBACK_IRQ (PPI 31, active-low level)", get_param(HVM_PARAM_CALLBACK_IRQ),
                 (uint64_t)HVM_PARAM_CALLBACK_TYPE_PPI << HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT |
                 HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL <<
                 HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_SHIFT | GUEST_EVTCHN_PPI);
    xtf_check_eq("STORE_PFN (xenstore magic page)", get_param(HVM_PARAM_STORE_PFN),
                 (GUEST_MAGIC_BASE >> XEN_PAGE_SHIFT) + XENSTORE_PFN_OFFSET);
    xtf_check_eq("CONSOLE_PFN (console magic page)", get_param(HVM_PARAM_CONSOLE_PFN),
                 (GUEST_MAGIC_BASE >> XEN_PAGE_SHIFT) + CONSOLE_PFN_OFFSET);
    xtf_check(get_param(HVM_PARAM_STORE_EVTCHN) && get_param(HVM_PARAM_CONSOLE_EVTCHN),
              "no xenstore or console event channel");
}
#else
/* The params a domU may set, with values that have no side effect on it. */
static void test_guest_params(void)
{
    uint64_t callback = ((uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR <<
                         HVM_PARAM_CALLBACK_IRQ_TYPE_SHIFT) | 0xf3;
    uint64_t orig;

    xtf_check_eq("STORE_PFN (xenstore special page)", get_param(HVM_PARAM_STORE_PFN),
                 X86_HVM_END_SPECIAL_REGION - X86_HVM_NR_SPECIAL_PAGES +
                 SPECIALPAGE_XENSTORE);
    xtf_check_eq("CONSOLE_PFN (console special page)", get_param(HVM_PARAM_CONSOLE_PFN),
                 X86_HVM_END_SPECIAL_REGION - X86_HVM_NR_SPECIAL_PAGES +
                 SPECIALPAGE_CONSOLE);
    xtf_check_eq("ALTP2M (disabled)", get_param(HVM_PARAM_ALTP2M), 0);
    xtf_check_eq("ACPI_IOPORTS_LOCATION", get_param(HVM_PARAM_ACPI_IOPORTS_LOCATION), 0);

    /* A vector callback, then 0: ignored on PVH, but stored. */
    check_set_param(HVM_PARAM_CALLBACK_IRQ, callback, callback);
    check_set_param(HVM_PARAM_CALLBACK_IRQ, 0, 0);

    /* Stored verbatim: Xen does not use them. */
    orig = get_param(HVM_PARAM_STORE_EVTCHN);
    check_set_param(HVM_PARAM_STORE_EVTCHN, 0x7ff, 0x7ff);
    check_set_param(HVM_PARAM_STORE_EVTCHN, orig, orig);
    orig = get_param(HVM_PARAM_CONSOLE_EVTCHN);
    check_set_param(HVM_PARAM_CONSOLE_EVTCHN, 0x7fe, 0x7fe);
    check_set_param(HVM_PARAM_CONSOLE_EVTCHN, orig, orig);
    check_set_param(HVM_PARAM_VM_GENERATION_ID_ADDR, 0x12345000, 0x12345000);
    check_set_param(HVM_PARAM_VM_GENERATION_ID_ADDR, 0, 0);

    orig = get_param(HVM_PARAM_X87_FIP_WIDTH);
    check_set_param(HVM_PARAM_X87_FIP_WIDTH, 4, 4);
    check_set_param(HVM_PARAM_X87_FIP_WIDTH, 8, 8);
    xtf_check_rc("set X87_FIP_WIDTH = 3", hvm_set_param(HVM_PARAM_X87_FIP_WIDTH, 3),
                 -EINVAL);
    check_set_param(HVM_PARAM_X87_FIP_WIDTH, orig, orig);

    /*
     * VM86_TSS is stored in VM86_TSS_SIZED with a default size of 128
     * (value | 128 << 32); VM86_TSS reads the low 32 bits.  Only safe values:
     * Xen crashes a domain that sets an address >= 4 GiB or a size < 104.
     */
    check_set_param(HVM_PARAM_VM86_TSS, 0x1000, 0x1000);
    xtf_check_eq("VM86_TSS_SIZED after setting VM86_TSS",
                 get_param(HVM_PARAM_VM86_TSS_SIZED), 0x1000 | 128ull << 32);
    check_set_param(HVM_PARAM_VM86_TSS_SIZED, 0x200ull << 32 | 0x2000,
                    0x200ull << 32 | 0x2000);
    xtf_check_eq("VM86_TSS after setting VM86_TSS_SIZED",
                 get_param(HVM_PARAM_VM86_TSS), 0x2000);
    check_set_param(HVM_PARAM_VM86_TSS, 0, 0);
}
#endif

static void test_hvm_op(void)
{
    struct xen_hvm_param p;
    struct xen_hvm_get_time t1, t2;
    struct xen_hvm_evtchn_upcall_vector uv;

    printk("Testing hvm_op\n");
    test_hvm_param_table();
    test_guest_params();

    p = (struct xen_hvm_param){ .domid = NO_SUCH_DOMID, .index = HVM_PARAM_STORE_PFN };
    xtf_check_rc("HVMOP_get_param, no such domain",
                 hypercall_hvm_op(HVMOP_get_param, &p), -ESRCH);
    p.index = HVM_PARAM_STORE_EVTCHN;
    xtf_check_rc("HVMOP_set_param, no such domain",
                 hypercall_hvm_op(HVMOP_set_param, &p), -ESRCH);
    xtf_check_rc("HVMOP_get_param, bad pointer",
                 hypercall_hvm_op(HVMOP_get_param, BAD_PTR), -EFAULT);
    xtf_check_rc("HVMOP_set_param, bad pointer",
                 hypercall_hvm_op(HVMOP_set_param, BAD_PTR), -EFAULT);

    xtf_check_rc("HVMOP_guest_request_vm_event",
                 hypercall_hvm_op(HVMOP_guest_request_vm_event, NULL), 0);
    xtf_check_rc("HVMOP_guest_request_vm_event, non-NULL argument",
                 hypercall_hvm_op(HVMOP_guest_request_vm_event, &p), -EINVAL);

#ifdef __aarch64__
    /* Xen on Arm's hvm_op has nothing else. */
    xtf_check_rc("HVMOP_get_time (Arm)", hypercall_hvm_op(HVMOP_get_time, &t1), -ENOSYS);
    xtf_check_rc("HVMOP_flush_tlbs (Arm)", hypercall_hvm_op(HVMOP_flush_tlbs, NULL), -ENOSYS);
    xtf_check_rc("HVMOP_altp2m (Arm)", hypercall_hvm_op(HVMOP_altp2m, NULL), -ENOSYS);
    uv = (struct xen_hvm_evtchn_upcall_vector){ .vcpu = 0, .vector = 0xf3 };
    xtf_check_rc("HVMOP_set_evtchn_upcall_vector (Arm)",
                 hypercall_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv), -ENOSYS);
    (void)t2;
#else
    if ( xtf_check_rc("HVMOP_get_time", hypercall_hvm_op(HVMOP_get_time, &t1), 0) &&
         xtf_check_rc("HVMOP_get_time", hypercall_hvm_op(HVMOP_get_time, &t2), 0) )
        xtf_check(t1.now && t2.now >= t1.now, "HVMOP_get_time not monotonic: %llu, %llu",
                  (unsigned long long)t1.now, (unsigned long long)t2.now);
    xtf_check_rc("HVMOP_get_time, bad pointer",
                 hypercall_hvm_op(HVMOP_get_time, BAD_PTR), -EFAULT);

    xtf_check_rc("HVMOP_flush_tlbs", hypercall_hvm_op(HVMOP_flush_tlbs, NULL), 0);
    xtf_check_rc("HVMOP_flush_tlbs, non-NULL argument",
                 hypercall_hvm_op(HVMOP_flush_tlbs, &p), -EINVAL);
    xtf_check_rc("HVMOP_altp2m (altp2m off)",
                 hypercall_hvm_op(HVMOP_altp2m, NULL), -EOPNOTSUPP);

    uv = (struct xen_hvm_evtchn_upcall_vector){ .vcpu = 0, .vector = 0xf };
    xtf_check_rc("HVMOP_set_evtchn_upcall_vector, vector < 0x10",
                 hypercall_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv), -EINVAL);
    uv = (struct xen_hvm_evtchn_upcall_vector){ .vcpu = 1, .vector = 0xf3 };
    xtf_check_rc("HVMOP_set_evtchn_upcall_vector, no such vCPU",
                 hypercall_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv), -ENOENT);
    xtf_check_rc("HVMOP_set_evtchn_upcall_vector, bad pointer",
                 hypercall_hvm_op(HVMOP_set_evtchn_upcall_vector, BAD_PTR), -EFAULT);
#endif

    /* Moved to dm_op long ago: no longer an HVMOP. */
    xtf_check_rc("HVMOP_set_pci_intx_level (gone)",
                 hypercall_hvm_op(HVMOP_set_pci_intx_level, NULL), -ENOSYS);
    xtf_check_rc("hvm_op, unknown op", hypercall_hvm_op(0x7fff, NULL), -ENOSYS);
}

/* The page XENMEM_add_to_physmap replaces with shared_info. */
static uint8_t shinfo_page[XEN_PAGE_SIZE] __aligned(XEN_PAGE_SIZE);

static void test_shared_info(void)
{
    const struct shared_info *s = (const void *)shinfo_page;
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF,
        .space = XENMAPSPACE_shared_info,
        .idx = 0,
        .gpfn = (unsigned long)shinfo_page >> XEN_PAGE_SHIFT,
    };
    uint32_t version;

    if ( xtf_check_rc("XENMEM_add_to_physmap shared_info",
                      hypercall_memory_op(XENMEM_add_to_physmap, &xatp), 0) )
    {
        version = ACCESS_ONCE(s->wc_version);
        xtf_check(!(version & 1), "shared_info wc_version %u is odd", version);
#ifndef __aarch64__     /* On Arm it is what dom0 last set (XENPF_settime), maybe nothing */
        /* The wallclock was latched by the hypercall page MSR write. */
        xtf_check(s->wc_sec, "shared_info wallclock wc_sec is 0");
#endif
        printk("  wallclock: %u.%09u s (version %u)\n", s->wc_sec, s->wc_nsec, version);
    }

    xatp.idx = 1;
    xtf_check_rc("add_to_physmap shared_info idx 1",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -EINVAL);
    xatp.idx = 0;

#ifdef __x86_64__
    xatp.gpfn = ~0ul;   /* INVALID_GFN (a 32-bit caller cannot express it). */
    xtf_check_rc("add_to_physmap to INVALID_GFN",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -EINVAL);
    xatp.gpfn = (unsigned long)shinfo_page >> XEN_PAGE_SHIFT;
#endif

    xatp.space = XENMAPSPACE_gmfn_foreign;
    xtf_check_rc("add_to_physmap gmfn_foreign",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -ENOSYS);
#ifdef __aarch64__
    /* Arm's xenmem_add_to_physmap_one(): no gmfn spaces, unknown ones -ENOSYS,
     * and dev_mmio maps nothing for a domain without iomem permission. */
    xatp.space = XENMAPSPACE_gmfn;
    xtf_check_rc("add_to_physmap gmfn (Arm)",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -ENOSYS);
    xatp.space = XENMAPSPACE_dev_mmio;
    xtf_check_rc("add_to_physmap dev_mmio without iomem permission",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), 0);
    xatp.space = XENMAPSPACE_dev_mmio + 1;
    xtf_check_rc("add_to_physmap, unknown space",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -ENOSYS);
#else
    xatp.space = XENMAPSPACE_dev_mmio + 1;
    xtf_check_rc("add_to_physmap, unknown space",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -EINVAL);
#endif
    xatp.space = XENMAPSPACE_shared_info;

    xatp.domid = NO_SUCH_DOMID;
    xtf_check_rc("add_to_physmap, no such domain",
                 hypercall_memory_op(XENMEM_add_to_physmap, &xatp), -ESRCH);
    xatp.domid = DOMID_SELF;

    xtf_check_rc("add_to_physmap, start_extent > 0xffff",
                 hypercall_memory_op(XENMEM_add_to_physmap |
                                     (0x10000 << MEMOP_EXTENT_SHIFT), &xatp), -EDOM);
    xtf_check_rc("add_to_physmap, bad pointer",
                 hypercall_memory_op(XENMEM_add_to_physmap, BAD_PTR), -EFAULT);
}

#ifdef __aarch64__
/* Xen on Arm's arch_memory_op() has no memory map: the device tree has it. */
static void test_memory_map(void)
{
    struct xen_memory_map map = { .nr_entries = 1 };

    xtf_check_rc("XENMEM_memory_map (Arm)",
                 hypercall_memory_op(XENMEM_memory_map, &map), -ENOSYS);
    xtf_check_rc("XENMEM_memory_map, bad pointer (Arm)",
                 hypercall_memory_op(XENMEM_memory_map, BAD_PTR), -ENOSYS);
}
#else
/*
 * The expected map (libxl's domain_construct_memmap()): RAM from 0, the
 * special pages, then the ACPI modules (RSDP, acpi_info, tables), as in
 * hvm_start_info.
 */
static void check_e820(const char *what, const struct e820entry *e, unsigned int nr)
{
    const struct hvm_memmap_table_entry *si =
        (const void *)(unsigned long)pvh_start_info->memmap_paddr;
    uint64_t special = (uint64_t)(X86_HVM_END_SPECIAL_REGION -
                                  X86_HVM_NR_SPECIAL_PAGES) << XEN_PAGE_SHIFT;

    if ( nr >= 1 )
        xtf_check(e[0].addr == 0 && e[0].size && e[0].type == E820_RAM,
                  "%s entry 0: %#llx+%#llx type %u, expected RAM from 0", what,
                  (unsigned long long)e[0].addr, (unsigned long long)e[0].size,
                  e[0].type);
    if ( nr >= 2 )
        xtf_check(e[1].addr == special &&
                  e[1].size == X86_HVM_NR_SPECIAL_PAGES << XEN_PAGE_SHIFT &&
                  e[1].type == E820_RESERVED,
                  "%s entry 1: %#llx+%#llx type %u, expected the special pages", what,
                  (unsigned long long)e[1].addr, (unsigned long long)e[1].size,
                  e[1].type);
    for ( unsigned int i = 2; i < nr; i++ )
        xtf_check(e[i].type == E820_ACPI && e[i].size,
                  "%s entry %u: %#llx+%#llx type %u, expected ACPI", what, i,
                  (unsigned long long)e[i].addr, (unsigned long long)e[i].size,
                  e[i].type);
    for ( unsigned int i = 0; i < nr && i < pvh_start_info->memmap_entries; i++ )
        xtf_check(e[i].addr == si[i].addr && e[i].size == si[i].size &&
                  e[i].type == si[i].type,
                  "%s entry %u differs from hvm_start_info's memmap", what, i);
}

static void test_memory_map(void)
{
    static struct e820entry e820[8];
    struct xen_memory_map map = { .nr_entries = ARRAY_SIZE(e820) };

    map.buffer = e820;
    if ( xtf_check_rc("XENMEM_memory_map", hypercall_memory_op(XENMEM_memory_map, &map), 0) )
    {
        xtf_check_eq("memory_map nr_entries", map.nr_entries, 5);
        check_e820("memory_map", e820, map.nr_entries);
        printk("  e820: RAM %#llx+%#llx, reserved %#llx+%#llx\n",
               (unsigned long long)e820[0].addr, (unsigned long long)e820[0].size,
               (unsigned long long)e820[1].addr, (unsigned long long)e820[1].size);
    }

    /* A short buffer is silently truncated. */
    memset(e820, 0, sizeof(e820));
    map.nr_entries = 1;
    if ( xtf_check_rc("XENMEM_memory_map, 1-entry buffer",
                      hypercall_memory_op(XENMEM_memory_map, &map), 0) )
    {
        xtf_check_eq("memory_map nr_entries, 1-entry buffer", map.nr_entries, 1);
        check_e820("memory_map, 1-entry buffer", e820, 1);
        xtf_check(!e820[1].size, "memory_map wrote past a 1-entry buffer");
    }

    map.nr_entries = ARRAY_SIZE(e820);
    map.buffer = BAD_PTR;
    xtf_check_rc("XENMEM_memory_map, bad buffer",
                 hypercall_memory_op(XENMEM_memory_map, &map), -EFAULT);
    xtf_check_rc("XENMEM_memory_map, bad pointer",
                 hypercall_memory_op(XENMEM_memory_map, BAD_PTR), -EFAULT);
    map.buffer = e820;
    xtf_check_rc("XENMEM_memory_map with start_extent bits (an arch op)",
                 hypercall_memory_op(XENMEM_memory_map | (1 << MEMOP_EXTENT_SHIFT), &map),
                 -ENOSYS);
}
#endif

static void test_reservations(void)
{
    domid_t dom = DOMID_SELF;
    long cur, max;

    cur = hypercall_memory_op(XENMEM_current_reservation, &dom);
    max = hypercall_memory_op(XENMEM_maximum_reservation, &dom);
    xtf_check(cur > 0 && max > 0 && cur <= max,
              "current_reservation %ld, maximum_reservation %ld", cur, max);
    printk("  reservation: %ld pages of %ld\n", cur, max);

    xtf_check(hypercall_memory_op(XENMEM_maximum_ram_page, NULL) > 0,
              "XENMEM_maximum_ram_page <= 0");

    dom = NO_SUCH_DOMID;
    xtf_check_rc("current_reservation, no such domain",
                 hypercall_memory_op(XENMEM_current_reservation, &dom), -ESRCH);
    xtf_check_rc("maximum_reservation, no such domain",
                 hypercall_memory_op(XENMEM_maximum_reservation, &dom), -ESRCH);
    dom = DOMID_SELF;
    xtf_check_rc("current_reservation, start_extent bits",
                 hypercall_memory_op(XENMEM_current_reservation |
                                     (1 << MEMOP_EXTENT_SHIFT), &dom), -EINVAL);
    xtf_check_rc("maximum_reservation, start_extent bits",
                 hypercall_memory_op(XENMEM_maximum_reservation |
                                     (1 << MEMOP_EXTENT_SHIFT), &dom), -EINVAL);
    xtf_check_rc("current_reservation, bad pointer",
                 hypercall_memory_op(XENMEM_current_reservation, BAD_PTR), -EFAULT);
}

static void test_memory_op(void)
{
    printk("Testing memory_op\n");
    test_shared_info();
    test_memory_map();
    test_reservations();

    xtf_check_rc("XENMEM_machphys_mapping (HVM)",
                 hypercall_memory_op(XENMEM_machphys_mapping, NULL), -ENOSYS);
    xtf_check_rc("memory_op, unknown op",
                 hypercall_memory_op(MEMOP_CMD_MASK, NULL), -ENOSYS);
}

#ifndef __aarch64__
/*
 * Slot __HYPERVISOR_iret of the hypercall page is ud2, so the #UD is at the
 * slot itself, with the return address pushed: the fixup pops it.  There
 * must be one copy of this code (noipa) for the exception table.
 */
static __attribute__((noipa)) exinfo_t call_iret_slot(void)
{
    unsigned long fault = 0;

    asm volatile ("call hypercall_page + %c[off]; jmp 3f;"
                  "2: add $%c[word], %%" _ASM_SP "; 3:"
                  _ASM_EXTABLE_HANDLER(hypercall_page + %c[off], 2b, ex_record_fault_eax)
                  : "+a" (fault)
                  : [off] "i" (__HYPERVISOR_iret * HYPERCALL_PAGE_SLOT_SIZE),
                    [word] "i" (sizeof(long))
                  : "memory");
    return fault;
}
#endif

static void test_unknown_hypercalls(void)
{
    static const unsigned int nrs[] = {
        __HYPERVISOR_set_trap_table, __HYPERVISOR_sched_op_compat,
        __HYPERVISOR_hypfs_op + 2, NR_hypercalls - 1, 100,
#ifdef __aarch64__
        /* Not in Arm's table, or deprecated there ("dep" in hypercall-defs.c). */
        __HYPERVISOR_set_timer_op, __HYPERVISOR_event_channel_op_compat,
        __HYPERVISOR_physdev_op_compat, __HYPERVISOR_mmuext_op, __HYPERVISOR_physdev_op,
#endif
    };

    printk("Testing hypercall numbers without a handler\n");
    for ( unsigned int i = 0; i < ARRAY_SIZE(nrs); i++ )
    {
        char msg[40];

        snprintf(msg, sizeof(msg), "hypercall %u", nrs[i]);
        xtf_check_rc(msg, hypercall(nrs[i], 0, 0, 0, 0, 0), -ENOSYS);
    }
#ifndef __aarch64__
    xtf_check_exinfo("hypercall page slot __HYPERVISOR_iret", call_iret_slot(),
                     EXINFO_SYM(UD, 0));
#endif
}

#ifndef __aarch64__
static unsigned long user_xen_version(void)
{
    return hypercall_xen_version(XENVER_version, NULL);
}

static unsigned long user_console_io(void)
{
    static const char msg[] = "ring 3 must not print this\n";

    return hypercall_console_io(CONSOLEIO_write, strlen(msg), msg);
}

static void test_ring3(void)
{
    printk("Testing hypercalls from ring 3\n");
    xtf_check_rc("xen_version from ring 3", exec_user(user_xen_version), -EPERM);
    xtf_check_rc("console_io from ring 3", exec_user(user_console_io), -EPERM);
}
#endif

#ifdef __x86_64__
/* Xen's compat (32-bit) layouts, which xen-abi.h has only in i386 builds. */
struct compat_memory_map {
    uint32_t nr_entries;
    uint32_t buffer;
};

static void test_compat_abi(void)
{
    static uint8_t buf[16] __aligned(8);
    static struct e820entry e820[8];
    static struct compat_memory_map map;
    long rc;

    printk("Testing the 32-bit ABI from compatibility mode\n");

    xtf_check_rc("compat xen_version version",
                 hypercall_compat32(__HYPERVISOR_xen_version, XENVER_version, 0, 0, 0, 0),
                 hypercall_xen_version(XENVER_version, NULL));

    /* A 32-bit caller gets a 4-byte virt_start. */
    memset(buf, 0xaa, sizeof(buf));
    rc = hypercall_compat32(__HYPERVISOR_xen_version, XENVER_platform_parameters,
                            (unsigned long)buf, 0, 0, 0);
    if ( xtf_check_rc("compat xen_version platform_parameters", rc, 0) )
        xtf_check(memis(buf, 0, 4) && memis(buf + 4, 0xaa, sizeof(buf) - 4),
                  "compat platform_parameters: expected exactly 4 zero bytes");

    map = (struct compat_memory_map){ .nr_entries = ARRAY_SIZE(e820),
                                      .buffer = (unsigned long)e820 };
    rc = hypercall_compat32(__HYPERVISOR_memory_op, XENMEM_memory_map,
                            (unsigned long)&map, 0, 0, 0);
    if ( xtf_check_rc("compat XENMEM_memory_map", rc, 0) )
    {
        xtf_check_eq("compat memory_map nr_entries", map.nr_entries, 5);
        check_e820("compat memory_map", e820, map.nr_entries);
    }

    xtf_check_rc("compat hypercall with a bad pointer",
                 hypercall_compat32(__HYPERVISOR_xen_version, XENVER_extraversion,
                                    (unsigned long)BAD_PTR, 0, 0, 0), -EFAULT);
    xtf_check_rc("compat unknown hypercall",
                 hypercall_compat32(__HYPERVISOR_set_trap_table, 0, 0, 0, 0, 0), -ENOSYS);
}
#endif

void test_main(void)
{
    if ( !xen_present )
    {
        xtf_skip("Skip: Xen not present\n");
        return;
    }

#ifdef __aarch64__
    own_domid = self_domid();
#else
    own_domid = cpuid_ecx(xen_cpuid_base + 4);
#endif
    printk("domid %u\n", own_domid);

    test_console_io();
    test_xen_version();
    test_sched_op();
    test_hvm_op();
    test_memory_op();
    test_unknown_hypercalls();
#ifndef __aarch64__
    test_ring3();
#endif
#ifdef __x86_64__
    test_compat_abi();
#endif

    xtf_success(NULL);
}
