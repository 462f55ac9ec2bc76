/**
 * @file arch/arm64/include/arch/gic.h
 *
 * The GICv2 an Arm domain gets from Xen (distributor at GUEST_GICD_BASE,
 * CPU interface at GUEST_GICC_BASE, as the device tree says), and the
 * generic timer's registers.  The MMU is off: physical addresses.
 */
#ifndef XTF_ARM64_GIC_H
#define XTF_ARM64_GIC_H

#include <xtf/types.h>
#include <arch/processor.h>

#define GICD_BASE           0x03001000UL
#define GICC_BASE           0x03002000UL

#define GICD_CTLR           0x000
#define GICD_TYPER          0x004
#define GICD_IIDR           0x008
#define GICD_IGROUPR        0x080
#define GICD_ISENABLER      0x100
#define GICD_ICENABLER      0x180
#define GICD_ISPENDR        0x200
#define GICD_ICPENDR        0x280
#define GICD_ISACTIVER      0x300
#define GICD_ICACTIVER      0x380
#define GICD_IPRIORITYR     0x400
#define GICD_ITARGETSR      0x800
#define GICD_ICFGR          0xc00
#define GICD_SGIR           0xf00
#define GICD_ICPIDR2        0xfe8

#define GICC_CTLR           0x00
#define GICC_PMR            0x04
#define GICC_BPR            0x08
#define GICC_IAR            0x0c
#define GICC_EOIR           0x10
#define GICC_RPR            0x14
#define GICC_HPPIR          0x18
#define GICC_IIDR           0xfc
#define GICC_DIR            0x1000

#define GIC_SPURIOUS        1023
#define SGIR_TARGET_LIST    (0u << 24)
#define SGIR_TARGET_OTHERS  (1u << 24)
#define SGIR_TARGET_SELF    (2u << 24)

#define PPI_VTIMER          27
#define PPI_PTIMER          30
#define PPI_EVTCHN          31

#define CNT_CTL_ENABLE      1
#define CNT_CTL_IMASK       2
#define CNT_CTL_ISTATUS     4

static inline uint32_t gicd_read(unsigned int reg)
{
    return *(volatile uint32_t *)(GICD_BASE + reg);
}

static inline void gicd_write(unsigned int reg, uint32_t val)
{
    *(volatile uint32_t *)(GICD_BASE + reg) = val;
}

static inline uint8_t gicd_readb(unsigned int reg)
{
    return *(volatile uint8_t *)(GICD_BASE + reg);
}

static inline void gicd_writeb(unsigned int reg, uint8_t val)
{
    *(volatile uint8_t *)(GICD_BASE + reg) = val;
}

static inline uint32_t gicc_read(unsigned int reg)
{
    return *(volatile uint32_t *)(GICC_BASE + reg);
}

static inline void gicc_write(unsigned int reg, uint32_t val)
{
    *(volatile uint32_t *)(GICC_BASE + reg) = val;
}

/* Distributor and this vCPU's CPU interface on, every priority unmasked. */
static inline void gic_init_cpu(void)
{
    gicd_write(GICD_CTLR, 1);
    gicc_write(GICC_PMR, 0xf8);
    gicc_write(GICC_CTLR, 1);
}

static inline void gic_enable_irq(unsigned int irq, uint8_t prio)
{
    gicd_writeb(GICD_IPRIORITYR + irq, prio);
    gicd_write(GICD_ISENABLER + 4 * (irq / 32), 1u << (irq % 32));
}

static inline void gic_disable_irq(unsigned int irq)
{
    gicd_write(GICD_ICENABLER + 4 * (irq / 32), 1u << (irq % 32));
}

static inline void gic_send_sgi(unsigned int sgi, uint32_t filter, uint8_t targets)
{
    asm volatile ("dsb ishst" ::: "memory");
    gicd_write(GICD_SGIR, filter | ((uint32_t)targets << 16) | sgi);
}

#endif /* XTF_ARM64_GIC_H */
