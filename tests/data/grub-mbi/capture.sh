#!/bin/sh
# Re-capture tests/data/grub-mbi.bin: build the tiny Multiboot2 kernel, make a
# GRUB rescue ISO with grub.cfg, boot it in QEMU and keep the MBI bytes that
# the kernel prints on COM1.  Needs (Debian): gcc binutils grub-pc-bin
# grub-common xorriso mtools qemu-system-x86 python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/iso/boot/grub"
gcc -m32 -ffreestanding -fno-pic -fno-stack-protector -nostdlib -O2 -Wall \
    -c "$here/head.S" -o "$work/head.o"
gcc -m32 -ffreestanding -fno-pic -fno-stack-protector -nostdlib -O2 -Wall \
    -c "$here/dump.c" -o "$work/dump.o"
ld -m elf_i386 --no-warn-rwx-segments -T "$here/link.ld" -o "$work/iso/boot/kernel.elf" "$work/head.o" "$work/dump.o"
cp "$here/grub.cfg" "$work/iso/boot/grub/grub.cfg"
printf 'module A: hello from GRUB\n' > "$work/iso/boot/mod-a.txt"
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 20)' > "$work/iso/boot/mod-b.bin"
grub-mkrescue -o "$work/fixture.iso" "$work/iso" 2>/dev/null

timeout 60 qemu-system-x86_64 -m 128M -cdrom "$work/fixture.iso" -display none \
    -serial "file:$work/serial.txt" -no-reboot \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 || true

python3 - "$work/serial.txt" "$here/../grub-mbi.bin" <<'PY'
import sys
text = open(sys.argv[1], encoding="ascii", errors="replace").read().replace("\r", "")
lines = text.split("\n")
begin, end = lines.index("MBI-BEGIN"), lines.index("MBI-END")
data = bytes.fromhex("".join(lines[begin + 1:end]))
assert int.from_bytes(data[:4], "little") == len(data)
open(sys.argv[2], "wb").write(data)
for l in lines:
    if l.startswith(("MAGIC", "MBI-ADDR", "MODULE")):
        print(l[:100])
print("wrote %d bytes to %s" % (len(data), sys.argv[2]))
PY
