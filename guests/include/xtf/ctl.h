/**
 * @file include/xtf/ctl.h
 *
 * The control interfaces: domctl and sysctl wrappers for control-domain
 * guests, and a few event channel helpers they need.
 */
#ifndef XTF_CTL_H
#define XTF_CTL_H

#include <xtf/types.h>
#include <xen-abi.h>

long domctl(struct xen_domctl *op);
/* A domctl with no payload (pause, unpause, destroy...), or getdomaininfo. */
long domctl_simple(unsigned int cmd, domid_t dom);
long domctl_getdomaininfo(domid_t dom, struct xen_domctl_getdomaininfo *info);
/* get_domain_state: dom is IN/OUT (DOMID_INVALID: the next changed domain). */
long domctl_get_domain_state(domid_t *dom, struct xen_domctl_get_domain_state *state);
long sysctl_getdomaininfolist(domid_t first, struct xen_domctl_getdomaininfo *buf,
                              unsigned int max, unsigned int *nr);

long evtchn_send(evtchn_port_t port);
long evtchn_bind_virq(unsigned int virq, unsigned int vcpu, evtchn_port_t *port);
/* SCHEDOP_poll on ports (returns at once if one is pending). */
long sched_poll(evtchn_port_t *ports, unsigned int nr, uint64_t timeout);

/* Our own domid (CPUID leaf base+4, ECX). */
domid_t self_domid(void);

#endif /* XTF_CTL_H */
