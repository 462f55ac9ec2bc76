"""`hvsim lcm check`: read a Launch Control Module and show the domains it
describes, or every problem in it (one line each, exit code 2).

    hvsim lcm check FILE.dtb [--modules N] [--host-mem SIZE]
    hvsim lcm check boot.cfg [--entry ENTRY] [--host-mem SIZE]
    hvsim lcm check DIR      (a scenario directory: its boot.cfg, as `hvsim boot DIR`)

Given an LCM alone, module-index references are shown as indexes and are
checked against N only when --modules N (the number of MB2 modules, the
LCM included) is given.  Given a boot config, the whole boot runs up to the
plan (firmware stage, MBI, LCM or classic path), so every module is checked
and named by its file.
"""

import json
import os
import sys

from .boot import lcm
from .boot.firmware import DEFAULT_HOST_MEM, boot_config, scenario_config
from .boot.plan import KIND_CLASSIC
from .errors import ConfigError, HostInputError, read_input
from .options import parse_size

EXIT_OK = 0
EXIT_ERRORS = 2


def add_parser(subparsers):
    """Add `lcm` (with its `check` subcommand) to the hvsim command's subparsers."""
    p = subparsers.add_parser("lcm", help="inspect a hyperlaunch Launch Control Module",
                              description="Inspect a hyperlaunch Launch Control Module (LCM).")
    sub = p.add_subparsers(dest="lcm_command", metavar="SUBCOMMAND")
    c = sub.add_parser("check", help="show the domains an LCM describes, or its errors",
                       description="Show the domains an LCM (a .dtb) or a boot config "
                                   "describes, or every error in it (exit code 2).")
    c.add_argument("file", metavar="FILE",
                   help="an LCM (.dtb compiled by dtc), a boot config (GRUB syntax) or a "
                        "scenario directory holding boot.cfg")
    c.add_argument("--modules", type=int, metavar="N",
                   help="with an LCM: the number of MB2 modules, the LCM included, to check "
                        "module-index against")
    c.add_argument("--entry", metavar="ENTRY",
                   help="with a boot config: the menuentry (index, title or --id; default: "
                        "the config's default)")
    c.add_argument("--host-mem", default=None, metavar="SIZE",
                   help="host RAM (default %d GiB)" % (DEFAULT_HOST_MEM >> 30))
    c.add_argument("--json", action="store_true",
                   help="print the plan (or the errors and warnings) as one JSON object")
    p.set_defaults(func=main, lcm_parser=p)
    return p


def main(args):
    if getattr(args, "lcm_command", None) != "check":
        args.lcm_parser.print_help()
        return EXIT_ERRORS
    host_mem = parse_size(args.host_mem, "--host-mem") if args.host_mem else None
    if os.path.isdir(args.file):
        args.file = scenario_config(args.file)
    data = _read(args.file)
    if lcm.is_fdt(data):
        result, title = _check_lcm_file(args, data, host_mem)
    elif _is_text(data):
        result, title = _check_config(args, host_mem, data)
    else:
        raise HostInputError(args.file, None, "neither a device tree blob (an LCM) nor a boot "
                             "config (text)", "give an LCM compiled by dtc, or a boot.cfg")
    if args.json:
        return report_json(result, title, sys.stdout)
    return report(result, title, sys.stdout, sys.stderr)


def _read(path):
    return read_input(path, "cannot read it: %s")


def _is_text(data):
    try:
        return b"\0" not in data and data.decode("utf-8") is not None
    except UnicodeDecodeError:
        return False


def _check_lcm_file(args, data, host_mem):
    if args.modules is not None and args.modules < 1:
        raise ConfigError("--modules %d: the LCM itself is module 0, so N >= 1" % args.modules)
    table = lcm.ModuleTable(count=args.modules)
    title = "LCM %s" % args.file
    if args.modules is None:
        title += " (module-index not range-checked: give --modules N)"
    return lcm.check_lcm(data, args.file, table, host_mem), title


def _check_config(args, host_mem, data=None):
    """Boot the config up to its plan (`data`: the file's bytes, when already read)."""
    fw = boot_config(args.file, args.entry, host_mem or DEFAULT_HOST_MEM, data)
    result = lcm.check_firmware(fw, host_mem)
    return result, "boot config %s, entry %r" % (args.file, fw.entry.title)


def report(result, title, out, err):
    """Print the plan's table (or the errors) and the warnings; the exit code."""
    for w in result.warnings:
        err.write("hvsim: warning: %s\n" % w)
    if result.errors:
        for e in result.errors:
            err.write("hvsim: error: %s\n" % e)
        return EXIT_ERRORS
    out.write(format_plan(result.plan, title))
    return EXIT_OK


def report_json(result, title, out):
    """--json: {"title", "kind", "xen_cmdline", "domains": [...], "static_evtchns",
    "warnings", "errors"} on stdout; the exit code, as report()'s."""
    doc = {"title": title, "warnings": list(map(str, result.warnings)),
           "errors": list(map(str, result.errors))}
    plan = None if result.errors else result.plan
    if plan is not None:
        doc.update(kind=plan.kind, xen_cmdline=plan.hypervisor_cmdline,
                   domains=[_domain_json(d) for d in plan.domains],
                   static_evtchns=[[list(a), list(b)] for a, b in plan.static_evtchn_pairs()])
    json.dump(doc, out, indent=1)
    out.write("\n")
    return EXIT_ERRORS if result.errors else EXIT_OK


def _domain_json(d):
    return {"domid": d.domid, "name": d.name, "capabilities": d.capability_names,
            "mode": "PVH", "vcpus": d.vcpus, "memory": d.mem_bytes, "mem_min": d.mem_min,
            "mem_max": d.mem_max, "kernel": d.kernel.label if d.kernel else None,
            "ramdisk": d.ramdisk.label if d.ramdisk else None, "cmdline": d.kernel_cmdline}


def _module_cell(ref):
    return ref.label if ref is not None else "-"


def _memory_cell(d):
    text = lcm.fmt_size(d.mem_bytes)
    bounds = [("min", d.mem_min), ("max", d.mem_max)]
    extra = ", ".join("%s %s" % (k, lcm.fmt_size(v)) for k, v in bounds if v is not None)
    return "%s (%s)" % (text, extra) if extra else text


def format_plan(plan, title):
    """The domain table of a boot plan, as `hvsim lcm check` prints it."""
    lines = ["%s: %s, %d domain%s" % (title, plan.kind, len(plan.domains),
                                      "" if len(plan.domains) == 1 else "s")]
    if plan.kind != KIND_CLASSIC or plan.hypervisor_cmdline:
        lines.append("Xen command line: %s" % (plan.hypervisor_cmdline or "(empty)"))
    header = ("domid", "name", "capabilities", "mode", "vcpus", "memory", "kernel", "ramdisk",
              "command line")
    rows = [header] + [(str(d.domid), d.name, d.capability_names, "PVH", str(d.vcpus),
                        _memory_cell(d), _module_cell(d.kernel), _module_cell(d.ramdisk),
                        d.kernel_cmdline or "-") for d in plan.domains]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]
        lines.append("  ".join(cells).rstrip())
    pairs = plan.static_evtchn_pairs()
    if pairs:
        lines.append("static event channels:")
        lines.extend("  d%d port %d <-> d%d port %d" % (a[0], a[1], b[0], b[1])
                     for a, b in pairs)
    return "\n".join(lines) + "\n"
