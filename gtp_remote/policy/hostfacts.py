"""Asking the host what a command's paths are, before judging them.

The text of a command cannot show that ``planted/p`` is a symlink to ``../protected``, or whether
a folder ``grep -r`` will read holds a file a rule refuses. Where a policy has path rules, the
gateway sends the host one short POSIX ``sh`` script (:func:`script`) that prints, for each path
the analysis found, its type and where it really leads (``realpath -m``), what each glob expands
to, and for each folder read or written recursively whether anything below it matches a deny or
confirm path rule (``find -L -path``). :func:`parse` turns that into :class:`Facts` the engine
judges with: a path is judged as written and as resolved (the stricter counts), a glob by what it
matches, and a recursive read of a folder that holds nothing the rules cover by its folder alone.

The answer cannot be forged by what it reports on: every question is numbered by the gateway and
answered by its number, and whatever comes from the host's file system (a resolved path, a file a
glob matched) is sent hex-encoded, so a file named with a newline and a fake answer in it is just
a name. Paths with control characters are not asked about at all (the analysis makes them
dynamic). When the host could not be asked (too many paths, no answer, an answer that does not
parse) the facts are *blind*: every path is then judged as if it might lead anywhere.

What it cannot do: a process on the host can change a path between this look and the command's
own (a race). The policy is a guard rail; the wall is the account the command runs as.

"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace

from gtp_remote.policy.config import Operation
from gtp_remote.policy.engine import Facts, Layers, _glob_of, has_glob, placed, written
from gtp_remote.policy.rules import normalise_path
from gtp_remote.policy.shell import Analysis, PathUse

MAX_PATHS = 200  # paths asked about in one script; a command naming more is judged without facts
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_PROLOGUE = r"""k() {
  if [ -L "$1" ]; then echo l; elif [ -d "$1" ]; then echo d; elif [ -e "$1" ]; then echo f; else echo -; fi
}
x() { od -An -v -tx1 | tr -d ' \n'; }
r() { realpath -m -- "$1" 2>/dev/null | x; }
p() { printf 'P\t%s\t%s\t' "$1" "$(k "$2")"; r "$2"; echo; }
g() { printf 'G\t%s\t%s\t' "$1" "$(k "$2")"; printf '%s' "$2" | x; printf '\t'; r "$2"; echo; }
"""


def paths_of(analysis: Analysis, facts: Facts) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """What to ask, as the judge will look it up (absolute, as written: see ``engine.placed``):
    the paths, the folders read or written below (with the operation, ``any`` for a word of a
    program whose files are not known), and the globs the host should expand."""
    plain: list[str] = []
    trees: list[tuple[str, str]] = []
    globs: list[str] = []
    for item, where in placed(analysis, facts):
        if isinstance(item, PathUse):
            path, glob, operation, tree = item.path, item.glob, item.operation, item.tree
        else:
            path, glob, operation, tree = item, item if has_glob(item) else None, "any", True
        if path is None:
            continue
        if glob is not None and (pattern := written(glob, where)) is not None:
            globs.append(pattern)
        if (absolute := written(path, where)) is not None:
            plain.append(absolute)
            if tree:
                trees.append((absolute, operation))
    return list(dict.fromkeys(plain)), list(dict.fromkeys(trees)), list(dict.fromkeys(globs))


def patterns(layers: Layers, operation: str) -> list[str] | None:
    """``find -path`` patterns for the deny and confirm path rules that apply to ``operation``
    (``any``: every operation); None when one is a regular expression (then no folder can be
    shown clean). ``**`` becomes ``*``, which in ``find -path`` crosses folders too: it matches at
    least what the rule does."""
    out = []
    operations: tuple[Operation, ...] = ("read", "write", "list") if operation == "any" else (operation,)  # type: ignore[assignment]
    for policy in layers.policies:
        for rule in (r for op in operations for r in policy.path_rules(("deny", "confirm"), op)):
            glob = _glob_of(rule)
            if glob is None:
                return None
            out.append(glob.replace("**", "*"))
    return sorted(set(out))


class Questions:
    """What the script asks, by number: the answers are matched to these, nothing else."""

    def __init__(self, analysis: Analysis, facts: Facts, layers: Layers) -> None:
        plain, trees, globs = paths_of(analysis, facts)
        every = [*plain, *(t for t, _ in trees), *globs]
        self.ok = len(every) <= MAX_PATHS and not any(_CONTROL.search(p) for p in every)
        self.plain = plain
        self.trees = trees
        self.globs = globs
        self.layers = layers

    def script(self) -> str | None:
        """The probe, or None when there is nothing to ask (or it cannot be asked: see ``ok``)."""
        if not self.ok or not (self.plain or self.trees or self.globs):
            return None
        lines = [_PROLOGUE]
        lines += [f"p {n} {shlex.quote(path)}" for n, path in enumerate(self.plain)]
        for n, glob in enumerate(self.globs):  # the shell's own expansion; all but the glob escaped
            lines.append(f'for f in {_pattern(glob)}; do g {n} "$f"; done')
        for n, (tree, operation) in enumerate(self.trees):
            found = patterns(self.layers, operation)
            if found is None:
                continue  # a regular-expression rule: this folder cannot be shown clean
            lines.append(_tree_question(n, tree, found))
        return "\n".join(lines) + "\n"

    def learn(self, facts: Facts, output: str | None) -> Facts:
        """Facts with the answers (``output`` None: the probe failed). Whatever could not be asked
        or answered leaves the facts *blind*: the judge then takes no path as what it seems."""
        if not self.ok or output is None:
            return replace(facts, blind=True)
        return self._parse(output, facts)

    def _parse(self, output: str, facts: Facts) -> Facts:
        resolved: dict[str, str] = dict(facts.resolved)
        kinds: dict[str, str] = dict(facts.kinds)
        clean: set[str] = set(facts.clean)
        expanded: dict[str, list[str]] = {}
        try:
            for line in output.splitlines():
                fields = line.split("\t")
                if fields[0] == "P" and len(fields) == 4:
                    _learn(kinds, resolved, self.plain[int(fields[1])], fields[2], fields[3])
                elif fields[0] == "G" and len(fields) == 5:
                    glob = self.globs[int(fields[1])]
                    match = _unhex(fields[3])
                    matches = expanded.setdefault(glob, [])
                    if match != glob or fields[2] != "-":  # no match: the shell passes the glob itself
                        matches.append(match)
                        _learn(kinds, resolved, match, fields[2], fields[4])
                elif fields[0] in ("C", "H") and len(fields) == 2:
                    tree, operation = self.trees[int(fields[1])]
                    if fields[0] == "C":
                        clean.add(f"{operation}:{tree}")
                elif line:
                    raise ValueError(line)
        except (ValueError, IndexError, UnicodeError):
            return replace(facts, blind=True)
        return replace(
            facts,
            resolved=resolved,
            kinds=kinds,
            clean=frozenset(clean),
            expanded={**facts.expanded, **{glob: tuple(v) for glob, v in expanded.items()}},
        )


def _learn(kinds: dict[str, str], resolved: dict[str, str], path: str, kind: str, real_hex: str) -> None:
    """Record one path's answer, or raise ValueError when it is not a well-formed one."""
    real = _unhex(real_hex)
    if real.endswith("\n"):
        real = real[:-1]  # realpath's own line end; a name may end in a newline too, hence hex
    if kind not in ("d", "f", "l", "-") or not real.startswith("/"):
        raise ValueError(path)
    kinds[path] = kind
    resolved[path] = normalise_path(real)


def _tree_question(n: int, tree: str, found: list[str]) -> str:
    """Whether anything below ``tree`` is covered by one of the ``find -path`` patterns: by its
    name (links followed, as ``grep -R`` and ``tar -h`` do), by where a link below it leads, or
    by being a name with a control character in it (which no answer could show plainly)."""
    if not found:
        return f"printf 'C\\t%s\\n' {n}"  # no rule to hit
    folder = shlex.quote(tree)
    names = " -o ".join(f"-path {shlex.quote(p)}" for p in found)
    targets = "|".join(_pattern(p) for p in found)
    control = "\"$(printf '*[\\001-\\037\\177]*')\""
    return (
        f"if [ -d {folder} ] && {{ find -L {folder} \\( {names} -o -name {control} \\) "
        f"-print 2>/dev/null | head -n 1; find -L {folder} -xtype l -exec realpath -m -- {{}} + 2>/dev/null "
        f'| while IFS= read -r r; do case $r in {targets}) echo "$r"; break;; esac; done; }} | grep -q .; '
        f"then printf 'H\\t%s\\n' {n}; else printf 'C\\t%s\\n' {n}; fi"
    )


def _unhex(text: str) -> str:
    return bytes.fromhex(text).decode("utf-8", "surrogateescape")


def _pattern(glob: str) -> str:
    """A glob as shell text: its * ? [ ] (and ! ^ - inside brackets) active, every other
    character escaped, so nothing in it can expand otherwise."""
    return "".join(c if c in "*?[]!^-" else "\\" + c for c in glob)
