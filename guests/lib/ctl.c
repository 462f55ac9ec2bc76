/**
 * @file lib/ctl.c
 *
 * domctl / sysctl / event-channel wrappers (see xtf/ctl.h).
 */
#include <xtf.h>
#include <xtf/ctl.h>

long domctl(struct xen_domctl *op)
{
    return hypercall(__HYPERVISOR_domctl, (unsigned long)op, 0, 0, 0, 0);
}

long domctl_simple(unsigned int cmd, domid_t dom)
{
    struct xen_domctl op = {
        .cmd = cmd,
        .interface_version = XEN_DOMCTL_INTERFACE_VERSION,
        .domain = dom,
    };

    return domctl(&op);
}

long domctl_getdomaininfo(domid_t dom, struct xen_domctl_getdomaininfo *info)
{
    struct xen_domctl op = {
        .cmd = XEN_DOMCTL_getdomaininfo,
        .interface_version = XEN_DOMCTL_INTERFACE_VERSION,
        .domain = dom,
    };
    long rc = domctl(&op);

    if ( !rc && info )
        memcpy(info, &op.u, sizeof(*info));
    return rc;
}

long domctl_get_domain_state(domid_t *dom, struct xen_domctl_get_domain_state *state)
{
    struct xen_domctl op = {
        .cmd = XEN_DOMCTL_get_domain_state,
        .interface_version = 0,                 /* a stable domctl */
        .domain = *dom,
    };
    long rc = domctl(&op);

    if ( !rc )
    {
        *dom = op.domain;
        if ( state )
            memcpy(state, &op.u, sizeof(*state));
    }
    return rc;
}

long sysctl_getdomaininfolist(domid_t first, struct xen_domctl_getdomaininfo *buf,
                              unsigned int max, unsigned int *nr)
{
    struct xen_sysctl op = {
        .cmd = XEN_SYSCTL_getdomaininfolist,
        .interface_version = XEN_SYSCTL_INTERFACE_VERSION,
    };
    struct xen_sysctl_getdomaininfolist *l = (void *)&op.u;
    long rc;

    l->first_domain = first;
    l->max_domains = max;
    l->buffer = (unsigned long)buf;
    rc = hypercall(__HYPERVISOR_sysctl, (unsigned long)&op, 0, 0, 0, 0);
    if ( !rc && nr )
        *nr = l->num_domains;
    return rc;
}

long evtchn_send(evtchn_port_t port)
{
    struct evtchn_send s = { .port = port };

    return hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (unsigned long)&s, 0, 0, 0);
}

long evtchn_bind_virq(unsigned int virq, unsigned int vcpu, evtchn_port_t *port)
{
    struct evtchn_bind_virq b = { .virq = virq, .vcpu = vcpu };
    long rc = hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_virq,
                        (unsigned long)&b, 0, 0, 0);

    if ( !rc && port )
        *port = b.port;
    return rc;
}

long sched_poll(evtchn_port_t *ports, unsigned int nr, uint64_t timeout)
{
    struct sched_poll p = { .ports = ports, .nr_ports = nr, .timeout = timeout };

    return hypercall_sched_op(SCHEDOP_poll, &p);
}
