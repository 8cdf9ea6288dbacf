"""The shell analyser against red-team round 2: classes, not single examples.

* ``$'...'`` is decoded as bash's ``ansicstr`` does; a NUL ends the string in bash, so a word
  holding one (or a byte the host's locale decides) is not known;
* tree-sitter-bash places tokens otherwise than the shell in many ways (escaped blanks and
  carriage returns skipped, newlines inside words and redirections, words split or joined): the
  whole class is refused;
* ``cd`` is logical, a program's own change of folder physical;
* a process substitution given to a program as a data file is judged as its commands;
* judging small adversarial input takes bounded time.
"""

from __future__ import annotations

import time

import pytest

from gtp_remote.policy import shell
from gtp_remote.policy.engine import Facts, _bases
from gtp_remote.policy.shell import PHYSICAL, _ansi_c, analyse


def _dynamic(command: str) -> bool:
    analysis = analyse(command)
    return analysis.error is not None or any(p.dynamic for p in analysis.parts)


# -- $'...' -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inner", "value"),
    [
        (r"a\x41", "aA"),
        (r"\x{41}b", "Ab"),
        (r"a\x", r"a\x"),
        (r"\u", r"\u"),
        (r"a\c", r"a\c"),
        (r"\c1", "\x11"),
        (r"\c?", "\x7f"),
        (r"\c\\z", "\x1cz"),
        (r"\q", r"\q"),
        (r"\'\"\?", "'\"?"),
        (r"\101\1012", "AA2"),
    ],
)
def test_ansi_c_strings_decode_as_bash_does(inner: str, value: str) -> None:
    assert _ansi_c(inner) == (value, None)


@pytest.mark.parametrize(
    "inner", [r"pwn\0x", r"\c@", r"\x00", r"\u0000", r"\U00000000", r"\000", r"\400", r"\c ", r"\x{100}"]
)
def test_a_nul_ends_an_ansi_c_string_in_bash_so_the_word_is_not_known(inner: str) -> None:
    value, why = _ansi_c(inner)
    assert value is None and why is not None and "NUL" in why


@pytest.mark.parametrize("inner", [r"\xff", r"\u00e9", r"\377", r"\cé"])
def test_bytes_above_ascii_depend_on_the_locale(inner: str) -> None:
    assert _ansi_c(inner)[0] is None


@pytest.mark.parametrize(
    "command",
    [
        "$'pwn\\0x'",
        "$'\\c@'pwn",
        "find . $'-exec\\0' pwn \\;",
        "tar -tf a.tar $'--use\\0' pwn",
        "$'\\x00'rm x",
    ],
)
def test_words_with_a_nul_are_dynamic(command: str) -> None:
    assert _dynamic(command)


# -- tokens the grammar places otherwise than the shell ---------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "echo a ``\npwn x",
        "echo a ` `\npwn x",
        "echo a\n\\pwn x",
        "echo a \n\\\npwn x",
        "echo a\\\r\npwn x",
        "echo a\\\t#;pwn",
        "echo a\\\n#;pwn",
        "echo a <\\ \npwn x",
        "echo a <\\\t\npwn x",
        "echo a <\r\npwn x",
        "echo a <\x0b\npwn x",
        "echo a <\x0c\npwn x",
        "cat a <<<\\ \npwn x",
        "ls a\r\npwn x",
        "echo x > protec\\\nted/file",
        "cat <prot\\\nected/file",
        "echo a`pwn`b",
        "echo $'x'a`pwn`b",
        "pw\\\nn",
        "echo ${x:-a\nb}",
        "echo x >$ b",
    ],
)
def test_what_the_grammar_misplaces_is_refused(command: str) -> None:
    assert analyse(command).error is not None, command


@pytest.mark.parametrize(
    "command",
    [
        "echo a \\\n  b",
        "ls -la \\\n\t/var/log",
        "cat <<EOF\nx\\ y\r\nEOF",
        "echo 'a\r\nb' \"c\x0bd\"",
        "printf '%s\\n' a |\n  sort",
        "a=(1\n2) echo",
        "echo $((1 +\n 2))",
        "echo $(\n  ls\n)",
        "echo a # comment\necho b",
        "echo a;# comment",
        "if true; then\n  echo a\nfi",
        "echo a\\ #;pwn",  # the grammar, like the shell, reads on in the word: pwn is a part
        "echo a\u00a0#;pwn",
    ],
)
def test_ordinary_multi_line_commands_still_parse(command: str) -> None:
    assert analyse(command).error is None, analyse(command).error


def test_a_lone_dollar_is_a_word() -> None:
    assert analyse("echo $ a").parts[0].values == ["echo", "$", "a"]
    assert analyse("rm $").parts[0].values == ["rm", "$"]


@pytest.mark.parametrize("command", ['cat ~"/x"', "cat ~\\/x", "pwn ~}", "cat ~'x'"])
def test_a_tilde_prefix_with_quoted_text_is_not_home(command: str) -> None:
    assert not any(shell.HOME in (w.value or "") for p in analyse(command).parts for w in p.words)


# -- logical and physical changes of folder -----------------------------------------------------------


def test_cd_is_logical_and_a_programs_own_chdir_physical() -> None:
    facts = Facts(home="/h", cwd="/h")
    assert analyse("cd a/link/.. && cat s").cd_targets == ("a/link/..",)
    assert _bases(analyse("cd a/link/.. && cat s"), facts) == ["/h", "/h/a"]
    assert analyse("cd -P a/link/..").cd_targets == (PHYSICAL + "a/link/..",)
    assert _bases(analyse("cd -P a/link/..; cat s"), facts) == ["/h", "/h/a/link/.."]
    assert _bases(analyse("cd -LP a/l/..; cat s"), facts) == ["/h", "/h/a/l/.."]
    assert _bases(analyse("cd -PL a/l/..; cat s"), facts) == ["/h", "/h/a"]
    assert analyse("git -C a/link/.. status").cd_targets == (PHYSICAL + "a/link/..",)
    assert _bases(analyse("git -C a/link/.. status"), facts) == ["/h", "/h/a/link/.."]
    assert _bases(analyse("cd /x/l/../y && cat s"), facts) == ["/h", "/x/y"]
    # a logical cd from a folder reached physically: the host resolves that folder first
    bases = _bases(analyse("cd -P l; cd ../m/n/.. ; cat s"), facts)
    assert "/h/l/../m" in bases and "/m" in bases


# -- process substitutions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "diff <(sort notes.txt) <(sort notes.txt)",
        "comm -12 <(sort notes.txt) <(sort data.csv)",
        "timeout 5 diff <(sort a) <(sort b)",
        "cat < <(sort a)",
    ],
)
def test_a_process_substitution_read_as_data_is_judged_by_its_commands(command: str) -> None:
    analysis = analyse(command)
    assert analysis.error is None and not any(p.dynamic for p in analysis.parts)
    assert any(p.values[:1] == ["sort"] for p in analysis.parts)
    assert all(u.path != shell.PIPE for u in analysis.paths)


@pytest.mark.parametrize(
    "command",
    [
        "bash <(echo pwn)",
        "sh <(echo pwn)",
        "source <(echo pwn)",
        ". <(echo pwn)",
        "python3 <(echo pwn)",
        "awk -f <(echo x) a",
        "sed -f <(echo x) a",
        "wc --files0-from <(printf secret)",
        "tar -cf x.tar -T <(echo secret)",
        "<(echo pwn)",
        "env <(echo pwn)",
        "xargs -a <(echo pwn) echo",
        "cat x<(sort a)",
        "diff --from-file <(echo a) b",
    ],
)
def test_a_process_substitution_run_as_code_or_options_stays_dynamic(command: str) -> None:
    assert _dynamic(command), command


def test_the_commands_in_a_process_substitution_are_parts() -> None:
    parts = analyse("diff <(rm -rf x) b").parts
    assert any(p.values[:1] == ["rm"] for p in parts)


# -- bounded time -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "a|" * 8191 + "a",
        "a|" * 1024,
        "echo " + "$(" * 40 + "a" + ")" * 40,
        "$(" * 3000 + ")" * 3000,
        "cat" + " >x" * 4000,
        "a;" * 8000,
        "a&&" * 5000 + "a",
        "! a|" * 500,
        "a|&" * 500,
        ")" * 2000,
        "echo " + "`echo `" * 2000,
        "for x in a b; do " * 40 + "c; " + "done; " * 40,
    ],
)
def test_judging_small_adversarial_input_is_bounded(command: str) -> None:
    started = time.perf_counter()
    shell._analyse(command)
    assert time.perf_counter() - started < shell.ANALYSIS_SECONDS + 1.0
