"""Apply a unified diff to one file's text, strictly.

ChatGPT and agents edit files by sending a diff; a diff that does not match the file must be
refused with the hunk and line that failed, never half-applied or applied by guesswork. Each
hunk must match exactly (context and removed lines) at its stated line or, if the file moved,
at exactly one other place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gtp_remote.errors import InvalidRequestError

HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class Hunk:
    old_start: int
    old: list[str]
    new: list[str]


class PatchError(InvalidRequestError):
    code = "patch_failed"


def parse(diff: str) -> list[Hunk]:
    hunks: list[Hunk] = []
    current: Hunk | None = None
    last: list[list[str]] = []  # the side(s) the previous line went to
    for raw in diff.splitlines(keepends=True):
        line = raw.rstrip("\n")
        if line.startswith("@@"):
            match = HUNK_RE.match(line)
            if not match:
                raise PatchError(f"malformed hunk header: {line!r}")
            current = Hunk(int(match.group(1)), [], [])
            hunks.append(current)
        elif current is None or line.startswith(("--- ", "+++ ", "diff ", "index ")):
            continue
        elif line.startswith("\\"):  # "\ No newline at end of file": about the line just before
            for side in last:
                if side and side[-1].endswith("\n"):
                    side[-1] = side[-1][:-1]
        elif line.startswith(" ") or line == "":
            current.old.append(raw[1:] if raw.strip("\n") else "\n")
            current.new.append(raw[1:] if raw.strip("\n") else "\n")
            last = [current.old, current.new]
        elif line.startswith("-"):
            current.old.append(raw[1:])
            last = [current.old]
        elif line.startswith("+"):
            current.new.append(raw[1:])
            last = [current.new]
        else:
            raise PatchError(f"unexpected line in hunk: {line!r}")
    if not hunks:
        raise PatchError("the diff holds no hunks", hint="send a unified diff (diff -u / git diff)")
    return hunks


def apply(text: str, diff: str) -> tuple[str, int]:
    """The patched text and the number of hunks applied; raises ``PatchError`` on a mismatch."""
    lines = text.splitlines(keepends=True)
    offset = 0
    for number, hunk in enumerate(parse(diff), 1):
        size = len(hunk.old)
        stated = max(hunk.old_start - 1, 0) + offset if size else hunk.old_start + offset
        if lines[stated : stated + size] == hunk.old:
            at = stated
        else:
            places = [i for i in range(len(lines) - size + 1) if lines[i : i + size] == hunk.old]
            if len(places) != 1:
                found = "".join(lines[stated : stated + size]) or "(end of file)"
                why = "matches nowhere" if not places else f"matches {len(places)} places"
                raise PatchError(
                    f"hunk {number} does not apply at line {hunk.old_start}: its context {why}",
                    hint=f"the file has there: {found[:300]!r}; re-read the file and diff again",
                )
            at = places[0]
        lines[at : at + size] = hunk.new
        offset += len(hunk.new) - size + (at - stated)
    return "".join(lines), number
