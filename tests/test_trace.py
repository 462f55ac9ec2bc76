"""`--trace FILE`: event traces from real guests, readable and JSON lines."""

import json
import os
import subprocess
import sys

import built

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "guests", "build")
needs_build = built.needs(os.path.join(BUILD, "hvm64", "example.elf"))


def traced(tmp_path, guest, name, *extra):
    path = tmp_path / name
    r = subprocess.run([sys.executable, "-m", "hvsim", "run", "-q", "--deterministic",
                        "--trace", str(path), os.path.join(BUILD, guest), *extra],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert "Traceback" not in r.stderr and r.returncode == 0, r.stderr
    return path.read_text()


@needs_build
def test_text_trace_has_every_default_stream(tmp_path):
    text = traced(tmp_path, "hvm64/exceptions.elf", "t.txt")
    kinds = {line.split()[2] for line in text.splitlines()}
    assert {"hypercall", "exception", "domain"} <= kinds
    assert " d1v0   exception  #DE fault at 0x" in text
    assert "#PF[0x" in text                        # error codes shown
    assert "sched_op(SCHEDOP_shutdown, " in text and text.rstrip().endswith("= 0")


@needs_build
def test_json_trace_records(tmp_path):
    text = traced(tmp_path, "hvm32pae/exceptions.elf", "t.jsonl")
    recs = [json.loads(line) for line in text.splitlines()]
    faults = [r for r in recs if r["ev"] == "exception"]
    assert any(r["vector"] == 14 and r["error_code"] is not None for r in faults)
    assert all(r["dom"] == 1 and r["vcpu"] == 0 for r in faults)
    calls = [r for r in recs if r["ev"] == "hypercall"]
    assert calls and all({"nr", "args", "ret", "t"} <= set(r) for r in calls)
    times = [r["t"] for r in recs]
    assert times == sorted(times)


@needs_build
def test_instruction_stream_covers_only_its_range(tmp_path):
    import elftools.elf.elffile as elffile
    with open(os.path.join(BUILD, "hvm64", "example.elf"), "rb") as f:
        sym = elffile.ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name("test_main")[0]
    lo, hi = sym["st_value"], sym["st_value"] + sym["st_size"] - 1
    text = traced(tmp_path, "hvm64/example.elf", "t.txt", "--trace-streams", "insn",
                  "--trace-insn", "%#x:%#x" % (lo, hi))
    addrs = [int(line.split()[3].rstrip(":"), 16) for line in text.splitlines()
             if line.split()[2] == "insn"]
    assert len(addrs) >= 3 and all(lo <= a <= hi for a in addrs)
    assert "hypercall" not in text


def test_hypercalls_show_only_the_arguments_they_take():
    from hvsim.abi import sched, xen
    from hvsim.hv.hypercall import decode_hypercall
    junk = [0xdeadbeefdeadf00d] * 5
    assert decode_hypercall(xen.__HYPERVISOR_sched_op, [sched.SCHEDOP_shutdown, 0x12f00] + junk,
                            0) == "sched_op(SCHEDOP_shutdown, 0x12f00) = 0"
    assert decode_hypercall(xen.__HYPERVISOR_grant_table_op, [2, 0x1000, 1] + junk, -38) == \
        "grant_table_op(GNTTABOP_setup_table, 0x1000, 0x1) = -ENOSYS"
    assert decode_hypercall(xen.__HYPERVISOR_iret, junk, -38) == "iret() = -ENOSYS"
    assert decode_hypercall(xen.__HYPERVISOR_set_timer_op, [5, 6], 0) == "set_timer_op(0x5) = 0"
    assert xen.hypercall_nargs(xen.__HYPERVISOR_set_timer_op, 4) == 2   # 32-bit: two halves
    assert decode_hypercall(63, [1, 2, 3, 4, 5], -38) == \
        "hypercall 63(0x1, 0x2, 0x3, 0x4, 0x5) = -ENOSYS"


def test_every_multiplexed_hypercall_hvsim_implements_is_decoded():
    """Each hypercall hvsim implements (x86 or Arm) that takes a sub-op has
    its sub-ops named: all but set_timer_op (a time), multicall (a list of
    calls and its length) and xenpmu_op (refused whole, no sub-op served)."""
    from hvsim.abi import xen
    from hvsim.hv import hypercall
    plain = {xen.__HYPERVISOR_set_timer_op, xen.__HYPERVISOR_multicall,
             xen.__HYPERVISOR_xenpmu_op}
    served = set(hypercall._X86_HANDLERS) | set(hypercall._ARM_HANDLERS)
    assert served - plain <= set(hypercall._SUBOPS) | set(hypercall._STRUCT_CMDS)
    assert hypercall.decode_hypercall(xen.__HYPERVISOR_vm_assist, [0, 5], 0) == \
        "vm_assist(VMASST_CMD_enable, VMASST_TYPE_runstate_update_flag) = 0"


# the guests that make the most kinds of hypercalls
TRACED_GUESTS = ("hypercalls", "memory-ops", "gnttab-ops", "evtchn-ops", "xenstore", "timer",
                 "platform", "lapic")


@built.needs(*[os.path.join(BUILD, "hvm64", g + ".elf") for g in TRACED_GUESTS])
def test_real_guests_traces_name_every_sub_op_hvsim_serves(tmp_path):
    """The project's guests' hypercalls, traced: every sub-op hvsim served
    (did not refuse as unknown) is shown by name, domctl and sysctl by
    their command."""
    unnamed = []
    kinds = set()
    for g in TRACED_GUESTS:
        path = tmp_path / (g + ".txt")
        r = subprocess.run([sys.executable, "-m", "hvsim", "run", "-q", "--deterministic",
                            "--trace", str(path), "--trace-streams", "hypercalls",
                            os.path.join(BUILD, "hvm64", g + ".elf")],
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        for line in path.read_text().splitlines():
            if " hypercall " not in line:
                continue
            call = line.split(" hypercall ", 1)[1].strip()
            name, args = call.split("(", 1)
            first = args.split(",")[0].split(")")[0]
            if name in ("set_timer_op", "set_trap_table", "sched_op_compat") or \
                    name.startswith("hypercall "):
                continue
            kinds.add((name, first))
            if not first.startswith(("XEN", "SCHEDOP_", "EVTCHNOP_", "HVMOP_", "VCPUOP_",
                                     "CONSOLEIO_", "GNTTABOP_", "VMASST_", "{XEN_")) and \
                    not call.endswith(("= -ENOSYS", "= -EPERM", "= -EINVAL")):
                unnamed.append(call)
    assert not unnamed, unnamed
    assert len(kinds) > 60, sorted(kinds)          # the guests reach most of them


@built.needs(os.path.join(BUILD, "hvm64", "xsm-policy.elf"))
def test_domctl_and_sysctl_show_their_command(tmp_path):
    """firmware/xsm-a's probers make domctls and sysctls: each is shown by
    the command in its struct, with no argument it does not take."""
    path = tmp_path / "t.txt"
    r = subprocess.run([sys.executable, "-m", "hvsim", "boot", "-q", "--deterministic",
                        "--trace", str(path), "--trace-streams", "hypercalls", "firmware/xsm-a"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert "Traceback" not in r.stderr, r.stderr
    calls = [l.split("hypercall", 1)[1].strip() for l in path.read_text().splitlines()
             if " domctl(" in l or " sysctl(" in l]
    assert any(c.startswith("domctl({XEN_DOMCTL_getdomaininfo}, 0x") for c in calls), calls[:5]
    assert any(c.startswith("sysctl({XEN_SYSCTL_") for c in calls), calls[:5]
    assert all(c.count(",") == 1 for c in calls), [c for c in calls if c.count(",") != 1][:3]
