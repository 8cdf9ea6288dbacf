"""Apply a unified diff to one file's text, strictly.

ChatGPT and agents edit files by sending a diff; a diff that does not match the file must be
refused with the hunk and line that failed, never half-applied or applied by guesswork. The diff
is parsed by ``unidiff`` (which checks every hunk's line counts against its header and reads
``-- SQL comments`` and ``++`` additions as the lines they are); the diff must be for exactly one
file, that file (by name), and each hunk must match exactly (context and removed lines) at its
stated line or, if the file moved, at exactly one other place.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from gtp_remote.errors import InvalidRequestError


@dataclass
class Hunk:
    old_start: int
    old: list[str]
    new: list[str]


class PatchError(InvalidRequestError):
    code = "patch_failed"


def _name(path: str | None) -> str:
    """A diff's file name without its a/ or b/ prefix (and without a timestamp after a tab)."""
    name = (path or "").split("\t", 1)[0]
    return name[2:] if name[:2] in ("a/", "b/") else name


def parse(diff: str, path: str = "") -> list[Hunk]:
    """The hunks of a diff of one file; ``path`` is the file it must be for (by name)."""
    try:
        files = PatchSet(diff)
    except UnidiffParseError as exc:
        raise PatchError(
            f"not a valid unified diff: {exc}", hint="send a unified diff (diff -u / git diff)"
        ) from None
    if not files:
        raise PatchError("the diff holds no hunks", hint="send a unified diff (diff -u / git diff)")
    if len(files) != 1:
        names = ", ".join(_name(f.target_file or f.source_file) for f in files) or "none"
        raise PatchError(
            f"the diff holds {len(files)} files ({names}); a patch applies to exactly one",
            hint="send one file's diff per request",
        )
    [patched] = files
    if patched.is_added_file or patched.is_removed_file:
        raise PatchError(
            "the diff creates or removes a file; a patch changes an existing one",
            hint="create a file with /file/write; remove one with a command",
        )
    named = _name(patched.target_file) or _name(patched.source_file)
    if path and named and posixpath.basename(named) != posixpath.basename(path.rstrip("/")):
        raise PatchError(
            f"the diff is for {named}, not {posixpath.basename(path)}",
            hint="send the diff of the file you name in path",
        )
    hunks: list[Hunk] = []
    for hunk in patched:
        old: list[str] = []
        new: list[str] = []
        last: list[list[str]] = []
        for line in hunk:
            if line.line_type == "\\":  # "\ No newline at end of file": about the line just before
                for side in last:
                    if side and side[-1].endswith("\n"):
                        side[-1] = side[-1][:-1]
                continue
            if line.line_type in (" ", "-"):
                old.append(line.value)
            if line.line_type in (" ", "+"):
                new.append(line.value)
            last = {" ": [old, new], "-": [old], "+": [new]}[line.line_type]
        hunks.append(Hunk(hunk.source_start, old, new))
    if not hunks:
        raise PatchError("the diff holds no hunks", hint="send a unified diff (diff -u / git diff)")
    return hunks


def apply(text: str, diff: str, path: str = "") -> tuple[str, int]:
    """The patched text and the number of hunks applied; raises ``PatchError`` on a mismatch."""
    lines = text.splitlines(keepends=True)
    offset = 0
    number = 0
    for number, hunk in enumerate(parse(diff, path), 1):
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
