"""`hvsim step GUEST.elf`: follow a guest one instruction at a time.

Owns the stepper: for every instruction executed it prints the address with
the kernel's symbol+offset (from the KernelImage the domain builder parsed,
hvsim/boot/elf.py), the instruction (capstone, AT&T syntax, decoded in the
CPU's current mode), and the registers it changed;
between instructions it prints what else happened: mode switches ("-- mode:
32-bit protected mode, paging off -> compatibility mode (IA-32e, 32-bit
code)"), exceptions and interrupts delivered, hypercalls.  `--until` runs at
full speed to a symbol or address (a breakpoint, as in the gdb stub) and
steps from there; `--count N` steps N instructions and stops.  With neither,
the stepper is interactive when stdin is a terminal (Enter: one step, a
number: that many, c: continue to the end, q: quit) and steps the whole run
otherwise.

Stopping and stepping are RunControl's (control.py); pending interrupts are
delivered between steps (unlike the gdb stub), so a guest waiting for an
event makes progress.  Exceptions and hypercalls reach the stepper as a
trace sink (trace.py `attach`).  The setup and the verdict are `hvsim run`'s
(hvsim/run.py).
"""

import bisect
import sys

from ..arch.x86.debug import REGS_32, REGS_64, describe_mode, flag_names
from ..arch.x86.traps import vector_name
from ..boot.elf import KernelImage, load_kernel
from ..errors import ConfigError
from ..options import deterministic_option, guest_options, parse_size
from ..verdict import EXIT_CODES, timed_out, verdict_of
from .control import ANY, RunControl, StopRun
from ..arch.x86.disasm import disassembler

HELP = "follow a guest one instruction at a time (boot flows)"
DESCRIPTION = (
    "Boot GUEST (a PVH kernel ELF) as `hvsim run` does and show each instruction it "
    "executes: address, symbol+offset, the instruction, the registers it changed, and "
    "mode switches, exceptions, interrupts and hypercalls as they happen.  --until runs "
    "at full speed to a symbol or address first.  Without --count or --until, stepping is "
    "interactive on a terminal (Enter: step, N: N steps, c: continue to the end, q: quit) "
    "and covers the whole run otherwise.  Exit code: 0 when the stepper stopped (--count, "
    "q), else the run's verdict as for `hvsim run`.")
NEAR = 0x10000                    # farther from any symbol: no symbol+offset
PROMPT_HELP = "Enter: one step, N: N steps, c: continue to the end, q: quit"


def add_parser(subparsers):
    p = subparsers.add_parser("step", help=HELP, description=DESCRIPTION)
    p.add_argument("guest", metavar="GUEST", help="PVH kernel ELF file")
    p.add_argument("-n", "--count", type=int, metavar="N",
                   help="step N instructions, then stop")
    p.add_argument("--until", metavar="SYMBOL|ADDR",
                   help="run at full speed until this symbol or address, then step")
    guest_options(p)
    deterministic_option(p)
    p.add_argument("--timeout", type=float, default=0.0,
                   help="give up after this many host seconds of running (default 0: never)")
    p.set_defaults(func=cmd_step)


# ---- symbols ------------------------------------------------------------------------------------
class Symbols:
    """A kernel's symbols: address -> 'name+0x12', name or number -> address.
    `kernel`: the KernelImage (hvsim/boot/elf.py) the domain was built from,
    or the path of the ELF (parsed here).  Addresses inside a segment's
    physical range (code that runs before paging, e.g. Linux's early entry)
    are looked up at its virtual address."""

    def __init__(self, kernel):
        if not isinstance(kernel, KernelImage):
            kernel = load_kernel(kernel)
        self.path = kernel.path
        self.wide = kernel.elfclass == 64        # a 64-bit ELF
        self._syms = sorted(kernel.symbols)      # (address, size, name)
        self._starts = [a for a, _, _ in self._syms]
        self._by_name = {}
        for addr, _, name in kernel.symbols:     # the first of a name wins
            self._by_name.setdefault(name, addr)
        self._phys = [(s.paddr, s.vaddr, s.memsz)     # where they differ
                      for s in kernel.segments if s.paddr != s.vaddr]

    def lookup(self, addr):
        """'name+0x12' for the symbol at or before addr ('' if none, or if
        that symbol is more than NEAR bytes away)."""
        for paddr, vaddr, size in self._phys:
            if paddr <= addr < paddr + size:
                addr = addr - paddr + vaddr
                break
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return ""
        start, _, name = self._syms[i]
        if addr - start > NEAR:
            return ""
        return name if addr == start else "%s+%#x" % (name, addr - start)

    def resolve(self, text):
        """A symbol name or a number -> address; ConfigError if neither."""
        if text in self._by_name:
            return self._by_name[text]
        try:
            return int(text, 0)
        except ValueError:
            raise ConfigError("--until %s: no such symbol in %s (give a symbol or an "
                              "address such as 0x100000)" % (text, self.path)) from None


# ---- the stepper ---------------------------------------------------------------------------------
class Stepper(RunControl):
    step_interrupts = True

    def __init__(self, hv, symbols, out, count=None, until=None, ask=None):
        super().__init__(hv)
        self.symbols = symbols
        self.out = out
        self.remaining = count            # steps left before stopping (None: no limit)
        self.until = until                # address to run to first
        self.ask = ask                    # callable(prompt) -> line, or None (no prompts)
        self.executed = 0
        self.quit = False
        self._events = []                 # exceptions/interrupts/hypercalls of this step
        self._collect = False             # stepping: collect those events
        self._modes = {}                  # vCPU -> last mode description

    def attach(self, stop_first=True):
        from .trace import attach
        super().attach(stop_first)
        attach(self.hv, [self])

    # -- events (a trace sink, trace.py) ------------------------------------------------------
    def exception(self, v, vector, kind, error_code, rip):
        if self._collect:
            ec = "" if error_code is None else "[%#x]" % error_code
            self._events.append("%s%s (%s) at %#x" % (vector_name(vector), ec, kind, rip))

    def hypercall(self, v, nr, args, result, start_ns):
        from .trace import decode_hypercall
        if self._collect:
            self._events.append("hypercall " + decode_hypercall(nr, args, result))

    def upcall(self, v, vector):
        pass

    def evtchn_pending(self, d, port, v):
        pass

    def domain_event(self, d, what):
        pass

    def slice(self, v, start_ns, end_ns, exit_):
        pass

    def runstate(self, v, old, new, now):
        pass

    # -- output -------------------------------------------------------------------------------------
    def _say(self, text):
        self.out.write(text + "\n")
        self.out.flush()

    def _where(self, addr):
        sym = self.symbols.lookup(addr)
        return "%#x <%s>" % (addr, sym) if sym else "%#x" % addr

    def _who(self, v):
        many = len(self.vcpus()) > 1
        return "d%dv%d " % (v.domain.domid, v.vcpu_id) if many else ""

    def _disassemble(self, arch, rip):
        code = arch.debug.read_memory(rip, 15)
        for insn in disassembler(arch.st.code64, att=True).disasm(code, rip):
            return ("%s %s" % (insn.mnemonic, insn.op_str)).strip()
        return "(bad) %s" % code[:8].hex() if code else "<not mapped>"

    def _changes(self, regs, before, after):
        out = []
        for r in regs:
            old, new = before.get(r.name), after.get(r.name)
            if old is None or old == new or r.name in ("rip", "eip"):
                continue
            text = "%s=%#x" % (r.name, new)
            flags = flag_names(r, new)
            if flags:
                text += " [%s]" % flags
            out.append(text)
        return " ".join(out)

    # -- stepping ------------------------------------------------------------------------------------
    def execute(self, v, count):
        if not self.stepping(v):
            return super().execute(v, count)
        arch = v.arch
        dbg = self.arch_debug(v)
        self._flush_events(v)             # e.g. an interrupt injected before this step
        regs = REGS_64 if arch.st.code64 else REGS_32
        rip = arch.linear_rip()
        text = self._disassemble(arch, rip)
        before = dbg.snapshot(regs)
        exit_ = super().execute(v, count)
        changes = self._changes(regs, before, dbg.snapshot(regs))
        self.executed += 1
        sym = self.symbols.lookup(rip)
        self._say(("%s%-*s %-28s %-32s %s" % (self._who(v), 18 if self.symbols.wide else 10,
                                               "%#x" % rip, "<%s>" % sym if sym else "", text,
                                               changes)).rstrip())
        self._flush_events(v)
        self._report_exit(v, exit_)
        if self.remaining is not None:
            self.remaining -= 1
        return exit_

    def _flush_events(self, v):
        for e in self._events:
            self._say("-- %s%s" % (self._who(v), e))
        self._events = []
        mode = describe_mode(v.arch)
        old = self._modes.get(v)
        if old is not None and old != mode:
            self._say("-- %smode: %s -> %s" % (self._who(v), old, mode))
        self._modes[v] = mode

    def _report_exit(self, v, exit_):
        if exit_.kind == "halted":
            self._say("-- %shlt: the vCPU waits for an interrupt" % self._who(v))
        elif exit_.kind == "stopped" and exit_.reason:
            self._say("-- %sleaves the CPU (%s)" % (self._who(v), exit_.reason))
        elif exit_.kind == "crashed":
            self._say("-- %scrashed: %s" % (self._who(v), exit_.reason))

    # -- decisions (RunControl front end) ----------------------------------------------------------
    def step(self, vcpu=ANY):
        self._collect = True
        super().step(vcpu)

    def cont(self):
        self._collect = False
        super().cont()

    def stopped(self, event):
        v = event.vcpu
        if event.kind == "start":
            self._modes[v] = describe_mode(v.arch)
            self._say("-- %sstarts at %s in %s" % (self._who(v), self._where(v.arch.linear_rip()),
                                                   self._modes[v]))
            if self.until is not None:
                self._say("-- running to %s at full speed" % self._where(self.until))
                self.add_breakpoint(self.until)
                return self.cont()
            return self._next()
        if event.kind == "breakpoint" and self.until is not None:
            self.remove_breakpoint(self.until)
            self.until = None
            self._modes[v] = describe_mode(v.arch)
            self._say("-- %sreached %s in %s" % (self._who(v), self._where(v.arch.linear_rip()),
                                                 self._modes[v]))
        return self._next()

    def _next(self):
        if self.remaining is not None and self.remaining <= 0:
            if self.ask is None:
                self._say("-- stopped after %d instruction%s" % (self.executed,
                                                                 "" if self.executed == 1 else "s"))
                return self._quit()
            self.remaining = None
        if self.remaining is None and self.ask is not None:
            return self._prompt()
        return self.step(ANY)

    def _prompt(self):
        while True:
            try:
                line = self.ask("step> ").strip().lower()
            except (EOFError, KeyboardInterrupt):
                self._say("")
                return self._quit()
            if line in ("", "s", "step"):
                return self.step(ANY)
            if line.isdigit() and int(line) > 0:
                self.remaining = int(line)
                return self.step(ANY)
            if line in ("c", "cont", "continue"):
                self._say("-- continuing to the end at full speed")
                self.ask = None
                return self.cont()
            if line in ("q", "quit"):
                return self._quit()
            self._say(PROMPT_HELP)

    def _quit(self):
        self.quit = True
        raise StopRun()


# ---- the command -------------------------------------------------------------------------------
def cmd_step(args):
    from ..arch.uc import check_unicorn_version
    from ..hv.console import ConsoleSink
    from ..hv.hypervisor import Hypervisor
    from ..run import build_guests, check_guest_files
    check_unicorn_version()
    if args.count is not None and args.count < 1:
        raise ConfigError("--count %d: must be at least 1" % args.count)
    check_guest_files([args.guest])
    mem = parse_size(args.mem)
    hv = Hypervisor(deterministic=args.deterministic,
                    console=ConsoleSink(stream=sys.stdout, prefix_domains=False))
    d, = build_guests(hv, args, [args.guest], mem)
    symbols = Symbols(d.kernel)
    until = symbols.resolve(args.until) if args.until else None
    interactive = args.count is None and sys.stdin.isatty()
    stepper = Stepper(hv, symbols, sys.stdout, count=args.count, until=until,
                      ask=_ask if interactive else None)
    stepper.attach()
    d.unpause()
    result = hv.run(timeout=args.timeout or None)
    if stepper.quit:
        return 0
    if stepper.until is not None:
        stepper._say("-- %s was never reached" % stepper._where(stepper.until))
    verdict = verdict_of(d, timed_out(result, d))
    stepper._say("-- the run ended after %d stepped instruction%s: %s"
                 % (stepper.executed, "" if stepper.executed == 1 else "s", verdict))
    return EXIT_CODES[verdict]


def _ask(prompt):
    return input(prompt)
