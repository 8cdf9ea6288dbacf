"""The executor seam: one interface for "do this on that server", whatever the transport.

The CLI, the HTTP API, fan-out and the agent loop only ever talk to ``Executor``; they never
ask whether a server is local or reached over SSH. The base class owns everything that must
behave the same on every transport (timeouts that kill the whole process tree, cancellation,
bounded head+tail output, streaming, path confinement), so an implementation only supplies a
handful of primitives: start a process, and the file calls.
"""

from __future__ import annotations

import abc
import asyncio
import codecs
import contextlib
import posixpath
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from gtp_remote.config import Server
from gtp_remote.errors import CommandTimeoutError, FileMissingError, InvalidRequestError, PathNotAllowedError
from gtp_remote.executors.output import DEFAULT_OUTPUT_LIMIT, OutputBuffer

StreamName = Literal["stdout", "stderr"]


class RunResult(BaseModel):
    """What a finished (or killed) command left behind."""

    server: str
    command: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: float
    timed_out: bool = False
    truncated: bool = False
    stdout_bytes: int = 0
    stderr_bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True, slots=True)
class Output:
    """A piece of output, as it arrived."""

    stream: StreamName
    text: str


class FileStat(BaseModel):
    path: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int
    mode: str
    mtime: float


class DirEntry(BaseModel):
    name: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int
    mtime: float


class CheckResult(BaseModel):
    """``check()``: can we reach the server, how fast, and what is it."""

    server: str
    protocol: str
    reachable: bool
    latency_ms: float | None = None
    connect_ms: float | None = None
    hostname: str | None = None
    os: str | None = None
    host_key: str | None = None
    error: dict[str, str] | None = None


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SYMLINK_HOPS = 40  # what Linux allows before ELOOP


def _check_command(command: str, cwd: str | None, env: dict[str, str]) -> None:
    """Refuse what no shell can take: a NUL byte ends a C string, and sshd drops the whole
    connection (every caller's commands with it) when an exec request carries one."""
    for what, text in [("command", command), ("cwd", cwd or ""), *((f"env.{k}", v) for k, v in env.items())]:
        if "\x00" in text:
            raise InvalidRequestError(f"{what}: contains a NUL byte, which no shell accepts")
        try:
            text.encode()
        except UnicodeEncodeError:
            raise InvalidRequestError(f"{what}: is not valid UTF-8 text (a lone surrogate)") from None
    bad = [k for k in env if not ENV_NAME.match(k)]
    if bad:
        raise InvalidRequestError(
            f"env: {bad[0]!r} is not a variable name",
            hint="use letters, digits and _, not starting with a digit",
        )


class Process(abc.ABC):
    """A started command, as the transports expose it to the base class."""

    @abc.abstractmethod
    async def read(self, stream: StreamName) -> bytes:
        """Next chunk of ``stream``; ``b""`` at end of stream."""

    @abc.abstractmethod
    async def wait(self) -> int | None:
        """Exit status once the process is gone (None when killed by a signal)."""

    @abc.abstractmethod
    async def kill(self) -> None:
        """Kill the command and everything it started."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release transport resources (channel, pipes). Called exactly once."""


class Executor(abc.ABC):
    """Runs commands, moves files and opens tunnels on one server."""

    def __init__(self, server: Server):
        self.server = server

    @property
    def name(self) -> str:
        return self.server.name

    # -- commands -----------------------------------------------------------------------------

    async def run(
        self,
        command: str,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | str | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ) -> RunResult:
        """Run ``command`` through the server's shell and collect its output.

        On timeout the whole process tree is killed and ``timed_out`` is set; output up to
        then is kept. Each stream keeps at most ``output_limit`` bytes (head and tail).
        Cancelling the caller also kills the command: nothing is left running.
        """
        return await self._execute(command, timeout, cwd, env, stdin, output_limit, None)

    async def stream(
        self,
        command: str,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | str | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ) -> AsyncIterator[Output | RunResult]:
        """Like ``run`` but yields ``Output`` pieces as they arrive, then the ``RunResult``."""
        queue: asyncio.Queue[Output | None] = asyncio.Queue()
        decoders = {s: codecs.getincrementaldecoder("utf-8")("replace") for s in ("stdout", "stderr")}

        def on_output(stream: StreamName, data: bytes) -> None:
            text = decoders[stream].decode(data)
            if text:
                queue.put_nowait(Output(stream, text))

        task = asyncio.ensure_future(
            self._execute(command, timeout, cwd, env, stdin, output_limit, on_output)
        )
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (item := await queue.get()) is not None:
                yield item
            yield await task
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _execute(
        self,
        command: str,
        timeout: float | None,
        cwd: str | None,
        env: dict[str, str] | None,
        stdin: bytes | str | None,
        output_limit: int,
        on_output: Callable[[StreamName, bytes], None] | None,
    ) -> RunResult:
        started = time.monotonic()
        merged_env = {**self.server.env, **(env or {})}
        _check_command(command, cwd, merged_env)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        buffers = {"stdout": OutputBuffer(output_limit), "stderr": OutputBuffer(output_limit)}
        timed_out = False
        exit_code: int | None = None

        async def pump(stream: StreamName) -> None:
            while chunk := await proc.read(stream):
                buffers[stream].add(chunk)
                if on_output is not None:
                    on_output(stream, chunk)

        async def finish() -> int | None:
            await asyncio.gather(pump("stdout"), pump("stderr"))
            return await proc.wait()

        try:
            async with asyncio.timeout(timeout):
                proc = await self._spawn(command, cwd or self.server.cwd, merged_env, data)
        except TimeoutError:
            raise CommandTimeoutError(
                f"{self.name}: the command could not start within {timeout:g}s",
                server=self.name,
                hint="the host is slow to connect or all its channels are busy; retry or raise the timeout",
            ) from None
        try:
            remaining = None if timeout is None else max(timeout - (time.monotonic() - started), 0)
            exit_code = await asyncio.wait_for(finish(), remaining)
        except TimeoutError:
            timed_out = True
            await asyncio.shield(proc.kill())
        except BaseException:
            await asyncio.shield(proc.kill())
            raise
        finally:
            proc.close()
        out, err = buffers["stdout"], buffers["stderr"]
        return RunResult(
            server=self.name,
            command=command,
            exit_code=exit_code,
            stdout=out.text(),
            stderr=err.text(),
            duration_ms=round((time.monotonic() - started) * 1000, 3),
            timed_out=timed_out,
            truncated=out.truncated or err.truncated,
            stdout_bytes=out.total,
            stderr_bytes=err.total,
        )

    @abc.abstractmethod
    async def _spawn(
        self, command: str, cwd: str | None, env: dict[str, str], stdin: bytes | None
    ) -> Process:
        """Start ``command`` in the server's shell with ``cwd`` and extra ``env``."""

    # -- files --------------------------------------------------------------------------------

    async def read_file(self, path: str, *, offset: int = 0, limit: int | None = None) -> bytes:
        """Read ``limit`` bytes (all when None) of ``path`` from ``offset``."""
        return (await self.read_file_stat(path, offset=offset, limit=limit))[1]

    async def read_file_stat(
        self, path: str, *, offset: int = 0, limit: int | None = None
    ) -> tuple[FileStat, bytes]:
        """The file's stat and ``limit`` bytes of it from ``offset``: one path resolution and
        one stat for both (each is a round trip over SFTP)."""
        real = await self.confine(path)
        stat = await self._require_regular(path, real)
        return stat, await self._read_file(real, offset, limit)

    async def _require_regular(self, path: str, real: str) -> FileStat:
        """Refuse a pipe, socket or device: reading one can block forever (and over SFTP, block
        every other file operation on the connection), or never end."""
        stat = await self._stat(real)
        if stat.type != "file":
            raise InvalidRequestError(
                f"{path} on {self.name} is {'a directory' if stat.type == 'dir' else 'not a regular file'}",
                server=self.name,
                hint="list a directory with /file/list; read a device or pipe with a command (head -c N)",
            )
        return stat

    async def write_file(
        self, path: str, data: bytes | str, *, mode: Literal["create", "overwrite", "append"] = "overwrite"
    ) -> FileStat:
        """Write ``data`` to ``path``; create/overwrite go through a temp file and a rename,
        so a reader sees the old file or the new one, never half of it."""
        payload = data.encode() if isinstance(data, str) else data
        real = await self.confine(path, must_exist=False)
        if mode == "append":  # the others replace the name with a new file, whatever it was
            with contextlib.suppress(FileMissingError):
                await self._require_regular(path, real)
        await self._write_file(real, payload, mode)
        return await self._stat(real)

    async def list_dir(self, path: str = ".") -> list[DirEntry]:
        return sorted(await self._list_dir(await self.confine(path)), key=lambda e: e.name)

    async def stat(self, path: str) -> FileStat:
        return await self._stat(await self.confine(path))

    async def confine(self, path: str, *, must_exist: bool = True) -> str:
        """Resolve ``path`` on the server and refuse it if it leaves ``root``.

        Relative paths start at ``root`` (or ``cwd``, or the login directory). The check runs
        on the fully resolved path, so both ``../`` and a symlink pointing outside are caught.
        """
        if "\x00" in path or not path:
            raise InvalidRequestError(f"path {path!r}: empty or contains a NUL byte")
        root = self.server.root
        base = root or self.server.cwd
        full = path if posixpath.isabs(path) or base is None else posixpath.join(base, path)
        if root is None:
            return await self._resolve(full, must_exist)
        if posixpath.isabs(full) == posixpath.isabs(root):
            # First by the text alone, so nothing about the world outside root is revealed...
            self._refuse_outside(path, posixpath.normpath(full), posixpath.normpath(root))
        real_root = await self._resolve(root, True)

        def inside(hop: str) -> None:  # ...a link followed by hand, likewise, before looking...
            hop = posixpath.normpath(hop)
            for base in (posixpath.normpath(root), real_root):  # root as written, or resolved
                if hop == base or hop.startswith(base.rstrip("/") + "/"):
                    return
            self._refuse_outside(path, hop, real_root)

        real = await self._resolve(full, must_exist, inside)
        # ...then on the resolved path, which catches symlinks pointing outside.
        self._refuse_outside(path, real, real_root)
        return real

    def _refuse_outside(self, path: str, resolved: str, root: str) -> None:
        if resolved == root or resolved.startswith(root.rstrip("/") + "/"):
            return
        raise PathNotAllowedError(
            f"path '{path}' on {self.name} leads outside its root '{self.server.root}'",
            server=self.name,
            hint=f"use a path below {self.server.root}",
        )

    async def _resolve(
        self, path: str, must_exist: bool, inside: Callable[[str], None] | None = None, hops: int = 0
    ) -> str:
        """Canonical path; when the last component may not exist yet, resolve its parent.

        A last component that is a symlink to nothing is followed by hand: writing through it
        (append opens it) would create its target, which must be checked, not the link's name.
        Each target is shown to ``inside`` before anything is looked up there. ``..`` is left
        to the server's own resolution (``a/link/../b`` is not ``a/b`` when ``link`` is a link).
        """
        if must_exist:
            return await self._realpath(path)
        parent, leaf = posixpath.split(path.rstrip("/") or "/")
        if leaf in ("", ".", ".."):
            return await self._realpath(path)
        try:
            return await self._realpath(path)
        except Exception:
            real_parent = await self._realpath(parent or ".")
        candidate = posixpath.join(real_parent, leaf)
        target = await self._readlink(candidate)
        if target is None:
            return candidate
        if hops >= MAX_SYMLINK_HOPS:
            raise InvalidRequestError(f"path {path!r} on {self.name}: too many levels of symbolic links")
        hop = posixpath.join(real_parent, target)
        if inside is not None:
            inside(hop)
        return await self._resolve(hop, False, inside, hops + 1)

    @abc.abstractmethod
    async def _realpath(self, path: str) -> str: ...

    @abc.abstractmethod
    async def _readlink(self, path: str) -> str | None:
        """The target of a symlink; None when ``path`` is not one (or does not exist)."""

    @abc.abstractmethod
    async def _read_file(self, path: str, offset: int, limit: int | None) -> bytes: ...

    @abc.abstractmethod
    async def _write_file(self, path: str, data: bytes, mode: str) -> None: ...

    @abc.abstractmethod
    async def _list_dir(self, path: str) -> list[DirEntry]: ...

    @abc.abstractmethod
    async def _stat(self, path: str) -> FileStat: ...

    # -- the rest -----------------------------------------------------------------------------

    @abc.abstractmethod
    async def open_tunnel(self, remote_host: str, remote_port: int) -> tuple[str, int]:
        """A local (host, port) that reaches ``remote_host:remote_port`` as seen from the server."""

    @abc.abstractmethod
    async def check(self) -> CheckResult:
        """Reachability, latency, hostname and OS; failures are reported, not raised."""

    async def close(self) -> None:  # noqa: B027 - most executors hold nothing open
        """Release connections, tunnels and anything else held open."""
