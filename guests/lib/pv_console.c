/**
 * @file lib/pv_console.c
 *
 * The PV console ring, as XTF's common/console.c drives it (see
 * xtf/pv_console.h).
 */
#include <xtf.h>
#include <xtf/ctl.h>
#include <xtf/events.h>
#include <xtf/pv_console.h>

volatile struct xencons_interface *pv_ring;
evtchn_port_t pv_port;
static bool mirror;

long pv_console_init(void)
{
    uint64_t pfn, port;
    long rc = hvm_get_param(HVM_PARAM_CONSOLE_PFN, &pfn);

    if ( !rc )
        rc = hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &port);
    if ( rc )
        return rc;
    pv_ring = (void *)(unsigned long)(pfn << PAGE_SHIFT);
    pv_port = port;
    return 0;
}

void pv_console_mirror(bool on)
{
    mirror = on && pv_ring;
}

bool pv_console_mirrored(void)
{
    return mirror;
}

size_t pv_console_put(const char *buf, size_t len)
{
    uint32_t cons = ACCESS_ONCE(pv_ring->out_cons), prod = pv_ring->out_prod;
    size_t s = 0;

    barrier();
    while ( s < len && (prod - cons) < sizeof(pv_ring->out) )
        pv_ring->out[prod++ & (sizeof(pv_ring->out) - 1)] = buf[s++];
    barrier();                          /* the data before the index */
    pv_ring->out_prod = prod;
    return s;
}

void pv_console_write(const char *buf, size_t len)
{
    size_t done = 0;

    while ( done < len )
    {
        uint32_t cons = ACCESS_ONCE(pv_ring->out_cons);

        done += pv_console_put(buf + done, len - done);
        evtchn_send(pv_port);
        while ( done < len && ACCESS_ONCE(pv_ring->out_cons) == cons )
            hypercall_sched_op(SCHEDOP_yield, NULL);
    }
    while ( ACCESS_ONCE(pv_ring->out_cons) != ACCESS_ONCE(pv_ring->out_prod) )
        hypercall_sched_op(SCHEDOP_yield, NULL);
}

size_t pv_console_read_line(char *buf, size_t len)
{
    size_t n = 0;

    for ( ;; )
    {
        uint32_t cons, prod;

        evtchn_clear_pending(pv_port);  /* then look: no notify is lost */
        cons = pv_ring->in_cons;
        prod = ACCESS_ONCE(pv_ring->in_prod);

        barrier();                      /* the index before the data */
        while ( cons != prod )
        {
            char c = pv_ring->in[cons++ & (sizeof(pv_ring->in) - 1)];

            if ( c == '\r' || c == '\n' )
            {
                barrier();
                pv_ring->in_cons = cons;
                evtchn_send(pv_port);   /* room in the ring */
                buf[n < len ? n : len - 1] = '\0';
                return n;
            }
            if ( n + 1 < len )
                buf[n++] = c;
        }
        barrier();
        pv_ring->in_cons = cons;
        evtchn_send(pv_port);
        sched_poll(&pv_port, 1, 0);
    }
}
