/**
 * @file tests/pv-console/main.c
 *
 * The PV console ring (public/io/console.h) against the toolstack's
 * xenconsoled: the port libxl set up is interdomain to the backend, the
 * backend consumes the out ring only when notified and notifies back, the
 * ring wraps, the u32 indices wrap, a full ring is taken whole, a corrupt
 * one is ignored.  From then on every line goes to console_io and to the
 * ring (as XTF writes them); with echo=N on the command line, the test
 * reads N lines typed at the console and prints them back (with nap=MS,
 * sleeping MS ms of system time after each).
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <xtf/ctl.h>
#include <xtf/events.h>
#include <xtf/pv_console.h>

const char test_title[] = "The PV console ring and xenconsoled";

#define OUT_SIZE sizeof(pv_ring->out)

static uint32_t out_cons(void)
{
    return ACCESS_ONCE(pv_ring->out_cons);
}

static uint32_t out_prod(void)
{
    return ACCESS_ONCE(pv_ring->out_prod);
}

/* "<tag> NN ...\n", exactly len bytes (len >= 16). */
static void make_line(char *buf, size_t len, const char *tag, unsigned int n)
{
    size_t i = snprintf(buf, len, "%s %02u ", tag, n);

    for ( ; i < len - 1; i++ )
        buf[i] = 'a' + (i % 26);
    buf[len - 1] = '\n';
}

static void test_binding(void)
{
    struct evtchn_status st;
    long rc = evtchnop_status(DOMID_SELF, pv_port, &st);

    xtf_check_rc("EVTCHNOP_status(console port)", rc, 0);
    xtf_check_eq("console port status", st.status, EVTCHNSTAT_interdomain);
    xtf_check_eq("console backend domain", st.u.interdomain.dom, 0);
    xtf_check(st.u.interdomain.port != 0, "the backend's port is %u",
              st.u.interdomain.port);
    printk("pv-console: port %u, interdomain to d%u port %u\n", pv_port,
           st.u.interdomain.dom, st.u.interdomain.port);
}

static void test_notify(void)
{
    static const char msg[] = "pv-console: not consumed before the notify\n";
    uint32_t cons = out_cons();

    evtchn_clear_pending(pv_port);
    xtf_check_eq("bytes put", pv_console_put(msg, sizeof(msg) - 1), sizeof(msg) - 1);
    xtf_check_eq("out_cons before the notify", out_cons(), cons);
    xtf_check_rc("EVTCHNOP_send(console port)", evtchn_send(pv_port), 0);
    xtf_check_eq("out_cons after the notify", out_cons(), out_prod());
    xtf_check(evtchn_test_pending(pv_port), "the backend notified after consuming");
}

static void test_full_ring(void)
{
    char line[128];
    uint32_t cons = out_cons();
    size_t put = 0;

    xtf_check(out_prod() % OUT_SIZE != 0, "the ring is not at its start (%u)", out_prod());
    for ( unsigned int i = 0; i < OUT_SIZE / sizeof(line); i++ )
    {
        make_line(line, sizeof(line), "pv-console: full ring", i);
        put += pv_console_put(line, sizeof(line));
    }
    xtf_check_eq("bytes in the full ring", out_prod() - cons, OUT_SIZE);
    xtf_check_eq("bytes put", put, OUT_SIZE);
    xtf_check_eq("a byte more", pv_console_put("x", 1), 0);
    evtchn_send(pv_port);
    xtf_check_eq("out_cons after draining the full ring", out_cons(), cons + OUT_SIZE);
}

static void test_long_write(void)
{
    static char text[3 * OUT_SIZE / 2];

    for ( unsigned int i = 0; i < sizeof(text) / 128; i++ )
        make_line(text + i * 128, 128, "pv-console: long write", i);
    pv_console_write(text, sizeof(text));
    xtf_check_eq("out_cons after a write longer than the ring", out_cons(), out_prod());
}

static void test_index_wrap(void)
{
    char line[32];
    uint32_t start = 0xffffff00u;

    pv_ring->out_cons = start;         /* an empty ring at any index is valid */
    barrier();
    pv_ring->out_prod = start;
    for ( unsigned int i = 0; i < 16; i++ )
    {
        make_line(line, sizeof(line), "pv-console: u32 wrap", i);
        pv_console_write(line, sizeof(line));
    }
    xtf_check_eq("out_cons after the u32 wrap", out_cons(),
                 (uint32_t)(start + 16 * sizeof(line)));
    xtf_check(out_cons() < start, "out_cons wrapped (%#x)", out_cons());
}

static void test_corrupt_ring(void)
{
    uint32_t cons = out_cons();

    pv_ring->out_prod = cons + 2 * OUT_SIZE;
    evtchn_send(pv_port);
    xtf_check_eq("out_cons of a corrupt ring", out_cons(), cons);
    pv_ring->out_prod = cons;
}

static void echo_lines(unsigned long n, unsigned long nap_ms)
{
    char buf[128];

    for ( unsigned long i = 0; i < n; i++ )
    {
        printk("pv-console: type a line> ");     /* a prompt: no newline */
        pv_console_read_line(buf, sizeof(buf));
        printk("%s\n", buf);                     /* the echo a shell gives */
        printk("pv-console: read \"%s\"\n", buf);
        if ( nap_ms )                           /* SCHEDOP_poll until a deadline */
        {
            evtchn_clear_pending(pv_port);
            sched_poll(&pv_port, 1, xen_system_time() + nap_ms * NS_PER_MS);
            printk("pv-console: napped %lu ms\n", nap_ms);
        }
    }
}

void test_main(void)
{
    long rc = pv_console_init();

    if ( rc )
    {
        printk("No PV console: %ld\n", rc);
        return xtf_skip(NULL);
    }
    if ( !map_shared_info() )
        return xtf_error("cannot map shared_info\n");
    xtf_check_eq("console pfn", (unsigned long)pv_ring >> PAGE_SHIFT,
                 X86_HVM_END_SPECIAL_REGION - X86_HVM_NR_SPECIAL_PAGES + SPECIALPAGE_CONSOLE);
    pv_console_mirror(true);

    test_binding();
    test_notify();
    test_full_ring();
    test_long_write();
    test_index_wrap();
    test_corrupt_ring();
    echo_lines(cmdline_ulong("echo", 0), cmdline_ulong("nap", 0));

    xtf_success(NULL);
}
