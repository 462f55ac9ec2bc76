"""xl domain configuration files (xl.cfg(5)), read as libxlu's parser reads them.

`hvsim create FILE.cfg` boots the domain such a file describes, as
`xl create` would, and `hvsim test FILE.cfg` runs it as a test (XTF writes a
test-<env>-<name>.cfg beside each image).  The syntax is libxlu's
(tools/libs/util/libxlu_cfg_y.y): `KEY = VALUE` settings separated by
newlines or `;`, VALUE a string in double or single quotes (C escapes in
double quotes), a number, or a list `[ v, v, ... ]`; `#` starts a comment.

The keys a PVH (or XTF HVM) guest uses are read; an unknown key stops with
file:line and the key, as hvsim cannot honour what it does not know:

    name, type (pvh, or hvm for XTF's images), builder (legacy), kernel,
    firmware_override (XTF's HVM image), ramdisk, cmdline, extra, root,
    memory, maxmem (MiB), vcpus, maxvcpus, on_poweroff, on_reboot, on_crash,
    on_watchdog, on_soft_reset, hap, nestedhvm, shadow_memory (accepted: they
    choose how Xen builds second-stage paging, which hvsim does not have)
"""

import dataclasses
import os
import re

from ..errors import ConfigError
from ..options import MAX_VCPUS, check_host_can_give

ACTIONS = ("destroy", "restart", "rename-restart", "preserve", "coredump-destroy",
           "coredump-restart", "soft-reset")
_STR = (str,)
_INT = (int,)
_KEYS = {
    "name": _STR, "type": _STR, "builder": _STR, "kernel": _STR, "firmware_override": _STR,
    "ramdisk": _STR, "cmdline": _STR, "extra": _STR, "root": _STR,
    "memory": _INT, "maxmem": _INT, "vcpus": _INT, "maxvcpus": _INT,
    "on_poweroff": _STR, "on_reboot": _STR, "on_crash": _STR, "on_watchdog": _STR,
    "on_soft_reset": _STR, "hap": _INT, "nestedhvm": _INT, "shadow_memory": _INT,
}
_TOKEN = re.compile(r'''
    (?P<space>[ \t\r]+) | (?P<comment>\#[^\n]*) | (?P<newline>\n) |
    (?P<string>"(?:[^"\\\n]|\\.)*"|'[^'\n]*') | (?P<number>0x[0-9a-fA-F]+|[0-9]+) |
    (?P<ident>[A-Za-z_][A-Za-z0-9_.]*) | (?P<punct>[=\[\],;])''', re.X)


@dataclasses.dataclass(frozen=True)
class DomainConfig:
    """What a config says about the domain, in hvsim's terms."""
    path: str
    name: str
    kernel: str
    ramdisk: str = None
    cmdline: str = ""
    memory_mib: int = 128
    vcpus: int = 1
    actions: tuple = ()             # ((key, action) ...) other than destroy


def _tokens(text, path):
    line, pos = 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ConfigError("%s:%d: unexpected %r" % (path, line, text[pos]))
        kind = m.lastgroup
        if kind == "newline":
            yield "sep", ";", line
            line += 1
        elif kind not in ("space", "comment"):
            yield kind, m.group(), line
        pos = m.end()
    yield "eof", "", line


def _value(tok, path, line):
    kind, text = tok[0], tok[1]
    if kind == "number":
        return int(text, 0)
    if kind == "string":
        if text[0] == "'":
            return text[1:-1]
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)),
                      text[1:-1])
    raise ConfigError("%s:%d: expected a string, a number or a list, got %r"
                      % (path, line, text or "end of file"))


def parse(text, path):
    """{key: (value, line)} for a config's text; ConfigError at file:line."""
    settings = {}
    toks = list(_tokens(text, path))
    i = 0
    while toks[i][0] != "eof":
        kind, key, line = toks[i]
        if kind == "sep" or (kind == "punct" and key == ";"):
            i += 1
            continue
        if kind != "ident" or toks[i + 1][1] != "=":
            raise ConfigError("%s:%d: expected KEY = VALUE, got %r" % (path, line, key))
        i += 2
        if toks[i][1] == "[":
            value, i = _list(toks, i + 1, path)
        else:
            value = _value(toks[i], path, toks[i][2])
            i += 1
        if toks[i][0] not in ("sep", "eof") and toks[i][1] != ";":
            raise ConfigError("%s:%d: %s: expected the end of the setting, got %r"
                              % (path, toks[i][2], key, toks[i][1]))
        settings[key] = (value, line)
    return settings


def _list(toks, i, path):
    values = []
    while True:
        while toks[i][0] == "sep":
            i += 1
        if toks[i][1] == "]":
            return values, i + 1
        values.append(_value(toks[i], path, toks[i][2]))
        i += 1
        while toks[i][0] == "sep":
            i += 1
        if toks[i][1] == ",":
            i += 1
        elif toks[i][1] != "]":
            raise ConfigError("%s:%d: expected ',' or ']' in a list, got %r"
                              % (path, toks[i][2], toks[i][1] or "end of file"))


def load(path):
    """The DomainConfig of an xl config file; ConfigError naming file:line,
    the key and the fix."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("%s: cannot read: %s" % (path, getattr(e, "strerror", None) or e)) \
            from None
    settings = parse(text, path)
    for key, (value, line) in settings.items():
        if key not in _KEYS:
            raise ConfigError("%s:%d: unknown key %r: hvsim reads %s" % (
                path, line, key, ", ".join(sorted(_KEYS))))
        if not isinstance(value, _KEYS[key]) or isinstance(value, bool):
            raise ConfigError("%s:%d: %s: expected a %s" % (
                path, line, key, "number" if _KEYS[key] is _INT else "string"))
    return _domain(path, {k: v for k, (v, _) in settings.items()},
                   {k: l for k, (_, l) in settings.items()})


def _domain(path, cfg, lines):
    def where(key):
        return "%s:%d: %s" % (path, lines[key], key)
    kind = cfg.get("type", cfg.get("builder", "pvh"))
    if kind not in ("pvh", "hvm"):
        raise ConfigError("%s = %r: hvsim boots PVH guests (type = \"pvh\"; XTF's "
                          "\"hvm\" images boot as PVH too)" % (where("type" if "type" in cfg
                                                                      else "builder"), kind))
    kernel = cfg.get("kernel") or cfg.get("firmware_override")
    if not kernel:
        raise ConfigError("%s: no kernel: add kernel = \"/path/to/vmlinux\"" % path)
    key = "kernel" if "kernel" in cfg else "firmware_override"
    kernel = _relative_to(path, kernel)
    if not os.path.isfile(kernel):
        raise ConfigError("%s = %r: no such file" % (where(key), cfg[key]))
    for key in ("memory", "maxmem", "vcpus", "maxvcpus"):
        if key in cfg and cfg[key] < 1:
            raise ConfigError("%s = %d: must be at least 1" % (where(key), cfg[key]))
    if "memory" in cfg:                     # MiB, as xl reads it: refused before allocating
        check_host_can_give(cfg["memory"] << 20, "%s = %d" % (where("memory"), cfg["memory"]))
    if cfg.get("vcpus", 1) > MAX_VCPUS:
        raise ConfigError("%s = %d: at most %d" % (where("vcpus"), cfg["vcpus"], MAX_VCPUS))
    actions = []
    for key in ("on_poweroff", "on_reboot", "on_crash", "on_watchdog", "on_soft_reset"):
        if key in cfg:
            if cfg[key] not in ACTIONS:
                raise ConfigError("%s = %r: one of %s" % (where(key), cfg[key], ", ".join(ACTIONS)))
            if cfg[key] != "destroy":
                actions.append((key, cfg[key]))
    cmdline = " ".join(p for p in (("root=" + cfg["root"]) if "root" in cfg else "",
                                   cfg.get("cmdline", cfg.get("extra", ""))) if p)
    return DomainConfig(path, cfg.get("name", os.path.basename(path)), kernel,
                        _relative_to(path, cfg["ramdisk"]) if "ramdisk" in cfg else None,
                        cmdline, cfg.get("memory", 128), cfg.get("vcpus", 1), tuple(actions))


def _relative_to(cfg_path, file_path):
    """xl takes relative kernel paths from its working directory; so does hvsim,
    falling back to the config's own directory (where XTF puts its images)."""
    if os.path.isabs(file_path) or os.path.exists(file_path):
        return file_path
    return os.path.join(os.path.dirname(os.path.abspath(cfg_path)), file_path)
