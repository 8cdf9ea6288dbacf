"""Round 4 of the programs table: launchers that were listed as readers (json_pp -f eval, Perl
scripts' two-argument open, mtrace's shell line, the JDK's -J options, mvnDebug), readers that
write (LLVM -o, pg_dump -f, pyrsa -o), bundled apt options, service's NAME, the container tools'
global options, and the code files added (compiled lesskey, bare repositories, Maven's rc files)."""

from __future__ import annotations

import shutil

import pytest

from gtp_remote.policy import programs
from gtp_remote.policy.codefiles import code_file
from gtp_remote.policy.programs import canonical, inspect
from tests.test_policy_attacks import _decide


@pytest.mark.parametrize(
    "command",
    [
        ["json_pp", "-f", "eval"],
        ["json_pp", "--f=eval"],
        ["json_pp", "-f"],
        ["json_pp", "-x"],
        ["json_pp", "notes.txt"],
        ["splain", "pwn|"],
        ["splain", "<secret.txt"],
        ["splain", " secret.txt"],
        ["shasum", "pwn |"],
        ["podchecker", ">out"],
        ["zipdetails", "+<x"],
        ["encguess", None],
        ["bzcmp", "a", "b;pwn"],
        ["pg_dump", "x`pwn`"],
        ["pl2pm", "pwn|"],
        ["ptargrep", "x", "pwn|"],
        ["ptardiff", "a.tar"],
        ["mtrace", "x/;pwn;:", "notes.txt"],
        ["xsubpp", "-typemap", "t", "x.xs"],
        ["pod2usage", "x.pod"],
        ["c_rehash", "certs"],
        ["javap", "-J-agentpath:planted/evil.so", "java.lang.Object"],
        ["jdeps", "-J-javaagent:x.jar", "a.jar"],
        ["jps", "-J-XX:OnError=pwn"],
        ["jstat", "-J-Dx=y", "-gc", "1"],
        ["rmiregistry", "-J-agentlib:x"],
        ["jconsole", "-pluginpath", "p.jar"],
        ["jshell", "-J-agentpath:x.so"],
        ["/usr/lib/jvm/java-17-openjdk-amd64/bin/javap", "-J-agentpath:x.so", "X"],
        ["apt-get", "-qo", "APT::Update::Pre-Invoke::=pwn", "update"],
        ["apt-get", "-qqo", "X=Y", "update"],
        ["apt", "-yc", "f.conf", "install", "x"],
        ["apt-cache", "-qc", "f.conf", "policy"],
        ["apt-mark", "-qo", "X=Y", "hold", "x"],
        ["yum", "-yc", "f.conf", "install", "x"],
        ["service", "../../tmp/x", "start"],
        ["service", "../../proc/self/fd/3", "start"],
        ["service", "..", "start"],
        ["service", None, "start"],
        ["docker", "--config", "c", "x"],
        ["docker", "--config=c", "ps"],
        ["docker", "-H", "ssh://h", "ps"],
        ["docker", "--context", "c", "ps"],
        ["docker", "-c", "c", "ps"],
        ["docker", "--tlscacert", "x", "ps"],
        ["podman", "--conmon", "pwn", "ps"],
        ["podman", "--runtime", "pwn", "run", "x"],
        ["podman", "--hooks-dir", "h", "run", "x"],
        ["nerdctl", "--cni-path", "p", "run", "x"],
        ["crictl", "--config", "c", "ps"],
        ["ctr", "--address", "a", "c", "ls"],
        ["helm", "--kubeconfig", "k.yaml", "list"],
        ["helm", "install", "x", "c", "--post-renderer", "pwn"],
        ["helm", "plugin", "install", "p"],
        ["tc", "exec", "bpf", "run", "pwn"],
        ["tc", "e", "bpf", "run", "pwn"],
        ["tc", "-batch", "f"],
        ["tc", "-b", "f"],
        ["tc", "filter", "add", "dev", "lo", "bpf", "obj", "x.o"],
        ["telnet", "h", "25"],
        ["llvm-dis", "@rsp", "x.bc"],
        ["llvm-link", "-load=x.so", "a.bc"],
        ["pngfix", "--suffix=.x", "a.png"],
        ["osslsigncode", "sign", "-pkcs11module", "x.so"],
        ["jsonschema", "-i", "x.json", "s.json"],
    ],
)
def test_dynamic(command: list[str | None]) -> None:
    assert inspect(command).dynamic, command


@pytest.mark.parametrize(
    "command",
    [
        ["json_pp"],
        ["json_pp", "-t", "dumper"],
        ["json_pp", "-f", "json", "-t", "null", "-v"],
        ["json_pp", "-json_opt", "pretty,canonical"],
        ["splain", "notes.txt"],
        ["shasum", "-a", "256", "notes.txt"],
        ["zcmp", "a.gz", "b.gz"],
        ["pg_dump", "-d", "db", "-f", "out.sql"],
        ["javap", "-c", "java.lang.Object"],
        ["jps", "-l"],
        ["apt-get", "-qy", "install", "x"],
        ["apt", "-t", "bookworm-backports", "install", "x"],
        ["apt-cache", "policy", "x"],
        ["service", "nginx", "status"],
        ["service", "--status-all"],
        ["docker", "ps", "-a"],
        ["docker", "--log-level", "debug", "ps"],
        ["docker", "run", "-c", "512", "img"],
        ["podman", "ps"],
        ["helm", "list", "-A"],
        ["tc", "qdisc", "show", "dev", "lo"],
        ["llvm-dis", "x.bc"],
    ],
)
def test_not_dynamic(command: list[str | None]) -> None:
    assert not inspect(command).dynamic, command


@pytest.mark.parametrize(
    ("command", "written"),
    [
        (["llvm-dis", "-o", ".bashrc", "x.bc"], ".bashrc"),
        (["llvm-dis", "-o=.bashrc", "x.bc"], ".bashrc"),
        (["llvm-dis", "-o.bashrc", "x.bc"], ".bashrc"),
        (["llvm-lib", "/out:.bashrc", "x.o"], ".bashrc"),
        (["pngfix", "--out=.bashrc", "x.png"], ".bashrc"),
        (["gdk-pixbuf-pixdata", "x.png", ".bashrc"], ".bashrc"),
        (["pyrsa-keygen", "-o", ".bashrc", "512"], ".bashrc"),
        (["pg_dump", "-f", ".bashrc"], ".bashrc"),
        (["pg_dump", "--file=.bashrc"], ".bashrc"),
        (["pg_basebackup", "-D", "protected"], "protected"),
        (["normalizer", "-r", ".bashrc"], ".bashrc"),
        (["gencat", ".bashrc", "m.msg"], ".bashrc"),
    ],
)
def test_writes(command: list[str | None], written: str) -> None:
    seen = inspect(command)
    assert not seen.dynamic
    paths = {command[i] for op, i in seen.paths if op == "write"}
    paths |= {v for op, v in seen.value_paths if op == "write"}
    assert written in paths, (command, seen)


def test_moved_out_of_reads_only() -> None:
    moved = "json_pp mtrace pl2pm ptargrep ptardiff splain c_rehash pod2usage xsubpp mvnDebug tc".split()
    reads_only = set(programs._READS_ONLY)
    assert not {"json_pp", "mtrace", "pl2pm", "ptargrep", "xsubpp", "mvnDebug", "tc"} & reads_only
    for name in moved:
        assert name in programs._HANDLERS or canonical(name) != name, name
    assert canonical("mvnDebug") == "mvn"
    assert inspect(["mvnDebug", "-v"]).opaque or inspect(["mvnDebug", "-v"]).dynamic


def test_reads_only_scripts_are_known() -> None:
    """Every program in the generic reader list that is a Perl or shell script on this machine
    is in _SCRIPTS (its words are checked for two-argument open and shell characters)."""
    missing = []
    for name in programs._READS_ONLY:
        path = shutil.which(name)
        if path is None:
            continue
        with open(path, "rb") as handle:
            head = handle.read(100)
        line = head.split(b"\n")[0]
        if not line.startswith(b"#!") or b"python" in line:
            continue
        if b"perl" in line or b"sh" in line.split(b"/")[-1]:
            if (b"exec" in head and b"python" in head) or b"PYENV" in head:
                continue  # a Python console script's shell trampoline, or a pyenv shim
            if name not in programs._SCRIPTS:
                missing.append(name)
    assert not missing, missing


@pytest.mark.parametrize(
    "path",
    [
        "/home/u/.less",
        "/home/u/b/HEAD",
        "/srv/x.git/config",
        "/home/u/.git/modules/sub/config",
        "/home/u/.mavenrc",
        "/home/u/p/.mvn/jvm.config",
        "/home/u/p/.mvn/maven.config",
        "/home/u/p/.mvn/extensions.xml",
        "/home/u/.m2/repository/x/y.jar",
        "/home/u/.pdbrc",
        "/home/u/.terminfo/x/xterm",
        "/home/u/.envrc",
        "/home/u/p/.env",
        "/home/u/.valgrindrc",
        "/home/u/.lldbinit",
        "/home/u/p/rust-toolchain.toml",
        "/home/u/p/gradle.properties",
    ],
)
def test_code_files(path: str) -> None:
    assert code_file(path), path


@pytest.mark.parametrize("path", ["/home/u/notes.txt", "/home/u/p/config.yaml", "/home/u/p/README.md"])
def test_not_code_files(path: str) -> None:
    assert code_file(path) is None


@pytest.mark.parametrize(
    "command",
    [
        "seq 5 | sort -S 1K -T protected",
        "sort -Tprotected -o /dev/null data.csv",
        "journalctl -D protected --vacuum-size=1",
        "journalctl --rotate",
        "journalctl --flush",
        "date -s 2020-01-01",
        "date --set=2020-01-01",
        "original-awk 'BEGIN{system(\"pwn\")}'",
        "gdb-multiarch -batch -ex '!pwn'",
        "json_xs -f eval",
        "python3.11-dbg -c 'import os'",
    ],
)
def test_round_five_is_not_allowed_under_a_deny_list(command: str) -> None:
    """sort's temporary folder is written, journalctl's vacuum/rotate/flush change the journal,
    date -s sets the clock, and renamed copies are the programs they copy (red team, round 5)."""
    assert _decide("denylist", command).action != "allow", command


@pytest.mark.parametrize(
    "command", ["sort -k2 data.csv", "date +%F", "journalctl -u ssh --since today --no-pager"]
)
def test_round_five_leaves_everyday_use_alone(command: str) -> None:
    assert _decide("allowlist", command).action == "allow", command
