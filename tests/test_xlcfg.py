"""xl domain configs (hvsim.toolstack.xlcfg): libxlu's syntax, the keys a PVH
guest uses, `hvsim create FILE.cfg` and `hvsim test FILE.cfg` on XTF's own
generated configs."""

import subprocess
import sys

import pytest

import built
import xtfutil
from hvsim.errors import ConfigError
from hvsim.toolstack import xlcfg


def test_libxlu_syntax():
    text = ('# a comment\nname = "d\\"1" # trailing\nmemory=0x40; vcpus = 2\n'
            "cmdline = 'console=hvc0 #not a comment'\n"
            'disk = [ "a", \'b\',\n  "c", ]\n\n')
    got = {k: v for k, (v, _) in xlcfg.parse(text, "x.cfg").items()}
    assert got == {"name": 'd"1', "memory": 64, "vcpus": 2,
                   "cmdline": "console=hvc0 #not a comment", "disk": ["a", "b", "c"]}


@pytest.mark.parametrize("text, words", [
    ('name = "a"\nvif = ["bridge=xenbr0"]\n', ["x.cfg:2:", "unknown key 'vif'"]),
    ('memory = "128"\n', ["x.cfg:1:", "memory: expected a number"]),
    ('name = "a" "b"\n', ["x.cfg:1:", "expected the end of the setting"]),
    ('name "a"\n', ["x.cfg:1:", "expected KEY = VALUE"]),
    ('name = [ "a" "b" ]\n', ["x.cfg:1:", "expected ',' or ']'"]),
    ('name = @\n', ["x.cfg:1:", "unexpected '@'"]),
    ('type = "pv"\nkernel = "KERNEL"\n', ["x.cfg:1: type = 'pv'", "PVH"]),
    ('kernel = "KERNEL"\nvcpus = 0\n', ["x.cfg:2: vcpus = 0", "at least 1"]),
    ('kernel = "KERNEL"\nvcpus = 1000\n', ["x.cfg:2: vcpus = 1000", "at most 128"]),
    ('kernel = "KERNEL"\nmemory = 1073741824\n', ["x.cfg:2: memory = 1073741824",
                                                   "more memory than this host has"]),
    ('kernel = "KERNEL"\non_crash = "explode"\n', ["x.cfg:2: on_crash = 'explode'", "destroy"]),
    ('kernel = "/nonexistent/vmlinux"\n', ["x.cfg:1: kernel = '/nonexistent/vmlinux'",
                                            "no such file"]),
    ('name = "a"\n', ["x.cfg: no kernel"]),
])
def test_bad_configs_stop_with_file_line_and_key(tmp_path, monkeypatch, text, words):
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(b"\x7fELF")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.cfg").write_text(text.replace("KERNEL", str(kernel)))
    with pytest.raises(ConfigError) as e:
        xlcfg.load("x.cfg")
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_the_keys_a_pvh_guest_uses(tmp_path):
    (tmp_path / "vmlinux").write_bytes(b"\x7fELF")
    cfg = tmp_path / "d.cfg"
    cfg.write_text('name = "web"\ntype = "pvh"\nkernel = "vmlinux"\nroot = "/dev/xvda1"\n'
                   'extra = "console=hvc0"\nmemory = 256\nmaxmem = 512\nvcpus = 2\n'
                   'on_crash = "preserve"\non_poweroff = "destroy"\n')
    d = xlcfg.load(str(cfg))
    assert (d.name, d.kernel, d.cmdline, d.memory_mib, d.vcpus) == (
        "web", str(tmp_path / "vmlinux"), "root=/dev/xvda1 console=hvc0", 256, 2)
    assert d.actions == (("on_crash", "preserve"),)


def _xtf_cfgs():
    xtf = xtfutil.xtf_dir()
    if xtf is None:
        xtfutil.missing()
    cfgs = sorted(xtf.glob("tests/*/test-hvm*.cfg"))
    assert len(cfgs) >= 40
    return cfgs


def test_every_xtf_hvm_config_is_read():
    for path in _xtf_cfgs():
        d = xlcfg.load(str(path))
        image = path.parent / path.stem.split("~")[0]       # variations share one image
        assert d.name == path.stem and d.kernel == str(image), path
        assert d.memory_mib == 128 and d.vcpus >= 1


def _hvsim(*args):
    r = subprocess.run([sys.executable, "-m", "hvsim", *map(str, args)], capture_output=True,
                       text=True, timeout=120, cwd=built.ROOT)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_create_and_test_run_xtfs_own_configs():
    cfg = next(p for p in _xtf_cfgs() if p.name == "test-hvm64-example.cfg")
    r = _hvsim("create", cfg)
    assert r.returncode == 0 and "Hello World" in r.stdout, r.stdout + r.stderr
    r = _hvsim("test", "-q", cfg, cfg.with_name("test-hvm32pae-example.cfg"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 tests" in r.stdout and "2 SUCCESS" in r.stdout
    listed = _hvsim("test", "--list", "-q", cfg).stdout.split()
    assert listed == ["test-hvm64-example"]


def test_create_refuses_a_bad_config_in_one_line(tmp_path):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text('name = "x"\nbootloader = "pygrub"\n')
    r = _hvsim("create", cfg)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == ("hvsim: error: %s:2: unknown key 'bootloader': hvsim reads %s"
                                % (cfg, ", ".join(sorted(xlcfg._KEYS))))
