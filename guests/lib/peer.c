/**
 * @file lib/peer.c
 *
 * Two test domains connected by an event channel (see xtf/peer.h).
 */
#include <xtf.h>
#include <xtf/ctl.h>
#include <xtf/events.h>
#include <xtf/peer.h>

#define MAX_BIND_TRIES 10000

evtchn_port_t peer_port;
volatile unsigned int peer_rx;
static bool first;

static void on_peer_event(evtchn_port_t p, void *data)
{
    peer_rx++;
}

bool peer_is_first(void)
{
    return first;
}

static bool domain_exists(domid_t domid)
{
    struct evtchn_status st;

    return evtchnop_status(domid, 0, &st) != -ESRCH;
}

static bool offer(domid_t peer)
{
    long rc = evtchnop_alloc_unbound(DOMID_SELF, peer);

    if ( !xtf_check(rc > 0, "alloc_unbound for d%u: %ld", peer, rc) )
        return false;
    peer_port = rc;
    evtchn_bind_handler(peer_port, 0, on_peer_event, NULL);
    block_while_eq(&peer_rx, 0);                /* the peer's hello */
    return true;
}

static bool bind(domid_t peer)
{
    unsigned int tries;
    evtchn_port_t p;
    long rc = -EINVAL;

    for ( tries = 0; tries < MAX_BIND_TRIES && rc == -EINVAL; tries++ )
    {
        for ( p = 1; p < EVTCHN_WORD_BITS && rc == -EINVAL; p++ )
            rc = evtchnop_bind_interdomain(peer, p);
        if ( rc == -EINVAL )
            hypercall_sched_op(SCHEDOP_yield, NULL);
    }
    if ( !xtf_check(rc > 0, "bind_interdomain to d%u: %ld", peer, rc) )
        return false;
    peer_port = rc;
    evtchn_clear_pending(peer_port);            /* Xen sets the binder's port pending */
    peer_rx = 1;                                /* counts as the hello */
    evtchn_bind_handler(peer_port, 0, on_peer_event, NULL);
    return xtf_check_rc("hello", evtchnop_send(peer_port), 0);
}

domid_t peer_connect(void)
{
    domid_t self = self_domid(), peer;

    first = self == PEER_FIRST_DOMID;
    peer = first ? PEER_SECOND_DOMID : PEER_FIRST_DOMID;
    if ( (self != PEER_FIRST_DOMID && self != PEER_SECOND_DOMID) || !domain_exists(peer) )
    {
        xtf_skip("Skip: needs two domains, d%u and d%u (we are d%u)\n",
                 PEER_FIRST_DOMID, PEER_SECOND_DOMID, self);
        return 0;
    }
    if ( !xtf_check_rc("HVM_PARAM_CALLBACK_IRQ (vector)", evtchn_setup_callback_vector(), 0) )
        return 0;
    if ( !(first ? offer(peer) : bind(peer)) )
        return 0;
    return peer;
}

void peer_notify(void)
{
    evtchnop_send(peer_port);
}

void peer_wait(unsigned int n)
{
    while ( peer_rx < n )
        block_while_eq(&peer_rx, peer_rx);
}
