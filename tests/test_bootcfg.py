"""Boot configs in GRUB's syntax: entries, defaults, quoting, and one-line
errors naming the file and the line."""

import re

import pytest

from hvsim.boot.bootcfg import parse_bootcfg, parse_bootcfg_text
from hvsim.errors import HostInputError


@pytest.fixture
def files(tmp_path):
    for name in ("lcm.dtb", "a.elf", "b.elf"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def parse(tmp_path, text):
    path = tmp_path / "boot.cfg"
    path.write_text(text)
    return parse_bootcfg(str(path)), str(path)


def error(tmp_path, text):
    path = tmp_path / "boot.cfg"
    path.write_text(text)
    with pytest.raises(HostInputError) as e:
        parse_bootcfg(str(path))
    line = str(e.value)
    assert "\n" not in line and line.startswith(str(path) + ": ")
    return line[len(str(path)) + 2:]


CONFIG = r"""# two entries
set timeout=5
set default="second"
set kernel=a.elf
insmod multiboot2

menuentry 'First one' --class xen $menuentry_id_option first {
    echo "Loading Xen"
    multiboot2 /boot/xen.gz console=com1 "dom0_mem=1G,max:2G" loglvl=all \
        guest_loglvl=all
    module2 lcm.dtb
    module2 --nounzip ${kernel} console=hvc0 'two  spaces' "q\"uote" back\ slash
}

menuentry "second"
{
    multiboot2 xen.gz ; module2 b.elf ; boot
}
"""


def test_entries(files):
    cfg, path = parse(files, CONFIG)
    assert [e.title for e in cfg.entries] == ["First one", "second"]
    first = cfg.entries[0]
    assert first.id == "first" and first.line == 7
    assert first.hypervisor.given == "/boot/xen.gz" and first.hypervisor.path == "/boot/xen.gz"
    assert first.hypervisor.cmdline == "console=com1 dom0_mem=1G,max:2G loglvl=all " \
                                       "guest_loglvl=all"
    lcm, kernel = first.modules
    assert lcm.path == str(files / "lcm.dtb") and lcm.cmdline == "" and lcm.line == 11
    assert kernel.given == "a.elf" and kernel.nounzip
    assert kernel.args == ["console=hvc0", "two  spaces", 'q"uote', "back slash"]
    second = cfg.entries[1]
    assert second.hypervisor.path == str(files / "xen.gz")     # relative to the config
    assert [m.given for m in second.modules] == ["b.elf"]


def test_default_and_timeout(files):
    cfg, _ = parse(files, CONFIG)
    assert cfg.default == 1 and cfg.default_entry.title == "second"
    assert cfg.timeout == 5
    assert cfg.select(0).title == "First one"
    assert cfg.select("first").title == "First one"
    cfg, _ = parse(files, CONFIG.replace('set default="second"', "set default=0"))
    assert cfg.default == 0
    cfg, _ = parse(files, CONFIG.replace('set default="second"', ""))
    assert cfg.default == 0 and cfg.select().title == "First one"


def test_variables_set_after_an_entry_apply_when_it_boots(files):
    cfg, _ = parse(files, 'menuentry x {\n multiboot2 x $opts\n}\nset opts="a b"\n')
    assert cfg.entries[0].hypervisor.cmdline == "a b"


def test_select_unknown(files):
    cfg, path = parse(files, CONFIG)
    with pytest.raises(HostInputError) as e:
        cfg.select("nope")
    assert str(e.value) == ("%s: menuentry: no entry 'nope' (choose one of: 0 'First one' "
                            "(--id first), 1 'second')" % path)


def test_missing_module_file(files):
    msg = error(files, 'menuentry x {\n  multiboot2 /boot/xen.gz\n  module2 gone.elf\n}\n')
    assert msg == ("line 3: module2 gone.elf: no such file (looked for %s) (module2 paths are "
                   "relative to %s; build or fix the file)" % (files / "gone.elf", files))


def test_module_is_a_directory(files):
    (files / "dir").mkdir()
    msg = error(files, 'menuentry x {\n  multiboot2 /boot/xen.gz\n  module2 dir\n}\n')
    assert msg.startswith("line 3: module2 dir: is a directory")


@pytest.mark.parametrize("text, expected", [
    ('menuentry x {\n multiboot2 x\n linux /vmlinuz\n}\n',
     "line 3: `linux`: hvsim boots Multiboot2 only (load the hypervisor with multiboot2 and "
     "every image with module2)"),
    ('menuentry x {\n multiboot2 x\n frobnicate\n}\n',
     "line 3: `frobnicate` is not a command hvsim's boot config accepts (use menuentry, set, "
     "multiboot2, module2 (insmod, echo and other harmless commands are ignored))"),
    ('module2 a.elf\n',
     "line 1: `module2` outside a menuentry (put it inside menuentry \"title\" { ... })"),
    ('menuentry x {\n module2 a.elf\n}\n',
     "line 2: module2 before multiboot2 (load the hypervisor with multiboot2 first, as GRUB "
     "requires)"),
    ('menuentry "no hv" {\n echo hi\n}\n',
     "line 1: menuentry 'no hv' has no multiboot2 line (add `multiboot2 /boot/xen.gz [Xen "
     "options]` before its module2 lines)"),
    ('menuentry x {\n multiboot2 x\n multiboot2 y\n}\n',
     "line 3: a second multiboot2 line in menuentry 'x' (the first is on line 2) (keep one "
     "multiboot2 line per entry)"),
    ('menuentry x {\n multiboot2\n}\n',
     "line 2: multiboot2 needs the hypervisor image (write: multiboot2 /boot/xen.gz [Xen "
     "options])"),
    ('menuentry x {\n multiboot2 x\n module2\n}\n',
     "line 3: module2 needs a file (write: module2 FILE [ARGS...])"),
    ('menuentry x {\n multiboot2 x "unterminated\n}\n',
     "line 2: unterminated double quote (close the quote)"),
    ("menuentry 'x {\n",
     "line 1: unterminated single quote (close the quote)"),
    ('set default=nope\nmenuentry x {\n multiboot2 x\n}\n',
     "line 1: default=nope matches no menuentry (use an index or a title or --id: 0 'x')"),
    ('set default=3\nmenuentry x {\n multiboot2 x\n}\n',
     "line 1: default=3 matches no menuentry (use an index or a title or --id: 0 'x')"),
    ('\nset timeout=soon\nmenuentry x {\n multiboot2 x\n}\n',
     "line 2: timeout=soon is not a number of seconds (use e.g. set timeout=5 (-1: wait for a "
     "choice))"),
    ('set timeout=1\n',
     "menuentry: no menuentry in the config (add: menuentry \"title\" { multiboot2 ...; "
     "module2 ... })"),
    ('menuentry x {\n multiboot2 x\n',
     "line 1: the menuentry body opened here has no closing } (add } after its last "
     "command)"),
    ('}\n', "line 1: } without a matching {"),
    ('menuentry --id {\n}\n', "line 1: menuentry --id needs a value"),
    ('menuentry x {\n "multi\nline" y\n}\n', "line 2: `multi\\nline` is not a command "
     "hvsim's boot config accepts (use menuentry, set, multiboot2, module2 (insmod, echo and "
     "other harmless commands are ignored))"),
    ('echo {\n', "line 1: a { block outside a menuentry (hvsim's boot configs use { } only "
     "for menuentry bodies)"),
    ('menuentry x\necho hi\n', "line 1: menuentry without a { body } (write: menuentry "
     "\"title\" { multiboot2 ...; module2 ... })"),
    ('menuentry --bogus x {\n multiboot2 x\n}\n',
     "line 1: menuentry option --bogus is not known (known: --class --users --hotkey --id "
     "--unrestricted)"),
    ('menuentry --class=xen {\n}\n',
     "line 1: menuentry without a title (write: menuentry \"title\" { ... })"),
    ('if true; then\n echo\nfi\n',
     "line 1: `if` is GRUB script syntax hvsim's boot config reader does not handle (use "
     "plain menuentry blocks and set commands)"),
    ('menuentry x {\n multiboot2 x\n module2 (hd0,1)/a.elf\n}\n',
     "line 3: (hd0,1)/a.elf: GRUB device names are not supported (write a path relative to "
     "the config file)"),
])
def test_errors(files, text, expected):
    assert error(files, text) == expected


def test_not_text(tmp_path):
    path = tmp_path / "boot.cfg"
    path.write_bytes(b"set a=1\n\xff\xfe")
    with pytest.raises(HostInputError) as e:
        parse_bootcfg(str(path))
    assert str(e.value) == "%s: line 2: not UTF-8 text (a boot config is a text file)" % path


def test_unreadable(tmp_path):
    with pytest.raises(HostInputError) as e:
        parse_bootcfg(str(tmp_path / "none.cfg"))
    assert "cannot read the boot config" in str(e.value)


# what garbage is refused for, and the text on the line the refusal names
FUZZ_REFUSALS = {
    "unterminated double quote": '"', "unterminated single quote": "'",
    "unterminated ${...}": "${", "a { block outside a menuentry": "{",
    "} without a matching {": "}",
}


def test_garbage_is_refused_naming_the_file_and_line(tmp_path):
    """Random text in GRUB's alphabet: one HostInputError per config, naming
    the file and the line that holds what is wrong (an unterminated quote, a
    stray brace, an unknown command), or the config as a whole when it has
    no menuentry; never another exception."""
    import random
    rng = random.Random(7)
    alphabet = 'menuentry multiboot2 module2 set {}"\'\\$;#\n =x'
    path = str(tmp_path / "fuzz.cfg")
    kinds = set()
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        with pytest.raises(HostInputError) as refused:
            parse_bootcfg_text(text, path)
        e = refused.value
        assert e.file == path and "\n" not in str(e), str(e)
        assert str(e).startswith("%s: %s: %s" % (path, e.field, e.problem))
        if e.field == "menuentry":
            assert e.problem == "no menuentry in the config"
            kinds.add(e.problem)
            continue
        lineno = int(re.fullmatch(r"line (\d+)", e.field).group(1))
        line = text.split("\n")[lineno - 1]
        command = re.match(r"`(.*?)` is not a command", e.problem)
        if command:
            assert command.group(1)[:1] in line, (line, str(e))
            kinds.add("not a command")
        else:
            assert FUZZ_REFUSALS[e.problem] in line, (line, str(e))
            kinds.add(e.problem)
    assert kinds == set(FUZZ_REFUSALS) | {"no menuentry in the config", "not a command"}
