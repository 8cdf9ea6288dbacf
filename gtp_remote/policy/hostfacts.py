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

MAX_PATHS = 200  # paths asked about in one script; a command naming more is judged blind
MAX_MATCHES = 256  # a glob matching more leaves the facts blind (each match is one realpath)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Every answer is a record of NUL-terminated fields (a file name cannot hold a NUL), and the whole
# output is hex-encoded once: nothing a name holds can end a field or forge a record. Kinds come
# from test builtins; the one program run per path or match is realpath.
_PROLOGUE = r"""k() {
  if [ -L "$1" ]; then printf 'l\0'; elif [ -d "$1" ]; then printf 'd\0'
  elif [ -e "$1" ]; then printf 'f\0'; else printf -- '-\0'; fi
}
r() { realpath -m -z -- "$1" 2>/dev/null || printf '\0'; }
p() { printf 'P\0%s\0' "$1"; k "$2"; r "$2"; }
g() {
  if [ "$#" -gt MAX_ARGS ]; then printf 'O\0%s\0' "$1"; return; fi
  n=$1; shift; for f do printf 'G\0%s\0%s\0' "$n" "$f"; k "$f"; r "$f"; done
}
""".replace("MAX_ARGS", str(MAX_MATCHES + 1))  # the glob's number, then its matches


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
        self.ok = len(every) <= MAX_PATHS and all(_askable(p) for p in every)
        self.plain = plain
        self.trees = trees
        # each glob as bash and as dash may read it (see _readings): the matches of all count
        self.globs = [(g, v) for g in globs for v in _readings(g)]
        self.layers = layers

    def script(self) -> str | None:
        """The probe, or None when there is nothing to ask (or it cannot be asked: see ``ok``)."""
        if not self.ok or not (self.plain or self.trees or self.globs):
            return None
        lines = [f"p {n} {shlex.quote(path)}" for n, path in enumerate(self.plain)]
        for n, (_, pattern) in enumerate(self.globs):  # the shell's own expansion, nothing else active
            lines.append(f"g {n} {_pattern(pattern)}")
        for n, (tree, operation) in enumerate(self.trees):
            found = patterns(self.layers, operation)
            if found is None:
                continue  # a regular-expression rule: this folder cannot be shown clean
            lines.append(_tree_question(n, tree, found))
        body = "\n".join(lines)
        return f"{_PROLOGUE}{{\n{body}\n}} | od -An -v -tx1 | tr -d ' \\n'\n"

    def learn(self, facts: Facts, output: str | None) -> Facts:
        """Facts with the answers (``output`` None: the probe failed). Whatever could not be asked
        or answered leaves the facts *blind*: the judge then takes no path as what it seems."""
        if not self.ok or output is None:
            return replace(facts, blind=True)
        try:
            return self._parse(output, facts)
        except (ValueError, IndexError, UnicodeError):
            return replace(facts, blind=True)

    def _parse(self, output: str, facts: Facts) -> Facts:
        fields = bytes.fromhex(output.strip()).split(b"\0")
        if fields.pop() != b"":
            raise ValueError("an answer cut short")
        text = [f.decode("utf-8", "surrogateescape") for f in fields]
        resolved: dict[str, str] = dict(facts.resolved)
        kinds: dict[str, str] = dict(facts.kinds)
        clean: set[str] = set(facts.clean)
        expanded: dict[str, list[str]] = {}
        i = 0
        while i < len(text):
            tag, n = text[i], int(text[i + 1])
            if tag == "P":
                _learn(kinds, resolved, self.plain[n], text[i + 2], text[i + 3])
                i += 4
            elif tag == "G":
                glob, pattern = self.globs[n]
                match, kind = text[i + 2], text[i + 3]
                matches = expanded.setdefault(glob, [])
                if match != pattern or kind != "-":  # no match: the shell passes the glob itself
                    matches.append(match)
                    _learn(kinds, resolved, match, kind, text[i + 4])
                i += 5
            elif tag in ("C", "H"):
                tree, operation = self.trees[n]
                if tag == "C":
                    clean.add(f"{operation}:{tree}")
                i += 2
            else:  # "O": more matches than are asked about; or anything else
                raise ValueError(tag)
        return replace(
            facts,
            resolved=resolved,
            kinds=kinds,
            clean=frozenset(clean),
            expanded={**facts.expanded, **{glob: tuple(dict.fromkeys(v)) for glob, v in expanded.items()}},
        )


def _askable(path: str) -> bool:
    """A path the script can carry: no control characters, and text that is UTF-8 (a lone
    surrogate from ``$'\\ud800'`` cannot be sent)."""
    if _CONTROL.search(path):
        return False
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _readings(glob: str) -> tuple[str, ...]:
    """The glob, and as the other shell may read it: bash negates with ``[^x]`` where dash takes a
    literal ``^``; bash knows ``[[=e=]]`` and ``[[.e.]]`` where dash matches nothing. The probe
    runs in the server's shell, which may not be the one a command ends up in (``bash -c``)."""
    negated = glob.replace("[^", "[!")
    plain = re.sub(r"\[([=.])(.)\1\]", r"\2", negated)  # [[=e=]] -> [e]
    return tuple(dict.fromkeys((glob, negated, plain)))


def _learn(kinds: dict[str, str], resolved: dict[str, str], path: str, kind: str, real: str) -> None:
    """Record one path's answer, or raise ValueError when it is not a well-formed one."""
    if kind not in ("d", "f", "l", "-") or not real.startswith("/"):
        raise ValueError(path)
    kinds[path] = kind
    resolved[path] = normalise_path(real)


def _tree_question(n: int, tree: str, found: list[str]) -> str:
    """Whether anything below ``tree`` is covered by one of the ``find -path`` patterns: by its
    name (links followed, as ``grep -R`` and ``tar -h`` do), by where a link below it leads, or
    by being a name with a control character in it (which no answer could show plainly)."""
    if not found:
        return f"printf 'C\\0%s\\0' {n}"  # no rule to hit
    folder = shlex.quote(tree)
    names = " -o ".join(f"-path {shlex.quote(p)}" for p in found)
    targets = "|".join(_pattern(p) for p in found)
    control = "\"$(printf '*[\\001-\\037\\177]*')\""
    # A gateway's staged upload or temp file carries no name a rule for its target would match
    # (engine.GATEWAY_TEMP): a folder holding one is never clean.
    staged = "-name '.*.gtp-upload-*' -o -name '.*.gtp-tmp'"
    return (
        f"if [ -d {folder} ] && {{ find -L {folder} \\( {names} -o -name {control} -o {staged} \\) "
        f"-print 2>/dev/null | head -n 1; find -L {folder} -xtype l -exec realpath -m -- {{}} + 2>/dev/null "
        f'| while IFS= read -r r; do case $r in {targets}) echo "$r"; break;; esac; done; }} | grep -q .; '
        f"then printf 'H\\0%s\\0' {n}; else printf 'C\\0%s\\0' {n}; fi"
    )


#: Characters a bracket expression may hold as they are: anything else is escaped, so that no
#: quote, blank, $, ` or brace in it can end the word or expand (classes like [:alpha:] stay).
_BRACKET_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!^-[]:=._/@%+")


def _pattern(glob: str) -> str:
    """A glob as shell text: ``*``, ``?`` and bracket expressions active (classes, ranges and
    negation included), every other character escaped, so nothing in it can expand otherwise."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        end = _bracket_end(glob, i) if c == "[" else None
        if c in "*?":
            out.append(c)
        elif end is not None:
            body = glob[i + 1 : end]
            out.append("[" + "".join(ch if ch in _BRACKET_SAFE else "\\" + ch for ch in body) + "]")
            i = end
        else:
            out.append("\\" + c)
        i += 1
    return "".join(out)


def _bracket_end(glob: str, start: int) -> int | None:
    """Where the bracket expression opened at ``start`` ends (its ``]``), as POSIX reads it: a
    ``]`` first (after ``!`` or ``^``) is a member, ``[:x:]``, ``[=x=]`` and ``[.x.]`` are one;
    None when it never closes (then ``[`` is a plain character)."""
    i = start + 1
    if i < len(glob) and glob[i] in "!^":
        i += 1
    if i < len(glob) and glob[i] == "]":
        i += 1
    while i < len(glob):
        if glob[i] == "[" and i + 1 < len(glob) and glob[i + 1] in ":=.":
            close = glob.find(glob[i + 1] + "]", i + 2)
            if close == -1:
                return None
            i = close + 2
            continue
        if glob[i] == "]":
            return i
        if glob[i] == "/":
            return None  # a bracket expression never spans folders
        i += 1
    return None
