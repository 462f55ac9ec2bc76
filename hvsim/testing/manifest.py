"""Test manifests: what a project guest is called and how it must be run.

The project's guests (guests/tests/<name>/) are built into
guests/build/<env>/<name>.elf.  Beside each image the guests' Makefile
writes <name>.test.toml: the test's `name` and `env`, followed by the keys of
guests/tests/<name>/test.toml if the test has one.  `hvsim test` reads it, so
that a project test

  - has one name however its image is reached: `<env>-<name>`
    (hvm64-example), as XTF's are test-<env>-<name> (a path given to
    `hvsim test` no longer changes it);
  - is run as it needs to be (several vCPUs, several domains, a command
    line, deterministic time), and
  - may be expected to give a verdict other than SUCCESS, with the reason,
    reported as expected rather than failing the run.

test.toml keys (all optional; an unknown key or a wrong type stops with
file:key and what was expected):

    category      = "functional"   # XTF's categories: functional, xsa,
                                    # special, utility, in-development
    summary       = "one line on what the test checks"
    vcpus         = 4              # vCPUs per domain (hvsim run --vcpus)
    domains       = 2              # boot the image as this many domains
    cmdline       = "..."          # the guests' command line
    mem           = "64M"          # memory per domain (a size, as --mem)
    timeout       = 120            # host seconds (hvsim run --timeout)
    deterministic = true           # hvsim run --deterministic
    expect        = "FAILURE"      # the verdict Xen-on-hvsim gives, and...
    reason        = "why"          # ...why (needed unless expect is SUCCESS)

An image without a manifest is named after its path, as before (see runner).
"""

import dataclasses
import os
import tomllib

from ..errors import ConfigError
from ..verdict import VERDICTS
from .expect import UNLISTED, Expectation
from . import xtf

SUFFIX = ".test.toml"


@dataclasses.dataclass(frozen=True)
class Settings:
    """How one test is run: values given per test override `hvsim test`'s
    own options (None: not given)."""
    vcpus: int = None
    domains: int = 1
    cmdline: str = None
    mem: str = None
    timeout: float = None
    deterministic: bool = False


@dataclasses.dataclass(frozen=True)
class Manifest:
    """One image's manifest: its test's name and environment, category,
    settings and expectation."""
    name: str
    env: str
    category: str = "functional"
    summary: str = ""
    settings: Settings = Settings()
    expect: Expectation = UNLISTED

    @property
    def test_name(self):
        return "%s-%s" % (self.env, self.name)


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _positive_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


# key: (check, what the value must be)
_KEYS = {
    "name": (lambda v: isinstance(v, str) and bool(v), "a test name"),
    "env": (lambda v: isinstance(v, str) and bool(v), "an environment name"),
    "category": (lambda v: v in xtf.ALL_CATEGORIES, "one of " + ", ".join(xtf.ALL_CATEGORIES)),
    "summary": (lambda v: isinstance(v, str), "a string"),
    "vcpus": (_positive_int, "a whole number of vCPUs, at least 1"),
    "domains": (_positive_int, "a whole number of domains, at least 1"),
    "cmdline": (lambda v: isinstance(v, str), "a string"),
    "mem": (lambda v: isinstance(v, str) and bool(v), "a size string such as \"64M\""),
    "timeout": (_positive_number, "a number of seconds above 0"),
    "deterministic": (lambda v: isinstance(v, bool), "true or false"),
    "expect": (lambda v: v in VERDICTS, "one of " + ", ".join(VERDICTS)),
    "reason": (lambda v: isinstance(v, str), "a string"),
}
_SETTINGS = [f.name for f in dataclasses.fields(Settings)]


def sidecar(image):
    """The manifest path beside an image (build/hvm64/smp.elf -> smp.test.toml)."""
    base = image[:-len(".elf")] if image.endswith(".elf") else image
    return base + SUFFIX


def is_manifest(path):
    """Whether a file is a test manifest (by its name)."""
    return path.endswith(SUFFIX)


def parse(text, path):
    """A Manifest from a manifest's text; ConfigError naming path and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("%s: not valid TOML: %s" % (path, e)) from None
    for key, value in data.items():
        if key not in _KEYS:
            raise ConfigError("%s: unknown key %r (known: %s)" % (path, key, ", ".join(_KEYS)))
        check, what = _KEYS[key]
        if not check(value):
            raise ConfigError("%s: %s = %r: must be %s" % (path, key, value, what))
    for key in ("name", "env"):
        if key not in data:
            raise ConfigError("%s: no %r (the guests' Makefile writes it: rebuild with "
                              "`make guests`)" % (path, key))
    verdict = data.get("expect", "SUCCESS")
    if verdict != "SUCCESS" and not data.get("reason"):
        raise ConfigError("%s: expect = %r needs its reason = \"...\"" % (path, verdict))
    expect = (Expectation(verdict, data.get("reason", ""), path) if "expect" in data
              else UNLISTED)
    settings = Settings(**{k: data[k] for k in _SETTINGS if k in data})
    return Manifest(data["name"], data["env"], data.get("category", "functional"),
                    data.get("summary", ""), settings, expect)


def load(image):
    """The Manifest beside an image, None if it has none; ConfigError for a
    malformed one."""
    path = sidecar(image)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError("%s: cannot read: %s" % (path, e.strerror or e)) from None
    except UnicodeDecodeError:
        raise ConfigError("%s: not UTF-8 text" % path) from None
    return parse(text, path)
