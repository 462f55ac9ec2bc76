/**
 * @file arch/arm64/fdt.c
 *
 * The device tree Xen's domain builder passes in x0: a top-level node's
 * property (a walk of the flattened tree's structure block,
 * Documentation/devicetree/booting-without-of), and from it the command
 * line an Arm domain gets, /chosen/bootargs.
 */
#include <xtf.h>
#include <xtf/cmdline.h>
#include <arch/setup.h>

#define FDT_MAGIC       0xd00dfeed
#define FDT_BEGIN_NODE  1
#define FDT_END_NODE    2
#define FDT_PROP        3
#define FDT_NOP         4

static uint32_t be32(const void *p)
{
    const uint8_t *b = p;

    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The value of property @prop of the top-level node @node, or NULL. */
const char *fdt_top_prop(const char *node, const char *prop)
{
    const uint8_t *fdt = (const uint8_t *)arm64_dtb_pa;
    const uint8_t *p, *strings;
    unsigned int depth = 0;
    bool in_node = false;

    if ( !fdt || be32(fdt) != FDT_MAGIC )
        return NULL;
    p = fdt + be32(fdt + 8);
    strings = fdt + be32(fdt + 12);
    for ( ;; )
    {
        uint32_t tag = be32(p);

        p += 4;
        if ( tag == FDT_BEGIN_NODE )
        {
            const char *name = (const char *)p;

            depth++;
            in_node = depth == 2 && !strcmp(name, node);
            p += (strlen(name) + 4) & ~3UL;
        }
        else if ( tag == FDT_END_NODE )
        {
            depth--;
            in_node = false;
        }
        else if ( tag == FDT_PROP )
        {
            uint32_t len = be32(p), nameoff = be32(p + 4);

            if ( in_node && !strcmp((const char *)strings + nameoff, prop) )
                return (const char *)p + 8;
            p += 8 + ((len + 3) & ~3UL);
        }
        else if ( tag != FDT_NOP )
            return NULL;
    }
}

const char *arch_cmdline(void)
{
    const char *args = fdt_top_prop("chosen", "bootargs");

    return args ?: "";
}
