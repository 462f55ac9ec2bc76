"""Boot configs in GRUB 2's syntax (the grub.cfg language), as far as a
Multiboot2 boot needs it.

Understood, as GRUB does (grub-core/script/yylex.l, parser.y, execute.c):
* words split on blanks; a newline or `;` ends a command; `#` at the start
  of a word comments to the end of the line; a backslash escapes the next
  character and a backslash-newline joins lines; '...' is literal; "..."
  expands $variables and lets a backslash escape only $ " \\ and newline;
* $name and ${name} expand variables set with `set name=value` (an unset
  variable expands to nothing; $menuentry_id_option is "--id", as GRUB
  defines it);
* `menuentry [--class C] [--users U] [--unrestricted] [--hotkey K] [--id ID]
  TITLE ... { ... }`, one or several; the body runs (here: is evaluated) with
  the variables as the whole script left them, as when GRUB boots an entry;
* `set default=N|TITLE|ID` (unset or empty: entry 0) and `set timeout=N`;
* in an entry: `multiboot2 HYPERVISOR [ARGS...]` (the hypervisor image: it
  need not exist, hvsim plays the hypervisor; ARGS are its command line) and
  `module2 [--nounzip] FILE [ARGS...]` (FILE must exist; ARGS are the
  module's string);
* harmless commands are accepted and ignored: insmod, echo, serial,
  terminal_input, terminal_output, terminal, search, load_video, loadfont,
  export, unset, true, false and, in an entry, boot.

Paths: a relative path is taken from the config file's directory; GRUB
device syntax "(hd0,1)/..." is refused (hvsim has no disks).  Everything
else (linux, initrd, multiboot, if, for, submenu, ...) is refused with one
HostInputError naming the config file and the line.
"""

import os

from ..errors import HostInputError, read_input

HARMLESS = frozenset(("insmod", "echo", "serial", "terminal_input", "terminal_output",
                      "terminal", "search", "load_video", "loadfont", "export", "unset",
                      "true", "false"))
ENTRY_ONLY_HARMLESS = frozenset(("boot",))
OTHER_LOADERS = frozenset(("linux", "linux16", "linuxefi", "initrd", "initrd16", "initrdefi",
                           "multiboot", "module", "chainloader", "kfreebsd", "knetbsd",
                           "xnu_kernel", "appleloader"))
UNSUPPORTED_SYNTAX = frozenset(("if", "then", "elif", "else", "fi", "for", "while", "until",
                                "do", "done", "function", "submenu", "case", "esac", "source",
                                "configfile"))
MENUENTRY_VALUE_OPTIONS = ("--class", "--users", "--hotkey", "--id")
MENUENTRY_FLAG_OPTIONS = ("--unrestricted",)
BUILTIN_VARIABLES = {"menuentry_id_option": "--id"}


def printable(text):
    """Text for a one-line message: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _line_error(path, line, problem, fix=None):
    """The HostInputError for a problem on a line of the config file."""
    return HostInputError(path, "line %d" % line, printable(problem), fix and printable(fix))


class ImageLine:
    """A multiboot2 or module2 line of an entry."""

    def __init__(self, given, path, args, line, nounzip=False):
        self.given = given          # the path as written
        self.path = path            # resolved host path
        self.args = list(args)
        self.line = line
        self.nounzip = nounzip

    @property
    def cmdline(self):
        """The string GRUB builds: the arguments after the file name, joined by spaces."""
        return " ".join(self.args)

    def __repr__(self):
        return "ImageLine(%r, %r)" % (self.given, self.cmdline)


class MenuEntry:
    def __init__(self, title, entry_id, line):
        self.title = title
        self.id = entry_id
        self.line = line
        self.hypervisor = None      # ImageLine of `multiboot2`
        self.modules = []           # ImageLine of each `module2`, in order

    def __repr__(self):
        return "MenuEntry(%r, %d modules)" % (self.title, len(self.modules))


class BootConfig:
    def __init__(self, path, entries, default, timeout):
        self.path = path
        self.entries = entries
        self.default = default      # index into entries
        self.timeout = timeout      # seconds, or None (unset); hvsim never waits

    @property
    def default_entry(self):
        return self.entries[self.default]

    def select(self, selector=None):
        """The entry named by an index, a title or an --id (None: the default)."""
        if selector is None:
            return self.default_entry
        index = _find_entry(self.entries, str(selector))
        if index is None:
            raise HostInputError(self.path, "menuentry", "no entry %r" % (selector,),
                                 printable("choose one of: %s" % _entry_list(self.entries)))
        return self.entries[index]


def _find_entry(entries, text):
    if text.isdigit():
        n = int(text)
        return n if n < len(entries) else None
    for i, e in enumerate(entries):
        if text in (e.title, e.id):
            return i
    return None


def _entry_list(entries):
    return ", ".join("%d %r%s" % (i, e.title, " (--id %s)" % e.id if e.id else "")
                     for i, e in enumerate(entries))


# ---------------------------------------------------------------------------
# lexer: text -> tokens


class _Word:
    """A word after quote removal: literal text and variable references."""

    __slots__ = ("parts", "line", "quoted")

    def __init__(self, parts, line, quoted):
        self.parts = parts          # [(is_var, text)]
        self.line = line
        self.quoted = quoted

    @property
    def bare(self):
        """The text of an unquoted word without variables, else None."""
        if self.quoted or any(is_var for is_var, _ in self.parts):
            return None
        return "".join(t for _, t in self.parts)


class _Lexer:
    """GRUB script tokens: ("word", _Word), ("sep", line), ("{", line), ("}", line)."""

    def __init__(self, text, path):
        self.text = text
        self.path = path
        self.i = 0
        self.line = 1

    def error(self, line, problem, fix=None):
        return _line_error(self.path, line, problem, fix)

    def tokens(self):
        out = []
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c in " \t\r\f\v":
                self.i += 1
            elif c in "\n;":
                out.append(("sep", self.line))
                self.line += c == "\n"
                self.i += 1
            elif c == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            elif text.startswith("\\\n", self.i):
                self.line += 1
                self.i += 2
            else:
                word = self._word()
                if word.bare in ("{", "}"):
                    out.append((word.bare, word.line))
                else:
                    out.append(("word", word))
        out.append(("sep", self.line))
        return out

    def _word(self):
        parts, buf = [], []
        quoted = False
        line = self.line
        text = self.text
        while self.i < len(text) and text[self.i] not in " \t\r\f\v\n;":
            c = text[self.i]
            if c == "\\":
                self._escape(buf, "")
                quoted = True
            elif c == "'":
                self._single(buf)
                quoted = True
            elif c == '"':
                self._double(parts, buf)
                quoted = True
            elif c == "$":
                self._variable(parts, buf)
            else:
                buf.append(c)
                self.i += 1
        _flush(parts, buf)
        return _Word(parts, line, quoted)

    def _escape(self, buf, only):
        """A backslash at self.i; `only`: the characters it escapes ('' = any)."""
        nxt = self.text[self.i + 1:self.i + 2]
        if nxt == "\n":
            self.line += 1
        elif nxt and (not only or nxt in only):
            buf.append(nxt)
        else:
            buf.append("\\" + nxt)
        self.i += 1 + len(nxt)

    def _single(self, buf):
        end = self.text.find("'", self.i + 1)
        if end < 0:
            raise self.error(self.line, "unterminated single quote", "close the quote")
        chunk = self.text[self.i + 1:end]
        buf.append(chunk)
        self.line += chunk.count("\n")
        self.i = end + 1

    def _double(self, parts, buf):
        start_line = self.line
        self.i += 1
        while self.i < len(self.text):
            c = self.text[self.i]
            if c == '"':
                self.i += 1
                return
            if c == "\\":
                self._escape(buf, '$"\\')
            elif c == "$":
                self._variable(parts, buf)
            else:
                self.line += c == "\n"
                buf.append(c)
                self.i += 1
        raise self.error(start_line, "unterminated double quote", "close the quote")

    def _variable(self, parts, buf):
        text, i = self.text, self.i + 1
        if text.startswith("{", i):
            end = text.find("}", i)
            if end < 0:
                raise self.error(self.line, "unterminated ${...}", "close it with }")
            name, self.i = text[i + 1:end], end + 1
        else:
            j = i
            if j < len(text) and text[j] in "?@*#":
                j += 1
            else:
                while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                    j += 1
            name, self.i = text[i:j], j
        if not name:
            buf.append("$")
            return
        _flush(parts, buf)
        parts.append((True, name))


def _flush(parts, buf):
    if buf:
        parts.append((False, "".join(buf)))
        buf.clear()


# ---------------------------------------------------------------------------
# parser: tokens -> commands (a menuentry command carries its body)


class _Command:
    __slots__ = ("words", "line", "body", "body_line")

    def __init__(self, words, body=None, body_line=None):
        self.words = words
        self.line = words[0].line
        self.body = body
        self.body_line = body_line

    @property
    def keyword(self):
        """The unquoted command word (GRUB recognises keywords only unquoted)."""
        return self.words[0].bare


def _parse(tokens, lexer):
    cmds, _ = _parse_block(tokens, 0, lexer, None)
    return cmds


def _parse_block(tokens, pos, lexer, opened_at):
    cmds, cur = [], []
    awaiting_body = False       # a menuentry line ended: only `{` may follow
    while pos < len(tokens):
        kind, val = tokens[pos]
        pos += 1
        if kind == "word":
            if awaiting_body:
                raise _no_body(lexer, cur)
            cur.append(val)
        elif kind == "sep":
            if cur and cur[0].bare == "menuentry":
                awaiting_body = True
            elif cur:
                cmds.append(_Command(cur))
                cur = []
        elif kind == "{":
            if not cur or cur[0].bare != "menuentry":
                raise lexer.error(val, "a { block outside a menuentry",
                                  "hvsim's boot configs use { } only for menuentry bodies")
            if opened_at is not None:
                raise lexer.error(val, "a menuentry inside a menuentry", "close the first one")
            body, pos = _parse_block(tokens, pos, lexer, val)
            cmds.append(_Command(cur, body, val))
            cur = []
            awaiting_body = False
        else:  # "}"
            if opened_at is None:
                raise lexer.error(val, "} without a matching {")
            if cur:
                cmds.append(_Command(cur))
            return cmds, pos
    if opened_at is not None:
        raise lexer.error(opened_at, "the menuentry body opened here has no closing }",
                          "add } after its last command")
    if cur:
        raise _no_body(lexer, cur)
    return cmds, pos


def _no_body(lexer, cur):
    return lexer.error(cur[0].line, "menuentry without a { body }",
                       "write: menuentry \"title\" { multiboot2 ...; module2 ... }")


# ---------------------------------------------------------------------------
# evaluation: commands -> BootConfig


class _Evaluator:
    def __init__(self, path):
        self.path = path
        self.dir = os.path.dirname(os.path.abspath(path))
        self.vars = dict(BUILTIN_VARIABLES)
        self.var_lines = {}

    def error(self, line, problem, fix=None):
        return _line_error(self.path, line, problem, fix)

    @staticmethod
    def expand(word, variables):
        return "".join(variables.get(t, "") if is_var else t for is_var, t in word.parts)

    def run(self, cmds):
        pending = []
        for cmd in cmds:
            self._check_syntax(cmd)
            name = self.expand(cmd.words[0], self.vars)
            if cmd.body is not None:
                pending.append((cmd, self._menuentry_header(cmd)))
            elif name == "set":
                self._set(cmd, self.vars, self.var_lines)
            elif name not in HARMLESS:
                raise self._refuse(name, cmd, top=True)
        if not pending:
            raise HostInputError(self.path, "menuentry", "no menuentry in the config",
                                 "add: menuentry \"title\" { multiboot2 ...; module2 ... }")
        entries = [self._entry(cmd, title, entry_id) for cmd, (title, entry_id) in pending]
        return BootConfig(self.path, entries, self._default(entries), self._timeout())

    def _check_syntax(self, cmd):
        if cmd.keyword in UNSUPPORTED_SYNTAX:
            raise self.error(cmd.line, "`%s` is GRUB script syntax hvsim's boot config "
                             "reader does not handle" % cmd.keyword,
                             "use plain menuentry blocks and set commands")

    def _refuse(self, name, cmd, top):
        if name in OTHER_LOADERS:
            return self.error(cmd.line, "`%s`: hvsim boots Multiboot2 only" % name,
                              "load the hypervisor with multiboot2 and every image with "
                              "module2")
        if top and name in ("multiboot2", "module2", "boot"):
            return self.error(cmd.line, "`%s` outside a menuentry" % name,
                              "put it inside menuentry \"title\" { ... }")
        return self.error(cmd.line, "`%s` is not a command hvsim's boot config accepts" % name,
                          "use menuentry, set, multiboot2, module2 (insmod, echo and other "
                          "harmless commands are ignored)")

    def _set(self, cmd, variables, lines):
        for w in cmd.words[1:]:
            text = self.expand(w, variables)
            name, eq, value = text.partition("=")
            if not eq:
                continue                        # `set name` prints it in GRUB
            if not name or not (name.replace("_", "a").isalnum()):
                raise self.error(cmd.line, "set %r: not a variable name" % name)
            variables[name] = value
            lines[name] = cmd.line

    def _menuentry_header(self, cmd):
        args = [self.expand(w, self.vars) for w in cmd.words[1:]]
        title, entry_id = None, None
        i = 0
        while i < len(args):
            a = args[i]
            opt, eq, val = a.partition("=")
            if opt in MENUENTRY_VALUE_OPTIONS:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise self.error(cmd.line, "menuentry %s needs a value" % opt)
                    val = args[i]
                if opt == "--id":
                    entry_id = val
            elif a in MENUENTRY_FLAG_OPTIONS:
                pass
            elif a.startswith("--") and title is None:
                raise self.error(cmd.line, "menuentry option %s is not known" % a,
                                 "known: %s" % " ".join(MENUENTRY_VALUE_OPTIONS
                                                        + MENUENTRY_FLAG_OPTIONS))
            elif title is None:
                title = a
            i += 1
        if title is None:
            raise self.error(cmd.line, "menuentry without a title",
                             "write: menuentry \"title\" { ... }")
        return title, entry_id

    def _entry(self, cmd, title, entry_id):
        entry = MenuEntry(title, entry_id, cmd.line)
        variables = dict(self.vars)
        for sub in cmd.body:
            self._check_syntax(sub)
            name = self.expand(sub.words[0], variables)
            if name == "set":
                self._set(sub, variables, {})
            elif name == "multiboot2":
                self._multiboot2(entry, sub, variables)
            elif name == "module2":
                self._module2(entry, sub, variables)
            elif name not in HARMLESS and name not in ENTRY_ONLY_HARMLESS:
                raise self._refuse(name, sub, top=False)
        if entry.hypervisor is None:
            raise self.error(cmd.line, "menuentry %r has no multiboot2 line" % title,
                             "add `multiboot2 /boot/xen.gz [Xen options]` before its "
                             "module2 lines")
        return entry

    def _multiboot2(self, entry, cmd, variables):
        args = [self.expand(w, variables) for w in cmd.words[1:]]
        if entry.hypervisor is not None:
            raise self.error(cmd.line, "a second multiboot2 line in menuentry %r (the first "
                             "is on line %d)" % (entry.title, entry.hypervisor.line),
                             "keep one multiboot2 line per entry")
        if not args or args[0].startswith("--"):
            raise self.error(cmd.line, "multiboot2 needs the hypervisor image",
                             "write: multiboot2 /boot/xen.gz [Xen options]")
        entry.hypervisor = ImageLine(args[0], self._path(cmd, args[0]), args[1:], cmd.line)

    def _module2(self, entry, cmd, variables):
        args = [self.expand(w, variables) for w in cmd.words[1:]]
        nounzip = bool(args) and args[0] == "--nounzip"
        args = args[1:] if nounzip else args
        if entry.hypervisor is None:
            raise self.error(cmd.line, "module2 before multiboot2",
                             "load the hypervisor with multiboot2 first, as GRUB requires")
        if not args:
            raise self.error(cmd.line, "module2 needs a file", "write: module2 FILE [ARGS...]")
        path = self._path(cmd, args[0])
        if not os.path.isfile(path):
            what = "is a directory" if os.path.isdir(path) else "no such file"
            raise self.error(cmd.line, "module2 %s: %s (looked for %s)" % (args[0], what, path),
                             "module2 paths are relative to %s; build or fix the file"
                             % display_path(self.dir))
        entry.modules.append(ImageLine(args[0], path, args[1:], cmd.line, nounzip))

    def _path(self, cmd, given):
        if given.startswith("("):
            raise self.error(cmd.line, "%s: GRUB device names are not supported" % given,
                             "write a path relative to the config file")
        return os.path.normpath(os.path.join(self.dir, given))

    def _default(self, entries):
        text = self.vars.get("default", "").strip()
        if not text:
            return 0
        index = _find_entry(entries, text)
        if index is None:
            raise self.error(self.var_lines.get("default", 1),
                             "default=%s matches no menuentry" % text,
                             "use an index or a title or --id: %s" % _entry_list(entries))
        return index

    def _timeout(self):
        text = self.vars.get("timeout", "").strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise self.error(self.var_lines.get("timeout", 1),
                             "timeout=%s is not a number of seconds" % text,
                             "use e.g. set timeout=5 (-1: wait for a choice)") from None


def display_path(path):
    """A path as the user would type it: relative to the current directory
    when below it, else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _read(path):
    return read_input(path, "cannot read the boot config: %s")


def parse_bootcfg_text(text, path):
    """Parse config text; `path` names it in errors and anchors relative paths."""
    lexer = _Lexer(text, path)
    return _Evaluator(path).run(_parse(lexer.tokens(), lexer))


def parse_bootcfg(path, raw=None):
    """Read (unless `raw` holds its bytes already) and parse a boot config file."""
    if raw is None:
        raw = _read(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise _line_error(path, line, "not UTF-8 text", "a boot config is a text file") \
            from None
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise _line_error(path, line, "a NUL byte: not a text file",
                          "give the boot config (boot.cfg), not a binary")
    return parse_bootcfg_text(text, path)
