"""The programs table against the red team's second round: sed and awk readings, names read
from standard input, GNU long-option abbreviations, options after ssh's host, GTFOBins coverage,
and the linear time of the script readers."""

from __future__ import annotations

import time

import pytest

from gtp_remote.policy import programs
from gtp_remote.policy.programs import MAX_PROGRAM, awk_program_problem, inspect, sed_script_problem


def _words(command: str) -> list[str | None]:
    return command.split()


@pytest.mark.parametrize(
    "script",
    [
        "/[/b]/e pwn",
        "/[/b]/r secret.txt",
        "/[/b]/w protected/file",
        "s/[/]/x/e",
        r"\,[,],w out",
        ":x e pwn",
        ":a r secret.txt",
        "tx w protected/file\n:x",
        "v 4.2 e pwn",
        "bx}e pwn",
        ":x a;e pwn",  # older seds end the label at ';': e pwn runs there
        "s/[[:alpha:]/]/X/w f",
    ],
)
def test_sed_hidden_commands(script: str) -> None:
    assert sed_script_problem(script) is not None


@pytest.mark.parametrize("script", ["s/a/b/g", ":a;N;$!ba;s/\\n/ /g", "/x/{p;d}", "1,/^$/d", "s/[0-9]/#/g"])
def test_sed_plain_scripts(script: str) -> None:
    assert sed_script_problem(script) is None


@pytest.mark.parametrize(
    "program",
    [
        'BEGIN{ARGV[1]="secret.txt";ARGC=2}{print}',
        'BEGIN{ARGV[ARGC++]="planted/s"}1',
        'BEGIN{f="system"; @f("pwn")}',
        '{print > "/dev/stderr" "x"}',
        "{print > f}",
    ],
)
def test_awk_hidden_files(program: str) -> None:
    assert awk_program_problem(program) is not None


def test_awk_controls() -> None:
    assert awk_program_problem('/ERROR/ { print > "/dev/stderr" }') is None
    assert awk_program_problem('{ printf("%s\\n", $1) >> "/dev/stdout" }') is None
    seen = inspect(["awk", "{ print $1 }", "FS=,", "data.csv"])
    assert seen.dynamic is None and seen.paths == [("read", 3)]


def test_script_readers_are_quick_up_to_their_cap_and_refuse_past_it() -> None:
    """Up to MAX_PROGRAM characters a script is read, in linear time (the quadratic readers took
    4 s and 62 s a MiB); past it, it is dynamic at once."""
    big = MAX_PROGRAM
    for check, text in (
        (sed_script_problem, ":a\n" * (big // 3)),
        (sed_script_problem, "b a " * (big // 4)),
        (awk_program_problem, "x=1;" * (big // 4)),
        (awk_program_problem, "{print $1}\n" * (big // 11)),
    ):
        start = time.perf_counter()
        check(text)
        assert time.perf_counter() - start < 0.5, check.__name__
        start = time.perf_counter()
        assert "not read" in (check(text * 2) or "")
        assert time.perf_counter() - start < 0.01


@pytest.mark.parametrize(
    "command",
    [
        "sort --files0-from=-",
        "sort --files0=list",
        "wc --files0-from=list",
        "du --files0-from=-",
        "file -f -",
        "tar -cf - -T -",
        "tar -c --files-from=list -f a.tar",
        "zip -0 - -@",
        "cpio -o",
        "xz --files=list",
        "git add --pathspec-from-file=-",
    ],
)
def test_names_read_from_input_are_dynamic(command: str) -> None:
    assert inspect(_words(command)).dynamic


@pytest.mark.parametrize(
    "command, write",
    [
        ("tar -tf a.tar --volno-file=protected/new", "protected/new"),
        ("tar -tf a.tar --volno=protected/new", "protected/new"),
        ("tar -tf a.tar --index-f=out", "out"),
    ],
)
def test_tar_abbreviated_writes(command: str, write: str) -> None:
    assert ("write", write) in inspect(_words(command)).value_paths


@pytest.mark.parametrize(
    "command",
    ["tar -tf a.tar --ex=x", "tar -tf a.tar --bogus=x", "tar -Qf a.tar", "tar cf a.tar --to-com=sh b"],
)
def test_tar_unknown_or_running_options(command: str) -> None:
    assert inspect(_words(command)).dynamic


def test_tar_modes() -> None:
    to_stdout = inspect(_words("tar -xOf a.tar member.txt"))
    assert to_stdout.unknown_writes is None and to_stdout.paths == [("read", 2)]
    assert inspect(_words("tar xzf a.tgz")).unknown_writes
    assert inspect(_words("tar --delete -f a.tar m")).paths == [("write", 3)]


def test_unzip_list_and_extract() -> None:
    assert inspect(_words("unzip -l a.zip")).unknown_writes is None
    assert inspect(_words("unzip -p a.zip m")).unknown_writes is None
    extract = inspect(_words("unzip -o a.zip -d out"))
    assert extract.unknown_writes and ("write", "out/**") in extract.value_paths


@pytest.mark.parametrize(
    "command",
    ["ssh x -oProxyCommand=pwn true", "ssh x -F planted/ssh_config", "ssh -p 22 x -o LocalCommand=pwn true"],
)
def test_ssh_options_after_the_host(command: str) -> None:
    assert inspect(_words(command)).dynamic


def test_ssh_remote_command_keeps_its_options() -> None:
    seen = inspect(_words("ssh host ls -la"))
    assert seen.dynamic is None and [r.script for r in seen.runs] == ["ls -la"]


@pytest.mark.parametrize(
    "command",
    [
        "man ./secret.txt",
        "man -E ascii planted/s",
        "strings @secret.txt",
        "nm @args",
        "objdump --plugin=x.so -d a",
        "wait -n -p a[x]",
        "nroff -U",
        "soelim",
        "busctl --address=unixexec:path=/bin/sh status",
        "xdg-user-dir x",
        "debugfs",
        "sysctl -w kernel.core_pattern=x",
        "sysctl kernel.modprobe=/tmp/x",
        "ssh-keygen -D lib.so",
        "git x",
        "git archive --o=protected/f HEAD",
    ],
)
def test_dynamic(command: str) -> None:
    seen = inspect(_words(command))
    assert seen.dynamic or seen.value_paths, command


@pytest.mark.parametrize(
    "command",
    [
        "python3 -m timeit -n1 x",
        "python3 -m cProfile planted/evil.py",
        "python3 -m pydoc ./planted/evil.py",
        "python3 -m e2",
        "python3 -m json.tool a.json",  # the working folder is searched first
        "c99 a.c",
        "mypy src",
    ],
)
def test_opaque(command: str) -> None:
    seen = inspect(_words(command))
    assert seen.opaque or seen.dynamic


def test_python_module_isolated_harmless() -> None:
    seen = inspect(_words("python3 -I -m json.tool a.json"))
    assert seen.opaque is None and seen.dynamic is None and seen.paths == [("read", 4)]


def test_git_subcommands() -> None:
    assert inspect(_words("git status")).dynamic is None
    assert inspect(_words("git checkout -- f")).unknown_writes
    assert inspect(_words("git reset HEAD f")).unknown_writes is None
    assert inspect(_words("git reset --hard")).unknown_writes


def test_gtfobins_programs_are_known() -> None:
    """Every program GTFOBins lists as running commands, loading code or opening files (a sample
    of its list: the whole list is checked when written) has an entry."""
    sample = (
        "agetty busctl debugfs dmsetup jrunscript jjs loginctl msgfilter perlbug rustup sysctl zic "
        "ssh-keygen ldconfig cpan easy_install soelim tbl eqn nroff troff groff pic xdg-user-dir c89 c99 "
        "nm readelf strip objcopy gcore ftp smbclient tftp nmap ffmpeg pax cpio unsquashfs"
    ).split()
    missing = [
        n
        for n in sample
        if n not in programs._HANDLERS
        and programs.family(n) not in programs._HANDLERS
        and programs._code_runner([n]) is None
    ]
    assert not missing
