"""How much judging a command would take, counted before it is parsed.

Why a count of its own: tree-sitter's cost grows with the words and operators of a command, not
its bytes (1 MB of heredoc body parses in ~20 ms, 16 kB of ``a|a|…`` in ~80 ms), and so does the
analysis after it. A command with more than :data:`MAX_TOKENS` words and operators is refused
at once, in time linear in its size, instead of after a parse that a deadline has to cut short.
Heredoc bodies and single-quoted text are skipped whole: that is how large, ordinary commands
(a file written with ``cat > f <<'EOF'``, a long quoted string) stay cheap to judge.

The count is an estimate, on purpose not a second shell lexer: it may count a little more than
the grammar sees (words inside double quotes, a quote it cannot pair), which only matters for
commands far past what agents send, and it may count less (text it takes for a heredoc body),
which the parse's own limits (deadline, node count, depth) still bound. It never decides that a
command is safe: only that it is too heavy to judge.
"""

from __future__ import annotations

import re

MAX_TOKENS = 5_000

_TOKEN = re.compile(
    r"""
      (?P<heredoc><<-?[ \t]*(?:'(?P<q1>[^'\n]*)'|"(?P<q2>[^"\n]*)"|\\?(?P<bare>[^\s;&|<>()'"`]+)))
    | (?P<newline>\n)
    | (?P<skip>'[^']*'?|"[^"\\$`]*|\\.|[ \t\r]+)
    | (?P<token><<<|[|;&<>()`$]|[^\s|;&<>()`$'"\\]+)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokens(command: str, limit: int = MAX_TOKENS) -> int:
    """Words and operators outside heredoc bodies and single quotes, counted up to ``limit + 1``
    (a caller asks only whether there are more than ``limit``)."""
    count = 0
    pending: list[tuple[str, bool]] = []  # heredoc delimiters opened on the current line
    pos, end = 0, len(command)
    while pos < end and count <= limit:
        match = _TOKEN.match(command, pos)
        if match is None:  # a lone quote or backslash at the end: one more token
            count += 1
            pos += 1
            continue
        pos = match.end()
        kind = match.lastgroup
        if match.group("heredoc") is not None:
            count += 2
            delimiter = match.group("q1") or match.group("q2") or match.group("bare") or ""
            pending.append((delimiter, match.group(0).startswith("<<-")))
        elif kind == "newline":
            count += 1
            for delimiter, tabs in pending:
                pos = _after_body(command, pos, delimiter, tabs)
            pending.clear()
        elif kind == "token":
            count += 1
    return count


def _after_body(command: str, pos: int, delimiter: str, tabs: bool) -> int:
    """Where the text after a heredoc body starting at ``pos`` begins (the end, unterminated)."""
    indent = r"\t*" if tabs else ""
    line = re.compile(rf"^{indent}{re.escape(delimiter)}$\n?", re.MULTILINE)
    found = line.search(command, pos)
    return found.end() if found else len(command)


def operators(command: str) -> int:
    """Every operator character in the text, heredoc bodies and quotes included: a count that
    nothing in the text can hide from (unlike :func:`tokens`, which a ``<<`` that is not a
    heredoc can make skip text), for choosing where a command is parsed."""
    return sum(command.count(c) for c in "|&;<>()`$")


def too_heavy(command: str) -> str | None:
    """Why ``command`` is too heavy to judge, or None."""
    if tokens(command) > MAX_TOKENS:
        return (
            f"it has more than {MAX_TOKENS} words and operators outside heredoc bodies and quotes; "
            "judging is bounded: split it, or write the script to a file and run that"
        )
    return None
