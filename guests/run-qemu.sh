#!/bin/sh
# Boot one test guest under QEMU (no Xen: the architectural oracle).
#
#   guests/run-qemu.sh guests/build/hvm64/exceptions.elf [extra QEMU args]
#
# The console is QEMU's debugcon (port 0xE9).  The guest leaves through the
# isa-debug-exit device with its status; this script exits with hvsim's
# (xtf-runner's) code for it: 0 SUCCESS, 3 SKIP, 4 ERROR, 5 FAILURE,
# 6 anything else (a panic, a hang).  CPU=... picks the QEMU CPU model
# (default "max"; e.g. CPU=max,vendor=GenuineIntel).
[ $# -ge 1 ] || { echo "usage: $0 GUEST.elf [QEMU args]" >&2; exit 2; }
elf=$1; shift
timeout "${TIMEOUT:-60}" qemu-system-x86_64 -M pc -accel tcg -cpu "${CPU:-max}" \
    -m 128 -no-reboot -display none -serial none -monitor none \
    -debugcon stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -kernel "$elf" "$@"
case $? in
    1) exit 0 ;;    # (STATUS_SUCCESS - 1) << 1 | 1
    3) exit 3 ;;
    5) exit 4 ;;
    7) exit 5 ;;
    *) exit 6 ;;
esac
