"""Ansible host patterns: which servers a target names.

A target (``exec TARGET``, ``hosts check TARGET``, the ``target`` of ``execute-shell``) is written
in Ansible's host pattern language, so that what people already type after ``ansible`` selects
the same hosts here: ``all`` or ``*``, host and group names, globs (``web*``, ``*.example.com``),
regular expressions (``~db-(eu|us)``), unions (``a:b``, ``a,b``), intersections (``a:&b``),
exclusions (``a:!b``) and subscripts (``web[0]``, ``web[1:3]``, ``web[-1]``). gtp-remote's own
``group:NAME`` (that group only, never a host of that name) works inside patterns too
(``group:web:!db1``).

Why a port and not a call into ansible-core: ansible-core is not a dependency of the gateway, and
its pattern code lives in its ``InventoryManager``. The rules below follow
``ansible/inventory/manager.py`` step for step (``split_host_pattern``, ``order_patterns``,
``_evaluate_patterns``, ``_match_one_pattern``, ``_split_subscript``, ``_apply_subscript``,
``_enumerate_matches``), and ``tests/test_patterns.py`` checks the host sets against ``ansible
--list-hosts`` itself. The quirks that follow from those rules are kept on purpose:

* A pattern with a comma is split at commas only (``a:b,c`` is ``a:b`` and ``c``); one without is
  kept whole if it reads as a host address (``2001:db8::1``, ``db1:22``), else split at colons
  and whitespace. (Ansible drops an unpaired bracket there, so ``[`` alone means ``all``: we
  refuse it.)
* Unions apply first, then intersections, then exclusions, whatever the written order; a pattern
  made only of ``!x`` and ``&y`` starts from ``all``.
* A name that is a host is that host; otherwise a pattern matches groups first, and host names
  only when no group matched or the pattern is a regex or holds one of ``. ? * [``.
* ``db[0-9]`` and ``db[1]`` are subscripts of ``db`` (its hosts 0 to 9, its host 1), not globs;
  ``db[12a]`` is a glob. A regex (``~...``) never has a subscript.
* ``ungrouped`` is the hosts in no group (unless the inventory has a group of that name); ``all``
  matches as a group of every host, so ``a*`` or ``~.*l`` select every host.

Where we differ from Ansible, on purpose: Ansible only warns about a name that matches no host
and no group, and goes on. We refuse it (:class:`UnknownServerError`, with close matches as a
hint), because with a typo ``all:!dbservrs`` would otherwise run on every server, the databases
included. A pattern that selects no server at all is refused too. Ansible's implicit
``localhost`` does not exist here, and ``--limit @file`` is not read.

The universe (hosts in inventory order, groups with their members) is handed in, so the same
code answers for the whole inventory and for what one token may see: a name outside the scope is
exactly an unknown name, a glob or regex only ever sees visible names, and hints list only them.
What this parser cannot read is an error, never a guess; a regex whose matching time could
explode (nested repeats, back-references) is refused before it runs.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import re._constants as _sre  # the parsed form of a regex, to judge it before it runs
import re._parser as _sre_parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gtp_remote.errors import InvalidRequestError, UnknownServerError

#: Longer patterns are refused: nobody types them, and regexes are run on every name.
MAX_PATTERN = 4000
MAX_PARTS = 200  # parts of one pattern (a:b:&c has 3): a long comma list of hosts still fits
GROUP_PREFIX = "group:"
#: Ansible's built-in groups: every host, and the hosts in no other group.
ALL, UNGROUPED = "all", "ungrouped"
#: Characters that make Ansible also look at host names after a group matched.
_HOST_SPECIALS = (".", "?", "*", "[")
_GLOB_CHARS = ("?", "*", "[")
_SHOWN_NAMES = 30

# -- Ansible's address grammar (``parse_address(..., allow_ranges=True)``): a pattern without a
#    comma that reads as one host address (with a port, an IPv6 address) is never split at colons.
_NUM_RANGE = r"\[[0-9]+:[0-9]+(?::[0-9]+)?\]"
_HEX_RANGE = r"\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\]"
_ALNUM_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_V6 = rf"(?:[0-9a-f]{{1,4}}|{_HEX_RANGE})"
_V4 = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUM_RANGE})"
_LABEL = rf"(?:\w|{_ALNUM_RANGE})(?:[\w_-]|{_ALNUM_RANGE})*(?<![_-])"
_BRACKETED_HOSTPORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_IPV4 = re.compile(rf"^(?:{_V4}\.){{3}}{_V4}$", re.I)
_IPV6 = re.compile(
    "^("
    + "|".join(
        (
            rf"(?:{_V6}:){{7}}{_V6}",
            rf"(?:{_V6}:){{1,6}}:",
            rf"(?:{_V6}:)(?::{_V6}){{1,6}}",
            rf"(?:{_V6}:){{2}}(?::{_V6}){{1,5}}",
            rf"(?:{_V6}:){{3}}(?::{_V6}){{1,4}}",
            rf"(?:{_V6}:){{4}}(?::{_V6}){{1,3}}",
            rf"(?:{_V6}:){{5}}(?::{_V6}){{1,2}}",
            rf"(?:{_V6}:){{6}}(?::{_V6})",
            rf":(?::{_V6}){{1,6}}",
            rf"{_V6}?::",
            rf"(?:0:){{6}}(?:{_V6}\.){{3}}{_V6}",
            rf"::(?:ffff:)?(?:{_V6}\.){{3}}{_V6}",
            rf"(?:0:){{5}}ffff:(?:{_V6}\.){{3}}{_V6}",
        )
    )
    + ")$",
    re.I,
)
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.I)
#: The colon-separated form: runs of anything but whitespace, ``:`` and brackets, or whole
#: bracketed expressions (``web[1:3]`` stays one part).
_COLON_PARTS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
#: ``expr[3]``, ``expr[-1]``, ``expr[1:3]``, ``expr[2:]`` (and the old ``expr[1-3]``).
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")


def _is_address(text: str) -> bool:
    """Whether Ansible's ``parse_address(text, allow_ranges=True)`` accepts ``text``."""
    for form in (_BRACKETED_HOSTPORT, _HOSTPORT):  # both may apply, one after the other
        m = form.match(text)
        if m:
            text = m.group(1)
    return any(form.match(text) for form in (_IPV4, _IPV6, _HOSTNAME))


def split_pattern(pattern: str) -> list[str]:
    """A pattern's parts, as Ansible's ``split_host_pattern`` cuts them, with gtp-remote's
    ``group:NAME`` (also ``!group:NAME``, ``&group:NAME``) kept as one part."""
    if "," in pattern:
        parts = pattern.split(",")
    elif _is_address(pattern):
        parts = [pattern]
    else:
        if not re.fullmatch(r"[\s:]*", _COLON_PARTS.sub("", pattern)):
            # Ansible silently drops what it cannot read here ("[" alone becomes "all").
            raise InvalidRequestError(
                f"cannot read the pattern '{pattern}': a '[' or ']' without its pair",
                hint="close the bracket (web[0], db[1:3]) or separate parts with commas",
            )
        parts = []
        matches = list(_COLON_PARTS.finditer(pattern))
        i = 0
        while i < len(matches):
            m = matches[i]
            text = m.group()
            glued = i + 1 < len(matches) and matches[i + 1].start() == m.end() + 1
            if text in ("group", "!group", "&group") and glued and pattern[m.end()] == ":":
                parts.append(f"{text}:{matches[i + 1].group()}")
                i += 2
                continue
            parts.append(text)
            i += 1
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True)
class Universe:
    """What a pattern can see: host names in inventory order, and groups with their members.

    ``all`` and ``ungrouped`` are built in, first, as in Ansible's inventory. The labels name the
    lists in hints: ``known servers`` for the inventory, ``your servers`` for a token's view.
    """

    hosts: tuple[str, ...]
    groups: dict[str, tuple[str, ...]]
    #: The groups the inventory defines (not the built-in ``all`` and ``ungrouped``), sorted.
    named_groups: tuple[str, ...] = ()
    servers_label: str = "your servers"
    groups_label: str = "your groups"

    @classmethod
    def of(
        cls,
        hosts: Iterable[str],
        groups: Mapping[str, Iterable[str]],
        *,
        hide_empty: bool = False,
        servers_label: str = "your servers",
        groups_label: str = "your groups",
    ) -> Universe:
        """The universe of ``hosts``; group members outside ``hosts`` are dropped. With
        ``hide_empty`` (a token's scoped view) a group left with no member is dropped too, since
        merely knowing its name is knowing something outside the scope."""
        names = tuple(dict.fromkeys(hosts))
        known = set(names)
        given = {g: tuple(h for h in dict.fromkeys(members) if h in known) for g, members in groups.items()}
        if hide_empty:
            given = {g: members for g, members in given.items() if members}
        grouped = {h for g, members in given.items() if g not in (ALL, UNGROUPED) for h in members}
        out = {ALL: names}
        out[UNGROUPED] = (
            given[UNGROUPED] if UNGROUPED in given else tuple(h for h in names if h not in grouped)
        )
        out.update((g, m) for g, m in given.items() if g not in (ALL, UNGROUPED))
        named = tuple(sorted(g for g in given if g != ALL))
        return cls(names, out, named, servers_label, groups_label)

    def unknown(self, name: str, what: str = "server") -> UnknownServerError:
        """The answer for a name that matches nothing here, with close names as a hint."""
        candidates = [*self.hosts, *self.named_groups] if what == "server" else list(self.named_groups)
        close = difflib.get_close_matches(name, candidates, n=1)
        listed = (
            f"{self.servers_label}: {_shown(self.hosts)}"
            if what == "server"
            else f"{self.groups_label}: {_shown(self.named_groups)}"
        )
        hint = (f"did you mean '{close[0]}'? " if close else "") + listed
        return UnknownServerError(f"unknown {what} '{name}'", hint=hint)


def _shown(names: Iterable[str]) -> str:
    names = list(names)
    more = f" (and {len(names) - _SHOWN_NAMES} more)" if len(names) > _SHOWN_NAMES else ""
    return (", ".join(names[:_SHOWN_NAMES]) or "none") + more


def select(pattern: str, universe: Universe, *, limit: str | None = None) -> list[str]:
    """The hosts ``pattern`` selects, restricted to those ``limit`` selects (Ansible's
    ``--limit``, same language, ``@file`` not read), in the order the pattern names them.

    Raises :class:`UnknownServerError` for a name that matches no host and no group, a
    subscript past the end, or a selection that ends up empty; :class:`InvalidRequestError` for
    an empty or unreadable pattern (a bad regex, a ``!`` with nothing after it).
    """
    hosts = _evaluate(_parts(pattern, "target"), universe)
    if limit is not None:
        parts = _parts(limit, "limit")
        for part in parts:
            if part.startswith("@"):
                raise InvalidRequestError(
                    f"limit '{limit}': reading hosts from a file (@FILE) is not supported",
                    hint="write the hosts as a pattern (a,b,c)",
                )
        allowed = set(_evaluate(parts, universe))
        hosts = [h for h in hosts if h in allowed]
    out = list(dict.fromkeys(hosts))
    if not out:
        within = f" within limit '{limit}'" if limit is not None else ""
        raise UnknownServerError(
            f"pattern '{pattern}' matches no servers{within}",
            hint=f"{universe.servers_label}: {_shown(universe.hosts)}",
        )
    return out


def group_hint(name: str, universe: Universe) -> str | None:
    """For a field that takes one server: what to write when ``name`` is a group."""
    if name in universe.named_groups:
        return f"'{name}' is a group: use target '{GROUP_PREFIX}{name}' (or the pattern '{name}')"
    return None


def _parts(pattern: str, what: str) -> list[str]:
    if len(pattern) > MAX_PATTERN:
        raise InvalidRequestError(f"{what} is longer than {MAX_PATTERN} characters")
    parts = split_pattern(pattern)
    if len(parts) > MAX_PARTS:  # each part walks every name: the gateway's loop must not stall
        raise InvalidRequestError(
            f"{what} has {len(parts)} parts, more than {MAX_PARTS}", hint="name a group instead of many hosts"
        )
    if not parts:
        raise InvalidRequestError(
            f"empty {what} '{pattern}'", hint="name servers or groups: all, web*, group:NAME, a:!b"
        )
    return parts


def _evaluate(parts: list[str], universe: Universe) -> list[str]:
    """Ansible's ``_evaluate_patterns``: unions, then intersections, then exclusions."""
    regular = [p for p in parts if p[0] not in "!&"]
    ordered = (regular or [ALL]) + [p for p in parts if p[0] == "&"] + [p for p in parts if p[0] == "!"]
    known = set(universe.hosts)
    hosts: list[str] = []
    matched: dict[str, list[str]] = {}  # a part written twice is matched once (Ansible caches too)
    for part in ordered:
        if part in known:  # a plain host name is that host, before any group
            hosts.append(part)
            continue
        if part not in matched:
            matched[part] = _match_one(part, universe)
        that = set(matched[part])
        if part[0] == "!":
            hosts = [h for h in hosts if h not in that]
        elif part[0] == "&":
            hosts = [h for h in hosts if h in that]
        else:
            seen = set(hosts)
            hosts.extend(h for h in matched[part] if h not in seen)
    return hosts


def _match_one(part: str, universe: Universe) -> list[str]:
    """One part without its ``!``/``&``: a subscripted expression, or ``group:NAME``."""
    text = part[1:] if part[0] in "!&" else part
    if not text:
        raise InvalidRequestError(f"'{part}' needs a pattern after '{part[0]}'", hint="e.g. all:!web")
    expr, subscript = _split_subscript(text)
    if expr.startswith(GROUP_PREFIX):
        if "group" in universe.groups or "group" in universe.hosts:
            # Ansible reads group:web as "group" and "web": here that reading and ours differ.
            name = expr.removeprefix(GROUP_PREFIX)
            raise InvalidRequestError(
                f"'{part}' is ambiguous here: the inventory has a group or host named 'group'",
                hint=f"write '{name}' for the group {name}, or 'group,{name}' for both",
            )
        found = _group_only(expr.removeprefix(GROUP_PREFIX), part, universe)
    else:
        found = _enumerate(expr, part, universe)
    return _apply_subscript(found, subscript, part, expr)


def _group_only(name: str, part: str, universe: Universe) -> list[str]:
    if not name or name[0] == "~" or any(c in name for c in _GLOB_CHARS):
        raise InvalidRequestError(
            f"'{part}': group: takes one group's name",
            hint=f"to match groups and hosts by glob or regex, drop the prefix: '{name or 'web*'}'",
        )
    if name not in universe.groups:
        raise universe.unknown(name, "group")
    return list(universe.groups[name])


def _split_subscript(text: str) -> tuple[str, tuple[int, int | None] | None]:
    """Ansible's ``_split_subscript``: ``(expr, (start, end))``; ``end`` None is one index,
    ``-1`` is "to the last"; a regex has none."""
    if text[0] == "~":
        return text, None
    m = _SUBSCRIPT.match(text)
    if not m:
        return text, None
    expr, index, start, _sep, end = m.groups()
    if index:
        return expr, (int(index), None)
    return expr, (int(start), int(end) if end else -1)


def _apply_subscript(
    hosts: list[str], subscript: tuple[int, int | None] | None, part: str, expr: str
) -> list[str]:
    """Ansible's ``_apply_subscript``, including its ``[x:0]`` meaning ``[x]``."""
    if not hosts or subscript is None:
        return hosts
    start, end = subscript
    if end:
        return hosts[start : (len(hosts) - 1 if end == -1 else end) + 1]
    try:
        return [hosts[start]]
    except IndexError:
        raise UnknownServerError(
            f"pattern '{part}' matches no servers: '{expr}' has {len(hosts)}, numbered from 0",
            hint=f"use an index from 0 to {len(hosts) - 1} (or -1 for the last)",
        ) from None


def _enumerate(expr: str, part: str, universe: Universe) -> list[str]:
    """Ansible's ``_enumerate_matches``: groups first, then hosts when no group matched or the
    expression is a regex or holds ``. ? * [``. Duplicates are kept (a subscript counts them)."""
    matches = _matcher(expr, part)
    groups = [g for g in universe.groups if matches(g)]
    results = [h for g in groups for h in universe.groups[g]]
    if not groups or expr[0] == "~" or any(c in expr for c in _HOST_SPECIALS):
        results += [h for h in universe.hosts if matches(h)]
    literal = expr[0] != "~" and not any(c in expr for c in _GLOB_CHARS)
    if not results and not groups and literal:
        raise universe.unknown(expr)
    return results


def _matcher(expr: str, part: str) -> Callable[[str], object]:
    """A glob (``fnmatch``, whole name, case-sensitive) or, after ``~``, a regex matched at the
    start of the name, exactly as Ansible's ``_match_list`` compiles them."""
    try:
        if expr[0] == "~":
            _check_regex(expr[1:], part)
        return re.compile(expr[1:] if expr[0] == "~" else fnmatch.translate(expr)).match
    except re.error as exc:
        raise InvalidRequestError(
            f"invalid regular expression in pattern '{part}': {exc}",
            hint="a pattern starting with ~ is a Python regular expression",
        ) from None


#: Regexes come from callers and run on every name, in the gateway's one event loop: a regex
#: that can backtrack without bound would stall it for everyone. Globs are safe as they are
#: (``fnmatch.translate`` makes its ``*`` atomic).
MAX_REGEX = 200
MAX_REGEX_REPEATS = 3
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT}


def _check_regex(regex: str, part: str) -> None:
    """Refuse a regex whose matching time can explode: a repeat inside a repeat (``(a+)+``), an
    alternative inside a repeat (``(a|ab)*``), a back-reference, more than a few repeats in all
    (``.*.*.*.*x`` is polynomial in their number), or one too long to read."""

    def refuse(why: str) -> InvalidRequestError:
        return InvalidRequestError(
            f"regular expression in pattern '{part}' refused: {why}",
            hint="host names are short: write a plainer regex or a glob (web*, db-?)",
        )

    if len(regex) > MAX_REGEX:
        raise refuse(f"longer than {MAX_REGEX} characters")
    repeats = 0

    def walk(items: Iterable[Any], in_repeat: bool) -> None:
        nonlocal repeats
        for op, arg in items:
            if op in _REPEATS:
                if in_repeat:
                    raise refuse("a repeat inside a repeat")
                repeats += 1
                walk(arg[2], True)
            elif op is _sre.BRANCH:
                if in_repeat:
                    raise refuse("alternatives inside a repeat")
                for branch in arg[1]:
                    walk(branch, in_repeat)
            elif op in (_sre.GROUPREF, _sre.GROUPREF_EXISTS):
                raise refuse("a back-reference")
            elif op is _sre.SUBPATTERN:
                walk(arg[3], in_repeat)
            elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
                walk(arg[1], in_repeat)
            elif op is _sre.ATOMIC_GROUP:
                walk(arg, in_repeat)

    walk(_sre_parse.parse(regex), False)
    if repeats > MAX_REGEX_REPEATS:
        raise refuse(f"more than {MAX_REGEX_REPEATS} repeats")
