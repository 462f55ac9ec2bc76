/**
 * @file lib/xenbus.c
 *
 * A xenstore client over the domain's ring: see include/xtf/xenbus.h.
 * Requests are copied into req[] in pieces as space frees up (a message may
 * be longer than the ring), replies read from rsp[] the same way; every wait
 * kicks the store event channel and polls it (SCHEDOP_poll with a deadline:
 * a xenstored that never answers fails the test instead of hanging it).
 */
#include <xtf.h>
#include <xtf/ctl.h>
#include <xtf/events.h>
#include <xtf/xenbus.h>

#define XB_WAIT_NS      (2 * NS_PER_S)      /* Virtual time before giving up. */
#define NR_EVENTS       8

static volatile struct xenstore_domain_interface *xb_ring;
static evtchn_port_t xb_port;

char xenbus_reply[XENSTORE_PAYLOAD_MAX + 1];
uint32_t xenbus_reply_len;

static struct xenbus_event events[NR_EVENTS];
static unsigned int ev_head, ev_tail;

int xenbus_init(void)
{
    uint64_t pfn = 0, port = 0;
    struct evtchn_status st;

    if ( hvm_get_param(HVM_PARAM_STORE_PFN, &pfn) || !pfn ||
         hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port) || !port )
        return -ENODEV;
    /* Served only once a backend bound the channel (as XTF's xenstore_init()). */
    if ( evtchnop_status(DOMID_SELF, port, &st) || st.status != EVTCHNSTAT_interdomain )
        return -ENODEV;
    if ( !shared_info && !map_shared_info() )
        return -ENODEV;

    xb_ring = (void *)(unsigned long)(pfn << PAGE_SHIFT);   /* Low 4 GiB: identity map. */
    xb_port = port;
    return 0;
}

evtchn_port_t xenbus_port(void)
{
    return xb_port;
}

/* Kick xenstored, then wait for its notification (or the deadline). */
static void xb_wait(void)
{
    evtchn_send(xb_port);
    if ( evtchn_clear_pending(xb_port) )
        return;
    sched_poll(&xb_port, 1, xen_system_time() + XB_WAIT_NS);
    if ( !evtchn_clear_pending(xb_port) )
        panic("xenbus: no answer from xenstored on port %u within 2s\n", xb_port);
}

static void xb_write(const void *data, uint32_t len)
{
    const char *p = data;

    while ( len )
    {
        uint32_t cons = ACCESS_ONCE(xb_ring->req_cons);
        uint32_t prod = ACCESS_ONCE(xb_ring->req_prod);
        uint32_t space = XENSTORE_RING_SIZE - (prod - cons);
        uint32_t off = prod & (XENSTORE_RING_SIZE - 1);
        uint32_t part = min(min(space, XENSTORE_RING_SIZE - off), len);

        if ( !part )
        {
            xb_wait();          /* Full: xenstored consumes and notifies. */
            continue;
        }
        memcpy((char *)xb_ring->req + off, p, part);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        ACCESS_ONCE(xb_ring->req_prod) = prod + part;
        p += part;
        len -= part;
    }
}

static void xb_read(void *data, uint32_t len)
{
    char *p = data;

    while ( len )
    {
        uint32_t cons = ACCESS_ONCE(xb_ring->rsp_cons);
        uint32_t prod = ACCESS_ONCE(xb_ring->rsp_prod);
        uint32_t off = cons & (XENSTORE_RING_SIZE - 1);
        uint32_t part;

        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        part = min(min(prod - cons, XENSTORE_RING_SIZE - off), len);
        if ( !part )
        {
            xb_wait();
            continue;
        }
        memcpy(p, (const char *)xb_ring->rsp + off, part);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        ACCESS_ONCE(xb_ring->rsp_cons) = cons + part;
        p += part;
        len -= part;
    }
}

/* Read one message; watch events are queued, the type of anything else returned. */
static uint32_t xb_read_msg(void)
{
    struct xsd_sockmsg hdr;

    xb_read(&hdr, sizeof(hdr));
    if ( hdr.len > XENSTORE_PAYLOAD_MAX )
        panic("xenbus: reply of %u bytes\n", hdr.len);
    xb_read(xenbus_reply, hdr.len);
    xenbus_reply[hdr.len] = '\0';
    xenbus_reply_len = hdr.len;

    if ( hdr.type == XS_WATCH_EVENT )
    {
        struct xenbus_event *ev = &events[ev_tail % NR_EVENTS];
        size_t plen = strnlen(xenbus_reply, hdr.len);

        if ( ev_tail - ev_head == NR_EVENTS )
            ev_head++;          /* Drop the oldest. */
        snprintf(ev->path, sizeof(ev->path), "%s", xenbus_reply);
        snprintf(ev->token, sizeof(ev->token), "%s",
                 plen < hdr.len ? xenbus_reply + plen + 1 : "");
        ev_tail++;
    }
    return hdr.type;
}

uint32_t xenbus_request(uint32_t type, uint32_t tx_id, const char *const *strs,
                        unsigned int nr, const void *data, uint32_t datalen)
{
    static uint32_t req_id;
    struct xsd_sockmsg hdr = { .type = type, .req_id = ++req_id, .tx_id = tx_id };
    unsigned int i;
    uint32_t rtype;

    for ( i = 0; i < nr; i++ )
        hdr.len += strlen(strs[i]) + 1;
    hdr.len += datalen;

    xb_write(&hdr, sizeof(hdr));
    for ( i = 0; i < nr; i++ )
        xb_write(strs[i], strlen(strs[i]) + 1);
    xb_write(data, datalen);
    evtchn_send(xb_port);

    while ( (rtype = xb_read_msg()) == XS_WATCH_EVENT )
        ;
    return rtype;
}

bool xenbus_next_event(struct xenbus_event *ev)
{
    if ( ev_head == ev_tail )
        return false;
    *ev = events[ev_head++ % NR_EVENTS];
    return true;
}

void xenbus_wait_event(void)
{
    while ( ev_head == ev_tail )
        xb_read_msg();
}
