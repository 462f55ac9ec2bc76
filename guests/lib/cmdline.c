/**
 * @file lib/cmdline.c
 *
 * Reading "key=value" words from the command line (PVH's start info,
 * arm64's device tree: arch_cmdline()).
 */
#include <xtf.h>
#include <xtf/cmdline.h>

const char *cmdline(void)
{
    return arch_cmdline();
}

/* The word "key=..." (its value), or NULL. */
static const char *find(const char *key)
{
    const char *c = cmdline(), *start = c;
    size_t len = strlen(key);

    for ( ; *c; c++ )
        if ( (c == start || c[-1] == ' ') && !strncmp(c, key, len) && c[len] == '=' )
            return c + len + 1;
    return NULL;
}

unsigned long cmdline_ulong(const char *key, unsigned long def)
{
    const char *s = find(key);
    unsigned long v = 0, base = 10;

    if ( !s )
        return def;
    if ( s[0] == '0' && (s[1] == 'x' || s[1] == 'X') )
    {
        base = 16;
        s += 2;
    }
    for ( ; *s && *s != ' '; s++ )
    {
        unsigned int d = (*s >= '0' && *s <= '9') ? *s - '0' :
                         (*s >= 'a' && *s <= 'f') ? *s - 'a' + 10 :
                         (*s >= 'A' && *s <= 'F') ? *s - 'A' + 10 : 99;

        if ( d >= base )
            break;
        v = v * base + d;
    }
    return v;
}

bool cmdline_is(const char *key, const char *value)
{
    const char *s = find(key);
    size_t len = strlen(value);

    return s && !strncmp(s, value, len) && (s[len] == ' ' || !s[len]);
}
