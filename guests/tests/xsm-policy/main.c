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
 * A prober runs every privileged operation against the target, the
 * untargetable domain and itself, and reports each result on one line:
 *
 *   xsm-result caps=0xN op=NAME on=target|untargetable|self rc=RC
 *
 * (a grant-table op's rc is its hypercall error, else its GNTST_* status).
 * It does not judge them: tests/test_xsm_matrix.py compares the lines with
 * Xen's default policy as tests/data/xsm-dummy-policy.tsv transcribes it
 * from xen/include/xsm/dummy.h, hook by hook.  When done it notifies the
 * targets through its static event channels; a target waits for every
 * prober, then ends.
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <xtf/ctl.h>

const char test_title[] = "XSM: capability x operation";

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

/* A domctl whose argument is all zeros: settimeoffset by 0, getvcpuinfo of vCPU 0,
 * memory_mapping and ioport_mapping of nothing (nr_mfns, nr_ports 0: Xen -EINVAL). */
static long op_settimeoffset(domid_t dom)
{
    return domctl_simple(XEN_DOMCTL_settimeoffset, dom);
}

static long op_memory_mapping(domid_t dom)
{
    return domctl_simple(XEN_DOMCTL_memory_mapping, dom);
}

static long op_ioport_mapping(domid_t dom)
{
    return domctl_simple(XEN_DOMCTL_ioport_mapping, dom);
}

/* A sysctl whose argument is all zeros. */
static long sysctl_simple(unsigned int cmd)
{
    static struct xen_sysctl op;

    memset(&op, 0, sizeof(op));
    op.cmd = cmd;
    op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    return hypercall(__HYPERVISOR_sysctl, (unsigned long)&op, 0, 0, 0, 0);
}

static long op_physinfo(domid_t dom)
{
    (void)dom;
    return sysctl_simple(XEN_SYSCTL_physinfo);
}

static long op_evtchn_status(domid_t dom)
{
    struct evtchn_status st = { .dom = dom, .port = 1 };

    return hypercall_event_channel_op(EVTCHNOP_status, &st);
}

static long op_bind_interdomain(domid_t dom)
{
    /* Port 1 of the target is not offered to us: refused by the port check. */
    struct evtchn_bind_interdomain b = { .remote_dom = dom, .remote_port = 1 };

    return hypercall_event_channel_op(EVTCHNOP_bind_interdomain, &b);
}

/* A grant-table op's result: its hypercall error, else its GNTST_* status. */
static long gnttab_result(long rc, int16_t status)
{
    return rc ? rc : status;
}

static long op_query_size(domid_t dom)
{
    struct gnttab_query_size q = { .dom = dom };
    long rc = hypercall_grant_table_op(GNTTABOP_query_size, &q, 1);

    return gnttab_result(rc, q.status);
}

static long op_setup_table(domid_t dom)
{
    struct gnttab_setup_table t = { .dom = dom, .nr_frames = 0 };
    long rc = hypercall_grant_table_op(GNTTABOP_setup_table, &t, 1);

    return gnttab_result(rc, t.status);
}

static long op_get_version(domid_t dom)
{
    struct gnttab_get_version v = { .dom = dom };
    long rc = hypercall_grant_table_op(GNTTABOP_get_version, &v, 1);

    return rc > 0 ? 0 : rc;
}

/* Where a grant is mapped (then unmapped: the gfn is left empty, as on Xen),
 * and where a grant copy writes. */
static uint8_t scratch_page[XEN_PAGE_SIZE] __aligned(XEN_PAGE_SIZE);
static uint8_t copy_page[XEN_PAGE_SIZE] __aligned(XEN_PAGE_SIZE);

static long op_map_grant_ref(domid_t dom)
{
    /*
     * Grant 0 of the other domain (GNTTAB_RESERVED_CONSOLE): the grant checks
     * refuse unless it is granted to us (the console backend's domain).  A
     * mapping made is unmapped again (Xen crashes a domain that maps a grant
     * over a grant mapping).
     */
    struct gnttab_map_grant_ref m = {
        .host_addr = (unsigned long)scratch_page, .flags = GNTMAP_host_map,
        .ref = 0, .dom = dom,
    };
    long rc = hypercall_grant_table_op(GNTTABOP_map_grant_ref, &m, 1);

    if ( !rc && !m.status )
    {
        struct gnttab_unmap_grant_ref u = {
            .host_addr = m.host_addr, .handle = m.handle,
        };

        xtf_check_rc("unmap the grant", hypercall_grant_table_op(
                         GNTTABOP_unmap_grant_ref, &u, 1) ?: u.status, 0);
    }
    return gnttab_result(rc, m.status);
}

static long op_grant_copy(domid_t dom)
{
    struct gnttab_copy c = {
        .source = { .u.ref = 0, .domid = dom },
        .dest = { .u.gmfn = (unsigned long)copy_page >> XEN_PAGE_SHIFT,
                  .domid = DOMID_SELF },
        .len = 8, .flags = GNTCOPY_source_gref,
    };
    long rc = hypercall_grant_table_op(GNTTABOP_copy, &c, 1);

    return gnttab_result(rc, c.status);
}

static long op_getvcpuinfo(domid_t dom)
{
    return domctl_simple(XEN_DOMCTL_getvcpuinfo, dom);
}

static long op_readconsole(domid_t dom)
{
    (void)dom;
    return sysctl_simple(XEN_SYSCTL_readconsole);     /* count 0 */
}

static long op_set_param(domid_t dom)
{
    /* The target's xenstore event channel, set to what it is (it has none in use). */
    struct xen_hvm_param p = { .domid = dom, .index = HVM_PARAM_STORE_EVTCHN };

    if ( hypercall_hvm_op(HVMOP_get_param, &p) )
        p.value = 0;
    return hypercall_hvm_op(HVMOP_set_param, &p);
}

static long op_console_read(domid_t dom)
{
    static char buf[1];

    (void)dom;
    return hypercall_console_io(CONSOLEIO_read, 0, buf);
}

static long op_console_write(domid_t dom)
{
    (void)dom;
    return hypercall_console_io(CONSOLEIO_write, 0, "");
}

static long op_memory_query(unsigned int cmd, domid_t dom)
{
    domid_t d = dom;
    long rc = hypercall_memory_op(cmd, &d);

    return rc > 0 ? 0 : rc;
}

static long op_maximum_reservation(domid_t dom)
{
    return op_memory_query(XENMEM_maximum_reservation, dom);
}

static long op_maximum_gpfn(domid_t dom)
{
    return op_memory_query(XENMEM_maximum_gpfn, dom);
}

static long op_increase_reservation(domid_t dom)
{
    /* One page for the target; a refusal is 0 extents done, as Xen returns it. */
    struct xen_memory_reservation r = { .nr_extents = 1, .domid = dom };

    return hypercall_memory_op(XENMEM_increase_reservation, &r);
}

static long op_add_to_physmap(domid_t dom)
{
    struct xen_add_to_physmap x = {
        .domid = dom, .size = 0, .space = XENMAPSPACE_gmfn_range,
    };

    return hypercall_memory_op(XENMEM_add_to_physmap, &x);
}

static long op_remove_from_physmap(domid_t dom)
{
    /* A gfn past the target's RAM: nothing to remove (Xen: -ENOENT). */
    struct xen_remove_from_physmap x = { .domid = dom, .gpfn = 0xfffff };

    return hypercall_memory_op(XENMEM_remove_from_physmap, &x);
}

static long op_remote_shutdown(domid_t dom)
{
    struct sched_remote_shutdown s = { .domain_id = dom, .reason = SHUTDOWN_poweroff };

    return hypercall_sched_op(SCHEDOP_remote_shutdown, &s);
}

/* Which domains an operation is tried on. */
#define ON_TARGET   (1u << 0)
#define ON_UNTARG   (1u << 1)
#define ON_SELF     (1u << 2)
#define ON_ALL      (ON_TARGET | ON_UNTARG | ON_SELF)
#define ON_NONE     0           /* no domain argument: run once */

struct op {
    const char *name;           /* as in tests/data/xsm-dummy-policy.tsv */
    long (*fn)(domid_t);
    unsigned int on;
};

static const struct op ops[] = {
    { "domctl.getdomaininfo",        op_getdomaininfo,        ON_ALL },
    { "domctl.get_domain_state",     op_get_domain_state,     ON_ALL },
    { "domctl.pausedomain",          op_pause_unpause,        ON_TARGET | ON_UNTARG },
    { "domctl.max_vcpus",            op_max_vcpus,            ON_TARGET | ON_UNTARG },
    { "domctl.setvcpuaffinity",      op_setvcpuaffinity,      ON_TARGET | ON_UNTARG },
    { "domctl.settimeoffset",        op_settimeoffset,        ON_TARGET | ON_UNTARG },
    { "domctl.getvcpuinfo",          op_getvcpuinfo,          ON_TARGET | ON_UNTARG },
    { "domctl.memory_mapping",       op_memory_mapping,       ON_TARGET | ON_UNTARG },
    { "domctl.ioport_mapping",       op_ioport_mapping,       ON_TARGET | ON_UNTARG },
    { "sysctl.getdomaininfolist",    op_getdomaininfolist,    ON_NONE },
    { "sysctl.physinfo",             op_physinfo,             ON_NONE },
    { "sysctl.readconsole",          op_readconsole,          ON_NONE },
    { "evtchn.alloc_unbound",        op_alloc_unbound,        ON_ALL },
    { "evtchn.status",               op_evtchn_status,        ON_ALL },
    { "evtchn.bind_interdomain",     op_bind_interdomain,     ON_TARGET | ON_UNTARG },
    { "gnttab.query_size",           op_query_size,           ON_ALL },
    { "gnttab.setup_table",          op_setup_table,          ON_ALL },
    { "gnttab.get_version",          op_get_version,          ON_ALL },
    { "gnttab.map_grant_ref",        op_map_grant_ref,        ON_TARGET | ON_UNTARG },
    { "gnttab.copy",                 op_grant_copy,           ON_TARGET | ON_UNTARG },
    { "console_io.read",             op_console_read,         ON_NONE },
    { "console_io.write",            op_console_write,        ON_NONE },
    { "memory.current_reservation",  op_current_reservation,  ON_ALL },
    { "memory.maximum_reservation",  op_maximum_reservation,  ON_ALL },
    { "memory.maximum_gpfn",         op_maximum_gpfn,         ON_ALL },
    { "memory.increase_reservation", op_increase_reservation, ON_TARGET | ON_UNTARG },
    { "memory.add_to_physmap",       op_add_to_physmap,       ON_ALL },
    { "memory.remove_from_physmap",  op_remove_from_physmap,  ON_TARGET | ON_UNTARG },
    { "hvm_op.get_param",            op_get_param,            ON_ALL },
    { "hvm_op.set_param",            op_set_param,            ON_TARGET | ON_UNTARG },
    /* On the untargetable domain only: where it is allowed it ends the domain. */
    { "sched.remote_shutdown",       op_remote_shutdown,      ON_UNTARG },
};

/* ---- roles ---------------------------------------------------------------- */
static void report(unsigned int caps, const struct op *op, const char *on, domid_t dom)
{
    long rc = op->fn(dom);

    printk("xsm-result caps=%#x op=%s on=%s rc=%ld\n", caps, op->name, on, rc);
}

static void notify(evtchn_port_t port)
{
    xtf_check_rc("notify the targets", evtchn_send(port), 0);
}

static void prober(void)
{
    unsigned int caps = cmdline_ulong("caps", 0);

    printk("Prober with capabilities %#x, against d%u and untargetable d%u\n",
           caps, target, untargetable);
    for ( unsigned int i = 0; i < ARRAY_SIZE(ops); i++ )
    {
        const struct op *op = &ops[i];

        if ( op->on == ON_NONE )
            report(caps, op, "none", DOMID_SELF);
        if ( op->on & ON_TARGET )
            report(caps, op, "target", target);
        if ( op->on & ON_UNTARG )
            report(caps, op, "untargetable", untargetable);
        if ( op->on & ON_SELF )
            report(caps, op, "self", self_domid());
    }
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
