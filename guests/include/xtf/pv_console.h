/**
 * @file include/xtf/pv_console.h
 *
 * The PV console ring (public/io/console.h) that the toolstack gives every
 * domU (HVM_PARAM_CONSOLE_PFN / CONSOLE_EVTCHN), served by xenconsoled.
 * pv_console_init() finds it; from then on printk() writes each line to it
 * too, after console_io, as XTF does.  The indices are free-running u32s.
 */
#ifndef XTF_PV_CONSOLE_H
#define XTF_PV_CONSOLE_H

#include <xtf/types.h>
#include <xen-abi.h>

extern volatile struct xencons_interface *pv_ring;
extern evtchn_port_t pv_port;

/* Find the ring and its port; 0, or the hvm_get_param error. */
long pv_console_init(void);
/* Mirror printk() to the ring (after pv_console_init()). */
void pv_console_mirror(bool on);
bool pv_console_mirrored(void);
/* Put buf in the out ring, notify, wait (yielding) until it is consumed. */
void pv_console_write(const char *buf, size_t len);
/* Put what fits in the out ring without notifying: the bytes taken. */
size_t pv_console_put(const char *buf, size_t len);
/* Read one line typed at the console (up to CR or LF, not kept), waiting
 * with SCHEDOP_poll; the line's length. */
size_t pv_console_read_line(char *buf, size_t len);

#endif /* XTF_PV_CONSOLE_H */
