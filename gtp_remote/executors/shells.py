"""Persistent shells: many commands through one long-lived ``bash`` per session channel.

Why: on an open connection, a command in a channel of its own costs sshd a new session (a
fork, a privilege switch, session setup) before the login shell's exec, and our side a channel
open and close: ~2.1 ms per ``true`` on the test bed. Writing the command to a ``bash`` that is
already running leaves the fork and the shell's exec: ~1.6 ms, and half the client CPU per
command in a fan-out. Mitogen and Ansible's pipelining save the same cost the same way.

What keeps a command here indistinguishable from one in its own channel:

* The driver is started as the session's command (``exec bash --noprofile --norc``), so it has
  exactly the environment sshd gives a command; each command then runs as ``$SHELL -c SCRIPT``
  (the user's login shell, as sshd runs it), with stdin at end of file and in its own process
  group (``set -m``), so ``exit``, ``cd`` and ``export`` never reach the driver or the next
  command. ``tests/test_ssh.py`` checks the answers against a channel's, byte for byte, for
  both a dash and a bash login shell.
* Framing: a random nonce per command. The command's shell prints ``NONCE\\n`` on both streams
  before it starts; after it, the driver prints ``\\x1eNONCE STATUS LEFT\\n`` on stdout and
  ``\\x1eNONCE\\n`` on stderr. Output is kept byte for byte, a missing final newline included,
  and streams as it comes (only bytes that could begin a marker wait for the next ones).
* Leftovers: when processes of the command's group outlive it (``cmd &``), or processes it
  started that left the group (``setsid``) still hold its stdout or stderr, the driver closes
  its own stdout and stderr and is never reused; the command's streams are then read to their
  end, which is what sshd does for a channel (it keeps it open while anything still writes to
  it). Bytes that arrive while a shell is idle retire it too.
* Kill: TERM to the driver (sshd's ``signal`` request is ``killpg`` on the session), whose trap
  kills the command's process group with KILL; a killed driver is never reused. The driver also
  gets TERM when its session's sshd exits (the connection dropped, the gateway died): see
  ``DRIVER_COMMAND``.
* A host without ``bash``: the first command finds the shell gone before it started, the
  connection falls back to a channel per command, and the command runs in one.

One difference remains and is documented: a command killed by a signal reports ``128+N`` (what
a shell reports) where a channel of its own reports no exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shlex
from collections import deque
from collections.abc import Callable
from typing import Literal

import asyncssh

from gtp_remote.errors import GtpError
from gtp_remote.executors.base import Process, StreamName

READ_CHUNK = 65536
# The driver dies with its session: sshd does not signal a session's processes when the
# connection drops (no pty, no SIGHUP), so a command would outlive the gateway that started it (a
# gateway killed, a host link cut). ``setpriv --pdeathsig TERM`` (util-linux) makes the sshd
# process that forked the driver send it TERM as it exits, and the driver's TERM trap kills the
# command's process group. Where setpriv cannot do that, the driver is plain bash.
DRIVER_COMMAND = (
    "setpriv --pdeathsig TERM true 2>/dev/null && exec setpriv --pdeathsig TERM bash --noprofile --norc; "
    "exec bash --noprofile --norc"
)
KILL_GRACE_SECONDS = 2.0
_LOST = (asyncssh.ConnectionLost, asyncssh.DisconnectError, BrokenPipeError, ConnectionResetError)

# Sent once to a new driver. The command runs as `$SHELL -c` named as sshd names it (argv[0]
# "sh", not "/bin/sh"), with SHLVL unset as sshd leaves it, so a bash login shell reads
# ~/.bashrc for it just as it would under sshd. (Evaluating it in the forked bash itself would
# save the exec, ~0.8 ms on the bed, but bash then numbers lines and names itself differently in
# its messages: not the same command any more.) It is run by `eval "$__gtp"` from a variable
# rather than a function, so nothing in it runs in a function's context.
# `wait 2>/dev/null` keeps bash's own "Killed" notices out of the command's stderr.
# Leftovers: what outlives the command in its process group, and (`__held`) any process
# started since the command whose stdout or stderr is still the channel's (one that left the
# group with setsid); the pids started since are read from /proc/loadavg, and when they are too
# many to check (> 512) the shell is retired anyway. One glob lists the fds of those that still
# run and that we may look into, in C: a loop over the pids in bash cost ~7 us per pid, and on a
# busy host (or the test bed, whose hosts share one pid space) the range is hundreds of pids.
# Without /proc (not Linux) the driver exits at once and the connection uses a channel per
# command. After a clean command `__p` is cleared, so a later kill cannot reach a process group
# whose id has been reused.
_INIT = b"""[ -r /proc/loadavg ] && [ -e "/proc/$$/fd/1" ] || exit 127
unset SHLVL
set -m
trap '[ -n "$__p" ] && kill -KILL -- "-$__p" 2>/dev/null; exit 143' TERM
__held() {
  read -r _ _ _ _ __q </proc/loadavg || return 0
  [ "$__q" -ge "$__p" ] && [ $((__q - __p)) -le 512 ] || return 0
  [ "$__q" -gt "$__p" ] || return 1
  local __fs=()
  shopt -s nullglob
  eval "__fs=(/proc/{$((__p + 1))..$__q}/fd/[12])"
  shopt -u nullglob
  for __f in "${__fs[@]}"; do
    if [ "$__f" -ef "/proc/$$/fd/1" ] || [ "$__f" -ef "/proc/$$/fd/2" ]; then return 0; fi
  done
  return 1
}
__gtp='( printf "%s\\n" "$__n"; printf "%s\\n" "$__n" >&2; __sh=${SHELL:-/bin/sh}
  exec -a "${__sh##*/}" "$__sh" -c "$__c" ) </dev/null &
__p=$!
wait "$__p" 2>/dev/null; __s=$?
if kill -0 -- "-$__p" 2>/dev/null || __held; then __l=1; else __l=0; __p=; fi
printf "\\036%s %d %d\\n" "$__n" "$__s" "$__l"
printf "\\036%s\\n" "$__n" >&2'
"""
# The end marker starts with ASCII's record separator: output is held back only while its tail
# could be the start of a marker, which for text (a line ending in "\n", say) is never.
_RS = b"\x1e"
# A retired driver lets go of the channel's output (so the leftovers alone hold it open, as
# under a channel of their own) but stays, so that a kill still reaches their process group.
_RETIRE = b"exec >/dev/null 2>/dev/null\n"


class ShellGone(Exception):
    """The shell ended before the command started: safe to run it elsewhere."""


class Shell:
    """One driver ``bash`` on its own session channel."""

    def __init__(self, proc: asyncssh.SSHClientProcess):
        self.proc = proc
        self.fresh = True  # not yet initialised: junk before the first header is expected

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.stdin.write_eof()
        self.proc.close()


class SessionPool:
    """The session channels of one connection: at most ``cap`` open, idle shells kept for reuse.

    A slot is held by a channel of its own (a command with stdin, SFTP), a shell running a
    command, or an idle shell. A caller needing a slot when all are taken gets an idle shell
    (reused, or closed to free its slot) before it waits; one finishing hands its slot or its
    shell straight to the longest waiter.
    """

    def __init__(self, cap: int):
        self.cap = cap
        self.used = 0  # idle shells included, so there are never more than ``cap`` of them
        self.idle: list[Shell] = []
        self._waiters: deque[tuple[asyncio.Future[Shell | None], bool]] = deque()

    async def slot(self) -> None:
        """A slot for a channel of the caller's own."""
        if self.used < self.cap:
            self.used += 1
        elif self.idle:
            self.idle.pop(0).discard()  # its slot passes to the caller
        else:
            await self._wait(wants_shell=False)

    async def shell(self) -> Shell | None:
        """An idle shell, or None with a slot reserved for starting one."""
        if self.idle:
            return self.idle.pop()
        if self.used < self.cap:
            self.used += 1
            return None
        return await self._wait(wants_shell=True)

    def release(self) -> None:
        """A slot's channel is closed (or closing): give the slot to a waiter, or free it."""
        while self._waiters:
            future, _ = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                return
        self.used -= 1

    def put(self, shell: Shell) -> None:
        """A shell is free again: to a waiter (as a shell, or as a slot), else idle."""
        while self._waiters:
            future, wants_shell = self._waiters.popleft()
            if future.done():
                continue
            if not wants_shell:
                shell.discard()
            future.set_result(shell if wants_shell else None)
            return
        self.idle.append(shell)

    async def _wait(self, wants_shell: bool) -> Shell | None:
        future: asyncio.Future[Shell | None] = asyncio.get_running_loop().create_future()
        entry = (future, wants_shell)
        self._waiters.append(entry)
        try:
            return await future
        except BaseException:
            if future.done() and not future.cancelled():  # handed over just as we were cancelled
                got = future.result()
                self.put(got) if got is not None else self.release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
            raise


class _Stream:
    def __init__(self, reader: asyncssh.SSHReader, header: bytes, end: bytes):
        self.reader = reader
        self.header = header
        self.end = end
        self.buf = b""
        self.state: Literal["header", "body", "tail", "raw", "done"] = "header"


def _held_back(buf: bytes, marker: bytes) -> int:
    """How many bytes at the end of ``buf`` could be the start of ``marker``."""
    for k in range(min(len(marker) - 1, len(buf)), 0, -1):
        if buf.endswith(marker[:k]):
            return k
    return 0


class ShellCommand(Process):
    """One command running in a pooled shell, unframed back into plain streams."""

    def __init__(
        self,
        shell: Shell,
        pool: SessionPool,
        died: Callable[[BaseException | None], GtpError],
    ):
        self.shell = shell
        self._pool = pool
        self._died = died
        nonce = secrets.token_hex(16).encode()
        proc = shell.proc
        self._streams: dict[StreamName, _Stream] = {
            "stdout": _Stream(proc.stdout, nonce + b"\n", _RS + nonce + b" "),
            "stderr": _Stream(proc.stderr, nonce + b"\n", _RS + nonce + b"\n"),
        }
        self._nonce = nonce
        self._fresh = shell.fresh  # a new driver: what its login shell printed precedes the headers
        self.sent = False  # the command reached the driver: from here it may have run
        self._status: asyncio.Future[tuple[int, bool]] = asyncio.get_running_loop().create_future()
        self._dirty = False
        self._killed = False
        self._closed = False

    async def start(self, script: str) -> None:
        """Send the command and wait until it has started (raises ``ShellGone`` if it cannot)."""
        line = b"__n=" + self._nonce + b"; __c=" + shlex.quote(script).encode() + b'; eval "$__gtp"\n'
        try:
            self.shell.proc.stdin.write((_INIT if self._fresh else b"") + line)
        except (BrokenPipeError, asyncssh.Error, OSError):
            raise ShellGone from None
        self.sent = True
        stdout = self._streams["stdout"]
        while stdout.state == "header":
            if not await self._fill(stdout):
                raise ShellGone
        self.shell.fresh = False

    async def _fill(self, s: _Stream) -> bool:
        """Read more of a stream; False at its end. Consumes the header when it arrives."""
        chunk = await s.reader.read(READ_CHUNK)
        if not chunk:
            return False
        s.buf += chunk
        if s.state == "header":
            i = s.buf.find(s.header)
            if i >= 0:
                if i > 0 and not self._fresh:
                    self._dirty = True  # something wrote while the shell was idle
                s.buf = s.buf[i + len(s.header) :]
                s.state = "body"
        return True

    async def read(self, stream: StreamName) -> bytes:
        s = self._streams[stream]
        while True:
            if s.state == "body":
                i = s.buf.find(s.end)
                if i >= 0:
                    out, s.buf, s.state = s.buf[:i], s.buf[i + len(s.end) :], "tail"
                    if out:
                        return out
                    continue
                keep = _held_back(s.buf, s.end)
                if len(s.buf) > keep:
                    out, s.buf = s.buf[: len(s.buf) - keep], s.buf[len(s.buf) - keep :]
                    return out
            elif s.state == "tail":
                if stream == "stdout":
                    j = s.buf.find(b"\n")
                    if j >= 0:
                        self._finished(s, s.buf[:j])
                        continue
                else:
                    _, left = await asyncio.shield(self._status)
                    s.state = "raw" if left else "done"
                    continue
            elif s.state == "raw":
                if s.buf:
                    out, s.buf = s.buf, b""
                    return out
            elif s.state == "done":
                if s.buf:
                    self._dirty = True
                    s.buf = b""
                return b""
            if not await self._read_more(s):
                if s.state == "raw" or self._killed:
                    s.state = "done"
                    return b""
                # Did the driver end, or the whole connection? Let the channel finish closing.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.shell.proc.wait_closed(), 1)
                raise self._fail(None)

    async def _read_more(self, s: _Stream) -> bool:
        try:
            return await self._fill(s)
        except _LOST as exc:
            raise self._fail(exc) from None

    def _fail(self, exc: BaseException | None) -> GtpError:
        """The shell or the connection died mid-command: the error, also for a waiting ``wait``."""
        error = self._died(exc)
        if not self._status.done():
            self._status.set_exception(error)
        return error

    def _finished(self, s: _Stream, line: bytes) -> None:
        status, left = line.split()
        s.buf = s.buf[len(line) + 1 :]
        leftover = left == b"1"
        if leftover:
            s.state = "raw"
            with contextlib.suppress(Exception):
                self.shell.proc.stdin.write(_RETIRE)
        else:
            s.state = "done"
        if not self._status.done():
            self._status.set_result((int(status), leftover))

    async def wait(self) -> int | None:
        if self._killed:
            return None
        status, _ = await asyncio.shield(self._status)
        return status

    async def kill(self) -> None:
        self._killed = True
        if not self._status.done():
            self._status.cancel()
        proc = self.shell.proc
        with contextlib.suppress(Exception):
            proc.send_signal("TERM")  # the driver's trap kills the command's process group
        # Read (and drop) what is still coming, or a full window keeps sshd from closing.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._drain(), KILL_GRACE_SECONDS)
        with contextlib.suppress(Exception):
            proc.send_signal("KILL")
        proc.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait_closed(), KILL_GRACE_SECONDS)

    async def _drain(self) -> None:
        for reader in (self.shell.proc.stdout, self.shell.proc.stderr):
            while await reader.read(READ_CHUNK):
                pass
        await self.shell.proc.wait_closed()

    @property
    def reusable(self) -> bool:
        """Finished cleanly, nothing left behind, nothing unexpected on its streams."""
        status = self._status
        if not status.done() or status.cancelled() or status.exception() is not None:
            return False
        clean = all(s.state == "done" and not s.buf for s in self._streams.values())
        return clean and not (self._killed or self._dirty or status.result()[1])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._status.done():
            self._status.cancel()
        if self.reusable:
            self._pool.put(self.shell)
        else:
            self.shell.discard()
            self._pool.release()
