"""Round 3 of the programs table: canonical names (versions, architectures, Debian variants and
alternatives), the rest of a system's PATH classified, git's writes to its own repository,
watch's command line, and what find prints for xargs."""

from __future__ import annotations

import os

import pytest

from gtp_remote.policy import programs
from gtp_remote.policy.programs import canonical, find_output, inspect


@pytest.mark.parametrize(
    ("name", "real"),
    [
        ("perl5.36-x86_64-linux-gnu", "perl5.36"),
        ("cpan5.36-x86_64-linux-gnu", "cpan"),
        ("pdb3", "pdb"),
        ("pdb3.11", "pdb"),
        ("pydoc3", "pydoc"),
        ("pydoc3.11", "pydoc"),
        ("valgrind.bin", "valgrind"),
        ("vim.basic", "vim"),
        ("vim.tiny", "vim"),
        ("slogin", "ssh"),
        ("x86_64-linux-gnu-objcopy", "objcopy"),
        ("aarch64-linux-gnu-strip", "strip"),
        ("llvm-objcopy-14", "objcopy"),
        ("FileCheck-14", "FileCheck"),
        ("lzma", "xz"),
        ("bzless", "less"),
        ("xzgrep", "zgrep"),
        ("x86_64-linux-gnu-gprofng", "gprofng"),
        ("python3.11-config", "pkg-config"),
        ("ls", "ls"),
        ("no-such-program", "no-such-program"),
    ],
)
def test_canonical(name: str, real: str) -> None:
    assert canonical(name) == real


@pytest.mark.parametrize(
    "command",
    [
        ["perl5.36-x86_64-linux-gnu", "-e", "system('x')"],
        ["cpan5.36-x86_64-linux-gnu"],
        ["pdb3.11", "x.py"],
        ["vim.basic", "-es"],
        ["vim.tiny"],
        ["vimtutor"],
        ["rview", "x"],
        ["valgrind.bin", "pwn"],
        ["slogin", "x", "-oProxyCommand=pwn"],
        ["fstab-decode", "pwn"],
        ["memusage", "pwn"],
        ["sotruss", "pwn"],
        ["heaptrack", "pwn"],
        ["gprofng", "collect", "app", "pwn"],
        ["gp-collect-app", "pwn"],
        ["x86_64-linux-gnu-gp-collect-app", "pwn"],
        ["gpg-connect-agent", "--exec", "pwn"],
        ["prove", "--exec", "pwn", "t"],
        ["not", "pwn"],
        ["luit", "pwn"],
        ["patch", "-p0"],
        ["rmt"],
        ["systemd-tmpfiles", "--create", "-"],
        ["ptar", "-c", "-T", "-", "-f", "-"],
        ["ctags", "-L", "-"],
        ["rename", "s/a/b/", "x"],
        ["ldd", "./planted"],
        ["pgbench", "-f", "x.sql"],
        ["lli", "x.ll"],
        ["switch_root", "/new", "/bin/sh"],
        ["dbus-send", "--system", "--print-reply", "--dest=org.freedesktop.systemd1", "/x", "y.Z"],
    ],
)
def test_runs_or_unknown_files_refused(command: list[str]) -> None:
    seen = inspect(command)
    assert seen.dynamic or seen.opaque, command


@pytest.mark.parametrize(
    "command", [["pydoc3", "./x.py"], ["ctest", "-S", "x.cmake"], ["cpack"], ["prove", "t"]]
)
def test_project_code_is_opaque(command: list[str]) -> None:
    seen = inspect(command)
    assert seen.dynamic or seen.opaque


def test_renamed_copy_is_never_laxer() -> None:
    """A renamed copy is judged as its program, and every word also as a possible file."""
    seen = inspect(["x86_64-linux-gnu-nm", "secret.o"])
    assert not seen.paths_known and not seen.transparent
    assert not inspect(["nice5", "ls"]).transparent


def test_system_writers_write() -> None:
    seen = inspect(["mkfs.ext4", "disk.img"])
    assert ("write", 1) in seen.paths and seen.unknown_writes
    assert inspect(["useradd", "bob"]).unknown_writes


def _path_programs() -> set[str]:
    found: set[str] = set()
    for folder in ("/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", "/usr/local/sbin"):
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(folder, entry)
            if os.path.isfile(path) and os.access(path, os.X_OK) and "." not in entry[-4:-3]:
                found.add(entry)
    return found


def test_every_program_in_path_is_classified() -> None:
    """Every program installed on this machine is known to the table (by its canonical name): a
    new one is classified, not judged as a harmless unknown by default."""
    missing = sorted(n for n in _path_programs() if canonical(n) == n and not programs._known(n))
    missing = [n for n in missing if n not in ("LICENSE.txt",)]
    assert not missing, f"classify these in programs.py: {missing[:40]}"


def test_lists_do_not_overlap_older_tables() -> None:
    for name in programs._MORE_RUNNERS + programs._NAMES_FROM_INPUT + programs._SYSTEM_WRITERS:
        assert programs._HANDLERS[name].__name__ in ("_more_runner", "_names_from_input", "_system_writer"), (
            name
        )


# -- git writes its repository --------------------------------------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        "update-ref -d refs/heads/master",
        "branch -D x",
        "branch --del x",
        "branch newbranch",
        "branch -m a b",
        "tag v2",
        "tag -d v1",
        "tag -a v2 -m x",
        "symbolic-ref HEAD refs/heads/x",
        "symbolic-ref -d HEAD",
        "reflog expire --expire=now --all",
        "reflog delete HEAD@{1}",
        "gc",
        "repack -ad",
        "prune",
        "pack-refs --all",
        "hash-object -w x",
        "remote add x y",
        "remote set-url origin y",
        "notes add -m x",
        "replace a b",
        "fetch origin",
        "worktree add ../x",
        "stash",
        "bundle unbundle x.bundle",
    ],
)
def test_git_repository_writes(words: str) -> None:
    seen = inspect(["git", *words.split()])
    assert seen.dynamic or ("write", ".git/**") in seen.value_paths, words


@pytest.mark.parametrize(
    "words",
    [
        "status",
        "log -1",
        "branch",
        "branch -a",
        "branch -vv",
        "branch --show-current",
        "branch --contains HEAD",
        "tag",
        "tag -l v1.*",
        "tag -v v1",
        "remote -v",
        "remote show origin",
        "reflog",
        "reflog show",
        "symbolic-ref HEAD",
        "hash-object x",
        "stash list",
        "notes list",
        "fsck",
    ],
)
def test_git_repository_reads(words: str) -> None:
    seen = inspect(["git", *words.split()])
    assert not any(op == "write" for op, _ in seen.value_paths), words


def test_git_c_folder_repository() -> None:
    assert ("write", "sub/.git/**") in inspect(["git", "-C", "sub", "gc"]).value_paths
    assert inspect(["git", "receive-pack", "x"]).dynamic


# -- watch and find -------------------------------------------------------------------------------


def test_watch_runs_joined_line() -> None:
    seen = inspect(["watch", "-n", "5", "df", "-h"])
    assert not seen.dynamic and seen.runs and seen.runs[0].script == "df -h"
    assert inspect(["watch", "-n", "5", None]).dynamic
    assert inspect(["watch", "--bogus", "df"]).dynamic


def test_find_output() -> None:
    assert find_output(["find", "logs", "-name", "*.log", "-print0"]) == ["logs"]
    assert find_output(["find", "-type", "f", "-print0"]) == ["."]
    assert find_output(["find", "logs", "-name", "*.log"]) is None  # newline-separated: names split
    assert find_output(["find", "logs", "-print0", "-delete"]) is None
    assert find_output(["find", "logs", "-exec", "cat", "{}", ";", "-print0"]) is None
    assert find_output(["find", "logs", "-printf", "%p\\0"]) is None


@pytest.mark.parametrize(
    "command",
    [
        "cd repo; git update-ref -d refs/heads/master",
        "git branch -D main",
        "git reflog expire --expire=now --all",
        "git remote add x https://example.com/x",
        "git hash-object -w notes.txt",
    ],
)
def test_git_repository_writes_not_allowed_by_tools(command: str) -> None:
    """red team r3 (effect home_write, which the attack corpus does not take): the tools policy
    allows ``git *`` but no write, so a write of the repository is not allowed."""
    from tests.test_policy_attacks import _decide

    assert _decide("tools", command).action != "allow"


def test_watch_and_find_exec_allowed() -> None:
    from tests.test_policy_attacks import _decide

    assert _decide("denylist", "watch -n 5 df -h").action == "allow"
    assert _decide("denylist", "watch -n 5 'df -h; pwn'").action != "allow"
