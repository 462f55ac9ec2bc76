/**
 * @file tests/xenstore/main.c
 *
 * xenstore from the guest side, through the domain's own ring and event
 * channel (lib/xenbus.c), against what Xen's xenstored and libxl give a domU:
 * the tree libxl writes (name, domid, memory/target, control/...), the
 * permissions on it (read-only where libxl made it so, the domain owning what
 * it creates), watches (the initial fire, a child's change, removal),
 * transactions (commit, isolation, EAGAIN on conflict), a value longer than
 * the ring, and privileged-only requests refused with EACCES.
 */
#include <xtf.h>
#include <xtf/ctl.h>
#include <xtf/events.h>
#include <xtf/xenbus.h>

const char test_title[] = "xenstore through the ring";

static uint32_t xs1(uint32_t type, uint32_t tx, const char *a)
{
    const char *strs[] = { a };

    return xenbus_request(type, tx, strs, 1, NULL, 0);
}

static uint32_t xs2(uint32_t type, uint32_t tx, const char *a, const char *b)
{
    const char *strs[] = { a, b };

    return xenbus_request(type, tx, strs, 2, NULL, 0);
}

static uint32_t xs_write(uint32_t tx, const char *path, const char *value)
{
    const char *strs[] = { path };

    return xenbus_request(XS_WRITE, tx, strs, 1, value, strlen(value));
}

/* The reply is @type with payload @want (NULL: any payload). */
static void expect(const char *what, uint32_t got, uint32_t type, const char *want)
{
    xtf_check(got == type && (!want || !strcmp(xenbus_reply, want)),
              "%s: type %u \"%s\", expected type %u \"%s\"", what, got, xenbus_reply,
              type, want ?: "*");
}

static void expect_error(const char *what, uint32_t got, const char *err)
{
    expect(what, got, XS_ERROR, err);
}

static void expect_event(const char *path, const char *token)
{
    struct xenbus_event ev;

    xenbus_wait_event();
    xenbus_next_event(&ev);
    xtf_check(!strcmp(ev.path, path) && !strcmp(ev.token, token),
              "watch event \"%s\" \"%s\", expected \"%s\" \"%s\"", ev.path, ev.token,
              path, token);
}

static uint32_t start_tx(void)
{
    uint32_t id = 0;
    const char *p;

    expect("TRANSACTION_START", xs1(XS_TRANSACTION_START, 0, ""), XS_TRANSACTION_START, NULL);
    for ( p = xenbus_reply; *p >= '0' && *p <= '9'; p++ )
        id = id * 10 + (*p - '0');
    return id;
}

static void test_own_tree(domid_t self)
{
    char id[8], path[32];

    snprintf(id, sizeof(id), "%u", self);
    snprintf(path, sizeof(path), "/local/domain/%u", self);
    expect("GET_DOMAIN_PATH", xs1(XS_GET_DOMAIN_PATH, 0, id), XS_GET_DOMAIN_PATH, path);
    expect("READ domid", xs1(XS_READ, 0, "domid"), XS_READ, id);
    expect("READ name", xs1(XS_READ, 0, "name"), XS_READ, NULL);
    xtf_check(xenbus_reply_len > 0, "name is empty");
    printk("  name \"%s\", domid %u\n", xenbus_reply, self);
    expect("READ memory/target", xs1(XS_READ, 0, "memory/target"), XS_READ, NULL);
    xtf_check(xenbus_reply[0] >= '1' && xenbus_reply[0] <= '9', "memory/target \"%s\"",
              xenbus_reply);
    expect("READ xs_reset_watches", xs1(XS_READ, 0, "control/platform-feature-xs_reset_watches"),
           XS_READ, "1");
    expect("DIRECTORY control", xs1(XS_DIRECTORY, 0, "control"), XS_DIRECTORY, "shutdown");
}

static void test_permissions(void)
{
    expect_error("WRITE name", xs_write(0, "name", "evil"), "EACCES");
    expect_error("READ /tool/xenstored", xs1(XS_READ, 0, "/tool/xenstored"), "EACCES");
    expect_error("READ data/none", xs1(XS_READ, 0, "data/none"), "ENOENT");
    expect_error("READ bad path", xs1(XS_READ, 0, "data//x"), "EINVAL");
    expect_error("INTRODUCE", xenbus_request(XS_INTRODUCE, 0,
                 (const char *const[]){ "9", "1", "1" }, 3, NULL, 0), "EACCES");
    expect_error("unknown type", xs1(XS_GET_QUOTA, 0, ""), "ENOSYS");

    expect("WRITE control/shutdown", xs_write(0, "control/shutdown", ""), XS_WRITE, "OK");
    expect("WRITE data/hvsim", xs_write(0, "data/hvsim", "hello"), XS_WRITE, "OK");
    expect("READ data/hvsim", xs1(XS_READ, 0, "data/hvsim"), XS_READ, "hello");
    expect("GET_PERMS name", xs1(XS_GET_PERMS, 0, "name"), XS_GET_PERMS, "n0");
}

static void test_watches(void)
{
    expect("WATCH", xs2(XS_WATCH, 0, "data/w", "tok"), XS_WATCH, "OK");
    expect_event("data/w", "tok");                      /* The initial fire. */
    expect_error("WATCH again", xs2(XS_WATCH, 0, "data/w", "tok"), "EEXIST");
    expect("WRITE data/w/child", xs_write(0, "data/w/child", "1"), XS_WRITE, "OK");
    expect_event("data/w/child", "tok");                /* A child's change. */
    expect("RM data/w", xs1(XS_RM, 0, "data/w"), XS_RM, "OK");
    expect_event("data/w", "tok");                      /* The node's removal. */
    expect("UNWATCH", xs2(XS_UNWATCH, 0, "data/w", "tok"), XS_UNWATCH, "OK");
    expect("WRITE after UNWATCH", xs_write(0, "data/w", "2"), XS_WRITE, "OK");
    expect_error("UNWATCH again", xs2(XS_UNWATCH, 0, "data/w", "tok"), "ENOENT");
    expect("RESET_WATCHES", xs1(XS_RESET_WATCHES, 0, ""), XS_RESET_WATCHES, "OK");
    {
        struct xenbus_event ev;

        xtf_check(!xenbus_next_event(&ev), "unexpected event \"%s\"", ev.path);
    }
}

static void test_transactions(void)
{
    uint32_t tx = start_tx();

    xtf_check(tx != 0, "transaction id 0");
    expect("WRITE in tx", xs_write(tx, "data/tx", "committed"), XS_WRITE, "OK");
    expect("READ in tx", xs1(XS_READ, tx, "data/tx"), XS_READ, "committed");
    expect_error("READ outside tx", xs1(XS_READ, 0, "data/tx"), "ENOENT");
    expect("TRANSACTION_END T", xs1(XS_TRANSACTION_END, tx, "T"), XS_TRANSACTION_END, "OK");
    expect("READ after commit", xs1(XS_READ, 0, "data/tx"), XS_READ, "committed");

    tx = start_tx();
    expect("READ in tx", xs1(XS_READ, tx, "data/tx"), XS_READ, "committed");
    expect("WRITE outside tx", xs_write(0, "data/tx", "other"), XS_WRITE, "OK");
    expect("WRITE in tx", xs_write(tx, "data/tx", "mine"), XS_WRITE, "OK");
    expect_error("TRANSACTION_END conflict", xs1(XS_TRANSACTION_END, tx, "T"), "EAGAIN");
    expect("READ after EAGAIN", xs1(XS_READ, 0, "data/tx"), XS_READ, "other");
    expect_error("READ in ended tx", xs1(XS_READ, tx, "data/tx"), "ENOENT");

    tx = start_tx();
    expect("WRITE in tx", xs_write(tx, "data/aborted", "x"), XS_WRITE, "OK");
    expect("TRANSACTION_END F", xs1(XS_TRANSACTION_END, tx, "F"), XS_TRANSACTION_END, "OK");
    expect_error("READ aborted", xs1(XS_READ, 0, "data/aborted"), "ENOENT");
}

static void test_long_value(void)
{
    static char value[1801];
    unsigned int i, round;

    for ( round = 0; round < 3; round++ )   /* Each crosses both rings' wrap. */
    {
        for ( i = 0; i < sizeof(value) - 1; i++ )
            value[i] = 'a' + (i + round) % 26;
        expect("WRITE long", xs_write(0, "data/long", value), XS_WRITE, "OK");
        expect("READ long", xs1(XS_READ, 0, "data/long"), XS_READ, value);
    }
}

void test_main(void)
{
    int rc = xenbus_init();
    domid_t self = self_domid();

    if ( rc )
        return xtf_skip("Skip: no xenstore connection (%d)\n", rc);

    printk("xenstore on port %u\n", xenbus_port());
    test_own_tree(self);
    test_permissions();
    test_watches();
    test_transactions();
    test_long_value();

    xtf_success(NULL);
}
