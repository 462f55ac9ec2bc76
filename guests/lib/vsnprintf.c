/**
 * @file lib/vsnprintf.c
 *
 * A small vsnprintf: %d %i %u %x %X %o %p %s %c %%, flags "-0# +", width
 * and precision (also as *), length modifiers hh h l ll z.
 */
#include <xtf/libc.h>

#define LEFT    (1u << 0)
#define ZERO    (1u << 1)
#define ALT     (1u << 2)
#define PLUS    (1u << 3)
#define SPACE   (1u << 4)
#define UPPER   (1u << 5)

struct out {
    char *buf;
    size_t size, len;   /* len counts everything, even what did not fit. */
};

static void put(struct out *o, char c)
{
    if ( o->len + 1 < o->size )
        o->buf[o->len] = c;
    o->len++;
}

static void pad(struct out *o, char c, int n)
{
    while ( n-- > 0 )
        put(o, c);
}

/* *n /= base, returning the remainder, without libgcc's 64-bit division. */
static unsigned int divmod(unsigned long long *n, unsigned int base)
{
#ifdef __i386__
    uint32_t hi = *n >> 32, lo = *n, rem;

    rem = hi % base;
    hi /= base;
    asm ("divl %[base]" : "+a" (lo), "+d" (rem) : [base] "rm" (base));
    *n = ((unsigned long long)hi << 32) | lo;
    return rem;
#else
    unsigned int rem = *n % base;

    *n /= base;
    return rem;
#endif
}

static void number(struct out *o, unsigned long long val, bool negative,
                   unsigned int base, int width, int prec, unsigned int flags)
{
    const char *digits = (flags & UPPER) ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24], sign = 0;
    const char *prefix = "";
    int n = 0, len;

    if ( negative )
        sign = '-';
    else if ( flags & PLUS )
        sign = '+';
    else if ( flags & SPACE )
        sign = ' ';

    if ( (flags & ALT) && val )
        prefix = base == 16 ? ((flags & UPPER) ? "0X" : "0x") : base == 8 ? "0" : "";

    do
        tmp[n++] = digits[divmod(&val, base)];
    while ( val );

    if ( prec < n )
        prec = n;
    len = prec + !!sign + strlen(prefix);

    if ( !(flags & (LEFT | ZERO)) )
        pad(o, ' ', width - len);
    if ( sign )
        put(o, sign);
    while ( *prefix )
        put(o, *prefix++);
    if ( (flags & (LEFT | ZERO)) == ZERO )
        pad(o, '0', width - len);
    pad(o, '0', prec - n);
    while ( n )
        put(o, tmp[--n]);
    if ( flags & LEFT )
        pad(o, ' ', width - len);
}

static void string(struct out *o, const char *s, int width, int prec,
                   unsigned int flags)
{
    int len;

    if ( !s )
        s = "(NULL)";
    len = strnlen(s, prec < 0 ? (size_t)-1 : (size_t)prec);
    if ( !(flags & LEFT) )
        pad(o, ' ', width - len);
    for ( int i = 0; i < len; i++ )
        put(o, s[i]);
    if ( flags & LEFT )
        pad(o, ' ', width - len);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list args)
{
    struct out o = { .buf = buf, .size = size };

    for ( ; *fmt; fmt++ )
    {
        unsigned int flags = 0, base = 10;
        int width = -1, prec = -1, lng = 0;
        unsigned long long val;
        bool is_signed = false, negative = false;

        if ( *fmt != '%' )
        {
            put(&o, *fmt);
            continue;
        }

        for ( ;; )      /* Flags. */
        {
            switch ( *++fmt )
            {
            case '-': flags |= LEFT;  continue;
            case '0': flags |= ZERO;  continue;
            case '#': flags |= ALT;   continue;
            case '+': flags |= PLUS;  continue;
            case ' ': flags |= SPACE; continue;
            }
            break;
        }

        if ( *fmt == '*' )      /* Width. */
        {
            width = va_arg(args, int);
            if ( width < 0 )
            {
                flags |= LEFT;
                width = -width;
            }
            fmt++;
        }
        else
            for ( width = 0; *fmt >= '0' && *fmt <= '9'; fmt++ )
                width = width * 10 + *fmt - '0';

        if ( *fmt == '.' )      /* Precision. */
        {
            fmt++;
            if ( *fmt == '*' )
            {
                prec = va_arg(args, int);
                fmt++;
            }
            else
                for ( prec = 0; *fmt >= '0' && *fmt <= '9'; fmt++ )
                    prec = prec * 10 + *fmt - '0';
        }

        for ( ;; fmt++ )        /* Length: 'l' counts +1, 'h' -1. */
        {
            if ( *fmt == 'l' )
                lng++;
            else if ( *fmt == 'h' )
                lng--;
            else if ( *fmt == 'z' )
                lng = sizeof(size_t) == sizeof(long) ? 1 : 0;
            else
                break;
        }

        switch ( *fmt )
        {
        case 'c':
            put(&o, (char)va_arg(args, int));
            continue;

        case 's':
            string(&o, va_arg(args, const char *), width, prec, flags);
            continue;

        case 'p':
            val = (unsigned long)va_arg(args, void *);
            number(&o, val, false, 16, 2 + 2 * sizeof(void *), -1,
                   flags | ALT | ZERO);
            continue;

        case '%':
            put(&o, '%');
            continue;

        case 'd': case 'i':
            is_signed = true;
            break;
        case 'u':
            break;
        case 'X':
            flags |= UPPER;
            /* fallthrough */
        case 'x':
            base = 16;
            break;
        case 'o':
            base = 8;
            break;

        default:        /* Unknown: print it as is. */
            put(&o, '%');
            if ( !*fmt )
                goto out;
            put(&o, *fmt);
            continue;
        }

        if ( lng >= 2 )
            val = va_arg(args, unsigned long long);
        else if ( lng == 1 )
            val = va_arg(args, unsigned long);
        else
            val = va_arg(args, unsigned int);

        if ( is_signed )
        {
            long long sval = lng >= 2 ? (long long)val :
                             lng == 1 ? (long)val : (int)val;

            if ( lng == -1 )
                sval = (short)sval;
            else if ( lng <= -2 )
                sval = (signed char)sval;
            negative = sval < 0;
            val = negative ? -(unsigned long long)sval : (unsigned long long)sval;
        }
        else if ( lng == -1 )
            val = (unsigned short)val;
        else if ( lng <= -2 )
            val = (unsigned char)val;

        if ( prec >= 0 )
            flags &= ~ZERO;
        number(&o, val, negative, base, width, prec, flags);
    }

 out:
    if ( size )
        buf[o.len < size ? o.len : size - 1] = '\0';
    return o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list args;
    int rc;

    va_start(args, fmt);
    rc = vsnprintf(buf, size, fmt, args);
    va_end(args);
    return rc;
}
