"""XTF's own layout for `hvsim test --xtf DIR SELECTION...`, read as xtf-runner reads it.

DIR is an XTF build or install tree (DIR/tests/<name>/info.json, with the
images test-<env>-<name> beside it: no .elf suffix), its tests/ directory, or
one test's directory.  Tests are named as XTF names them (test-<env>-<name>)
and selected as xtf-runner selects them (its interpret_selection() and
tests_from_selection()): each SELECTION word is a category (functional, xsa,
special, utility, in-development), an environment (hvm64, hvm32pae, hvm32pse,
hvm32, pv64, pv32pae, or "hvm"/"pv" for all of them), or a test written
[[test-]ENV-]NAME[~VARIATION].  Words of one kind are united, kinds are
intersected; an environment alone (or --all) picks only the default
categories (functional, xsa) unless a non-default one is named; --non-default
adds special, utility and in-development.

Variations (hap, shadow) choose how Xen builds the guest's second-stage
paging; hvsim has one kind of guest memory, so a test with variations runs
once, under its name without one (a ~VARIATION in a selection is checked and
then dropped).  PV environments are selected as xtf-runner selects them but,
hvsim running HVM guests only, each is reported SKIP without being run, as
xtf-runner skips a test whose environment the host lacks; --host drops them
from the selection instead, as xtf-runner's --host does.
"""

import dataclasses
import json
import os

from ..errors import ConfigError

DEFAULT_CATEGORIES = ("functional", "xsa")
NON_DEFAULT_CATEGORIES = ("special", "utility", "in-development")
ALL_CATEGORIES = DEFAULT_CATEGORIES + NON_DEFAULT_CATEGORIES
HVM_ENVIRONMENTS = ("hvm64", "hvm32pae", "hvm32pse", "hvm32")
PV_ENVIRONMENTS = ("pv64", "pv32pae")
ALL_ENVIRONMENTS = PV_ENVIRONMENTS + HVM_ENVIRONMENTS
NO_PV = "hvsim runs HVM guests only: no PV environment (xtf-runner skips it likewise)"


@dataclasses.dataclass(frozen=True)
class TestInfo:
    """One test's info.json: name, category, environments, variations, and
    the directory holding it and the test's images."""
    name: str
    category: str
    envs: tuple
    variations: tuple
    directory: str

    def image(self, env):
        return os.path.join(self.directory, "test-%s-%s" % (env, self.name))


@dataclasses.dataclass(frozen=True)
class Instance:
    """One test in one environment: XTF's test-<env>-<name>."""
    info: TestInfo
    env: str

    @property
    def name(self):
        return "test-%s-%s" % (self.env, self.info.name)

    @property
    def path(self):
        return self.info.image(self.env)

    @property
    def runnable(self):
        """hvsim can run it (an HVM environment)."""
        return self.env in HVM_ENVIRONMENTS


def _read_info(path):
    """TestInfo for an info.json, None if it is not a valid one (xtf-runner
    ignores those too)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        name, cat = data["name"], data["category"]
        envs, variations = data["environments"], data["variations"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (not isinstance(name, str) or cat not in ALL_CATEGORIES or not isinstance(envs, list)
            or not envs or any(e not in ALL_ENVIRONMENTS for e in envs)
            or not isinstance(variations, list)
            or os.path.basename(os.path.dirname(os.path.abspath(path))) != name):
        return None
    return TestInfo(name, cat, tuple(envs), tuple(variations),
                    os.path.dirname(os.path.abspath(path)))


def _info_files(directory):
    """The info.json files of DIR laid out as XTF lays them out."""
    for candidate in (os.path.join(directory, "tests"), directory):
        if os.path.isdir(candidate):
            found = sorted(os.path.join(candidate, d, "info.json") for d in os.listdir(candidate))
            found = [f for f in found if os.path.isfile(f)]
            if found:
                return found
    single = os.path.join(directory, "info.json")
    return [single] if os.path.isfile(single) else []


def is_xtf_tree(directory):
    """Whether `directory` looks like an XTF tree (for a hint to use --xtf)."""
    return os.path.isdir(directory) and bool(_info_files(directory))


def load(directory):
    """{name: TestInfo} for every test in an XTF tree; ConfigError if none."""
    if not os.path.isdir(directory):
        raise ConfigError("--xtf %s: %s" % (directory, "not a directory"
                                            if os.path.exists(directory) else "no such directory"))
    infos = {}
    for path in _info_files(directory):
        info = _read_info(path)
        if info is not None:
            infos[info.name] = info
    if not infos:
        raise ConfigError("--xtf %s: no XTF tests here (expected tests/<name>/info.json beside "
                          "test-<env>-<name> images, as XTF's `make` builds them)" % directory)
    return infos


def parse_instance(infos, word):
    """xtf-runner's parse_test_instance_string: '[[test-]ENV-]NAME[~VARIATION]'
    -> (env or None, name).  ConfigError for an unknown test, environment or
    variation."""
    arg, variation = word.split("~", 1) if "~" in word else (word, None)
    parts = arg.split("-", 2)
    if len(parts) == 3 and parts[0] == "test" and parts[1] in ALL_ENVIRONMENTS:
        env, name = parts[1], parts[2]
    elif parts[0] in ALL_ENVIRONMENTS:
        env, name = parts[0], "-".join(parts[1:])
    elif arg in infos:
        env, name = None, arg
    else:
        raise ConfigError("unrecognised test '%s'" % word)
    if name not in infos:
        raise ConfigError("unrecognised test name '%s' for '%s'" % (name, word))
    info = infos[name]
    if env and env not in info.envs:
        raise ConfigError("test '%s' has no environment '%s'" % (name, env))
    if variation is not None and variation not in info.variations:
        raise ConfigError("test '%s' has no variation '%s'" % (name, variation)
                          if info.variations else "test '%s' has no variations" % name)
    return env, name


def _instances(info, envs=None):
    return [Instance(info, e) for e in info.envs if envs is None or e in envs]


def select(infos, words, all_default=False, non_default=False, host=False):
    """The Instances a selection names, sorted by name then environment, as
    xtf-runner's interpret_selection() + tests_from_selection() pick them.
    An empty selection selects nothing (xtf-runner: "No tests selected")."""
    words = set(words)
    cats = set(ALL_CATEGORIES) & words
    envs = set(ALL_ENVIRONMENTS) & words
    others = words - cats - envs
    if all_default:
        cats |= set(DEFAULT_CATEGORIES)
    if non_default:
        cats |= set(NON_DEFAULT_CATEGORIES)
    for group, members in (("pv", PV_ENVIRONMENTS), ("hvm", HVM_ENVIRONMENTS)):
        if group in others:
            envs |= set(members)
            others.discard(group)
    tests = set()
    for word in sorted(others):
        env, name = parse_instance(infos, word)
        tests |= set(_instances(infos[name], env and (env,)))
    res = _from_selection(infos, cats, envs, tests)
    if host:
        res = [t for t in res if t.runnable]
    return sorted(res, key=lambda t: (t.info.name, t.env))


def _from_selection(infos, cats, envs, tests):
    """tests_from_selection(): categories, then environments, then tests,
    each kind narrowing what the previous ones picked."""
    res = []
    if cats:
        res = [t for i in infos.values() if i.category in cats for t in _instances(i)]
    if envs:
        if res:
            res = [t for t in res if t.env in envs]
        else:
            categories = set(DEFAULT_CATEGORIES)
            if set(NON_DEFAULT_CATEGORIES) & (cats | {t.info.category for t in tests}):
                categories = set(ALL_CATEGORIES)
            res = [t for i in infos.values() if i.category in categories
                   for t in _instances(i, envs)]
    if tests:
        res = [t for t in res if t in tests] if res else list(tests)
    return res
