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


@pytest.mark.parametrize("sep", ["\x0c", "\r", "\x85", "\u2028", "\x1c", "\v"])
def test_a_line_ends_at_a_newline_only(sep):
    """``str.splitlines`` would cut ``x<sep>b`` in two and let ``-b`` replace half a line."""
    text = f"x{sep}b\nc\n"
    with pytest.raises(PatchError, match="does not apply"):
        apply(text, "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-b\n+B\n c\n")
    assert apply(text, f"--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-x{sep}b\n+y{sep}b\n c\n")[0] == f"y{sep}b\nc\n"


@pytest.mark.parametrize(
    "diff",
    [
        "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-a\n+A\n-b\n+B\n",  # the header counts fewer lines
        "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n-a\n+A\n b\n c\n+EXTRA\n",
        "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-a\n+A\ngarbage\n",
        "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-a\n+A\nsome words\n@@ -3,1 +3,1 @@\n-c\n+C\n",
    ],
)
def test_lines_outside_every_hunk_are_refused_not_dropped(diff):
    with pytest.raises(PatchError, match=r"not part of|ends inside|not a valid"):
        apply("a\nb\nc\n", diff)


def test_a_hunk_never_matches_what_an_earlier_hunk_inserted_nor_goes_backwards():
    text = "k\nq\nz\n"
    sneaky = "--- a/f\n+++ b/f\n@@ -1,1 +1,2 @@\n k\n+NEW\n@@ -9,1 +10,1 @@\n-NEW\n+OOPS\n"
    with pytest.raises(PatchError, match="hunk 2"):
        apply(text, sneaky)
    backwards = "--- a/f\n+++ b/f\n@@ -3,1 +3,1 @@\n-z\n+Z\n@@ -1,1 +1,1 @@\n-k\n+K\n"
    with pytest.raises(PatchError, match="hunk 2"):
        apply(text, backwards)


def test_renames_modes_and_binary_diffs_are_refused():
    rename = (
        "diff --git a/old.txt b/p.txt\nsimilarity index 90%\nrename from old.txt\nrename to p.txt\n"
        "--- a/old.txt\n+++ b/p.txt\n@@ -1 +1 @@\n-a\n+A\n"
    )
    with pytest.raises(PatchError, match="rename"):
        apply("a\n", rename, "p.txt")
    mode = (
        "diff --git a/p.txt b/p.txt\nold mode 100644\nnew mode 100755\n"
        "--- a/p.txt\n+++ b/p.txt\n@@ -1 +1 @@\n-a\n+A\n"
    )
    with pytest.raises(PatchError, match="mode"):
        apply("a\n", mode, "p.txt")


def test_crlf_diffs_quoted_names_and_additions_at_the_top_apply():
    crlf = "--- a/p.txt\r\n+++ b/p.txt\r\n@@ -1,2 +1,2 @@\r\n-a\r\n+A\r\n b\r\n"
    assert apply("a\r\nb\r\n", crlf, "p.txt")[0] == "A\r\nb\r\n"
    quoted = '--- "a/caf\\303\\251.txt"\n+++ "b/caf\\303\\251.txt"\n@@ -1 +1 @@\n-a\n+A\n'
    assert apply("a\n", quoted, "café.txt")[0] == "A\n"
    top = "--- a/p.txt\n+++ b/p.txt\n@@ -0,0 +1 @@\n+first\n"
    assert apply("", top, "p.txt")[0] == "first\n"
    assert apply("a\n", top, "p.txt")[0] == "first\na\n"
    with pytest.raises(PatchError, match="creates or removes"):
        apply("", "--- /dev/null\n+++ b/p.txt\n@@ -0,0 +1 @@\n+x\n", "p.txt")
