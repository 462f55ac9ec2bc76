/* Print the Multiboot2 information structure GRUB wrote, as hex lines on
 * COM1, then the first bytes of every module, then leave QEMU through the
 * isa-debug-exit device. */
typedef unsigned char u8;
typedef unsigned int u32;

static inline void outb(unsigned short port, u8 v)
{
    __asm__ volatile ("outb %0, %1" :: "a"(v), "Nd"(port));
}

static inline u8 inb(unsigned short port)
{
    u8 v;
    __asm__ volatile ("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void putc_serial(char c)
{
    while (!(inb(0x3f8 + 5) & 0x20))
        ;
    outb(0x3f8, c);
}

static void puts_serial(const char *s)
{
    while (*s)
        putc_serial(*s++);
}

static void hex8(u8 b)
{
    static const char digits[] = "0123456789abcdef";
    putc_serial(digits[b >> 4]);
    putc_serial(digits[b & 15]);
}

static void hex32(u32 v)
{
    for (int i = 24; i >= 0; i -= 8)
        hex8(v >> i);
}

static void dump(const u8 *p, u32 len)
{
    for (u32 i = 0; i < len; i++) {
        hex8(p[i]);
        if (i % 32 == 31 || i + 1 == len)
            putc_serial('\n');
    }
}

void dump_mbi(u32 magic, const u8 *mbi)
{
    u32 total = *(const u32 *)mbi;

    puts_serial("MAGIC ");
    hex32(magic);
    puts_serial("\nMBI-ADDR ");
    hex32((u32)mbi);
    puts_serial("\nMBI-BEGIN\n");
    dump(mbi, total);
    puts_serial("MBI-END\n");
    for (u32 off = 8; off < total; off = (off + *(const u32 *)(mbi + off + 4) + 7) & ~7u) {
        const u32 *tag = (const u32 *)(mbi + off);
        if (tag[0] == 0)
            break;
        if (tag[0] == 3) {      /* module: mod_start, mod_end, string */
            u32 len = tag[3] - tag[2];
            puts_serial("MODULE ");
            dump((const u8 *)tag[2], len > 64 ? 64 : len);
        }
    }
    puts_serial("DONE\n");
    outb(0xf4, 0);              /* isa-debug-exit */
}
