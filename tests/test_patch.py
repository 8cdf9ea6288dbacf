"""The strict unified-diff applier behind POST /file/patch."""

from __future__ import annotations

import difflib

import pytest

from gtp_remote.patch import PatchError, apply

ORIGINAL = "".join(f"line {i}\n" for i in range(1, 31))


def diff_of(old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "a/f", "b/f"))


def test_applies_what_difflib_produces():
    new = (
        ORIGINAL.replace("line 3\n", "line three\n")
        .replace("line 25\n", "")
        .replace("line 30\n", "line 30\nextra\n")
    )
    patched, hunks = apply(ORIGINAL, diff_of(ORIGINAL, new))
    assert patched == new and hunks == 2


def test_finds_a_hunk_that_moved_once():
    new = ORIGINAL.replace("line 20\n", "line twenty\n")
    shifted = "header\nheader\n" + ORIGINAL
    patched, _ = apply(shifted, diff_of(ORIGINAL, new))
    assert patched == "header\nheader\n" + new


def test_refuses_a_diff_that_does_not_match_and_says_where():
    stale = diff_of("alpha\nbeta\n", "alpha\ngamma\n")
    with pytest.raises(PatchError, match="hunk 1 does not apply at line 1"):
        apply(ORIGINAL, stale)


def test_no_newline_at_end_of_file():
    # As GNU diff -u writes it.
    marker = "\\ No newline at end of file\n"
    diff = f"--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n{marker}+c\n{marker}"
    patched, _ = apply("a\nb", diff)
    assert patched == "a\nc"


def test_not_a_diff():
    with pytest.raises(PatchError, match="no hunks"):
        apply(ORIGINAL, "just some text")
