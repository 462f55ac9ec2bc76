/**
 * @file tests/evtchn-ops/main.c
 *
 * Every EVTCHNOP with good and bad arguments, checked against Xen's exact
 * results (xen/common/event_channel.c, event_2l.c, event_fifo.c), then the
 * event delivery state each ABI exposes to the guest:
 *
 * - 2-level: evtchn_pending/evtchn_mask in shared_info, the vCPU's
 *   evtchn_pending_sel and evtchn_upcall_pending, and the upcall itself
 *   (HVM_PARAM_CALLBACK_IRQ, vector type, taken through the IDT);
 * - FIFO (EVTCHNOP_init_control/expand_array): event words (PENDING,
 *   MASKED, LINKED, LINK), the control block's READY bits and queue heads,
 *   priorities, Xen's tail handling, busy (still LINKED) ports.
 *
 * Interrupts stay disabled (IF=0) so that Xen's side effects can be read
 * before the upcall consumes them; "sti; hlt" then takes a pending upcall
 * (hlt returns at once when an interrupt is deliverable), and the "IF=1"
 * checks verify that a send's upcall arrives on return from the hypercall,
 * exactly once.
 *
 * Optional: run with several vCPUs (hvsim run --vcpus 2) for the
 * vCPU-targeted operations.
 */
#include <xtf.h>
#include <xtf/ctl.h>
#include <xtf/events.h>

const char test_title[] = "Event channel operations (2-level and FIFO ABIs)";

/* A domid no domain has (below the reserved range, above any we build). */
#define NO_SUCH_DOMID   (DOMID_FIRST_RESERVED - 1)
/* A port no domain has: beyond any bucket Xen could have allocated. */
#define BAD_PORT        0x7fffffffu

static domid_t self;
static unsigned int nr_vcpus;
static struct vcpu_info *vi;

/* ---- bookkeeping -------------------------------------------------------------- */
#define NR_TRACKED 1024
static volatile unsigned int hits[NR_TRACKED];     /* Upcall deliveries per port. */

static void count_hit(evtchn_port_t port, void *data)
{
    if ( port < NR_TRACKED )
        hits[port]++;
}

static unsigned int upcalls(void)
{
    return ACCESS_ONCE(xtf_cpus[0].upcalls);
}

static unsigned int word_of(evtchn_port_t port)
{
    return port / EVTCHN_WORD_BITS;
}

static bool sel_bit(unsigned int word)
{
    return (ACCESS_ONCE(vi->evtchn_pending_sel) >> word) & 1;
}

/* Forget any upcall state (as a guest's handler would). */
static void clear_upcall_state(void)
{
    ACCESS_ONCE(vi->evtchn_upcall_pending) = 0;
    __atomic_store_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
}

/*
 * Take the pending upcall: with an interrupt deliverable, hlt returns at once
 * (after the interrupt) on Xen.  Never hlt without one: that would block.
 */
static bool take_upcall(const char *what)
{
    if ( !xtf_check(ACCESS_ONCE(vi->evtchn_upcall_pending),
                    "%s: no upcall pending to take", what) )
        return false;
    take_pending_irq();
    return true;
}

static void check_status(const char *what, domid_t dom, evtchn_port_t port,
                         uint32_t status, uint32_t vcpu, uint32_t u0, uint32_t u1)
{
    struct evtchn_status st;
    long rc = evtchnop_status(dom, port, &st);

    if ( !xtf_check_rc(what, rc, 0) )
        return;
    xtf_check(st.status == status, "%s: status %u, expected %u", what, st.status, status);
    xtf_check(st.vcpu == vcpu, "%s: vcpu %u, expected %u", what, st.vcpu, vcpu);
    switch ( status )
    {
    case EVTCHNSTAT_unbound:
        xtf_check(st.u.unbound.dom == u0, "%s: unbound.dom %u, expected %u",
                  what, st.u.unbound.dom, u0);
        break;
    case EVTCHNSTAT_interdomain:
        xtf_check(st.u.interdomain.dom == u0 && st.u.interdomain.port == u1,
                  "%s: interdomain d%u:%u, expected d%u:%u", what,
                  st.u.interdomain.dom, st.u.interdomain.port, u0, u1);
        break;
    case EVTCHNSTAT_virq:
        xtf_check(st.u.virq == u0, "%s: virq %u, expected %u", what, st.u.virq, u0);
        break;
    }
}

static bool port_closed(evtchn_port_t port)
{
    struct evtchn_status st;

    return !evtchnop_status(DOMID_SELF, port, &st) && st.status == EVTCHNSTAT_closed;
}

/* The lowest port EVTCHNOP_status calls closed: where Xen allocates next. */
static evtchn_port_t lowest_free_port(void)
{
    evtchn_port_t p = 1;

    while ( !port_closed(p) )
        p++;
    return p;
}

static long send_rc(evtchn_port_t port)
{
    return evtchnop_send(port);
}

/* ---- 0. another domain's ports ------------------------------------------------- */

/*
 * A plain domU may name another domain, but not act on it: XSM_TARGET says
 * -EPERM, after the domain lookup (-ESRCH) and, for status, after the port
 * validity check (-EINVAL).  Run as two domains (`hvsim run evtchn-ops.elf
 * evtchn-ops.elf`), domain 1 probes domain 2 first thing, before domain 2
 * could have filled its ports (alloc_unbound would then say -ENOSPC).
 */
#define PEER_DOMID 2

static void test_peer_domain(void)
{
    struct evtchn_alloc_unbound au = { .dom = PEER_DOMID, .remote_dom = DOMID_SELF,
                                       .port = 0xdead };
    struct evtchn_status st, before;

    if ( self != 1 )
        return;                         /* Domain 1 probes domain 2. */
    if ( evtchnop_status(PEER_DOMID, 0, &st) == -ESRCH )
    {
        printk("No peer domain: cross-domain checks skipped (run as two domains)\n");
        return;
    }
    printk("Testing another domain's ports (d%u)\n", PEER_DOMID);
    xtf_check_rc("status(xenstore port) before the peer probes",
                 evtchnop_status(DOMID_SELF, 1, &before), 0);

    xtf_check_rc("alloc_unbound(peer domain)",
                 hypercall_event_channel_op(EVTCHNOP_alloc_unbound, &au), -EPERM);
    xtf_check(au.port == 0xdead, "failed alloc_unbound(peer) wrote port %#x", au.port);
    xtf_check_rc("status(peer, port 0)", evtchnop_status(PEER_DOMID, 0, &st), -EPERM);
    xtf_check_rc("status(peer, xenstore port 1)", evtchnop_status(PEER_DOMID, 1, &st), -EPERM);
    xtf_check_rc("status(peer, bad port): -EINVAL before XSM",
                 evtchnop_status(PEER_DOMID, BAD_PORT, &st), -EINVAL);
    xtf_check_rc("reset(peer domain)", evtchnop_reset(PEER_DOMID), -EPERM);
    /* Binding needs a port the peer offered to us: its ports 1/2 are dom0's. */
    xtf_check_rc("bind_interdomain(peer, port 1 offered to dom0)",
                 evtchnop_bind_interdomain(PEER_DOMID, 1), -EINVAL);
    xtf_check_rc("bind_interdomain(peer, port 0)",
                 evtchnop_bind_interdomain(PEER_DOMID, 0), -EINVAL);
    xtf_check_rc("bind_interdomain(peer, bad port)",
                 evtchnop_bind_interdomain(PEER_DOMID, BAD_PORT), -EINVAL);
    check_status("status(xenstore port) after the peer probes", DOMID_SELF, 1,
                 before.status, 0, before.u.interdomain.dom, before.u.interdomain.port);
}

/* ---- 1. EVTCHNOP_status -------------------------------------------------------- */
static void test_status(void)
{
    struct evtchn_status st;
    uint64_t store = 0;

    printk("Testing EVTCHNOP_status\n");

    check_status("status(port 0)", DOMID_SELF, 0, EVTCHNSTAT_closed, 0, 0, 0);
    check_status("status(own domid, port 0)", self, 0, EVTCHNSTAT_closed, 0, 0, 0);
    xtf_check_rc("status(no such domain)",
                 evtchnop_status(NO_SUCH_DOMID, 1, &st), -ESRCH);
    xtf_check_rc("status(DOMID_INVALID)",
                 evtchnop_status(DOMID_INVALID, 1, &st), -ESRCH);
    xtf_check_rc("status(bad port)", evtchnop_status(DOMID_SELF, BAD_PORT, &st), -EINVAL);
    xtf_check_rc("status(port 4096)", evtchnop_status(DOMID_SELF, 4096, &st), -EINVAL);

    /* The toolstack's xenstore port: bound by xenstored in the backend domain. */
    if ( xtf_check_rc("get HVM_PARAM_STORE_EVTCHN",
                      hvm_get_param(HVM_PARAM_STORE_EVTCHN, &store), 0) &&
         xtf_check_rc("status(xenstore port)",
                      evtchnop_status(DOMID_SELF, store, &st), 0) )
    {
        xtf_check(st.status == EVTCHNSTAT_interdomain && st.u.interdomain.dom == 0,
                  "xenstore port %u: status %u (d%u), expected interdomain to d0",
                  (unsigned)store, st.status, st.u.interdomain.dom);
        printk("  xenstore port %u: interdomain to d%u port %u\n", (unsigned)store,
               st.u.interdomain.dom, st.u.interdomain.port);
    }

    /* Copied back only on success, and only the fields Xen wrote change. */
    memset(&st, 0xa5, sizeof(st));
    st.dom = DOMID_SELF;
    st.port = BAD_PORT;
    xtf_check_rc("status(bad port), poisoned buffer",
                 hypercall_event_channel_op(EVTCHNOP_status, &st), -EINVAL);
    xtf_check(st.status == 0xa5a5a5a5 && st.vcpu == 0xa5a5a5a5,
              "status failure wrote the buffer: status %#x vcpu %#x", st.status, st.vcpu);
    st.port = 0;
    xtf_check_rc("status(port 0), poisoned buffer",
                 hypercall_event_channel_op(EVTCHNOP_status, &st), 0);
    xtf_check(st.status == EVTCHNSTAT_closed && st.vcpu == 0 && st.dom == DOMID_SELF &&
              st.u.virq == 0xa5a5a5a5,
              "status(port 0): status %u vcpu %u dom %#x u %#x", st.status, st.vcpu,
              st.dom, st.u.virq);
    xtf_check_rc("send(unmapped buffer)",
                 hypercall_event_channel_op(EVTCHNOP_send, (void *)0xfffff000UL), -EFAULT);
    xtf_check_rc("status(unmapped buffer)",
                 hypercall_event_channel_op(EVTCHNOP_status, (void *)0xfffff000UL), -EFAULT);

    /* Unknown sub-ops, and a reset_cont with no reset in progress. */
    xtf_check_rc("EVTCHNOP 15 (unknown)", hypercall_event_channel_op(15, &st), -ENOSYS);
    {
        struct evtchn_reset r = { .dom = DOMID_SELF };

        xtf_check_rc("reset_cont with no reset in progress",
                     hypercall_event_channel_op(EVTCHNOP_reset_cont, &r), -EBUSY);
        r.dom = NO_SUCH_DOMID;
        xtf_check_rc("reset_cont(no such domain)",
                     hypercall_event_channel_op(EVTCHNOP_reset_cont, &r), -ESRCH);
    }
}

/* ---- 2. alloc_unbound / bind_interdomain (loopback) ----------------------------- */
static void test_interdomain(void)
{
    long p, q, l, l2, r;
    evtchn_port_t expect;

    printk("Testing EVTCHNOP_alloc_unbound and bind_interdomain\n");

    expect = lowest_free_port();
    p = evtchnop_alloc_unbound(DOMID_SELF, DOMID_SELF);
    xtf_check(p == expect, "alloc_unbound(SELF, SELF): port %ld, expected the lowest free %u",
              p, expect);
    if ( p <= 0 )
        return;
    check_status("status(unbound for ourselves)", DOMID_SELF, p, EVTCHNSTAT_unbound, 0,
                 self, 0);

    q = evtchnop_alloc_unbound(self, NO_SUCH_DOMID);
    xtf_check(q > p, "alloc_unbound(own domid, no such remote domain): %ld", q);
    if ( q > 0 )
        check_status("status(unbound for a missing domain)", DOMID_SELF, q,
                     EVTCHNSTAT_unbound, 0, NO_SUCH_DOMID, 0);
    xtf_check_rc("alloc_unbound(no such domain)",
                 evtchnop_alloc_unbound(NO_SUCH_DOMID, DOMID_SELF), -ESRCH);
    {
        struct evtchn_alloc_unbound au = { .dom = NO_SUCH_DOMID, .port = 0xdead };

        hypercall_event_channel_op(EVTCHNOP_alloc_unbound, &au);
        xtf_check(au.port == 0xdead, "failed alloc_unbound wrote port %#x", au.port);
    }

    /* Binding: only an unbound port offered to us. */
    xtf_check_rc("bind_interdomain(no such domain)",
                 evtchnop_bind_interdomain(NO_SUCH_DOMID, p), -ESRCH);
    xtf_check_rc("bind_interdomain(port 0)", evtchnop_bind_interdomain(DOMID_SELF, 0),
                 -EINVAL);
    xtf_check_rc("bind_interdomain(bad port)",
                 evtchnop_bind_interdomain(DOMID_SELF, BAD_PORT), -EINVAL);
    xtf_check_rc("bind_interdomain(free port)",
                 evtchnop_bind_interdomain(DOMID_SELF, lowest_free_port()), -EINVAL);
    if ( q > 0 )
        xtf_check_rc("bind_interdomain(port offered to another domain)",
                     evtchnop_bind_interdomain(DOMID_SELF, q), -EINVAL);

    clear_upcall_state();
    expect = lowest_free_port();
    evtchn_clear_mask(expect);
    evtchn_clear_mask(p);
    l = evtchnop_bind_interdomain(DOMID_SELF, p);
    xtf_check(l == expect, "bind_interdomain(SELF, %ld): local port %ld, expected %u",
              p, l, expect);
    if ( l <= 0 )
        return;
    check_status("status(loopback local end)", DOMID_SELF, l, EVTCHNSTAT_interdomain, 0,
                 self, p);
    check_status("status(loopback remote end)", DOMID_SELF, p, EVTCHNSTAT_interdomain, 0,
                 self, l);
    /* Xen sets the new local port pending: notifications to the unbound end may be lost. */
    xtf_check(evtchn_test_pending(l), "bind_interdomain: local port %ld not pending", l);
    xtf_check(!evtchn_test_pending(p), "bind_interdomain: remote port %ld pending", p);
    hits[l] = hits[p] = 0;
    if ( take_upcall("bind_interdomain") )
        xtf_check(hits[l] == 1 && hits[p] == 0,
                  "bind_interdomain upcall: %u on local, %u on remote end", hits[l], hits[p]);

    xtf_check_rc("bind_vcpu(interdomain port, 0)", evtchnop_bind_vcpu(l, 0), 0);
    xtf_check_rc("bind_interdomain(already bound port)",
                 evtchnop_bind_interdomain(DOMID_SELF, p), -EINVAL);
    xtf_check_rc("bind_interdomain(own domid, already bound port)",
                 evtchnop_bind_interdomain(self, l), -EINVAL);

    /* Sends cross over. */
    xtf_check_rc("send(local end)", send_rc(l), 0);
    xtf_check(evtchn_test_pending(p) && !evtchn_test_pending(l),
              "send(local end) did not set the remote end pending");
    xtf_check_rc("send(remote end)", send_rc(p), 0);
    xtf_check(evtchn_test_pending(l), "send(remote end) did not set the local end pending");
    if ( take_upcall("loopback sends") )
        xtf_check(hits[l] == 2 && hits[p] == 1,
                  "loopback sends: %u upcalls on local, %u on remote (expected 2, 1)",
                  hits[l], hits[p]);

    /* Closing one end leaves the other unbound for us, pending bit untouched. */
    xtf_check_rc("send(local end) again", send_rc(l), 0);
    evtchn_set_mask(p);
    xtf_check_rc("send(remote end) masked", send_rc(p), 0);   /* l pending, p masked */
    xtf_check_rc("send(local end) to a masked port", send_rc(l), 0);
    xtf_check_rc("close(local end)", evtchnop_close(l), 0);
    check_status("status(remote end after close)", DOMID_SELF, p, EVTCHNSTAT_unbound, 0,
                 self, 0);
    check_status("status(closed local end)", DOMID_SELF, l, EVTCHNSTAT_closed, 0, 0, 0);
    xtf_check(!evtchn_test_pending(l), "close() left the closed port pending");
    xtf_check(evtchn_test_pending(p), "close() cleared the peer's pending bit");
    xtf_check_rc("send(now unbound end): dropped", send_rc(p), 0);
    xtf_check_rc("close(closed port)", evtchnop_close(l), -EINVAL);
    evtchn_clear_pending(p);
    evtchn_clear_mask(p);
    clear_upcall_state();

    /* It can be bound again, by our own domid this time. */
    l2 = evtchnop_bind_interdomain(self, p);
    xtf_check(l2 > 0, "bind_interdomain(own domid, %ld) again: %ld", p, l2);
    if ( l2 > 0 )
    {
        evtchn_clear_pending(l2);
        r = evtchnop_close(p);
        xtf_check_rc("close(remote end)", r, 0);
        check_status("status(other end after close)", DOMID_SELF, l2, EVTCHNSTAT_unbound, 0,
                     self, 0);
        xtf_check_rc("close(unbound end)", evtchnop_close(l2), 0);
    }
    if ( q > 0 )
        xtf_check_rc("close(unbound port)", evtchnop_close(q), 0);
    clear_upcall_state();
}

/* ---- 3. bind_virq ----------------------------------------------------------------------- */
static void test_virq(void)
{
    long t, t2, a, d;

    printk("Testing EVTCHNOP_bind_virq\n");

    xtf_check_rc("bind_virq(NR_VIRQS)", evtchnop_bind_virq(NR_VIRQS, 0), -EINVAL);
    xtf_check_rc("bind_virq(~0)", evtchnop_bind_virq(~0u, 0), -EINVAL);
    xtf_check_rc("bind_virq(TIMER, no such vCPU)", evtchnop_bind_virq(VIRQ_TIMER, nr_vcpus),
                 -ENOENT);
    xtf_check_rc("bind_virq(TIMER, vCPU ~0)", evtchnop_bind_virq(VIRQ_TIMER, ~0u), -ENOENT);
    /* Global VIRQs: vCPU 0 only, and only for their handler (the hardware domain). */
    xtf_check_rc("bind_virq(DOM_EXC, vCPU 1)", evtchnop_bind_virq(VIRQ_DOM_EXC, 1), -EINVAL);
    xtf_check_rc("bind_virq(DOM_EXC, vCPU 0) in a domU",
                 evtchnop_bind_virq(VIRQ_DOM_EXC, 0), -EBUSY);
    xtf_check_rc("bind_virq(ARCH_0, vCPU 0) in a domU",
                 evtchnop_bind_virq(VIRQ_ARCH_0, 0), -EBUSY);
    xtf_check_rc("bind_virq(undefined VIRQ 14, vCPU 0) in a domU",
                 evtchnop_bind_virq(14, 0), -EBUSY);
    xtf_check_rc("bind_virq(CONSOLE, vCPU 2)", evtchnop_bind_virq(VIRQ_CONSOLE, 2), -EINVAL);

    t = evtchnop_bind_virq(VIRQ_TIMER, 0);
    xtf_check(t > 0, "bind_virq(TIMER, 0): %ld", t);
    if ( t > 0 )
        check_status("status(VIRQ_TIMER port)", DOMID_SELF, t, EVTCHNSTAT_virq, 0,
                     VIRQ_TIMER, 0);
    xtf_check_rc("bind_virq(TIMER, 0) again", evtchnop_bind_virq(VIRQ_TIMER, 0), -EEXIST);
    xtf_check_rc("send(VIRQ port)", send_rc(t), -EINVAL);
    xtf_check_rc("bind_vcpu(per-vCPU VIRQ)", evtchnop_bind_vcpu(t, 0), -EINVAL);

    /* Per-domain VIRQ: vCPU 0, no handler restriction, re-targetable. */
    xtf_check_rc("bind_virq(ARGO, vCPU 1)", evtchnop_bind_virq(VIRQ_ARGO, 1), -EINVAL);
    a = evtchnop_bind_virq(VIRQ_ARGO, 0);
    xtf_check(a > 0, "bind_virq(ARGO, 0): %ld", a);
    if ( a > 0 )
    {
        xtf_check_rc("bind_virq(ARGO, 0) again", evtchnop_bind_virq(VIRQ_ARGO, 0), -EEXIST);
        xtf_check_rc("bind_vcpu(per-domain VIRQ, 0)", evtchnop_bind_vcpu(a, 0), 0);
        if ( nr_vcpus > 1 )
        {
            xtf_check_rc("bind_vcpu(per-domain VIRQ, 1)", evtchnop_bind_vcpu(a, 1), 0);
            check_status("status(ARGO on vCPU 1)", DOMID_SELF, a, EVTCHNSTAT_virq, 1,
                         VIRQ_ARGO, 0);
        }
        xtf_check_rc("close(ARGO port)", evtchnop_close(a), 0);
        xtf_check_rc("close(ARGO port) again", evtchnop_close(a), -EINVAL);
    }

    d = evtchnop_bind_virq(VIRQ_DEBUG, 0);
    xtf_check(d > 0, "bind_virq(DEBUG, 0): %ld", d);
    if ( d > 0 )
        xtf_check_rc("close(DEBUG port)", evtchnop_close(d), 0);

    if ( nr_vcpus > 1 )
    {
        long t1 = evtchnop_bind_virq(VIRQ_TIMER, 1);

        xtf_check(t1 > 0, "bind_virq(TIMER, vCPU 1): %ld", t1);
        if ( t1 > 0 )
        {
            check_status("status(VIRQ_TIMER of vCPU 1)", DOMID_SELF, t1, EVTCHNSTAT_virq, 1,
                         VIRQ_TIMER, 0);
            xtf_check_rc("close(vCPU 1's VIRQ_TIMER)", evtchnop_close(t1), 0);
        }
    }

    /* Closing frees the binding. */
    if ( t > 0 )
    {
        xtf_check_rc("close(VIRQ_TIMER port)", evtchnop_close(t), 0);
        t2 = evtchnop_bind_virq(VIRQ_TIMER, 0);
        xtf_check(t2 == t, "bind_virq(TIMER) after close: port %ld, expected %ld", t2, t);
        if ( t2 > 0 )
            xtf_check_rc("close(VIRQ_TIMER port) again", evtchnop_close(t2), 0);
    }
}

/* ---- 4. bind_ipi, bind_vcpu, close, send, unmask with bad arguments ------------------ */
static void test_misc_errors(void)
{
    long i, u;
    evtchn_port_t free_port;

    printk("Testing EVTCHNOP_bind_ipi, bind_vcpu, close, send, unmask\n");

    xtf_check_rc("bind_ipi(no such vCPU)", evtchnop_bind_ipi(nr_vcpus), -ENOENT);
    xtf_check_rc("bind_ipi(vCPU ~0)", evtchnop_bind_ipi(~0u), -ENOENT);
    i = evtchnop_bind_ipi(0);
    xtf_check(i > 0, "bind_ipi(0): %ld", i);
    if ( i <= 0 )
        return;
    check_status("status(IPI port)", DOMID_SELF, i, EVTCHNSTAT_ipi, 0, 0, 0);
    u = evtchnop_alloc_unbound(DOMID_SELF, DOMID_SELF);
    free_port = lowest_free_port();

    /* bind_vcpu: the vCPU is checked before the port. */
    xtf_check_rc("bind_vcpu(bad port, no such vCPU)", evtchnop_bind_vcpu(BAD_PORT, nr_vcpus),
                 -ENOENT);
    xtf_check_rc("bind_vcpu(bad port, 0)", evtchnop_bind_vcpu(BAD_PORT, 0), -EINVAL);
    xtf_check_rc("bind_vcpu(port 0, 0)", evtchnop_bind_vcpu(0, 0), -EINVAL);
    xtf_check_rc("bind_vcpu(free port, 0)", evtchnop_bind_vcpu(free_port, 0), -EINVAL);
    xtf_check_rc("bind_vcpu(IPI port, 0)", evtchnop_bind_vcpu(i, 0), -EINVAL);
    xtf_check_rc("bind_vcpu(unbound port, 0)", evtchnop_bind_vcpu(u, 0), 0);
    if ( nr_vcpus > 1 )
    {
        long i1 = evtchnop_bind_ipi(1);

        xtf_check(i1 > 0, "bind_ipi(1): %ld", i1);
        if ( i1 > 0 )
        {
            check_status("status(IPI to vCPU 1)", DOMID_SELF, i1, EVTCHNSTAT_ipi, 1, 0, 0);
            xtf_check_rc("close(IPI to vCPU 1)", evtchnop_close(i1), 0);
        }
        xtf_check_rc("bind_vcpu(unbound port, 1)", evtchnop_bind_vcpu(u, 1), 0);
        check_status("status(unbound port on vCPU 1)", DOMID_SELF, u, EVTCHNSTAT_unbound, 1,
                     self, 0);
    }

    xtf_check_rc("close(port 0)", evtchnop_close(0), -EINVAL);
    xtf_check_rc("close(bad port)", evtchnop_close(BAD_PORT), -EINVAL);
    xtf_check_rc("close(free port)", evtchnop_close(free_port), -EINVAL);

    xtf_check_rc("send(port 0)", send_rc(0), -EINVAL);
    xtf_check_rc("send(bad port)", send_rc(BAD_PORT), -EINVAL);
    xtf_check_rc("send(free port)", send_rc(free_port), -EINVAL);
    xtf_check_rc("send(unbound port): dropped", send_rc(u), 0);
    xtf_check(!evtchn_test_pending(u), "send(unbound port) set it pending");

    xtf_check_rc("unmask(bad port)", evtchnop_unmask(BAD_PORT), -EINVAL);
    xtf_check_rc("unmask(free port)", evtchnop_unmask(free_port), 0);
    xtf_check_rc("unmask(port 0)", evtchnop_unmask(0), 0);

    xtf_check_rc("close(unbound port)", evtchnop_close(u), 0);
    xtf_check_rc("close(IPI port)", evtchnop_close(i), 0);
    xtf_check_rc("close(IPI port) again", evtchnop_close(i), -EINVAL);
    xtf_check_rc("send(closed IPI port)", send_rc(i), -EINVAL);
}

/* ---- 4b. bind_pirq: a PVH domU may bind any pirq below nr_pirqs (never fires) ------ */
static void test_pirq(void)
{
    long p;

    printk("Testing EVTCHNOP_bind_pirq\n");

    xtf_check_rc("bind_pirq(~0)", evtchnop_bind_pirq(~0u), -EINVAL);
    p = evtchnop_bind_pirq(0);
    xtf_check(p > 0, "bind_pirq(0): %ld", p);
    if ( p <= 0 )
        return;
    {
        struct evtchn_status st;

        if ( xtf_check_rc("status(pirq port)", evtchnop_status(DOMID_SELF, p, &st), 0) )
            xtf_check(st.status == EVTCHNSTAT_pirq && st.u.pirq == 0 && st.vcpu == 0,
                      "status(pirq port): status %u pirq %u vcpu %u", st.status, st.u.pirq,
                      st.vcpu);
    }
    xtf_check_rc("bind_pirq(0) again", evtchnop_bind_pirq(0), -EEXIST);
    xtf_check_rc("send(pirq port)", send_rc(p), -EINVAL);
    xtf_check_rc("bind_vcpu(pirq port, 0)", evtchnop_bind_vcpu(p, 0), 0);
    xtf_check_rc("close(pirq port)", evtchnop_close(p), 0);
    xtf_check_rc("bind_pirq(0) after close", evtchnop_bind_pirq(0), p);
    xtf_check_rc("close(pirq port)", evtchnop_close(p), 0);
}

/* ---- 5. 2-level delivery ------------------------------------------------------------------ */
static void test_2level(void)
{
    long i, j;
    unsigned int n, w;

    printk("Testing 2-level pending/mask/selector semantics and upcalls\n");

    i = evtchnop_bind_ipi(0);
    j = evtchnop_bind_ipi(0);
    if ( !xtf_check(i > 0 && j > 0 && i < NR_TRACKED && j < NR_TRACKED,
                    "bind_ipi: %ld, %ld", i, j) )
        return;
    w = word_of(i);
    evtchn_clear_mask(i);
    evtchn_clear_mask(j);
    clear_upcall_state();
    hits[i] = hits[j] = 0;

    /* An unmasked port: pending, selector bit, upcall_pending, one upcall. */
    n = upcalls();
    xtf_check_rc("send(IPI)", send_rc(i), 0);
    xtf_check(evtchn_test_pending(i), "send: pending bit not set");
    xtf_check(sel_bit(w), "send: evtchn_pending_sel bit %u not set", w);
    xtf_check(vi->evtchn_upcall_pending == 1, "send: evtchn_upcall_pending %u",
              vi->evtchn_upcall_pending);
    xtf_check(upcalls() == n, "upcall delivered with interrupts disabled");
    if ( take_upcall("send") )
    {
        xtf_check(upcalls() == n + 1, "send: %u upcalls, expected 1", upcalls() - n);
        xtf_check(hits[i] == 1, "send: port handled %u times", hits[i]);
        xtf_check(!evtchn_test_pending(i) && !vi->evtchn_upcall_pending &&
                  !vi->evtchn_pending_sel, "upcall handler left state behind");
    }

    /* A masked port: pending only; unmask raises it. */
    evtchn_set_mask(i);
    xtf_check_rc("send(masked IPI)", send_rc(i), 0);
    xtf_check(evtchn_test_pending(i), "masked send: pending bit not set");
    xtf_check(!sel_bit(w), "masked send: selector bit set");
    xtf_check(!vi->evtchn_upcall_pending, "masked send: upcall_pending set");
    xtf_check_rc("unmask(masked pending IPI)", evtchnop_unmask(i), 0);
    xtf_check(!evtchn_test_mask(i), "unmask: mask bit still set");
    xtf_check(sel_bit(w) && vi->evtchn_upcall_pending,
              "unmask of a pending port: sel %d upcall_pending %u", sel_bit(w),
              vi->evtchn_upcall_pending);
    n = upcalls();
    if ( take_upcall("unmask") )
        xtf_check(upcalls() == n + 1 && hits[i] == 2, "unmask: %u upcalls, %u hits",
                  upcalls() - n, hits[i]);

    /* Unmasking a port that was not masked raises nothing. */
    xtf_check_rc("send(IPI)", send_rc(i), 0);
    clear_upcall_state();
    xtf_check_rc("unmask(unmasked pending IPI)", evtchnop_unmask(i), 0);
    xtf_check(!vi->evtchn_upcall_pending && !sel_bit(w),
              "unmask of an unmasked port re-raised it");
    evtchn_clear_pending(i);

    /* A selector bit already set: no new upcall. */
    __atomic_or_fetch(&vi->evtchn_pending_sel, (xen_ulong_t)1 << word_of(j), __ATOMIC_SEQ_CST);
    xtf_check_rc("send(IPI), selector already set", send_rc(j), 0);
    xtf_check(evtchn_test_pending(j), "send: pending bit not set");
    xtf_check(!vi->evtchn_upcall_pending,
              "send with the selector bit already set raised an upcall");
    evtchn_clear_pending(j);
    clear_upcall_state();

    /* Two sends, one upcall: upcall_pending only rises once. */
    n = upcalls();
    xtf_check_rc("send(IPI 1 of 2)", send_rc(i), 0);
    xtf_check_rc("send(IPI 2 of 2)", send_rc(j), 0);
    if ( take_upcall("two sends") )
        xtf_check(upcalls() == n + 1 && hits[i] == 3 && hits[j] == 1,
                  "two sends: %u upcalls, hits %u/%u", upcalls() - n, hits[i], hits[j]);

    /* Sending again while still pending does nothing more. */
    evtchn_set_mask(i);
    xtf_check_rc("send(masked IPI)", send_rc(i), 0);
    xtf_check_rc("send(masked IPI) again", send_rc(i), 0);
    xtf_check(!vi->evtchn_upcall_pending, "masked sends raised an upcall");
    /* Closing clears the pending bit, not the mask. */
    xtf_check_rc("close(masked pending IPI)", evtchnop_close(i), 0);
    xtf_check(!evtchn_test_pending(i), "close left the port pending");
    xtf_check(evtchn_test_mask(i), "close cleared the mask bit");
    evtchn_clear_mask(i);

    /* With interrupts enabled the upcall arrives on return from the send, once. */
    n = upcalls();
    local_irq_enable();
    xtf_check_rc("send(IPI) with interrupts enabled", send_rc(j), 0);
    xtf_check(upcalls() == n + 1 && hits[j] == 2,
              "send with IF=1: %u upcalls on return (expected 1), port handled %u times",
              upcalls() - n, hits[j] - 1);
    for ( unsigned int k = 0; k < 20; k++ )
        hypercall_sched_op(SCHEDOP_yield, NULL);
    local_irq_disable();
    xtf_check(upcalls() == n + 1 && hits[j] == 2, "upcall repeated: %u upcalls, %u hits",
              upcalls() - n, hits[j] - 1);

#ifndef __aarch64__                     /* Arm's vcpu_info has no evtchn_upcall_mask */
    /* HVM: evtchn_upcall_mask plays no part in delivery. */
    ACCESS_ONCE(vi->evtchn_upcall_mask) = 1;
    n = upcalls();
    local_irq_enable();
    xtf_check_rc("send(IPI) with evtchn_upcall_mask set", send_rc(j), 0);
    local_irq_disable();
    xtf_check(upcalls() == n + 1 && hits[j] == 3,
              "evtchn_upcall_mask=1: %u upcalls (an HVM guest gets them anyway)",
              upcalls() - n);
    xtf_check(vi->evtchn_upcall_mask == 1, "the upcall changed evtchn_upcall_mask");
    ACCESS_ONCE(vi->evtchn_upcall_mask) = 0;
#endif

    xtf_check_rc("close(IPI)", evtchnop_close(j), 0);
}

/* ---- 6. the port limit, reset --------------------------------------------------------------- */
static unsigned int fill_ports(const char *abi, evtchn_port_t *last)
{
    unsigned int n = 0;
    long p, prev = 0;
    bool contiguous = true;

    for ( ;; )
    {
        p = evtchnop_alloc_unbound(DOMID_SELF, DOMID_SELF);
        if ( p < 0 )
            break;
        if ( prev && p != prev + 1 )
            contiguous = false;
        prev = p;
        n++;
        if ( n > EVTCHN_FIFO_NR_CHANNELS )
            break;
    }
    xtf_check_rc("alloc_unbound past the last port", p, -ENOSPC);
    xtf_check(contiguous, "%s: ports not handed out lowest first", abi);
    *last = prev;
    return n;
}

static void test_port_limit(evtchn_port_t *limit)
{
    evtchn_port_t last, w_port;
    unsigned int n;
    long p;

    printk("Testing the port limit (-ENOSPC) and EVTCHNOP_reset\n");

    xtf_check_rc("reset(no such domain)", evtchnop_reset(NO_SUCH_DOMID), -ESRCH);
    xtf_check_rc("reset(DOMID_SELF)", evtchnop_reset(DOMID_SELF), 0);
    xtf_check(port_closed(1) && port_closed(2), "reset left ports 1-2 open");
    xtf_check(lowest_free_port() == 1, "after reset the lowest free port is %u",
              lowest_free_port());

    n = fill_ports("2-level", &last);
    xtf_check(n == last, "2-level: %u ports, the last one %u (ports 1..N expected)", n, last);
    xtf_check(last < EVTCHN_2L_NR_PORTS, "2-level: port %u beyond the 2-level ABI", last);
    printk("  2-level: %u ports, 1..%u\n", n, last);
    *limit = last;

    xtf_check_rc("bind_ipi at the limit", evtchnop_bind_ipi(0), -ENOSPC);
    xtf_check_rc("bind_virq at the limit", evtchnop_bind_virq(VIRQ_TIMER, 0), -ENOSPC);
    /* The local port is allocated before the remote one is looked at. */
    xtf_check_rc("bind_interdomain at the limit", evtchnop_bind_interdomain(DOMID_SELF, 5),
                 -ENOSPC);
    xtf_check_rc("bind_interdomain(bad port) at the limit",
                 evtchnop_bind_interdomain(DOMID_SELF, BAD_PORT), -ENOSPC);

    /* A freed port is reused first. */
    xtf_check_rc("close(port 500)", evtchnop_close(500), 0);
    p = evtchnop_bind_ipi(0);
    xtf_check(p == 500, "bind_ipi after closing port 500: %ld", p);

    /* A port of the second selector word: its own pending_sel bit. */
    w_port = EVTCHN_WORD_BITS + 1;
    if ( w_port < last )
    {
        xtf_check_rc("close(a second-word port)", evtchnop_close(w_port), 0);
        p = evtchnop_bind_ipi(0);
        xtf_check(p == w_port, "bind_ipi: %ld, expected %u", p, w_port);
        evtchn_clear_mask(w_port);
        clear_upcall_state();
        hits[w_port] = 0;
        xtf_check_rc("send(second-word IPI)", send_rc(w_port), 0);
        xtf_check(vi->evtchn_pending_sel == (xen_ulong_t)1 << 1,
                  "second-word port: evtchn_pending_sel %#lx, expected bit 1",
                  (unsigned long)vi->evtchn_pending_sel);
        if ( take_upcall("second-word port") )
            xtf_check(hits[w_port] == 1, "second-word port handled %u times", hits[w_port]);
    }

    xtf_check_rc("reset(own domid)", evtchnop_reset(self), 0);
    xtf_check(port_closed(1) && port_closed(last), "reset left ports open");
    xtf_check(lowest_free_port() == 1, "after reset the lowest free port is %u",
              lowest_free_port());
}

/* ---- 7. FIFO ------------------------------------------------------------------------------------ */
#define FIFO_P      (1u << EVTCHN_FIFO_PENDING)
#define FIFO_M      (1u << EVTCHN_FIFO_MASKED)
#define FIFO_L      (1u << EVTCHN_FIFO_LINKED)
#define WORDS_PER_PAGE (PAGE_SIZE / sizeof(uint32_t))   /* event_word_t is 32-bit */

static uint8_t control_page[PAGE_SIZE] __aligned(PAGE_SIZE);
static uint32_t event_array[2][WORDS_PER_PAGE] __aligned(PAGE_SIZE);
static struct evtchn_fifo_control_block *cb = (void *)control_page;

/* Guest side of the queues (Linux's consume_one_event()). */
static uint32_t q_head[EVTCHN_FIFO_MAX_QUEUES];
static evtchn_port_t fifo_order[32];
static unsigned int fifo_n;

static volatile uint32_t *word(evtchn_port_t port)
{
    return &event_array[port / WORDS_PER_PAGE][port % WORDS_PER_PAGE];
}

static uint32_t clear_linked(volatile uint32_t *w)
{
    uint32_t old = *w, new;

    do {
        new = old & ~(FIFO_L | EVTCHN_FIFO_LINK_MASK);
    } while ( !__atomic_compare_exchange_n(w, &old, new, false, __ATOMIC_SEQ_CST,
                                           __ATOMIC_SEQ_CST) );
    return old;
}

static void consume_one(unsigned int q, uint32_t *ready)
{
    uint32_t head = q_head[q], old;
    evtchn_port_t port;

    if ( !head )
        head = ACCESS_ONCE(cb->head[q]);
    port = head;
    old = clear_linked(word(port));
    head = old & EVTCHN_FIFO_LINK_MASK;
    if ( !head )
        *ready &= ~(1u << q);
    if ( (old & FIFO_P) && !(old & FIFO_M) )
    {
        __atomic_and_fetch(word(port), ~FIFO_P, __ATOMIC_SEQ_CST);
        if ( fifo_n < ARRAY_SIZE(fifo_order) )
            fifo_order[fifo_n++] = port;
        count_hit(port, NULL);
    }
    q_head[q] = head;
}

static void fifo_upcall(struct cpu_regs *regs)
{
    uint32_t ready;

    xtf_cpus[0].upcalls++;
    ACCESS_ONCE(vi->evtchn_upcall_pending) = 0;
    ready = __atomic_exchange_n(&cb->ready, 0, __ATOMIC_SEQ_CST);
    while ( ready )
    {
        consume_one(__builtin_ctz(ready), &ready);
        ready |= __atomic_exchange_n(&cb->ready, 0, __ATOMIC_SEQ_CST);
    }
}

static bool check_order(const char *what, unsigned int n, const evtchn_port_t *exp)
{
    bool ok = fifo_n == n;

    for ( unsigned int i = 0; ok && i < n; i++ )
        ok = fifo_order[i] == exp[i];
    return xtf_check(ok, "%s: %u events in order %u,%u,%u, expected %u: %u,%u,%u", what,
                     fifo_n, fifo_order[0], fifo_order[1], fifo_order[2], n,
                     exp[0], n > 1 ? exp[1] : 0, n > 2 ? exp[2] : 0);
}

static long init_control(uint64_t gfn, uint32_t offset, uint32_t vcpu, uint8_t *link_bits)
{
    struct evtchn_init_control ic = { .control_gfn = gfn, .offset = offset, .vcpu = vcpu };
    long rc = hypercall_event_channel_op(EVTCHNOP_init_control, &ic);

    if ( link_bits )
        *link_bits = ic.link_bits;
    return rc;
}

static long expand_array(uint64_t gfn)
{
    struct evtchn_expand_array ea = { .array_gfn = gfn };

    return hypercall_event_channel_op(EVTCHNOP_expand_array, &ea);
}

static uint64_t gfn_of(const void *p)
{
    return (unsigned long)p >> PAGE_SHIFT;
}

/* A frame no RAM backs (512 GiB up). */
#define BAD_GFN 0x8000000ull

static void test_fifo(evtchn_port_t limit)
{
    xtf_irq_handler_t two_level_upcall = xtf_irq_handlers[XTF_EVTCHN_VECTOR];
    long a, b, x, y, z;
    uint8_t link_bits = 0;
    unsigned int n;
    evtchn_port_t last;

    printk("Testing FIFO event channels\n");

    a = evtchnop_bind_ipi(0);
    if ( !xtf_check(a > 0 && (unsigned long)a < WORDS_PER_PAGE, "bind_ipi: %ld", a) )
        return;

    /* Still 2-level. */
    xtf_check_rc("expand_array before init_control", expand_array(gfn_of(event_array[0])),
                 -EOPNOTSUPP);
    xtf_check_rc("set_priority with 2-level", evtchnop_set_priority(a, 3), -ENOSYS);
    xtf_check_rc("init_control(no such vCPU)",
                 init_control(gfn_of(control_page), 0, nr_vcpus, NULL), -ENOENT);
    xtf_check_rc("init_control(offset past the page)",
                 init_control(gfn_of(control_page),
                              PAGE_SIZE - sizeof(struct evtchn_fifo_control_block) + 8, 0,
                              NULL), -EINVAL);
    xtf_check_rc("init_control(misaligned offset)",
                 init_control(gfn_of(control_page), 4, 0, NULL), -EINVAL);
    xtf_check_rc("init_control(no RAM at the gfn)", init_control(BAD_GFN, 0, 0, &link_bits),
                 -EINVAL);
    xtf_check(link_bits == 0, "failed init_control wrote link_bits %u", link_bits);
    xtf_check_rc("set_priority after a failed init_control", evtchnop_set_priority(a, 3),
                 -ENOSYS);

    /* A 2-level event pending across the switch. */
    evtchn_clear_mask(a);
    xtf_check_rc("send(IPI) before the switch", send_rc(a), 0);
    clear_upcall_state();
    memset(control_page, 0, sizeof(control_page));
    memset(event_array, 0, sizeof(event_array));
    xtf_irq_handlers[XTF_EVTCHN_VECTOR] = fifo_upcall;

    xtf_check_rc("init_control(vCPU 0)",
                 init_control(gfn_of(control_page), 0, 0, &link_bits), 0);
    xtf_check(link_bits == EVTCHN_FIFO_LINK_BITS, "init_control: link_bits %u", link_bits);
    /* Xen no longer looks at the 2-level bitmaps; a's stale bit is ours to clear. */
    evtchn_clear_pending(a);
    xtf_check_rc("init_control(vCPU 0) again",
                 init_control(gfn_of(control_page), 0, 0, NULL), -EINVAL);
    if ( nr_vcpus > 1 )
        xtf_check_rc("init_control(vCPU 1)",
                     init_control(gfn_of(control_page), 512, 1, NULL), 0);

    /* FIFO, but no event array yet: events are remembered. */
    b = evtchnop_bind_ipi(0);
    xtf_check(b > a && (unsigned long)b < WORDS_PER_PAGE, "bind_ipi with FIFO: %ld", b);
    xtf_check_rc("send(IPI) with no event array", send_rc(b), 0);
    xtf_check(!vi->evtchn_upcall_pending, "event without an event word raised an upcall");
    xtf_check_rc("expand_array(no RAM at the gfn)", expand_array(BAD_GFN), -EINVAL);
    xtf_check_rc("expand_array(page 0)", expand_array(gfn_of(event_array[0])), 0);

    /* Both re-raised, in port order: a heads queue 7, b is linked after it. */
    xtf_check(*word(a) == (FIFO_P | FIFO_L | b), "word(%ld) %#x, expected P|L|link %ld",
              a, *word(a), b);
    xtf_check(*word(b) == (FIFO_P | FIFO_L), "word(%ld) %#x, expected P|L", b, *word(b));
    xtf_check(cb->head[EVTCHN_FIFO_PRIORITY_DEFAULT] == a, "head[7] %u, expected %ld",
              cb->head[EVTCHN_FIFO_PRIORITY_DEFAULT], a);
    xtf_check(cb->ready == 1u << EVTCHN_FIFO_PRIORITY_DEFAULT, "READY %#x", cb->ready);
    xtf_check(vi->evtchn_upcall_pending == 1, "re-raised events: upcall_pending %u",
              vi->evtchn_upcall_pending);
    fifo_n = 0;
    n = upcalls();
    if ( take_upcall("FIFO re-raise") )
    {
        evtchn_port_t exp[] = { a, b };

        xtf_check(upcalls() == n + 1, "FIFO re-raise: %u upcalls", upcalls() - n);
        check_order("FIFO re-raise", 2, exp);
        xtf_check(*word(a) == 0 && *word(b) == 0 && cb->ready == 0,
                  "consumed words %#x %#x, READY %#x", *word(a), *word(b), cb->ready);
    }

    /* Priorities: queue 3 is consumed before queue 7. */
    xtf_check_rc("set_priority(16)", evtchnop_set_priority(b, EVTCHN_FIFO_PRIORITY_MIN + 1),
                 -EINVAL);
    xtf_check_rc("set_priority(bad port)", evtchnop_set_priority(BAD_PORT, 3), -EINVAL);
    xtf_check_rc("set_priority(port 0)", evtchnop_set_priority(0, 3), -EACCES);
    xtf_check_rc("set_priority(free port)", evtchnop_set_priority(b + 1, 3), -EACCES);
    xtf_check_rc("set_priority(MIN)", evtchnop_set_priority(b, EVTCHN_FIFO_PRIORITY_MIN), 0);
    xtf_check_rc("set_priority(3)", evtchnop_set_priority(b, 3), 0);
    xtf_check_rc("send(priority 7)", send_rc(a), 0);
    xtf_check_rc("send(priority 3)", send_rc(b), 0);
    xtf_check(cb->head[7] == a && cb->head[3] == b, "heads: [3] %u [7] %u", cb->head[3],
              cb->head[7]);
    xtf_check(cb->ready == ((1u << 3) | (1u << 7)), "READY %#x", cb->ready);
    fifo_n = 0;
    if ( take_upcall("priorities") )
    {
        evtchn_port_t exp[] = { b, a };

        check_order("priorities", 2, exp);
    }
    xtf_check_rc("set_priority(DEFAULT)", evtchnop_set_priority(b, EVTCHN_FIFO_PRIORITY_DEFAULT),
                 0);

    /* MASKED: pending but not linked, until EVTCHNOP_unmask. */
    __atomic_or_fetch(word(a), FIFO_M, __ATOMIC_SEQ_CST);
    xtf_check_rc("send(masked)", send_rc(a), 0);
    xtf_check(*word(a) == (FIFO_P | FIFO_M), "masked send: word %#x", *word(a));
    xtf_check(cb->ready == 0 && !vi->evtchn_upcall_pending, "masked send: READY %#x, upcall %u",
              cb->ready, vi->evtchn_upcall_pending);
    __atomic_and_fetch(word(a), ~FIFO_M, __ATOMIC_SEQ_CST);   /* The guest's unmask ... */
    xtf_check(!vi->evtchn_upcall_pending, "a guest-side unmask raised an upcall");
    __atomic_or_fetch(word(a), FIFO_M, __ATOMIC_SEQ_CST);
    xtf_check_rc("unmask(masked pending)", evtchnop_unmask(a), 0);  /* ... Xen's relinks */
    xtf_check(*word(a) == (FIFO_P | FIFO_L), "unmask: word %#x", *word(a));
    xtf_check(cb->head[7] == a && cb->ready == 1u << 7 && vi->evtchn_upcall_pending,
              "unmask: head %u READY %#x upcall %u", cb->head[7], cb->ready,
              vi->evtchn_upcall_pending);
    fifo_n = 0;
    if ( take_upcall("FIFO unmask") )
    {
        evtchn_port_t exp[] = { a };

        check_order("FIFO unmask", 1, exp);
    }

    /* Tail handling: Xen's tail was consumed by the guest, so b heads a new queue. */
    xtf_check_rc("send(a)", send_rc(a), 0);
    clear_linked(word(a));                          /* The guest dequeues a by hand. */
    __atomic_and_fetch(word(a), ~FIFO_P, __ATOMIC_SEQ_CST);
    cb->ready = 0;
    clear_upcall_state();
    xtf_check_rc("send(b) after the tail was dequeued", send_rc(b), 0);
    xtf_check(cb->head[7] == b, "new head %u, expected %ld", cb->head[7], b);
    xtf_check(*word(a) == 0, "the dequeued tail was linked: %#x", *word(a));
    xtf_check(*word(b) == (FIFO_P | FIFO_L), "word(b) %#x", *word(b));
    xtf_check(cb->ready == 1u << 7 && vi->evtchn_upcall_pending,
              "new head: READY %#x upcall %u", cb->ready, vi->evtchn_upcall_pending);
    /* And an event behind a linked tail is appended, without an upcall. */
    clear_upcall_state();
    xtf_check_rc("send(a) behind the linked tail b", send_rc(a), 0);
    xtf_check((*word(b) & EVTCHN_FIFO_LINK_MASK) == (uint32_t)a && !vi->evtchn_upcall_pending,
              "append: word(b) %#x, upcall %u", *word(b), vi->evtchn_upcall_pending);
    ACCESS_ONCE(vi->evtchn_upcall_pending) = 1;     /* Have the handler drain the queue. */
    fifo_n = 0;
    if ( take_upcall("tail handling") )
    {
        evtchn_port_t exp[] = { b, a };

        check_order("tail handling", 2, exp);
    }

    /* A closed port still on a queue is busy: not reused until dequeued. */
    x = evtchnop_bind_ipi(0);
    xtf_check(x > 0 && (unsigned long)x < WORDS_PER_PAGE, "bind_ipi: %ld", x);
    xtf_check_rc("send(x)", send_rc(x), 0);
    xtf_check_rc("close(linked port)", evtchnop_close(x), 0);
    xtf_check(*word(x) == FIFO_L, "close: word %#x, expected LINKED only", *word(x));
    y = evtchnop_bind_ipi(0);
    xtf_check(y != x, "bind_ipi reused the busy port %ld", x);
    fifo_n = 0;
    hits[x] = 0;
    if ( take_upcall("busy port") )
        xtf_check(fifo_n == 0 && hits[x] == 0 && *word(x) == 0,
                  "dequeued a closed port: %u events, word %#x", fifo_n, *word(x));
    z = evtchnop_bind_ipi(0);
    xtf_check(z == x, "bind_ipi after dequeue: %ld, expected %ld", z, x);

    /* With interrupts enabled the upcall arrives on return, once. */
    n = upcalls();
    hits[a] = 0;
    local_irq_enable();
    xtf_check_rc("send(IPI) with interrupts enabled", send_rc(a), 0);
    xtf_check(upcalls() == n + 1 && hits[a] == 1, "FIFO send with IF=1: %u upcalls, %u hits",
              upcalls() - n, hits[a]);
    for ( unsigned int k = 0; k < 20; k++ )
        hypercall_sched_op(SCHEDOP_yield, NULL);
    local_irq_disable();
    xtf_check(upcalls() == n + 1 && hits[a] == 1, "FIFO upcall repeated: %u", upcalls() - n);

    /* The port limit is max_evtchn_port (below the 2-level one) with FIFO too. */
    xtf_check_rc("expand_array(page 1)", expand_array(gfn_of(event_array[1])), 0);
    n = fill_ports("FIFO", &last);
    if ( limit < EVTCHN_2L_NR_PORTS - 1 )
        xtf_check(last == limit, "FIFO: last port %u, 2-level %u", last, limit);
    else
        xtf_check(last >= limit, "FIFO: last port %u, 2-level %u", last, limit);
    printk("  FIFO: last port %u\n", last);

    /* Reset: everything closed, back to 2-level; FIFO can be set up again. */
    xtf_check_rc("reset(DOMID_SELF) with FIFO", evtchnop_reset(DOMID_SELF), 0);
    xtf_irq_handlers[XTF_EVTCHN_VECTOR] = two_level_upcall;
    xtf_check(port_closed(a) && port_closed(last), "reset left ports open");
    xtf_check_rc("set_priority(free port) after reset", evtchnop_set_priority(1, 3), -ENOSYS);
    a = evtchnop_bind_ipi(0);
    xtf_check(a == 1, "bind_ipi after reset: %ld", a);
    xtf_check_rc("set_priority: 2-level again", evtchnop_set_priority(a, 3), -ENOSYS);
    xtf_check_rc("expand_array: 2-level again", expand_array(gfn_of(event_array[0])),
                 -EOPNOTSUPP);
    evtchn_clear_mask(a);
    clear_upcall_state();
    xtf_check_rc("send(IPI) after reset", send_rc(a), 0);
    xtf_check(evtchn_test_pending(a) && vi->evtchn_upcall_pending,
              "2-level send after reset: pending %d upcall %u", evtchn_test_pending(a),
              vi->evtchn_upcall_pending);
    hits[a] = 0;
    if ( take_upcall("2-level after reset") )
        xtf_check(hits[a] == 1, "2-level after reset: %u hits", hits[a]);
    xtf_check_rc("init_control after reset", init_control(gfn_of(control_page), 0, 0, NULL),
                 0);
    xtf_check_rc("set_priority: FIFO again", evtchnop_set_priority(a, 3), 0);
    xtf_check_rc("final reset", evtchnop_reset(DOMID_SELF), 0);
}

void test_main(void)
{
    evtchn_port_t limit = 0;

    self = self_domid();
    nr_vcpus = smp_nr_vcpus();
    printk("d%u, %u vCPU%s, %zu-bit event words\n", self, nr_vcpus, nr_vcpus > 1 ? "s" : "",
           EVTCHN_WORD_BITS);

    if ( !map_shared_info() )
        return xtf_error("Cannot map shared_info\n");
    vi = vcpu_info_of(0);
    evtchn_default_handler = count_hit;
    if ( !xtf_check_rc("HVM_PARAM_CALLBACK_IRQ (vector)", evtchn_setup_callback_vector(), 0) )
        return;

    test_peer_domain();
    test_status();
    test_interdomain();
    test_virq();
    test_misc_errors();
    test_pirq();
    test_2level();
    test_port_limit(&limit);
    test_fifo(limit);

    xtf_success(NULL);
}
