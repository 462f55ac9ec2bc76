/**
 * @file tests/launch-demo/main.c
 *
 * The three domains of the hyperlaunch demo (firmware/demo3), one role each,
 * given by the LCM on the command line:
 *
 *  role=control  (CONTROL | XENSTORE): lists every domain with sysctl
 *      getdomaininfolist, pauses and unpauses the guest domain, then, as the
 *      VIRQ_DOM_EXC handler, follows domain state changes with
 *      get_domain_state until the guest domain has shut down, tells the
 *      hardware domain over their static event channel, and ends.
 *  role=hardware (HARDWARE | DEVICE_MODEL): waits for the control domain's
 *      word, then for the control domain to finish (get_domain_state is
 *      allowed to a device model), and shuts down last: on Xen the hardware
 *      domain's shutdown takes the host down.
 *  role=guest: a plain domU doing a little work.
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <xtf/ctl.h>

const char test_title[] = "Hyperlaunch demo";

#define GUEST_DOMID_KEY "guest"
#define PEER_PORT_KEY   "port"

static uint8_t shinfo_page[XEN_PAGE_SIZE] __aligned(XEN_PAGE_SIZE);

static struct shared_info *map_shared_info(void)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF, .space = XENMAPSPACE_shared_info,
        .gpfn = (unsigned long)shinfo_page >> XEN_PAGE_SHIFT,
    };

    if ( hypercall_memory_op(XENMEM_add_to_physmap, &xatp) )
        panic("cannot map shared_info\n");
    return (void *)shinfo_page;
}

/* Wait until `port` is pending, then clear it. */
static void wait_port(struct shared_info *s, evtchn_port_t port)
{
    unsigned long *w = &s->evtchn_pending[port / (8 * sizeof(long))];
    unsigned long bit = 1ul << (port % (8 * sizeof(long)));

    while ( !(ACCESS_ONCE(*w) & bit) )
        sched_poll(&port, 1, 0);
    __atomic_fetch_and(w, ~bit, __ATOMIC_SEQ_CST);
}

static const char *state_name(unsigned int flags)
{
    if ( flags & XEN_DOMINF_shutdown )
        return "shut down";
    if ( flags & XEN_DOMINF_paused )
        return "paused";
    if ( flags & XEN_DOMINF_running )
        return "running";
    if ( flags & XEN_DOMINF_blocked )
        return "blocked";
    return "runnable";
}

static void list_domains(void)
{
    static struct xen_domctl_getdomaininfo info[16];
    unsigned int nr = 0;

    if ( !xtf_check_rc("sysctl getdomaininfolist",
                       sysctl_getdomaininfolist(0, info, ARRAY_SIZE(info), &nr), 0) )
        return;
    printk("  domain  vcpus  pages     state\n");
    for ( unsigned int i = 0; i < nr; i++ )
        printk("  d%-6u %-6u %-9lu %s\n", info[i].domain, info[i].nr_online_vcpus,
               (unsigned long)info[i].tot_pages, state_name(info[i].flags));
    xtf_check(nr >= 3, "getdomaininfolist: %u domains, expected 3", nr);
}

static void pause_and_unpause(domid_t dom)
{
    struct xen_domctl_getdomaininfo info;

    if ( xtf_check_rc("pausedomain", domctl_simple(XEN_DOMCTL_pausedomain, dom), 0) &&
         xtf_check_rc("getdomaininfo", domctl_getdomaininfo(dom, &info), 0) )
    {
        printk("  paused d%u: %s\n", dom, state_name(info.flags));
        xtf_check(info.flags & XEN_DOMINF_paused, "d%u does not report paused", dom);
    }
    xtf_check_rc("unpausedomain", domctl_simple(XEN_DOMCTL_unpausedomain, dom), 0);
    xtf_check_rc("unpausedomain twice", domctl_simple(XEN_DOMCTL_unpausedomain, dom),
                 -EINVAL);
}

/* As VIRQ_DOM_EXC handler: report state changes until `dom` has shut down. */
static void follow_until_shutdown(struct shared_info *s, domid_t dom)
{
    evtchn_port_t virq_port;
    bool done = false;

    if ( !xtf_check_rc("bind VIRQ_DOM_EXC", evtchn_bind_virq(VIRQ_DOM_EXC, 0, &virq_port), 0) )
        return;
    while ( !done )
    {
        struct xen_domctl_get_domain_state st;
        domid_t changed = DOMID_INVALID;

        while ( !domctl_get_domain_state(&changed, &st) )
        {
            printk("  d%u changed: state %#x caps %#x\n", changed, st.state, st.caps);
            if ( changed == dom && (st.state & XEN_DOMCTL_GETDOMSTATE_STATE_SHUTDOWN) )
                done = true;
            changed = DOMID_INVALID;
        }
        if ( !done )
            wait_port(s, virq_port);
    }
}

static void control(void)
{
    struct shared_info *s = map_shared_info();
    domid_t guest = cmdline_ulong(GUEST_DOMID_KEY, 2);

    printk("Control domain: the domains\n");
    list_domains();
    printk("Control domain: pausing the guest\n");
    pause_and_unpause(guest);
    printk("Control domain: waiting for d%u to shut down\n", guest);
    follow_until_shutdown(s, guest);
    printk("Control domain: telling the hardware domain\n");
    xtf_check_rc("notify the hardware domain", evtchn_send(cmdline_ulong(PEER_PORT_KEY, 0)), 0);
}

static void hardware(void)
{
    struct shared_info *s = map_shared_info();
    domid_t ctl = cmdline_ulong("control", 0);
    struct xen_domctl_get_domain_state st;

    /*
     * As on Xen, binding the static channel left our end pending once, so
     * this wait may end early: the state check below is what counts.
     */
    printk("Hardware domain: waiting for the control domain\n");
    wait_port(s, cmdline_ulong(PEER_PORT_KEY, 0));
    printk("Hardware domain: waiting for d%u to finish\n", ctl);
    for ( ;; )
    {
        domid_t d = ctl;

        if ( !xtf_check_rc("get_domain_state", domctl_get_domain_state(&d, &st), 0) ||
             (st.state & XEN_DOMCTL_GETDOMSTATE_STATE_SHUTDOWN) )
            break;
        hypercall_sched_op(SCHEDOP_yield, NULL);
    }
    printk("Hardware domain: shutting down last (the host goes with it)\n");
}

static void guest(void)
{
    unsigned long sum = 0;

    for ( unsigned int round = 0; round < 4; round++ )
    {
        for ( unsigned long i = 0; i < 500000; i++ )
            sum += i;
        printk("Guest domain: round %u\n", round);
        hypercall_sched_op(SCHEDOP_yield, NULL);
    }
    xtf_check(sum == 4 * 124999750000ul, "sum %lu", sum);
}

void test_main(void)
{
    if ( !xen_present )
        return xtf_skip("Skip: needs Xen\n");
    if ( cmdline_is("role", "control") )
        control();
    else if ( cmdline_is("role", "hardware") )
        hardware();
    else if ( cmdline_is("role", "guest") )
        guest();
    else
        return xtf_skip("Skip: boot me with role=control|hardware|guest (firmware/demo3)\n");
    xtf_success(NULL);
}
