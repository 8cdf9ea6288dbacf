"""Compiled rules, and how a rule matches a command's words or a path.

Command rules match word by word. A rule word is a shell glob for one word; ``*`` alone stands
for any number of words. A command word may be unknown (its value is computed when the shell
runs it): :data:`ONE` is one word of unknown value, :data:`MANY` any number of them (an unquoted
expansion, or the words ``xargs`` appends). Matching has two modes, because an unknown word must
never help a command get allowed but must always help it get refused:

* **strict** (allow rules): the rule matches whatever the unknown words turn out to be, so an
  unknown word is only matched by a ``*`` word;
* **loose** (deny and confirm rules): the rule matches if the unknown words *could* make it match.

Hand-written matching: shell globs are compiled with :mod:`fnmatch`, but neither it nor any
library matches a word sequence with unknowns; this is a small dynamic programme, linear in the
command's words for each rule.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass
from typing import Final

from gtp_remote.policy.config import OPERATIONS, Operation, split_rule


class _Unknown:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ONE: Final = _Unknown("ONE")
MANY: Final = _Unknown("MANY")
Subject = list[str | _Unknown]

_STAR: Final = "*"


@dataclass(frozen=True)
class CommandRule:
    text: str
    regex: re.Pattern[str] | None  # ``re:`` rules: matched against the words joined by spaces
    words: tuple[str | re.Pattern[str], ...]  # "*" or a compiled glob for one word
    joined: re.Pattern[str] | None  # the whole rule as one glob over the joined words (loose only)

    @classmethod
    def compile(cls, text: str) -> CommandRule:
        if text.startswith("re:"):
            return cls(text, re.compile(text[3:], re.S), (), None)
        words = split_rule(text)
        compiled = tuple(w if w == _STAR else re.compile(fnmatch.translate(w), re.S) for w in words)
        return cls(text, None, compiled, re.compile(fnmatch.translate(" ".join(words)), re.S))

    def matches(self, subject: Subject, *, strict: bool, joined: str | None = None) -> bool:
        """Whether the rule matches the command ``subject``; ``joined`` is its text as one line
        (the words joined by single spaces, or as written when some are unknown)."""
        if self.regex is not None:
            return joined is not None and self.regex.fullmatch(joined) is not None
        if _match_words(self.words, subject, strict):
            return True
        # Loose only: the rule as one glob over the line, which is how rules matched before they
        # matched word by word, so a deny rule like ``git push*`` still refuses ``git push origin``.
        return (
            not strict
            and joined is not None
            and self.joined is not None
            and bool(self.joined.fullmatch(joined))
        )


def _match_words(pattern: tuple[str | re.Pattern[str], ...], subject: Subject, strict: bool) -> bool:
    size = len(pattern)
    # Fast path: literal words then a trailing "*" over known words (most rules, most commands).
    if size and pattern[-1] == _STAR and all(isinstance(w, str) for w in subject):
        head = pattern[:-1]
        if _STAR not in head and len(subject) >= len(head):
            return all(p.fullmatch(s) for p, s in zip(head, subject, strict=False))  # type: ignore[union-attr, arg-type]
    reachable = _closure({0}, pattern)
    for word in subject:
        nxt: set[int] = set()
        for i in reachable:
            if i < size and pattern[i] == _STAR:
                nxt.add(i)  # "*" takes this word too
            if word is MANY:
                if strict:
                    continue  # only a "*" may take words that are not known
                nxt.update(range(i, size + 1))  # they may be any number of words: here, or none
            elif i < size and pattern[i] != _STAR:
                glob = pattern[i]
                if word is ONE:
                    if not strict:
                        nxt.add(i + 1)
                elif glob.fullmatch(word):  # type: ignore[union-attr, arg-type]
                    nxt.add(i + 1)
        reachable = _closure(nxt, pattern)
        if not reachable:
            return False
    return size in reachable


def _closure(states: set[int], pattern: tuple[str | re.Pattern[str], ...]) -> set[int]:
    """States reachable by letting "*" words take no word."""
    out = set(states)
    for i in sorted(states):
        while i < len(pattern) and pattern[i] == _STAR:
            i += 1
            out.add(i)
    return out


# -- paths -------------------------------------------------------------------------------------------


def normalise_path(path: str) -> str:
    """Collapse ``//``, ``/./`` and ``..`` lexically, so ``/srv/app/../../etc`` is judged as ``/etc``."""
    normal = posixpath.normpath(path)
    return "/" + normal.lstrip("/") if normal.startswith("//") else normal


def _path_regex(glob: str) -> str:
    """``*`` stays within one folder, ``**`` crosses folders; ``dir/**`` also matches ``dir``."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("(?:/.*)?")
            i += 3
        elif glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] in "*?":
            out.append("[^/]*" if glob[i] == "*" else "[^/]")
            i += 1
        elif glob[i] == "[" and (end := glob.find("]", i + 2)) > 0:
            members = glob[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + members[1:] if members[0] == "!" else members) + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class PathRule:
    text: str
    regex: re.Pattern[str]
    operations: tuple[Operation, ...] = OPERATIONS

    @classmethod
    def compile(cls, text: str) -> PathRule:
        operation, sep, glob = text.partition(":")
        operations: tuple[Operation, ...] = (
            (operation,) if sep and operation in OPERATIONS else OPERATIONS  # type: ignore[assignment]
        )
        glob = glob if len(operations) == 1 else text
        if glob.startswith("re:"):
            return cls(text, re.compile(glob[3:], re.S), operations)
        glob += "**" if glob.endswith("/") and glob != "/" else ""
        return cls(text, re.compile(_path_regex(glob), re.S), operations)

    def matches(self, path: str, operation: Operation) -> bool:
        return operation in self.operations and self.regex.fullmatch(path) is not None
