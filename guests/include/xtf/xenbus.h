/**
 * @file include/xtf/xenbus.h
 *
 * A xenstore client over the domain's own ring (HVM_PARAM_STORE_PFN and
 * HVM_PARAM_STORE_EVTCHN; public/io/xs_wire.h), as Linux's xenbus_comms.c and
 * XTF's common/xenbus.c drive it: free-running indices, messages split across
 * the ring's wrap, a kick on the event channel, SCHEDOP_poll while waiting.
 */
#ifndef XTF_XENBUS_H
#define XTF_XENBUS_H

#include <xtf/types.h>
#include <xen-abi.h>

/* Map the ring; -ENODEV when the domain has no xenstore connection. */
int xenbus_init(void);
/* The event channel and ring in use (after xenbus_init()). */
evtchn_port_t xenbus_port(void);

/*
 * One request: @nr strings (each sent with its NUL) of which the last may be
 * binary data of @datalen bytes when @datalen is not 0.  The reply's payload
 * goes to xenbus_reply (NUL-terminated for convenience), its length to
 * xenbus_reply_len.  Returns the reply's type (XS_ERROR on error: the reply
 * is then the error's name, e.g. "EACCES").
 */
extern char xenbus_reply[XENSTORE_PAYLOAD_MAX + 1];
extern uint32_t xenbus_reply_len;
uint32_t xenbus_request(uint32_t type, uint32_t tx_id, const char *const *strs,
                        unsigned int nr, const void *data, uint32_t datalen);

/* Watch events that arrived while waiting for replies: path and token. */
struct xenbus_event {
    char path[128];
    char token[32];
};
/* Take the oldest pending event (false when none). */
bool xenbus_next_event(struct xenbus_event *ev);
/* Wait until an event arrives (the ring is polled as for a reply). */
void xenbus_wait_event(void);

#endif /* XTF_XENBUS_H */
