# hvsim: `make test` and `make demo` set up everything they need on a fresh
# Debian/Ubuntu machine (virtualenv, Python packages, toolchain packages).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)

# Debian packages the build and the tests need (gdb: tests/test_gdbstub.py, gdb-multiarch:
# tests/test_gdb_arm64.py; cpio, lz4 and
# tmux: the independent readers/writers and the terminal of tests/test_linux*.py), as
# "command:package"
TOOLS := gcc:gcc ld:binutils dtc:device-tree-compiler gdb:gdb gdb-multiarch:gdb-multiarch \
         aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu aarch64-linux-gnu-ld:binutils-aarch64-linux-gnu \
         cpio:cpio lz4:lz4 tmux:tmux

.PHONY: all venv deps apt guests firmware xtf linux linux-try linux-arm64 linux-arm64-try grub grub-try test fuzz fuzz-host demo bench clean distclean

all: venv guests

venv: $(STAMP)

# after deps: the two must not run apt-get at once (make -j)
$(STAMP): pyproject.toml | deps
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || $(MAKE) --no-print-directory apt PKGS=python3-venv
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $@

# install missing Debian packages (needs root, as on CI machines)
deps:
	@missing=""; for t in $(TOOLS); do cmd=$${t%%:*}; pkg=$${t##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	  if [ -n "$$missing" ]; then $(MAKE) --no-print-directory apt PKGS="$$missing"; fi

apt:
	@if [ "$$(id -u)" != 0 ]; then echo "hvsim: please install:$(PKGS) (needs root)"; exit 1; fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PKGS)

guests: deps venv
	$(MAKE) -C guests -j$(JOBS) PYTHON=$(abspath $(PY))

firmware: deps
	$(MAKE) -C firmware

# XTF, the real-guest regression suite: its HVM images, built in build/xtf from
# $(XTF_SRC) (a copy: the source may be read-only), rebuilt only when it changed.
# The source: XTF_SRC, else ../shared/xtf beside this tree, else beside the
# repository this tree was cloned from (a local clone made elsewhere, e.g. in
# a temporary directory).  Without a source the XTF tests skip with one line
# (they fail under HVSIM_REQUIRE_XTF=1, which .ci/run sets).
ORIGIN := $(shell git config --get remote.origin.url 2>/dev/null)
XTF_SRC ?= $(firstword $(foreach d,../shared/xtf $(ORIGIN)/../shared/xtf,\
                 $(if $(wildcard $(d)/Makefile),$(d))))
XTF_BUILD := build/xtf

xtf: deps
	@mk/xtf-build.sh "$(XTF_SRC)" $(XTF_BUILD) $(JOBS)

# Debian's cloud kernel (a bzImage) and busybox-static, fetched with `apt-get download`
# into $(LINUX_DIR) (kept: later runs need no network), and the initramfs built from
# guests/linux/init (guests/linux/build.py).  `make test` tries it: when the kernel
# cannot be fetched, the Linux tests skip with the reason ($(LINUX_DIR)/unavailable).
LINUX_DIR ?= build/linux

linux: venv
	$(PY) guests/linux/build.py --out $(LINUX_DIR)

linux-try: venv
	-@$(PY) guests/linux/build.py --out $(LINUX_DIR)

# The same for arm64 (issue 12): Debian's cloud-arm64 Image and busybox-static:arm64
# (dpkg --add-architecture arm64 as root) into $(LINUX_ARM64_DIR)
LINUX_ARM64_DIR ?= build/linux-arm64

linux-arm64: venv
	$(PY) guests/linux/build.py --arch arm64 --out $(LINUX_ARM64_DIR)

linux-arm64-try: venv
	-@$(PY) guests/linux/build.py --arch arm64 --out $(LINUX_ARM64_DIR)

# GRUB as a PVH guest (i386-xen_pvh), made by grub-mkimage from Debian's grub-xen-bin and
# grub-common fetched with `apt-get download` into $(GRUB_DIR) (guests/grub/build.py);
# `make test` tries it, and the GRUB tests skip with $(GRUB_DIR)/unavailable if it fails.
GRUB_DIR ?= build/grub

grub: venv
	$(PY) guests/grub/build.py --out $(GRUB_DIR)

grub-try: venv
	-@$(PY) guests/grub/build.py --out $(GRUB_DIR)

# Every test runs: a test whose guest, scenario or XTF build is missing fails
# instead of skipping (tests/built.py); HVSIM_REQUIRE_BUILT=0 lets them skip.
HVSIM_REQUIRE_BUILT ?= 1
export HVSIM_REQUIRE_BUILT

test: venv deps guests firmware xtf linux-try linux-arm64-try grub-try
	$(PY) -m pytest -q -n $(JOBS)

# host-input fuzzing (tests/test_hostfuzz_*.py) at HVSIM_FUZZ_FACTOR (default 50) times
# the inputs `make test` tries, random rather than derandomized; every crash is
# saved to tests/corpus/<target>/ (commit it with its fix: `make test` replays it)
fuzz-host: venv deps guests firmware
	HVSIM_FUZZ=long $(PY) -m pytest -q -n $(JOBS) --hypothesis-show-statistics \
	    tests/test_hostfuzz_boot.py tests/test_hostfuzz_snapshot.py tests/test_hostfuzz_gdb.py

# the hypercall fuzzer guest for 1,000,000 calls per environment (x86 and arm64), and
# firmware/fuzz-multi (two fuzzers beside an innocent domain) with 1,000,000 calls per
# fuzzer (`make test`: 100,000 per environment, 20,000 per fuzzer in fuzz-multi)
fuzz: venv deps guests firmware
	HVSIM_FUZZ_CALLS=1000000 HVSIM_FUZZ_MULTI_CALLS=1000000 \
	    $(PY) -m pytest -q -n $(JOBS) tests/test_fuzz_hypercalls.py

# a hyperlaunch host boot: control, hardware and guest domains (firmware/demo3)
demo: venv deps guests firmware
	$(PY) -m hvsim boot firmware/demo3

bench: venv deps guests
	$(PY) bench/run.py

clean:
	$(MAKE) -C guests clean
	$(MAKE) -C firmware clean
	rm -rf $(XTF_BUILD)

distclean: clean
	rm -rf $(VENV) $(LINUX_DIR)
