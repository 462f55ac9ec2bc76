/**
 * @file tests/xsm-policy/main.c
 *
 * Xen's default (dummy) XSM policy, as a table of capability x operation.
 *
 * Booted by the firmware/xsm scenario: one domain per capability set under
 * test ("probers"), a plain domU they all probe ("target"), and a domU with
 * DOMAIN_CAPS_NOT_HYPERCALL_TARGET ("untargetable").  The LCM gives each
 * domain its role on the command line:
 *
 *   role=prober caps=N target=D untargetable=U notify=P
 *   role=target probers=N            (and role=untargetable probers=N)
 *
 * A prober runs every operation against the target and checks the result
 * against the table below, written from xen/include/xsm/dummy.h (merged
 * policy) plus the proposed DEVICE_MODEL and NOT_HYPERCALL_TARGET rules
 * (Andryuk v2, patches 03, 04, 06).  When done it notifies the targets
 * through its static event channel; a target waits for every prober, then
 * ends.  Expected results are explicit here: the test never recomputes the
 * policy.
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <xtf/ctl.h>

const char test_title[] = "XSM: capability x operation";

/* The capability sets probed, and their column in the table. */
enum { C_NONE, C_CONTROL, C_HARDWARE, C_XENSTORE, C_DM, C_CONTROL_XS, C_HW_DM, NR_SETS };
static const unsigned int cap_sets[NR_SETS] = {
    [C_NONE] = 0,
    [C_CONTROL] = DOMAIN_CAPS_CONTROL,
    [C_HARDWARE] = DOMAIN_CAPS_HARDWARE,
    [C_XENSTORE] = DOMAIN_CAPS_XENSTORE,
    [C_DM] = DOMAIN_CAPS_DEVICE_MODEL,
    [C_CONTROL_XS] = DOMAIN_CAPS_CONTROL | DOMAIN_CAPS_XENSTORE,
    [C_HW_DM] = DOMAIN_CAPS_HARDWARE | DOMAIN_CAPS_DEVICE_MODEL,
};
#define SET(x) (1u << (x))

/* XSM action classes, from the caller's side (target: an ordinary domU). */
#define XS_PRIV_OK  (SET(C_CONTROL) | SET(C_XENSTORE) | SET(C_DM) | SET(C_CONTROL_XS) | \
                     SET(C_HW_DM))
#define PRIV_OK     (SET(C_CONTROL) | SET(C_CONTROL_XS))
#define TARGET_OK   (SET(C_CONTROL) | SET(C_DM) | SET(C_CONTROL_XS) | SET(C_HW_DM))
#define DM_PRIV_OK  TARGET_OK
/* On an untargetable domain: only XS_PRIV's xenstore/control test passes. */
#define XS_PRIV_UNTARGETABLE_OK (SET(C_CONTROL) | SET(C_XENSTORE) | SET(C_CONTROL_XS))

static domid_t target, untargetable;

/* ---- the operations --------------------------------------------------------- */
static long op_getdomaininfo(domid_t dom)
{
    return domctl_getdomaininfo(dom, NULL);
}

static long op_get_domain_state(domid_t dom)
{
    return domctl_get_domain_state(&dom, NULL);
}

static long op_pause_unpause(domid_t dom)
{
    long rc = domctl_simple(XEN_DOMCTL_pausedomain, dom);

    if ( rc )
        return rc;
    return domctl_simple(XEN_DOMCTL_unpausedomain, dom);
}

static long op_max_vcpus(domid_t dom)
{
    struct xen_domctl op = {
        .cmd = XEN_DOMCTL_max_vcpus,
        .interface_version = XEN_DOMCTL_INTERFACE_VERSION,
        .domain = dom,
    };
    struct xen_domctl_max_vcpus *mv = (void *)&op.u;

    mv->max = 1;                                /* the target has one vCPU */
    return domctl(&op);
}

static long op_setvcpuaffinity(domid_t dom)
{
    static uint8_t map = 1;
    struct xen_domctl op = {
        .cmd = XEN_DOMCTL_setvcpuaffinity,
        .interface_version = XEN_DOMCTL_INTERFACE_VERSION,
        .domain = dom,
    };
    struct xen_domctl_vcpuaffinity *a = (void *)&op.u;

    a->vcpu = 0;
    a->flags = XEN_VCPUAFFINITY_HARD;
    a->cpumap_hard.bitmap = (unsigned long)&map;
    a->cpumap_hard.nr_bits = 8;
    return domctl(&op);
}

static long op_getdomaininfolist(domid_t dom)
{
    static struct xen_domctl_getdomaininfo info[4];

    return sysctl_getdomaininfolist(dom, info, ARRAY_SIZE(info), NULL);
}

static long op_alloc_unbound(domid_t dom)
{
    struct evtchn_alloc_unbound a = { .dom = dom, .remote_dom = DOMID_SELF };

    return hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound,
                     (unsigned long)&a, 0, 0, 0);
}

static long op_get_param(domid_t dom)
{
    struct xen_hvm_param p = { .domid = dom, .index = HVM_PARAM_STORE_PFN };

    return hypercall_hvm_op(HVMOP_get_param, &p);
}

static long op_current_reservation(domid_t dom)
{
    domid_t d = dom;
    long rc = hypercall_memory_op(XENMEM_current_reservation, &d);

    return rc > 0 ? 0 : rc;
}

struct op {
    const char *name;
    long (*fn)(domid_t);
    unsigned int allowed;               /* capability sets that succeed */
    unsigned int allowed_untargetable;  /* ... against the untargetable domain */
};

static const struct op ops[] = {
    { "domctl getdomaininfo",      op_getdomaininfo,      XS_PRIV_OK, XS_PRIV_UNTARGETABLE_OK },
    { "domctl get_domain_state",   op_get_domain_state,   XS_PRIV_OK, XS_PRIV_UNTARGETABLE_OK },
    { "domctl pause+unpausedomain", op_pause_unpause,     PRIV_OK,    0 },
    { "domctl max_vcpus",          op_max_vcpus,          PRIV_OK,    0 },
    { "domctl setvcpuaffinity",    op_setvcpuaffinity,    PRIV_OK,    0 },
    { "sysctl getdomaininfolist",  op_getdomaininfolist,  PRIV_OK,    PRIV_OK },
    { "evtchn alloc_unbound",      op_alloc_unbound,      TARGET_OK,  0 },
    { "hvm_op get_param",          op_get_param,          TARGET_OK,  0 },
    { "memory current_reservation", op_current_reservation, TARGET_OK, 0 },
};

/* ---- roles ---------------------------------------------------------------- */
static int set_of(unsigned int caps)
{
    for ( unsigned int i = 0; i < NR_SETS; i++ )
        if ( cap_sets[i] == caps )
            return i;
    return -1;
}

static void check_op(const struct op *op, domid_t dom, unsigned int allowed, int set)
{
    long rc = op->fn(dom);
    bool want = allowed & SET(set);
    char what[80];

    snprintf(what, sizeof(what), "%s(d%u)", op->name, dom);
    printk("  %-36s %-8s (policy: %s)\n", what,
           rc == 0 ? "allowed" : rc == -EPERM ? "EPERM" : xen_errno_name(-rc) ?: "?",
           want ? "allowed" : "EPERM");
    xtf_check_rc(what, rc, want ? 0 : -EPERM);
}

static void notify(evtchn_port_t port)
{
    xtf_check_rc("notify the targets", evtchn_send(port), 0);
}

static void prober(void)
{
    unsigned int caps = cmdline_ulong("caps", 0);
    int set = set_of(caps);

    if ( set < 0 )
    {
        xtf_error("Error: capabilities %#x are not in the table\n", caps);
        return;
    }
    printk("Prober with capabilities %#x, against d%u and untargetable d%u\n",
           caps, target, untargetable);
    for ( unsigned int i = 0; i < ARRAY_SIZE(ops); i++ )
        check_op(&ops[i], target, ops[i].allowed, set);
    for ( unsigned int i = 0; i < ARRAY_SIZE(ops); i++ )
        check_op(&ops[i], untargetable, ops[i].allowed_untargetable, set);
    /* XS_PRIV has no "self" case: getdomaininfo on oneself is as on another. */
    check_op(&ops[0], self_domid(), ops[0].allowed, set);
    /* domctl does not resolve DOMID_SELF: the lookup fails first, for everyone. */
    xtf_check_rc("domctl getdomaininfo(DOMID_SELF)", op_getdomaininfo(DOMID_SELF), -ESRCH);
    notify(cmdline_ulong("notify", 0));
    notify(cmdline_ulong("notify2", 0));
}

/* A target waits until every prober has notified one of its channels. */
static uint8_t shinfo_page[XEN_PAGE_SIZE] __aligned(XEN_PAGE_SIZE);

static void target_wait(void)
{
    struct shared_info *s = (void *)shinfo_page;
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info,
        .gpfn = (unsigned long)shinfo_page >> XEN_PAGE_SHIFT,
    };
    unsigned int probers = cmdline_ulong("probers", 0), seen = 0;
    static evtchn_port_t ports[16];

    if ( !xtf_check_rc("map shared_info", hypercall_memory_op(XENMEM_add_to_physmap, &xatp), 0) )
        return;
    if ( probers > ARRAY_SIZE(ports) )
        return xtf_error("Error: at most %zu probers\n", ARRAY_SIZE(ports));
    for ( unsigned int i = 0; i < probers; i++ )
        ports[i] = 3 + i;           /* the static channels follow ports 1, 2 */
    printk("Target waiting for %u probers\n", probers);
    while ( seen < probers )
    {
        for ( unsigned int i = 0; i < probers; i++ )
        {
            evtchn_port_t p = ports[i];
            unsigned long *w = &s->evtchn_pending[p / (8 * sizeof(long))];
            unsigned long bit = 1ul << (p % (8 * sizeof(long)));

            if ( ACCESS_ONCE(*w) & bit )
            {
                __atomic_fetch_and(w, ~bit, __ATOMIC_SEQ_CST);
                seen++;
            }
        }
        if ( seen < probers )
        {
            sched_poll(ports, probers, 0);  /* at once if one is already pending */
        }
    }
    printk("Target: all %u probers done\n", probers);
}

void test_main(void)
{
    if ( !xen_present )
        return xtf_skip("Skip: needs Xen\n");

    target = cmdline_ulong("target", 0);
    untargetable = cmdline_ulong("untargetable", 0);
    if ( cmdline_is("role", "prober") )
        prober();
    else if ( cmdline_is("role", "target") || cmdline_is("role", "untargetable") )
        target_wait();
    else
        return xtf_skip("Skip: boot me with role=prober|target (firmware/xsm)\n");

    xtf_success(NULL);
}
