/**
 * @file tests/ping-pong/main.c
 *
 * Two domains bounce event channel notifications: run it as both of them,
 * `hvsim run ping-pong.elf ping-pong.elf`.  The guest takes its role from
 * its domid: domain 1 pings, domain 2 pongs.  Alone it ends SKIP.
 *
 * - ping: EVTCHNOP_alloc_unbound for domain 2, then waits for pong's hello;
 * - pong: retries EVTCHNOP_bind_interdomain(1, port) over domain 1's ports,
 *   yielding between rounds, until one binds; its new port is pending (Xen
 *   sets the binder's port pending); it clears that and says hello;
 * - then `rounds=N` (command line, default 1000) round trips: ping sends,
 *   pong replies, each blocked in SCHEDOP_block in between and taking the
 *   events through the callback vector (HVM_PARAM_CALLBACK_IRQ).
 *
 * Every event must arrive right after the other side was sent one (strict
 * alternation: received == sent + 1 on both sides).
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <xtf/ctl.h>
#include <xtf/events.h>

const char test_title[] = "Event channels: ping-pong between two domains";

/* The domids `hvsim run a.elf b.elf` gives the two domains. */
#define PING_DOMID 1
#define PONG_DOMID 2

#define DEFAULT_ROUNDS  1000
#define MAX_BIND_TRIES  10000   /* Scans of the peer's ports (yield in between). */

static bool is_ping;
static evtchn_port_t port;
static volatile unsigned int rx, tx;
static unsigned int out_of_order, first_bad_rx, first_bad_tx;
static unsigned int stray_events;

static void on_event(evtchn_port_t p, void *data)
{
    rx++;
    if ( rx != tx + 1 && !out_of_order++ )
    {
        first_bad_rx = rx;
        first_bad_tx = tx;
    }
}

static void on_stray_event(evtchn_port_t p, void *data)
{
    if ( !stray_events++ )
        printk("Unexpected event on port %u\n", p);
}

/* Does domain @domid exist?  Its status is -EPERM for us, or -ESRCH. */
static bool domain_exists(domid_t domid)
{
    struct evtchn_status st;

    return evtchnop_status(domid, 0, &st) != -ESRCH;
}

static void check_port_status(const char *who, evtchn_port_t p, domid_t peer,
                              long peer_port)
{
    struct evtchn_status st;

    if ( !xtf_check_rc("EVTCHNOP_status of our port", evtchnop_status(DOMID_SELF, p, &st), 0) )
        return;
    xtf_check_eq("status of our port", st.status, EVTCHNSTAT_interdomain);
    xtf_check_eq("status: peer domain", st.u.interdomain.dom, peer);
    if ( peer_port >= 0 )
        xtf_check_eq("status: peer port", st.u.interdomain.port, peer_port);
    printk("%s: port %u <-> d%u port %u\n", who, p, st.u.interdomain.dom,
           st.u.interdomain.port);
}

static void ping(domid_t peer)
{
    struct evtchn_status st;
    long rc = evtchnop_alloc_unbound(DOMID_SELF, peer);

    if ( !xtf_check(rc > 0, "alloc_unbound for d%u: %ld", peer, rc) )
        return;
    port = rc;
    /* Unbound, offered to the peer, unless pong was quick and bound it already. */
    if ( xtf_check_rc("EVTCHNOP_status", evtchnop_status(DOMID_SELF, port, &st), 0) )
    {
        xtf_check(st.status == EVTCHNSTAT_unbound || st.status == EVTCHNSTAT_interdomain,
                  "status of the offered port: %u", st.status);
        xtf_check_eq("status: remote domain", st.status == EVTCHNSTAT_unbound ?
                     st.u.unbound.dom : st.u.interdomain.dom, peer);
    }
    printk("ping: offering port %u to d%u\n", port, peer);
    evtchn_bind_handler(port, 0, on_event, NULL);

    block_while_eq(&rx, 0);         /* pong's hello */
    check_port_status("ping", port, peer, -1);
}

static void pong(domid_t peer)
{
    evtchn_port_t p = 1;
    unsigned int tries;
    long rc = -EINVAL;

    for ( tries = 0; tries < MAX_BIND_TRIES; tries++ )
    {
        for ( p = 1; p < EVTCHN_WORD_BITS; p++ )
        {
            rc = evtchnop_bind_interdomain(peer, p);
            if ( rc != -EINVAL )
                break;
        }
        if ( rc != -EINVAL )
            break;
        hypercall_sched_op(SCHEDOP_yield, NULL);
    }
    if ( !xtf_check(rc > 0, "bind_interdomain to d%u: %ld after %u tries", peer, rc, tries) )
        return;
    port = rc;
    printk("pong: bound d%u port %u after %u scans\n", peer, p, tries + 1);
    check_port_status("pong", port, peer, p);

    /* Xen conservatively sets the binder's new port pending. */
    xtf_check(evtchn_test_pending(port), "binder's new port %u not pending", port);
    evtchn_clear_pending(port);
    evtchn_bind_handler(port, 0, on_event, NULL);

    xtf_check_rc("hello", evtchnop_send(port), 0);
}

void test_main(void)
{
    unsigned long rounds = cmdline_ulong("rounds", DEFAULT_ROUNDS);
    uint64_t t0, t1;
    domid_t self, peer;
    unsigned int i;
    uint32_t rem;

    if ( !xen_present )
    {
        xtf_skip("Skip: Xen not present\n");
        return;
    }

    self = self_domid();
    is_ping = self == PING_DOMID;
    peer = is_ping ? PONG_DOMID : PING_DOMID;
    if ( (self != PING_DOMID && self != PONG_DOMID) || !domain_exists(peer) )
    {
        xtf_skip("Skip: needs two domains, ping (d%u) and pong (d%u): "
                 "run ping-pong.elf twice (we are d%u)\n", PING_DOMID, PONG_DOMID, self);
        return;
    }
    printk("d%u plays %s against d%u, %lu rounds\n", self, is_ping ? "ping" : "pong",
           peer, rounds);

    if ( !xtf_check_rc("HVM_PARAM_CALLBACK_IRQ (vector)", evtchn_setup_callback_vector(), 0) )
        return;
    evtchn_default_handler = on_stray_event;

    if ( is_ping )
        ping(peer);
    else
        pong(peer);
    if ( xtf_status() == STATUS_FAILURE )
        return;

    t0 = xen_system_time();
    for ( i = 1; i <= rounds; i++ )
    {
        if ( is_ping )
        {
            tx = i;
            evtchnop_send(port);
            block_while_eq(&rx, i);         /* hello + i - 1 replies */
        }
        else
        {
            block_while_eq(&rx, i - 1);
            tx = i;
            evtchnop_send(port);
        }
        if ( out_of_order )
            break;
    }
    t1 = xen_system_time();

    xtf_check(!out_of_order, "%u events out of turn, first: received %u with %u sent",
              out_of_order, first_bad_rx, first_bad_tx);
    xtf_check_eq("events received", rx, is_ping ? rounds + 1 : rounds);
    xtf_check_eq("events sent", tx, rounds);
    xtf_check(!stray_events, "%u events on other ports", stray_events);
    xtf_check(t1 >= t0, "system time went backwards: %llu -> %llu",
              (unsigned long long)t0, (unsigned long long)t1);

    printk("%s: %u round trips with d%u, %llu ns each, %u upcalls\n",
           is_ping ? "ping" : "pong", i - 1, peer,
           (unsigned long long)div_u64(t1 - t0, rounds ?: 1, &rem), xtf_cpus[0].upcalls);

    xtf_success(NULL);
}
