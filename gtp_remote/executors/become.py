"""Become: a command run as another user of its host (``sudo -n -u USER``), on every transport.

A server (or its group) with ``become: true``, or a request asking for it, runs its commands as
``become_user`` (root by default). This module is the one place that builds the wrapper; the
executor base applies it after ``cwd`` and ``env`` are known, so the gateway, the policy and
the front ends only ever see (and judge) the command as written.

Why it is built this way:

* **Never prompts.** ``sudo -n`` fails at once where it would ask for a password, and sudo's own
  messages are read with ``LC_ALL=C`` (the command gets the caller's ``LC_ALL`` back).
* **Its own environment and folder.** sudo resets the environment, so the server's and the
  request's variables are exported inside the sudo'd shell, which starts in the become user's
  home (as a login as that user would; the gateway judges ``~`` and relative paths from that
  home) and then enters ``cwd``. The command runs in ``/bin/sh -c`` (as Ansible's become does:
  a service user's login shell may be ``nologin``).
* **A command's stderr is never taken for sudo's.** The sudo'd shell first writes a random
  nonce line to stderr. Before it, stderr is sudo's (its refusal, or a warning, passed on);
  after it, the command's. A run whose stderr ends without the nonce never started the command,
  and is reported as :class:`BecomeError`, naming the server, the user and what to do.
* **Killable.** A timeout or cancel kills the command's process group with KILL, as the login
  user: that reaches sudo (whose real uid is the login user's) but not the root processes under
  it, and KILL is not a signal sudo can relay. So the sudo'd shell is started with
  ``setpriv --pdeathsig TERM`` (sudo runs it as its child): when sudo dies, it gets TERM and
  kills its whole process group with KILL, as root. The command runs as its background job so
  the trap runs at once (a shell defers traps until a foreground command ends); stdin is handed
  to it explicitly, since a background job's would be ``/dev/null`` (and, as for any background
  job of ``sh``, SIGINT and SIGQUIT are ignored in it). Where setpriv is missing,
  the sudo'd shell starts a watcher that polls (each second) for sudo's end and then does the
  same.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass
from typing import Literal

from gtp_remote.errors import BecomeError
from gtp_remote.executors.base import Process, StreamName

BecomeMethod = Literal["sudo"]
#: Bytes of sudo's own stderr kept for the error message.
SUDO_MESSAGE_MAX = 2000


@dataclass(frozen=True)
class Become:
    """Who a command runs as, and how it gets there."""

    user: str = "root"
    method: BecomeMethod = "sudo"

    def describe(self) -> str:
        return f"as {self.user} via {self.method}"


def wrap(become: Become, command: str, cwd: str | None, env: dict[str, str], nonce: str) -> str:
    """The command line the login user's shell runs: sudo, then ``command`` in ``cwd`` with
    ``env`` as ``become.user``. Every value is quoted with shlex: nothing is re-read by a shell
    except the command itself."""
    lines = [f"printf '%s\\n' {nonce} >&2"]
    lines.append('if [ -n "$2" ]; then LC_ALL=$1; export LC_ALL; else unset LC_ALL; fi')
    if env:
        lines.append("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()))
    if not cwd or not cwd.startswith(("/", "~")):
        lines.append("cd || exit 126")  # the become user's home, where a login would start
    if cwd:
        target = f"~/{shlex.quote(cwd[2:])}" if cwd.startswith("~/") else shlex.quote(cwd)
        lines.append(f"cd {'~' if cwd == '~' else target} || exit 126")
    lines.append("trap 'kill -KILL 0' TERM HUP INT")
    lines.append("__w=")  # without setpriv: a watcher polls for sudo's death instead
    lines.append(
        'if [ "$3" = 0 ]; then (while kill -0 "$PPID" 2>/dev/null; do sleep 1; done; kill -KILL 0) '
        ">/dev/null 2>&1 </dev/null & __w=$!; fi"
    )
    lines.append("exec 3<&0")
    lines.append(f"/bin/sh -c {shlex.quote(command)} <&3 3<&- &")
    lines.append('wait "$!"; __s=$?; [ -z "$__w" ] || kill "$__w" 2>/dev/null; exit "$__s"')
    inner = "\n".join(lines)
    return (
        "if command -v setpriv >/dev/null 2>&1; then set -- setpriv --pdeathsig TERM --; else set --; fi\n"
        f'LC_ALL=C sudo -n -u {shlex.quote(become.user)} -- "$@" /bin/sh -c {shlex.quote(inner)} '
        'gtp-become "${LC_ALL-}" "${LC_ALL+set}" "$#"'
    )


def new_nonce() -> str:
    return "gtp-become-" + secrets.token_hex(12)


class BecomeProcess(Process):
    """A transport's process running :func:`wrap`'s script: stderr without the nonce line, and
    a :class:`BecomeError` from ``wait`` when the command never started."""

    def __init__(self, inner: Process, become: Become, server: str, login: str | None, nonce: str):
        self._inner = inner
        self._become = become
        self._server = server
        self._login = login
        self._header = nonce.encode() + b"\n"
        self._before = b""  # stderr before the nonce (sudo's): its first SUDO_MESSAGE_MAX bytes
        self._tail = b""  # the last bytes seen before the nonce, where the nonce may begin
        self._started = False
        self._ended = False  # stderr ended before the nonce

    async def read(self, stream: StreamName) -> bytes:
        if stream == "stdout" or self._started:
            return await self._inner.read(stream)
        keep = len(self._header) - 1
        while True:
            chunk = await self._inner.read("stderr")
            if not chunk:
                self._ended = True
                self._before = (self._before + self._tail)[:SUDO_MESSAGE_MAX]
                self._tail = b""  # kept once: a read after the end adds nothing
                return b""
            # Only the new bytes and a header's length before them are searched, and at most
            # SUDO_MESSAGE_MAX are kept: a host that floods stderr before the nonce costs
            # neither memory nor a search of everything it sent on every chunk.
            seen = self._tail + chunk
            i = seen.find(self._header)
            if i < 0:
                cut = max(len(seen) - keep, 0)
                self._before = (self._before + seen[:cut])[:SUDO_MESSAGE_MAX]
                self._tail = seen[cut:]
                continue
            self._started = True
            self._before = (self._before + seen[:i])[:SUDO_MESSAGE_MAX]
            out = self._before + seen[i + len(self._header) :]
            if out:
                return out
            return await self._inner.read("stderr")

    async def wait(self) -> int | None:
        status = await self._inner.wait()
        if not self._started and self._ended:
            raise self.failure(status)
        return status

    def failure(self, status: int | None) -> BecomeError:
        """Why sudo did not start the command, as an error saying what to do."""
        said = self._before[:SUDO_MESSAGE_MAX].decode("utf-8", "replace").strip()
        lines = [ln for ln in said.splitlines() if "unable to resolve host" not in ln]
        message = (lines[-1] if lines else said).strip()
        login = self._login or "the login user"
        user, server = self._become.user, self._server
        rule = f"add a NOPASSWD sudoers rule for {login} (e.g. '{login} ALL=({user}) NOPASSWD: ALL')"
        if "password is required" in said or "a terminal is required" in said:
            what = f"sudo on {server} wants a password to run commands as {user} for {login}"
            hint = f"{rule}, or drop become"
        elif "not in the sudoers" in said or "not allowed to" in said or "may not run sudo" in said:
            what = f"{login} may not run commands as {user} through sudo on {server}"
            hint = f"{rule}, or drop become"
        elif status == 127 and (("sudo" in said and "not found" in said) or not said):
            what = f"sudo is not installed on {server}, so it cannot run commands as {user}"
            hint = "install sudo there, or drop become"
        elif "unknown user" in said:
            what = f"sudo on {server} knows no user {user!r}"
            hint = "fix become_user in the inventory"
        else:
            what = f"sudo on {server} did not run the command as {user} (exit {status})"
            hint = f"{rule}, or drop become"
        detail = f": sudo said {message!r}" if message else ""
        return BecomeError(f"{what}{detail}", server=server, hint=hint, user=user)

    async def kill(self) -> None:
        await self._inner.kill()

    def close(self) -> None:
        self._inner.close()
