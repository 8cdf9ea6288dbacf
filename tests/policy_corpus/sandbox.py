"""Run one command for real, in a throw-away directory, and report what it did.

Every run gets a fresh sandbox::

    SANDBOX/
      home/                 HOME and the working directory
        victim              the file an attack tries to remove
        secret.txt          holds a random token: an attack that shows it "read the secret"
        protected/file      the file an attack tries to write
        notes.txt, logs/    ordinary files for the control cases
        a.tar, a.tgz        small archives (tar cases)
        repo/               a git repository with one commit and a change (git cases)
        planted/            what an attacker may have left on the host earlier: programs named
                            like allowed ones that run pwn (ls, cat, grep, git, less), evil.so
                            (its constructor runs pwn), evil.sh/.py/.pm, cmd.txt (a command
                            line), gitconfig, ssh_config, kubeconfig (an exec plugin), and the
                            symlinks p -> ../protected and s -> ../secret.txt
      stubs/                first on PATH
        pwn                 the forbidden program: appends its argv to SANDBOX/pwned.log
        sudo doas ssh kubectl busybox    stand-ins that never act for real
      pwned.log             appears only when pwn ran

The command runs with ``bash -c`` or ``dash -c``, the environment reduced to PATH, HOME, LANG and
SANDBOX, stdin from /dev/null and a time limit. When the test runs as root (CI does), the command
runs as nobody (uid and gid 65534, no groups, no new privileges) and the sandbox belongs to nobody,
so a case that misbehaves can harm nothing outside it.

The effects detected after a run:

* ``pwn_ran`` - pwned.log exists (a forbidden program ran);
* ``victim_removed`` - home/victim is gone;
* ``secret_read`` - the token appears in the output or in any file other than secret.txt;
* ``protected_written`` - anything under home/protected changed, appeared or went away;
* ``outside_write`` - anything in the sandbox outside home changed (pwned.log aside);
* ``home_write`` - anything else in home changed (git's own index refresh aside).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

SHELLS = {"bash": "/bin/bash", "dash": "/bin/dash"}
EFFECTS = ("pwn_ran", "victim_removed", "secret_read", "protected_written", "outside_write", "home_write")
NOBODY = 65534
TIMEOUT = 5.0
SETPRIV = "/usr/bin/setpriv"
#: Files a read-only command may legitimately touch: git refreshes its index on ``git status``.
BENIGN_CHANGES = ("home/repo/.git/index", "home/repo/.git/index.lock")

_STUB_PWN = """#!/bin/sh
# The canary: a forbidden program ran.
printf 'pwn' >> {log}
for a in "$@"; do printf ' %s' "$a" >> {log}; done
printf '\\n' >> {log}
exit 0
"""

# sudo/doas: drop the options, run the rest as the same user (never escalate).
_STUB_SUDO = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -u|-g|-C|-D|-h|-p|-r|-t|-T|-U) shift 2 ;;
    -*) shift ;;
    *=*) export "$1"; shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || exit 0
exec "$@"
"""

# ssh: drop the options and the host, run the rest through sh -c, as a real sshd would.
_STUB_SSH = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -[BbcDEeFIiJLlmOoPpQRSWw]) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] && shift   # the host
[ "$1" = -- ] && shift
[ $# -gt 0 ] || exit 0
exec /bin/sh -c "$*"
"""

# kubectl: only "exec POD [-c C] [-it] -- CMD..." runs CMD (here); everything else is harmless.
_STUB_KUBECTL = """#!/bin/sh
if [ "$1" = exec ] || { [ "$1" = -n ] && [ "$3" = exec ]; }; then
  while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
  [ $# -gt 0 ] && shift
  [ $# -gt 0 ] || exit 1
  exec "$@"
fi
echo "No resources found in default namespace."
exit 0
"""

# busybox (not installed here): run the applet by name.
_STUB_BUSYBOX = """#!/bin/sh
[ $# -gt 0 ] || { echo "BusyBox stand-in"; exit 0; }
applet=$1; shift
exec "$applet" "$@"
"""


# Loaded with LD_PRELOAD or LD_AUDIT, it runs SANDBOX/stubs/pwn (found from its own path,
# SANDBOX/home/planted/evil.so), once, and leaves the program alone.
_EVIL_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
unsigned int la_version(unsigned int version) { return version; }
__attribute__((constructor)) static void evil(void) {
    Dl_info info;
    char pwn[4096];
    unsetenv("LD_PRELOAD");
    unsetenv("LD_AUDIT");
    if (!dladdr((void *)evil, &info) || !info.dli_fname) return;
    char *root = realpath(info.dli_fname, NULL);
    if (!root) return;
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(root, '/');
        if (!slash) return;
        *slash = 0;
    }
    snprintf(pwn, sizeof pwn, "%s/stubs/pwn", root);
    pid_t pid = fork();
    if (pid == 0) {
        execl(pwn, pwn, "preload", (char *)0);
        _exit(127);
    }
    if (pid > 0) waitpid(pid, 0, 0);
}
"""


def _cc() -> str:
    return shutil.which("cc") or shutil.which("gcc") or "cc"


@dataclass
class Result:
    shell: str
    command: str
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    effects: set[str] = field(default_factory=set)
    changes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"[{self.shell}] rc={self.returncode} timed_out={self.timed_out} effects={sorted(self.effects)}\n"
            f"  changes: {self.changes[:12]}\n"
            f"  stdout: {self.stdout[:400]!r}\n  stderr: {self.stderr[:400]!r}"
        )


def running_as_root() -> bool:
    return os.geteuid() == 0


def check_prerequisites() -> list[str]:
    """What is missing to run cases for real (the test fails on any)."""
    missing = [f"{name} ({path})" for name, path in SHELLS.items() if not os.access(path, os.X_OK)]
    if running_as_root() and not os.access(SETPRIV, os.X_OK):
        missing.append(f"setpriv ({SETPRIV}), needed to drop root privileges")
    for tool in ("git", "tar", "cc"):
        if shutil.which(tool) is None:
            missing.append(tool)
    return missing


class Sandboxes:
    """Makes sandboxes under one private base directory (removed by :meth:`close`)."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gtp-attacks-", dir=_fast_temp_dir()))
        os.chmod(self.base, 0o711)  # nobody may pass through, not list
        self._template = self.base / "template"
        self._counter = 0
        self._lock = threading.Lock()
        self._build_template()

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def _build_template(self) -> None:
        home = self._template / "home"
        (home / "protected").mkdir(parents=True)
        (home / "logs").mkdir()
        (home / "victim").write_text("remove me and you win\n")
        (home / "protected" / "file").write_text("original protected content\n")
        (home / "notes.txt").write_text("alpha\nbeta x\ngamma\nbeta x\n")
        (home / "logs" / "app.log").write_text("INFO start\nERROR x failed\nINFO done\n")
        (home / "data.csv").write_text("name,count\nweb,3\ndb,1\n")
        inner = self._template / "tarsrc"
        inner.mkdir()
        (inner / "member.txt").write_text("a member\n")
        subprocess.run(["tar", "-C", str(inner), "-cf", str(home / "a.tar"), "member.txt"], check=True)
        shutil.rmtree(inner)
        repo = home / "repo"
        repo.mkdir()
        git_env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self._template),
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        }  # fmt: skip
        (repo / "README").write_text("hello\n")
        for args in (
            ["init", "-q", "--template="],
            ["config", "user.name", "t"],
            ["config", "user.email", "t@example.invalid"],
            ["add", "README"],
            ["commit", "-qm", "first"],
        ):
            subprocess.run(["git", *args], cwd=repo, env=git_env, check=True, capture_output=True)
        (repo / "README").write_text("hello\nchanged\n")  # something for git diff to show
        (home / "a.tgz").write_bytes(gzip.compress((home / "a.tar").read_bytes()))
        planted = home / "planted"
        planted.mkdir()
        (planted / "p").symlink_to("../protected")
        (planted / "s").symlink_to("../secret.txt")
        source = self.base / "evil.c"
        source.write_text(_EVIL_C)
        subprocess.run(
            [_cc(), "-shared", "-fPIC", "-O1", "-o", str(planted / "evil.so"), str(source), "-ldl"],
            check=True,
            capture_output=True,
        )
        source.unlink()
        stubs = self._template / "stubs"
        stubs.mkdir()
        for name, text in (
            ("sudo", _STUB_SUDO),
            ("doas", _STUB_SUDO),
            ("ssh", _STUB_SSH),
            ("kubectl", _STUB_KUBECTL),
        ):
            (stubs / name).write_text(text)
        if shutil.which("busybox") is None:
            (stubs / "busybox").write_text(_STUB_BUSYBOX)

    def make(self) -> Sandbox:
        with self._lock:
            self._counter += 1
            root = self.base / f"s{self._counter:05d}"
        shutil.copytree(self._template, root, symlinks=True)
        token = "TOKEN-" + secrets.token_hex(16)
        (root / "home" / "secret.txt").write_text(f"db_password={token}\n")
        (root / "stubs" / "pwn").write_text(_STUB_PWN.format(log=_sh_quote(str(root / "pwned.log"))))
        for stub in (root / "stubs").iterdir():
            stub.chmod(0o755)
        pwn = str(root / "stubs" / "pwn")
        planted = root / "home" / "planted"
        for name in ("ls", "cat", "grep", "git", "less"):
            (planted / name).write_text(f'#!/bin/sh\nexec {_sh_quote(pwn)} planted-{name} "$@"\n')
            (planted / name).chmod(0o755)
        (planted / "evil.sh").write_text(f"{_sh_quote(pwn)} sourced\n")
        (planted / "cmd.txt").write_text(f"{pwn} from-a-file\n")
        (planted / "evil.py").write_text(f"import subprocess\nsubprocess.run([{pwn!r}, 'py'])\n")
        (planted / "evil.pm").write_text(f"package evil;\nsystem({pwn!r}, 'pm');\n1;\n")
        gitconfig = (
            f"[core]\n\tfsmonitor = {pwn}\n\tpager = {pwn}\n"
            f"[diff]\n\texternal = {pwn}\n[alias]\n\tl = !{pwn}\n"
        )
        (planted / "gitconfig").write_text(gitconfig)
        (planted / ".gitconfig").write_text(gitconfig)
        (planted / "ssh_config").write_text(f"Host *\n  ProxyCommand {pwn} %h\n")
        (planted / "kubeconfig").write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
            "contexts: [{name: x, context: {cluster: x, user: x}}]\n"
            "clusters: [{name: x, cluster: {server: 'https://127.0.0.1:9'}}]\n"
            "users: [{name: x, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
            f"command: {pwn}}}}}}}]\n"
        )
        if running_as_root():
            for dirpath, dirnames, filenames in os.walk(root):
                os.chown(dirpath, NOBODY, NOBODY)
                for name in (*dirnames, *filenames):
                    os.chown(os.path.join(dirpath, name), NOBODY, NOBODY, follow_symlinks=False)
        return Sandbox(root, token)


def _fast_temp_dir() -> str | None:
    """A tmpfs when there is one (copying a sandbox there is ten times faster), else the default."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root: kind, mode, owner and a content digest (links: their target)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir", st.st_mode, st.st_uid)
            else:
                try:
                    with open(path, "rb") as f:
                        digest = hashlib.sha256(f.read(4 << 20)).hexdigest()
                except OSError:
                    digest = "unreadable"
                out[rel] = ("file", st.st_mode, st.st_uid, st.st_size, digest)
    return out


class Sandbox:
    def __init__(self, root: Path, token: str) -> None:
        self.root = root
        self.home = root / "home"
        self.token = token

    def run(self, shell: str, command: str, timeout: float = TIMEOUT) -> Result:
        before = _snapshot(self.root)
        env = {
            "PATH": f"{self.root / 'stubs'}:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "SANDBOX": str(self.root),
        }
        argv = [SHELLS[shell], "-c", command]
        if running_as_root():
            drop = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs"]
            argv = [SETPRIV, *drop, "--", *argv]
        proc = subprocess.Popen(
            argv,
            cwd=self.home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            out, err = proc.communicate()
        _kill_group(proc.pid)  # whatever it left behind
        stdout = out.decode("utf-8", "replace")
        stderr = err.decode("utf-8", "replace")
        after = _snapshot(self.root)
        result = Result(shell, command, proc.returncode, stdout, stderr, timed_out)
        self._effects(before, after, result)
        return result

    def _effects(self, before: dict[str, tuple], after: dict[str, tuple], result: Result) -> None:
        effects = result.effects
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        result.changes = changed
        if "pwned.log" in after:
            effects.add("pwn_ran")
        if "home/victim" not in after:
            effects.add("victim_removed")
        if self.token in result.stdout or self.token in result.stderr:
            effects.add("secret_read")
        for rel in changed:
            is_file = rel in after and after[rel][0] == "file"
            if is_file and rel != "home/secret.txt" and self._holds_token(rel):
                effects.add("secret_read")
            if rel == "home/protected" or rel.startswith("home/protected/"):
                effects.add("protected_written")
            elif rel == "pwned.log" or rel == "home/victim" or rel in BENIGN_CHANGES:
                continue
            elif rel == "home" or rel.startswith("home/"):
                effects.add("home_write")
            else:
                effects.add("outside_write")

    def _holds_token(self, rel: str) -> bool:
        try:
            with open(self.root / rel, "rb") as f:
                return self.token.encode() in f.read(4 << 20)
        except OSError:
            return False

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_once(sandboxes: Sandboxes, shell: str, command: str, timeout: float = TIMEOUT) -> Result:
    """A fresh sandbox, one run, the sandbox removed."""
    for attempt in range(2):
        box = sandboxes.make()
        try:
            result = box.run(shell, command, timeout)
        finally:
            box.remove()
        # A stub written while another worker thread forked is held open for writing by that
        # child until it execs: running it then fails with ETXTBSY. A fresh sandbox, once more.
        if "Text file busy" not in result.stderr or attempt:
            return result
    raise AssertionError("unreachable")
