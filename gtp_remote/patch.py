"""Apply a unified diff to one file's text, strictly.

ChatGPT and agents edit files by sending a diff; a diff that does not match the file must be
refused with the hunk and line that failed, never half-applied or applied by guesswork. The diff
is parsed by ``unidiff`` (which checks every hunk's line counts against its header and reads
``-- SQL comments`` and ``++`` additions as the lines they are); the diff must be for exactly one
file, that file (by name), and each hunk must match exactly (context and removed lines) at its
stated line or, if the file moved, at exactly one other place after the hunk before it.

Strictness that unidiff leaves to its caller, done here: lines are split at ``\n`` only (as
``patch`` does: a ``\r`` or form feed inside a line is part of it), nothing may follow the last
hunk or sit between hunks (unidiff stops a hunk at its header's counts and would drop the rest),
hunks apply in order to the original text (a hunk never matches what an earlier one inserted),
and a diff that renames, copies or changes a file's mode is refused, as its content change alone
would not be what it says.
"""

from __future__ import annotations

import posixpath
import re
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


_HUNK_HEADER = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")
_NOT_CONTENT = ("rename from", "rename to", "copy from", "copy to", "old mode", "new mode", "similarity")


def _lines(text: str) -> list[str]:
    """``text`` split after each ``\n`` and nowhere else (``str.splitlines`` also splits at
    ``\r``, ``\f``, ``\x85``, U+2028...)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def _name(path: str | None) -> str:
    """A diff's file name without its a/ or b/ prefix, a timestamp after a tab, a CR (a CRLF
    diff), or git's C-style quotes (``"a/caf\\303\\251"``)."""
    name = (path or "").split("\t", 1)[0].rstrip("\r")
    if len(name) >= 2 and name[0] == name[-1] == '"':
        try:
            raw = name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
            name = raw.encode("latin-1").decode("utf-8")
        except (UnicodeError, ValueError):
            raise PatchError(f"the file name {name} in the diff cannot be read") from None
    return name[2:] if name[:2] in ("a/", "b/") else name


def _nothing_else(lines: list[str], files: PatchSet) -> None:
    """Refuse text between or after the hunks that unidiff passed over: every line from the
    first hunk header on must be a hunk header or a line of the hunk it counted."""
    start = next(i for i, line in enumerate(lines) if _HUNK_HEADER.match(line))
    i = start
    for hunk in files[0]:
        if i >= len(lines) or not _HUNK_HEADER.match(lines[i]):
            raise PatchError(
                f"line {i + 1} of the diff is not part of any hunk: {lines[i][:80]!r}"
                if i < len(lines)
                else "the diff ends inside a hunk",
                hint="check each hunk header's line counts (@@ -start,count +start,count @@)",
            )
        i += 1 + len(hunk)
    if i < len(lines):
        raise PatchError(
            f"line {i + 1} of the diff follows its last hunk and is not part of it: {lines[i][:80]!r}",
            hint="check the last hunk header's line counts, or send the diff without trailing text",
        )


def parse(diff: str, path: str = "") -> list[Hunk]:
    """The hunks of a diff of one file; ``path`` is the file it must be for (by name)."""
    lines = _lines(diff)
    try:
        files = PatchSet(lines)
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
    _nothing_else(lines, files)
    header = [str(line) for line in patched.patch_info or []]
    changes = [h.strip() for h in header if h.startswith(_NOT_CONTENT)]
    if changes or patched.is_binary_file:
        what = changes[0][:120] if changes else "binary content"
        raise PatchError(
            f"the diff does more than change lines ({what}); a patch changes one file's lines only",
            hint="rename, copy or change modes with a command; send a plain unified diff",
        )
    if "/dev/null" in (_name(patched.source_file), _name(patched.target_file)):
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
    lines = _lines(text)
    offset = 0
    number = 0
    floor = 0  # where the last hunk's new text ends: a hunk applies after it, to original text
    for number, hunk in enumerate(parse(diff, path), 1):
        size = len(hunk.old)
        stated = max(hunk.old_start - 1, 0) + offset if size else hunk.old_start + offset
        if stated >= floor and lines[stated : stated + size] == hunk.old:
            at = stated
        else:
            places = [i for i in range(floor, len(lines) - size + 1) if lines[i : i + size] == hunk.old]
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
        floor = at + len(hunk.new)
    return "".join(lines), number
