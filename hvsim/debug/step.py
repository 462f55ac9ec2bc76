"""`hvsim step GUEST.elf|SCENARIO`: follow a guest one instruction at a time.

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

On a host boot (SCENARIO: a boot.cfg or its directory, as `hvsim boot`
takes) the stepper follows one domain (`--domain dN`, default the first of
the boot plan) with that domain's symbols; `--until` also takes a boot
phase (phases.py: built, unpaused, first-instruction, first-hypercall,
shutdown), and the breakpoint of `--until SYMBOL` is armed in that domain
only.  While it steps, the other domains run at full speed (`--others
run`, the default) or stay stopped (`--others paused`).

Stopping and stepping are RunControl's (control.py); pending interrupts are
delivered between steps (unlike the gdb stub), so a guest waiting for an
event makes progress.  Exceptions and hypercalls reach the stepper as a
trace sink (trace.py `attach`).  The setup and the verdict are `hvsim run`'s
(hvsim/run.py).
"""

import bisect
import sys

from ..boot.elf import KernelImage, load_kernel
from ..errors import ConfigError
from ..options import deterministic_option, guest_options, parse_size
from ..verdict import EXIT_CODES, EXIT_INTERRUPTED, verdict_of, worst
from .control import ANY, RunControl, StopRun
from .phases import BUILT, PHASES, parse_domid
from .sink import TraceSink

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
    p.add_argument("guest", metavar="GUEST|SCENARIO",
                   help="PVH kernel ELF file, or a host boot (boot config or scenario "
                        "directory, as for `hvsim boot`)")
    p.add_argument("-n", "--count", type=int, metavar="N",
                   help="step N instructions, then stop")
    p.add_argument("--until", metavar="PHASE|SYMBOL|ADDR",
                   help="run at full speed until this symbol or address, or until the "
                        "domain reaches this boot phase (%s), then step" % ", ".join(PHASES))
    p.add_argument("--domain", metavar="dN",
                   help="the domain to follow (default: the first one built)")
    p.add_argument("--others", choices=("run", "paused"), default="run",
                   help="while stepping, the other domains run (default) or stay stopped")
    p.add_argument("--entry", help="menu entry of a boot config (as for `hvsim boot`)")
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
class Stepper(RunControl, TraceSink):
    step_interrupts = True

    def __init__(self, hv, symbols, out, count=None, until=None, ask=None, domain=None,
                 phase=None):
        super().__init__(hv)
        self.symbols = symbols
        self.out = out
        self.remaining = count            # steps left before stopping (None: no limit)
        self.until = until                # address to run to first
        self.phase = phase                # or boot phase to run to first
        self.domain = domain              # the Domain followed (None: every vCPU)
        self.ask = ask                    # callable(prompt) -> line, or None (no prompts)
        self.executed = 0
        self.quit = False
        self._events = []                 # exceptions/interrupts/hypercalls of this step
        self._collect = False             # stepping: collect those events
        self._modes = {}                  # vCPU -> last mode description

    def attach(self, stop_first=True):
        from .trace import attach
        super().attach(stop_first)
        attach(self.hv, [self, self.sink])
        if self.domain is not None:
            self.limit_breakpoints(self.domain.domid)

    # -- events (a TraceSink) --------------------------------------------------------------
    def exception(self, v, vector, kind, error_code, rip):
        if self._collect:
            ec = "" if error_code is None else "[%#x]" % error_code
            name = self.arch_debug(v).exception_name(vector, kind)
            self._events.append("%s%s (%s) at %#x" % (name, ec, kind, rip))

    def hypercall(self, v, nr, args, result, start_ns):
        from ..hv.hypercall import decode_hypercall
        if self._collect:
            self._events.append("hypercall " + decode_hypercall(nr, args, result))

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

    def _mode(self, v):
        """The vCPU's CPU mode in words (its arch debug module's)."""
        return self.arch_debug(v).describe_mode()

    @staticmethod
    def _changes(target, before, after):
        out = []
        for r in target.regs:
            old, new = before.get(r.name), after.get(r.name)
            if old is None or old == new or r.name in ("rip", "eip", "pc"):
                continue
            text = "%s=%#x" % (r.name, new)
            flags = target.flag_names(r, new)
            if flags:
                text += " [%s]" % flags
            out.append(text)
        return " ".join(out)

    # -- stepping ------------------------------------------------------------------------------------
    def execute(self, v, count):
        if not self.stepping(v):
            return super().execute(v, count)
        dbg = self.arch_debug(v)
        self._flush_events(v)             # e.g. an interrupt injected before this step
        target = dbg.step_target()
        rip = dbg.pc()
        text = dbg.disassemble(rip)
        before = dbg.snapshot(target.regs)
        exit_ = super().execute(v, count)
        changes = self._changes(target, before, dbg.snapshot(target.regs))
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
        mode = self._mode(v)
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
        super().step(self.domain if vcpu is ANY and self.domain is not None else vcpu)

    def cont(self):
        self._collect = False
        super().cont()

    def stopped(self, event):
        v = event.vcpu
        if event.kind == "start":
            self._modes[v] = self._mode(v)
            self._say("-- %sstarts at %s in %s" % (self._who(v), self._where(v.arch.linear_rip()),
                                                   self._modes[v]))
            if self.until is not None:
                self._say("-- running to %s at full speed" % self._where(self.until))
                self.add_breakpoint(self.until)
                return self.cont()
            if self.phase is not None and self.phase != BUILT:
                self._say("-- running to d%d's %s at full speed" % (self.domain.domid,
                                                                     self.phase))
                self.phase_stops.add(self.phase, self.domain.domid)
                return self.cont()
            self.phase = None
            return self._next()
        if event.kind == "phase" and self.phase is not None:
            self.phase_stops.clear()
            self.phase = None
            v = event.vcpu
            self._modes[v] = self._mode(v)
            self._say("-- %sreached %s%s at %s in %s"
                      % (self._who(v), event.phase, " (%s)" % event.detail if event.detail else "",
                         self._where(v.arch.linear_rip()), self._modes[v]))
        if event.kind == "breakpoint" and self.until is not None:
            self.remove_breakpoint(self.until)
            self.until = None
            self._modes[v] = self._mode(v)
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
    from ..run import check_guest_files, is_boot_scenario
    check_unicorn_version()
    if args.count is not None and args.count < 1:
        raise ConfigError("--count %d: must be at least 1" % args.count)
    check_guest_files([args.guest])
    boot = is_boot_scenario(args.guest)
    hv, domains = _boot(args) if boot else _one_guest(args)
    d = _followed(domains, args.domain)
    symbols = Symbols(d.kernel)
    phase = args.until if args.until in PHASES else None
    until = symbols.resolve(args.until) if args.until and phase is None else None
    interactive = args.count is None and sys.stdin.isatty()
    stepper = Stepper(hv, symbols, sys.stdout, count=args.count, until=until,
                      ask=_ask if interactive else None,
                      domain=d if boot or args.domain or phase else None, phase=phase)
    stepper.hold_others = args.others == "paused"
    stepper.attach()
    stepper.start_domains(domains)
    result = hv.run(timeout=args.timeout or None)
    if stepper.quit:
        return 0
    if result.reason == "interrupted" and hv.scheduler.interrupted:      # Ctrl-C
        sys.stdout.flush()
        sys.stderr.write("hvsim: interrupted after %d stepped instruction%s\n"
                         % (stepper.executed, "" if stepper.executed == 1 else "s"))
        return EXIT_INTERRUPTED
    if stepper.until is not None:
        stepper._say("-- %s was never reached" % stepper._where(stepper.until))
    if stepper.phase is not None:
        stepper._say("-- d%d never reached %s" % (d.domid, stepper.phase))
    if result.reason == "stalled" and stepper.hold_others and not d.finished:
        stepper._say("-- d%d can go no further: the other domains stay paused (--others paused)"
                     % d.domid)
    verdicts = [verdict_of(x) for x in domains]
    stepper._say("-- the run ended after %d stepped instruction%s: %s"
                 % (stepper.executed, "" if stepper.executed == 1 else "s",
                    verdicts[domains.index(d)]))
    return EXIT_CODES[worst(verdicts)]


def _one_guest(args):
    from ..hv.console import ConsoleSink
    from ..hv.hypervisor import Hypervisor
    from ..run import build_guests
    for opt, given in (("--others", args.others != "run"), ("--entry", args.entry)):
        if given:
            raise ConfigError("%s: only for a host boot (a boot config or scenario directory)"
                              % opt)
    hv = Hypervisor(deterministic=args.deterministic,
                    console=ConsoleSink.terminal(prefix_domains=False))
    return hv, build_guests(hv, args, [args.guest], parse_size(args.mem))


def _boot(args):
    """A host boot as `hvsim boot` does it: (hv, its domains in LCM order)."""
    from ..boot import launch
    from ..hv.console import ConsoleSink
    from ..run import boot_host, read_boot_plan
    host_mem = parse_size("4G", "--host-mem")
    cfg, plan = read_boot_plan(args.guest, args.entry, host_mem)
    hv = boot_host(cfg, plan, host_mem, args.deterministic,
                   ConsoleSink.terminal())
    return hv, launch.build_plan(hv, plan)


def _followed(domains, text):
    """The domain --domain names (default: the first)."""
    if text is None:
        return domains[0]
    domid = parse_domid(text)
    for d in domains:
        if d.domid == domid:
            return d
    raise ConfigError("--domain %s: no such domain (this boot has %s)"
                      % (text, ", ".join("d%d" % x.domid for x in domains)))


def _ask(prompt):
    return input(prompt)
