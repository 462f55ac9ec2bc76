"""Shared capstone disassemblers (building a capstone.Cs costs ~10x a decode).

`disassembler(code64, att)` returns one x86 Cs per mode (64-bit or 32-bit
code) and syntax (Intel, or AT&T with att=True), built on first use; the
instruction trace, the stepper, crash reports and decode.py use it.  `detail`
asks for capstone's operand details (a separate instance).  Depends on
capstone only, so any layer may use it.
"""

import capstone

_cache = {}


def disassembler(code64, att=False, detail=False):
    """The shared capstone.Cs for 64-bit (code64) or 32-bit x86 code."""
    key = (bool(code64), bool(att), bool(detail))
    md = _cache.get(key)
    if md is None:
        md = capstone.Cs(capstone.CS_ARCH_X86,
                         capstone.CS_MODE_64 if code64 else capstone.CS_MODE_32)
        if att:
            md.syntax = capstone.CS_OPT_SYNTAX_ATT
        if detail:
            md.detail = True
        _cache[key] = md
    return md
