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


def test_sql_comments_and_plus_plus_lines_are_what_they_are():
    """A removed line starting with `-- ` (SQL) and an added one starting with `++` were read as
    headers, so the first failed and the second was dropped while the hunk was reported applied."""
    original = "select 1;\n-- old comment\nselect 2;\n"
    wanted = "select 1;\nselect 2;\n++counter;\n"
    patched, hunks = apply(original, diff_of(original, wanted))
    assert (patched, hunks) == (wanted, 1)


def test_a_diff_naming_two_files_or_another_file_is_refused():
    two = diff_of("a\n", "b\n") + diff_of("c\n", "d\n").replace("a/f", "a/g").replace("b/f", "b/g")
    with pytest.raises(PatchError, match="2 files"):
        apply("a\n", two, "/srv/f")
    with pytest.raises(PatchError, match=r"the diff is for f, not settings\.py"):
        apply("a\n", diff_of("a\n", "b\n"), "/srv/app/settings.py")
    assert apply("a\n", diff_of("a\n", "b\n"), "/srv/app/f") == ("b\n", 1)


def test_hunk_line_counts_are_checked():
    lying = "--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n a\n-b\n+c\n"  # says 5 lines, has 2
    with pytest.raises(PatchError, match="not a valid unified diff"):
        apply("a\nb\n", lying)
    new_file = "--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+a\n"
    with pytest.raises(PatchError, match="creates or removes a file"):
        apply("", new_file)
