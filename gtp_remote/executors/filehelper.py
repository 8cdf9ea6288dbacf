"""The gateway's end of the confined-files helper that runs on an SSH host.

Why a helper: SFTP names every file by path and the server looks each name up again, so a check
made over SFTP (realpath, lstat) and the open that follows are two lookups that a process on the
host can race (swap a folder for a symlink in between). Opening below a root by descriptor
(``confined.py``) has to happen on the host itself, and SFTP cannot open relative to a directory
descriptor. So the ssh executor runs that same module there, with the host's own python3, the way
Ansible runs its modules: the source travels down a session channel and nothing is installed.

Why persistent: starting python3 costs ~20-40 ms; the helper is started once per pooled
connection, on a session channel of its own (one slot of the pool, as the SFTP client was), and
then serves one operation per round trip. Operations on a connection take turns on it, as they
did on sftp-server, which also serves requests one at a time.

Why framed, and bounded here: the interpreter runs isolated (``-I``: no ``PYTHON*`` variables, no
user site; ``-S``: no site-packages) and speaks length-prefixed frames (see confined.py), and every
length is checked on this side too, since a hostile host may answer anything. A call that fails
midway (timeout, cancellation, a malformed answer) closes the helper: the next call starts a
fresh one rather than read the rest of an exchange it no longer understands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from gtp_remote.executors import confined

SOURCE = Path(confined.__file__).read_bytes()
# Reads the module's source (a length line, then the bytes) and runs it as __main__: confined.serve.
BOOTSTRAP = 'import sys;r=sys.stdin.buffer;exec(compile(r.read(int(r.readline())),"gtp-remote-files","exec"))'
# python3, or RHEL's platform-python where python3 is not installed; -X utf8: file names as UTF-8
# whatever the session's locale (3.7+; 3.6 ignores it).
COMMAND = (
    "for p in python3 /usr/libexec/platform-python; do "
    f'command -v "$p" >/dev/null 2>&1 && exec "$p" -I -S -X utf8 -c {shlex.quote(BOOTSTRAP)}; '
    "done; echo 'python3: not found' >&2; exit 127"
)
JSON_MAX = 64 << 20  # a listing of LIST_MAX entries with long names fits
JUNK_MAX = 1 << 20  # what a login shell may print before the helper's first frame
STDERR_KEPT = 2000
READ_CHUNK = 1 << 20


class HelperUnavailable(Exception):
    """The host could not run the helper (no python3, or one it cannot run): ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Malformed(Exception):
    """The helper answered something that is not the protocol."""


class HelperGone(Exception):
    """The helper ended (or was closed) before it answered."""


class FileHelper:
    """One helper process on one session channel; calls take turns."""

    def __init__(self, proc: asyncssh.SSHClientProcess, on_close: Callable[[], None]):
        self._proc = proc
        self._on_close = on_close
        self._lock = asyncio.Lock()
        self._stderr = b""
        self._buffer = bytearray()  # read from stdout, not yet taken
        self._stderr_task = asyncio.ensure_future(self._collect_stderr())
        self.closed = False
        self.info: dict[str, Any] = {}

    @classmethod
    async def start(
        cls, proc: asyncssh.SSHClientProcess, on_close: Callable[[], None], timeout: float
    ) -> FileHelper:
        """Send the source and wait for the helper's greeting; ``HelperUnavailable`` when it
        exits before greeting (no python3 there)."""
        helper = cls(proc, on_close)
        try:
            async with asyncio.timeout(timeout):
                proc.stdin.write(b"%d\n" % len(SOURCE) + SOURCE)
                await helper._skip_to_magic()  # past whatever the login shell printed
                hello = json.loads(await helper._frame(JSON_MAX))
        except HelperGone:
            reason = await helper._exit_reason()
            helper.close()
            raise HelperUnavailable(reason) from None
        except BrokenPipeError:
            # The source could not be sent: the session ended first (no python3: the shell said
            # so and exited). The caller tells that from the whole connection gone.
            reason = await helper._exit_reason()
            helper.close()
            raise HelperUnavailable(reason) from None
        except (Malformed, ValueError):
            helper.close()
            raise HelperUnavailable("it answered something else than the helper's greeting") from None
        except BaseException:
            helper.close()
            raise
        if not isinstance(hello, dict) or hello.get("ready") != confined.PROTOCOL:
            helper.close()
            raise HelperUnavailable(f"it speaks another protocol ({str(hello)[:100]})")
        helper.info = hello
        return helper

    @property
    def usable(self) -> bool:
        """Open, and not known to have ended (killed on the host while idle, say)."""
        proc = self._proc
        ended = proc.exit_status is not None or proc.exit_signal is not None or proc.stdout.at_eof()
        return not self.closed and not ended

    async def call(
        self, request: dict[str, Any], payload: bytes, *, timeout: float, data_max: int
    ) -> tuple[dict[str, Any], bytes]:
        """One operation: the reply, and the data it came with (at most ``data_max`` bytes).

        Raises ``TimeoutError``, ``Malformed``, ``HelperGone`` or the connection's own errors;
        any of them closes the helper (a timed-out one is killed: it may be stuck in a hung
        mount, where ending its input would not reach it).
        """
        async with self._lock:
            if self.closed:
                raise HelperGone
            try:
                async with asyncio.timeout(timeout):
                    return await self._exchange(request, payload, data_max)
            except TimeoutError:
                self.close(kill=True)
                raise
            except BaseException:
                self.close()
                raise

    async def _exchange(
        self, request: dict[str, Any], payload: bytes, data_max: int
    ) -> tuple[dict[str, Any], bytes]:
        stdin = self._proc.stdin
        frames = [json.dumps(request).encode()]
        if request.get("payload"):
            view = memoryview(payload)
            frames += [view[i : i + confined.CHUNK] for i in range(0, len(view), confined.CHUNK)]
            frames.append(b"")
        for frame in frames:
            stdin.write(struct.pack(">I", len(frame)) + bytes(frame))
            await stdin.drain()  # the channel's window: a big write goes as the host takes it
        reply = self._json(await self._frame(JSON_MAX))
        if reply.get("data") is not True:
            return reply, b""
        parts: list[bytes] = []
        total = 0
        while chunk := await self._frame(confined.CHUNK):
            total += len(chunk)
            if total > data_max:
                raise Malformed(f"more data than asked for ({total} > {data_max} bytes)")
            parts.append(chunk)
        trailer = self._json(await self._frame(JSON_MAX))
        if "error" in trailer:
            return trailer, b""
        return reply, b"".join(parts)

    async def _skip_to_magic(self) -> None:
        """Past whatever a login shell printed before the helper started (bounded)."""
        while (found := self._buffer.find(confined.MAGIC)) < 0:
            if len(self._buffer) > JUNK_MAX:
                raise Malformed(f"over {JUNK_MAX} bytes before the helper's greeting")
            await self._fill()
        del self._buffer[: found + len(confined.MAGIC)]

    async def _frame(self, limit: int) -> bytes:
        (size,) = struct.unpack(">I", await self._exactly(4))
        if size > limit:
            raise Malformed(f"a frame of {size} bytes (at most {limit} expected)")
        return await self._exactly(size)

    async def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def _fill(self) -> None:
        chunk = await self._proc.stdout.read(READ_CHUNK)
        if not chunk:
            raise HelperGone
        self._buffer += chunk

    @property
    def said(self) -> str:
        """The last line the helper wrote on stderr (a traceback's last line), if any."""
        lines = self._stderr.decode(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else ""

    @staticmethod
    def _json(raw: bytes) -> dict[str, Any]:
        try:
            value = json.loads(raw)
        except ValueError:
            raise Malformed("a reply that is not JSON") from None
        if not isinstance(value, dict):
            raise Malformed("a reply that is not a JSON object")
        return value

    async def _collect_stderr(self) -> None:
        """Keep the tail of what the helper says on stderr (why it could not start), and keep
        reading, so a chatty failure never fills the channel's window."""
        with contextlib.suppress(Exception):
            while chunk := await self._proc.stderr.read(65536):
                self._stderr = (self._stderr + chunk)[-STDERR_KEPT:]

    async def _exit_reason(self) -> str:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._proc.wait_closed(), 2)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._stderr_task), 1)
        return f"python3 did not start there ({self.said or f'exit status {self._proc.exit_status}'})"

    def close(self, *, kill: bool = False) -> None:
        """Stop the helper and free its slot: it ends at the end of its input, after the
        operation in hand (so a write's temp file is still cleaned up), or at once if killed."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self._proc.stdin.write_eof()
        if kill:
            with contextlib.suppress(Exception):
                self._proc.send_signal("KILL")
        self._proc.close()
        self._stderr_task.cancel()
        self._on_close()
