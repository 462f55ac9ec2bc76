"""Picking project tests by name, environment, category and -k expression.

`hvsim test [PATH...] [WORD...] [-k EXPR]`: each WORD is a category
(functional, xsa, special, utility, in-development), an environment the
tests have (hvm64, hvm32pae, hvm32pse, hvm32, arm64; "hvm" for the four x86
ones), or a test: its full name (hvm64-example) or its name in every
environment (example).  As xtf-runner does, words of one kind are united and
kinds are intersected: `hvsim test hvm64 example smp` runs hvm64-example and
hvm64-smp.  A word that names nothing is an error listing how to see names.

-k EXPR is pytest's: case-insensitive substrings of a test's name, its
environment or its category, combined with `and`, `or`, `not` and
parentheses (`-k "evtchn or grant and not hvm32"`).
"""

import re

from ..errors import ConfigError
from . import xtf

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([^\s()]+))")


def select(tests, words, keyword=None):
    """The tests (in their order) that the selection words and -k keep."""
    if words:
        tests = _by_words(tests, words)
    if keyword:
        match = compile_keyword(keyword)
        tests = [t for t in tests if match(_haystack(t))]
    return tests


def _by_words(tests, words):
    envs = {t.env for t in tests if t.env}
    chosen = {"category": set(), "env": set(), "test": set()}
    for word in words:
        if word in xtf.ALL_CATEGORIES:
            chosen["category"].add(word)
        elif word == "hvm":
            chosen["env"] |= set(xtf.HVM_ENVIRONMENTS)
        elif word in envs:
            chosen["env"].add(word)
        elif any(word in (t.name, t.base) for t in tests):
            chosen["test"].add(word)
        else:
            raise ConfigError("unrecognised test, environment or category '%s' (`hvsim test "
                              "--list` shows the tests' names)" % word)

    def keep(t):
        return ((not chosen["category"] or t.category in chosen["category"])
                and (not chosen["env"] or t.env in chosen["env"])
                and (not chosen["test"] or bool({t.name, t.base} & chosen["test"])))
    return [t for t in tests if keep(t)]


def _haystack(test):
    return " ".join((test.name, test.env, test.category)).lower()


def compile_keyword(expr):
    """A predicate on a test's text for a -k expression; ConfigError (one
    line) for a malformed one."""
    tokens = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        tokens.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    parser = _Parser(tokens, expr)
    node = parser.expression()
    if parser.peek() is not None:
        parser.fail("unexpected %r" % parser.peek())
    return node


class _Parser:
    """Recursive descent over or/and/not/()/words, building closures."""

    def __init__(self, tokens, text):
        self.tokens, self.text, self.i = tokens, text, 0

    def fail(self, why):
        raise ConfigError("-k %r: %s (words, and, or, not, parentheses)" % (self.text, why))

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self):
        tok = self.peek()
        if tok is None:
            self.fail("ends too early")
        self.i += 1
        return tok

    def expression(self):
        return self._chain("or", self.conjunction, lambda a, b: lambda s: a(s) or b(s))

    def conjunction(self):
        return self._chain("and", self.negation, lambda a, b: lambda s: a(s) and b(s))

    def _chain(self, word, operand, combine):
        """operand (word operand)*, folded left with combine."""
        left = operand()
        while self.peek() == word:
            self.take()
            left = combine(left, operand())
        return left

    def negation(self):
        tok = self.take()
        if tok == "not":
            inner = self.negation()
            return lambda s: not inner(s)
        if tok == "(":
            inner = self.expression()
            if self.take() != ")":
                self.fail("a '(' is not closed")
            return inner
        if tok in (")", "and", "or"):
            self.fail("unexpected %r" % tok)
        word = tok.lower()
        return lambda s: word in s
