"""Boot timelines: `hvsim run|boot --timeline FILE.json`.

Writes the run as a Chrome trace event file (open it in Perfetto,
ui.perfetto.dev, or chrome://tracing): one process per domain, and per vCPU
two lanes:

  vN        what the vCPU did: "running" slices (with every hypercall nested
            inside, named and decoded, and instant marks for exceptions and
            upcalls), "blocked" and "runnable" (waiting for a pCPU) spans
  vN mode   boot phases: the CPU mode the vCPU was in (x86: 32-bit, 32-bit
            PAE, 64-bit, ...; arm64: EL1h, MMU off / on), one span per mode

plus domain-wide instant marks (unpaused, paused, shutdown, crashed).
Timestamps are virtual time (hvsim's NOW(), in microseconds as the format
wants), so a deterministic run gives an identical file.

Boot phases are exact: until a vCPU makes its first hypercall or reaches
its arch's last phase (64-bit mode; the MMU on), a translation-block hook
watches its mode (early boot is a few
thousand instructions, so this costs nothing measurable); after that, mode
changes are seen at slice ends.
"""

import json
import sys

from ..abi.vcpu import RUNSTATE_blocked, RUNSTATE_runnable, RUNSTATE_running
from ..hv.hypercall import decode_hypercall, hypercall_name
from .sink import TraceSink
from .trace import exception_name

_SPANS = {RUNSTATE_blocked: "blocked", RUNSTATE_runnable: "runnable"}


def _us(ns):
    return ns / 1000.0


class Timeline(TraceSink):
    """Collects events while the run goes on; `close()` writes the file."""

    def __init__(self, hv, path):
        self.hv = hv
        self.path = path
        self.events = []
        self._lanes = {}                 # (domid, tid) -> lane name
        self._state_since = {}           # vcpu -> (runstate, since ns)
        self._mode = {}                  # vcpu -> (mode name, since ns)
        self._watched = set()
        for d in hv.domains.values():
            for v in d.vcpus:
                self._watch(v)

    def _watch(self, v):
        if v.online:
            self._mode[v] = (v.arch.boot_phase(), self.hv.clock.now())
        self._watched.add(v)
        v.arch.watch_mode(lambda mode: self._mode_changed(v, mode, self.hv.clock.now()))

    def _unwatch(self, v):
        if v in self._watched:
            self._watched.discard(v)
            v.arch.unwatch_mode()

    # -- lanes -----------------------------------------------------------------------------
    def _tid(self, v, mode_lane=False):
        tid = 2 * v.vcpu_id + (2 if mode_lane else 1)
        key = (v.domain.domid, tid)
        if key not in self._lanes:
            self._lanes[key] = "v%d%s" % (v.vcpu_id, " mode" if mode_lane else "")
        return tid

    def _span(self, v, name, start_ns, end_ns, mode_lane=False, **args):
        ev = {"ph": "X", "name": name, "pid": v.domain.domid, "tid": self._tid(v, mode_lane),
              "ts": _us(start_ns), "dur": _us(max(end_ns - start_ns, 0))}
        if args:
            ev["args"] = args
        self.events.append(ev)

    def _instant(self, v, name, **args):
        ev = {"ph": "i", "s": "t", "name": name, "pid": v.domain.domid, "tid": self._tid(v),
              "ts": _us(self.hv.clock.now())}
        if args:
            ev["args"] = args
        self.events.append(ev)

    # -- the tracer interface (hvsim/debug/trace.py) ---------------------------------------
    def hypercall(self, v, nr, args, result, start_ns):
        self._unwatch(v)
        self._span(v, hypercall_name(nr), start_ns, self.hv.clock.now(),
                   call=decode_hypercall(nr, args, result))

    def exception(self, v, vector, kind, error_code, rip):
        self._instant(v, exception_name(vector, kind), kind=kind, rip="%#x" % rip,
                      error_code=error_code)

    def upcall(self, v, vector):
        self._instant(v, "upcall", vector="%#x" % vector)

    def evtchn_pending(self, d, port, v):
        pass                             # upcalls show the effect on the receiving vCPU

    def slice(self, v, start_ns, end_ns, exit_):
        self._span(v, "running", start_ns, end_ns, ended=exit_.kind)
        self._check_mode(v, end_ns)

    def runstate(self, v, old, new, now):
        since = self._state_since.pop(v, None)
        if since is not None and since[0] in _SPANS:
            self._span(v, _SPANS[since[0]], since[1], now)
        if new != RUNSTATE_running:
            self._state_since[v] = (new, now)
        if new == RUNSTATE_running and v not in self._mode:
            self._mode[v] = (v.arch.boot_phase(), now)

    def xen_message(self, v, text):
        self._instant(v, "xen: " + text)

    def domain_event(self, d, what):
        self.events.append({"ph": "i", "s": "p", "name": what, "pid": d.domid, "tid": 0,
                            "ts": _us(self.hv.clock.now())})

    # -- boot phases -------------------------------------------------------------------------
    def _check_mode(self, v, now):
        self._mode_changed(v, v.arch.boot_phase(), now)

    def _mode_changed(self, v, mode, now):
        cur = self._mode.get(v)
        if cur is None:
            self._mode[v] = (mode, now)
        elif cur[0] != mode:
            self._span(v, cur[0], cur[1], now, mode_lane=True)
            self._mode[v] = (mode, now)
        if mode == v.arch.FINAL_BOOT_PHASE:
            self._unwatch(v)

    def _finish(self):
        now = self.hv.clock.now()
        for v, (mode, since) in sorted(self._mode.items(), key=lambda kv: repr(kv[0])):
            end = v.domain.ended_ns if v.domain.ended_ns is not None else now
            self._span(v, mode, since, max(end, since), mode_lane=True)
        for v, (state, since) in sorted(self._state_since.items(), key=lambda kv: repr(kv[0])):
            if state in _SPANS:
                end = v.domain.ended_ns if v.domain.ended_ns is not None else now
                self._span(v, _SPANS[state], since, max(end, since))

    def _metadata(self):
        meta = []
        for d in self.hv.all_domains:
            meta.append({"ph": "M", "name": "process_name", "pid": d.domid, "tid": 0,
                         "args": {"name": "d%d %s" % (d.domid, d.name)}})
            meta.append({"ph": "M", "name": "process_sort_index", "pid": d.domid, "tid": 0,
                         "args": {"sort_index": d.domid}})
        for (domid, tid), name in sorted(self._lanes.items()):
            meta.append({"ph": "M", "name": "thread_name", "pid": domid, "tid": tid,
                         "args": {"name": name}})
            meta.append({"ph": "M", "name": "thread_sort_index", "pid": domid, "tid": tid,
                         "args": {"sort_index": tid}})
        return meta

    def close(self):
        self._finish()
        doc = {"traceEvents": self._metadata() + self.events, "displayTimeUnit": "ns",
               "otherData": {"generator": "hvsim", "clock": "virtual time (NOW())",
                             "deterministic": self.hv.clock.deterministic}}
        if self.path == "-":                     # --timeline -: stdout
            self._write(doc, sys.stdout)
            sys.stdout.flush()
            return
        with open(self.path, "w") as f:
            self._write(doc, f)

    @staticmethod
    def _write(doc, f):
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
