"""Asking the host what a command's paths are, before judging them.

The text of a command cannot show that ``planted/p`` is a symlink to ``../protected``, or whether
a folder ``grep -r`` will read holds a file a rule refuses. Where a policy has path rules, the
gateway sends the host one short POSIX ``sh`` script (:func:`script`) that prints, for each path
the analysis found, its type and where it really leads (``realpath -m``), and for each folder read
or written recursively whether anything below it matches a deny or confirm path rule (``find
-path``). :func:`parse` turns that into :class:`Facts` the engine judges with: a path is judged
as written and as resolved (the stricter counts), and a recursive read of a folder that holds
nothing the rules cover is judged by its folder alone.

What it cannot do: a process on the host can change a path between this look and the command's
own (a race). The policy is a guard rail; the wall is the account the command runs as.

Paths are passed as single-quoted data, never as code. If the script fails (no ``realpath`` or
``find`` there, a timeout), the engine judges without facts, which is stricter: unresolved trees
count as holding what the rules cover.
"""

from __future__ import annotations

import shlex
from dataclasses import replace

from gtp_remote.policy import shell
from gtp_remote.policy.config import Operation
from gtp_remote.policy.engine import Facts, Layers, _glob_of
from gtp_remote.policy.rules import normalise_path
from gtp_remote.policy.shell import Analysis

MAX_PATHS = 200  # paths asked about in one script; beyond, the rest are judged without facts

_PROLOGUE = r"""k() {
  if [ -L "$1" ]; then echo l; elif [ -d "$1" ]; then echo d; elif [ -e "$1" ]; then echo f; else echo -; fi
}
p() { printf 'P\t%s\t%s\t%s\n' "$1" "$(k "$1")" "$(realpath -m -- "$1" 2>/dev/null || printf '?')"; }
"""


def paths_of(analysis: Analysis, facts: Facts) -> tuple[list[str], list[tuple[str, Operation]], list[str]]:
    """The absolute paths a judgement will look at, the folders read or written below, and the
    globs the host should expand."""
    plain: list[str] = []
    trees: list[tuple[str, Operation]] = []
    globs: list[str] = []
    for use in analysis.paths:
        if use.path is None:
            continue
        if use.glob is not None:
            pattern = shell.absolute(use.glob, facts.home, facts.cwd)
            if pattern is not None and "\n" not in pattern:
                globs.append(normalise_path(pattern))
        path = shell.absolute(use.path, facts.home, facts.cwd)
        if path is not None:
            plain.append(normalise_path(path))
            if use.tree:
                trees.append((normalise_path(path), use.operation))
    for word in analysis.mentions:
        path = shell.absolute(word, facts.home, facts.cwd)
        if path is not None:
            plain.append(normalise_path(path))
    return (
        list(dict.fromkeys(plain))[:MAX_PATHS],
        list(dict.fromkeys(trees))[:MAX_PATHS],
        list(dict.fromkeys(globs))[:MAX_PATHS],
    )


def patterns(layers: Layers, operation: Operation) -> list[str] | None:
    """``find -path`` patterns for the deny and confirm path rules that apply to ``operation``;
    None when one is a regular expression (then no folder can be shown clean). ``**`` becomes
    ``*``, which in ``find -path`` crosses folders too: it matches at least what the rule does."""
    out = []
    for policy in layers.policies:
        for rule in policy.path_rules(("deny", "confirm"), operation):
            glob = _glob_of(rule)
            if glob is None:
                return None
            out.append(glob.replace("**", "*"))
    return sorted(set(out))


def script(analysis: Analysis, facts: Facts, layers: Layers) -> str | None:
    """The probe to run on the host, or None when there is nothing worth asking."""
    plain, trees, globs = paths_of(analysis, facts)
    if not plain and not trees and not globs:
        return None
    lines = [_PROLOGUE, *(f"p {shlex.quote(path)}" for path in plain)]
    for glob in globs:  # the shell's own expansion; every character but the glob's escaped
        lines.append(
            f'for f in {_pattern(glob)}; do printf \'G\\t%s\\t%s\\n\' {shlex.quote(glob)} "$f"; p "$f"; done'
        )
    for tree, operation in trees:
        found = patterns(layers, operation)
        if found is None:
            continue  # a regular-expression rule: this folder cannot be shown clean
        quoted, mark = shlex.quote(tree), shlex.quote(f"{operation}:{tree}")
        if not found:
            lines.append(f"printf 'C\\t%s\\n' {mark}")  # no rule to hit
            continue
        test = " -o ".join(f"-path {shlex.quote(p)}" for p in found)
        lines.append(
            f"if find -L {quoted} \\( {test} \\) -print 2>/dev/null | head -n 1 | grep -q .; "
            f"then printf 'H\\t%s\\n' {mark}; else printf 'C\\t%s\\n' {mark}; fi"
        )
    return "\n".join(lines) + "\n"


def _pattern(glob: str) -> str:
    """A glob as shell text: its * ? [ ] (and ! ^ - inside brackets) active, every other
    character escaped, so nothing in it can expand otherwise."""
    return "".join(c if c in "*?[]!^-" else "\\" + c for c in glob)


def parse(output: str, facts: Facts) -> Facts:
    """Facts with what the probe printed: kinds, resolved paths, folders shown clean."""
    resolved: dict[str, str] = dict(facts.resolved)
    kinds: dict[str, str] = dict(facts.kinds)
    clean: set[str] = set(facts.clean)
    expanded: dict[str, list[str]] = {k: list(v) for k, v in facts.expanded.items()}
    for line in output.splitlines():
        fields = line.split("\t")
        if fields[0] == "G" and len(fields) == 3:
            matches = expanded.setdefault(fields[1], [])
            if fields[2] != fields[1]:  # no match: the shell passes the glob itself
                matches.append(normalise_path(fields[2]))
            continue
        if fields[0] == "P" and len(fields) == 4 and fields[1].startswith("/"):
            kinds[fields[1]] = fields[2]
            if fields[3].startswith("/"):
                resolved[fields[1]] = normalise_path(fields[3])
        elif fields[0] == "C" and len(fields) == 2:
            clean.add(fields[1])
    return replace(
        facts,
        resolved=resolved,
        kinds=kinds,
        clean=frozenset(clean),
        expanded={k: tuple(v) for k, v in expanded.items()},
    )
