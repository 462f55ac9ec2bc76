/**
 * @file include/xtf/peer.h
 *
 * Two test domains finding each other over an event channel, as the
 * ping-pong guest does: the first domain offers an unbound port
 * (EVTCHNOP_alloc_unbound), the second binds it by scanning the first's
 * ports, then says hello.  Events on the channel count in peer_rx.
 */
#ifndef XTF_PEER_H
#define XTF_PEER_H

#include <xtf.h>

#define PEER_FIRST_DOMID  1     /* the domids `hvsim run a.elf b.elf` gives */
#define PEER_SECOND_DOMID 2

extern evtchn_port_t peer_port;
extern volatile unsigned int peer_rx;

/*
 * Connect to the other domain: returns its domid (0 and a SKIP when run
 * alone or as a third domain, 0 and a failure when the connection fails).
 * Once it returns, the peer has said hello (peer_rx counts it: 1).
 */
domid_t peer_connect(void);

/* We are the first domain (the one that offered the port). */
bool peer_is_first(void);

/* Notify the peer, and wait for its @n-th event. */
void peer_notify(void);
void peer_wait(unsigned int n);

#endif /* XTF_PEER_H */
