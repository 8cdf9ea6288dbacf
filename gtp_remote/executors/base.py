"""The executor seam: one interface for "do this on that server", whatever the transport.

The CLI, the HTTP API, fan-out and the agent loop only ever talk to ``Executor``; they never
ask whether a server is local or reached over SSH. The base class owns everything that must
behave the same on every transport (timeouts that kill the whole process tree, cancellation,
bounded head+tail output, streaming, the file API and its typed errors), so an implementation
only supplies a handful of primitives: start a process, and run one file operation where the
files are. That operation is the same code on every transport (``confined.py``: opened by
descriptor below ``root``), run in a thread here or by a helper on an SSH host.
"""

from __future__ import annotations

import abc
import asyncio
import codecs
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from gtp_remote.config import Server
from gtp_remote.errors import (
    ChecksumMismatchError,
    CommandTimeoutError,
    FileChangedError,
    FileExistsConflictError,
    FileMissingError,
    FilePermissionError,
    GtpError,
    InvalidRequestError,
    PathChangedError,
    PathNotAllowedError,
    PayloadTooLargeError,
    RemoteFileError,
    UploadOffsetError,
)
from gtp_remote.executors.output import DEFAULT_OUTPUT_LIMIT, OutputBuffer

if TYPE_CHECKING:
    from gtp_remote.executors.become import Become

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
    """A file as the host saw it; ``path`` is its real path (where the object used is)."""

    path: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int
    mode: str
    mtime: float
    sha256: str | None = Field(
        None, description="SHA-256 of the whole file, computed on the host (after a write: as written)."
    )
    _version: str | None = PrivateAttr(default=None)

    @property
    def version(self) -> str | None:
        """Identity and state (device, inode, size, mtime): what ``write_file(if_version=)``
        compares, so a read-modify-write (a patch) does not overwrite a change made meanwhile."""
        return self._version


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
_NOT_A_FILE = "list a directory with /file/list; read a device or pipe with a command (head -c N)"
#: A file operation's failure (confined.py's kinds) -> the error, its message and its hint.
FILE_ERRORS: dict[str, tuple[type[GtpError], str, str | None]] = {
    "outside": (
        PathNotAllowedError,
        "path '{path}' on {name} leads outside its root '{root}'{detail}",
        "use a path below {root}",
    ),
    "changed": (
        PathChangedError,
        "{path} on {name} {message}",
        "something on the host changed the path meanwhile; look at it again, then retry",
    ),
    "version": (
        FileChangedError,
        "{path} on {name} changed since it was read: not written",
        "read it again and redo the change",
    ),
    "not_regular": (InvalidRequestError, "{path} on {name} is not a regular file", _NOT_A_FILE),
    "is_dir": (InvalidRequestError, "{path} on {name} is a directory", _NOT_A_FILE),
    "loop": (InvalidRequestError, "path {path!r} on {name}: too many levels of symbolic links", None),
    "invalid": (InvalidRequestError, "path {path!r} on {name}: {message}", None),
    "too_large": (
        PayloadTooLargeError,
        "{path} on {name} {message}",
        "read it in pieces with offset and limit, or look at it with a command",
    ),
    "root": (FileMissingError, "{name}: {message}", "create it on the host, or fix root in the inventory"),
    "missing": (FileMissingError, "{name}: {path}: {message}", None),
    "exists": (FileExistsConflictError, "{name}: {path}: {message}", None),
    "permission": (FilePermissionError, "{name}: {path}: {message}", None),
    "checksum": (
        ChecksumMismatchError,
        "{path} on {name} {message}",
        "the bytes that arrived differ from the sha256 sent (the old file is intact); send it again",
    ),
}
Staged = tuple[int, "FileStat | None"]  # ``stage_file``: bytes staged, and the file once committed


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
        become: bool = False,
    ) -> RunResult:
        """Run ``command`` through the server's shell and collect its output.

        On timeout the whole process tree is killed and ``timed_out`` is set; output up to
        then is kept. Each stream keeps at most ``output_limit`` bytes (head and tail).
        Cancelling the caller also kills the command: nothing is left running. With
        ``become`` (or the server's own ``become``) it runs as the server's ``become_user``
        (``become.py``); a host that refuses raises ``BecomeError``.
        """
        return await self._execute(command, timeout, cwd, env, stdin, output_limit, None, become)

    async def stream(
        self,
        command: str,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | str | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        become: bool = False,
    ) -> AsyncIterator[Output | RunResult]:
        """Like ``run`` but yields ``Output`` pieces as they arrive, then the ``RunResult``."""
        queue: asyncio.Queue[Output | None] = asyncio.Queue()
        decoders = {s: codecs.getincrementaldecoder("utf-8")("replace") for s in ("stdout", "stderr")}

        def on_output(stream: StreamName, data: bytes) -> None:
            text = decoders[stream].decode(data)
            if text:
                queue.put_nowait(Output(stream, text))

        task = asyncio.ensure_future(
            self._execute(command, timeout, cwd, env, stdin, output_limit, on_output, become)
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
        become: bool = False,
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
                proc = await self._start(command, cwd or self.server.cwd, merged_env, data, become)
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

    def become_as(self, requested: bool = False) -> Become | None:
        """Who a command runs as when not the login user: the server's become, or the request's."""
        if not (self.server.become or requested):
            return None
        from gtp_remote.executors.become import Become

        return Become(self.server.become_user, self.server.become_method)

    def login_user(self) -> str | None:
        """The user commands start as (named in a become error's advice), when known here."""
        return self.server.username

    async def _start(
        self, command: str, cwd: str | None, env: dict[str, str], stdin: bytes | None, become: bool
    ) -> Process:
        """Spawn the command, wrapped to run as the become user when there is one."""
        who = self.become_as(become)
        if who is None:
            return await self._spawn(command, cwd, env, stdin)
        from gtp_remote.executors.become import BecomeProcess, new_nonce, wrap  # it builds on Process

        nonce = new_nonce()
        proc = await self._spawn(wrap(who, command, cwd, env, nonce), None, {}, stdin)
        return BecomeProcess(proc, who, self.name, self.login_user(), nonce)

    @abc.abstractmethod
    async def _spawn(
        self, command: str, cwd: str | None, env: dict[str, str], stdin: bytes | None
    ) -> Process:
        """Start ``command`` in the server's shell with ``cwd`` and extra ``env``."""

    # -- files --------------------------------------------------------------------------------
    #
    # Every call is one resolution on the host, by descriptor and below ``root`` (confined.py):
    # what is checked is what is used. Each answer carries the real path of the object it
    # opened; a caller that judged a path (the gateway's policy) passes it as ``expect`` and the
    # call is refused, before anything is returned or written, when the host now resolves the
    # path elsewhere (a link or a folder swapped in meanwhile).

    async def confine(self, path: str, *, must_exist: bool = True) -> str:
        """The real path ``path`` names on the server; refused if it leads outside ``root``.

        Relative paths start at ``root`` (or ``cwd``, or the login directory). ``../`` and
        symlinks are followed as the kernel does, every step checked to stay below root, and a
        link pointing outside is refused as such, before anything outside is looked up. With
        ``must_exist=False`` the last component may be missing (a file about to be written):
        its directory is resolved, and a last component that is a link to nothing is followed
        (writing through it would create its target).
        """
        reply, _ = await self._file_call("resolve", path, must_exist=must_exist)
        return str(reply["real"])

    async def read_file(
        self, path: str, *, offset: int = 0, limit: int | None = None, expect: str | None = None
    ) -> bytes:
        """Read ``limit`` bytes (all when None, up to 64 MiB) of ``path`` from ``offset``."""
        return (await self.read_file_stat(path, offset=offset, limit=limit, expect=expect))[1]

    async def read_file_stat(
        self,
        path: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        expect: str | None = None,
        sha256: Literal["always", "eof"] | None = None,
    ) -> tuple[FileStat, bytes]:
        """The file's stat (``path`` is where the file read is) and ``limit`` bytes of it from
        ``offset``, from one open. A pipe, socket or device is refused without being opened:
        reading one can block forever, or never end. With ``sha256`` the stat carries the whole
        file's, computed on the host from the same open: ``always``, or ``eof`` when this read
        reaches the end."""
        reply, data = await self._file_call(
            "read", path, offset=offset, limit=limit, expect=expect, sha256=sha256
        )
        return self._file_stat(reply), data

    async def write_file(
        self,
        path: str,
        data: bytes | str,
        *,
        mode: Literal["create", "overwrite", "append"] = "overwrite",
        expect: str | None = None,
        if_version: str | None = None,
        file_mode: int | None = None,
        sha256: str | None = None,
    ) -> FileStat:
        """Write ``data`` to ``path``; create/overwrite go through a temp file renamed over the
        name in the same directory, so a reader sees the old file or the new one, never half of
        it (overwrite keeps the old file's mode unless ``file_mode`` says another). With
        ``if_version`` (a ``FileStat.version`` from a read) it is written only if the file is
        still the one read. The answer's ``sha256`` is the temp file's as the host wrote it (read
        back after fsync); given ``sha256``, a temp file that differs is removed, nothing is
        replaced, and ``ChecksumMismatchError`` says so."""
        payload = data.encode() if isinstance(data, str) else data
        reply, _ = await self._file_call(
            "write",
            path,
            payload,
            mode=mode,
            expect=expect,
            if_version=if_version,
            file_mode=file_mode,
            sha256=sha256,
        )
        return self._file_stat(reply)

    async def stage_file(
        self,
        path: str,
        data: bytes,
        *,
        offset: int,
        final: bool,
        staging: str,
        mode: Literal["create", "overwrite"] = "overwrite",
        expect: str | None = None,
        file_mode: int | None = None,
        sha256: str | None = None,
    ) -> Staged:
        """One chunk of a large write: ``data`` at ``offset`` of a staging file beside ``path``
        (hidden, 0600, named by ``staging``; offset 0 starts over). ``offset`` must be the size
        staged so far, else ``UploadOffsetError`` names the one to send. The ``final`` chunk
        commits it as ``write_file`` does (``file_mode``, ``sha256`` checked on the host, an
        atomic rename). Returns the bytes staged and, once final, the file's stat."""
        reply, _ = await self._file_call(
            "stage",
            path,
            data,
            offset=offset,
            final=final,
            staging=staging,
            mode=mode,
            expect=expect,
            file_mode=file_mode,
            sha256=sha256,
        )
        try:
            staged = int(reply["staged"])
        except (KeyError, TypeError, ValueError):
            raise self._malformed() from None
        return staged, self._file_stat(reply) if final else None

    async def list_dir(
        self, path: str = ".", *, limit: int | None = None, expect: str | None = None
    ) -> list[DirEntry]:
        """The directory's entries by name (not followed: a link is a ``symlink``). With
        ``limit``, at most that many, the first the directory yields; without, a directory of
        more than 100,000 entries is refused."""
        reply, _ = await self._file_call("list", path, limit=limit, expect=expect)
        try:
            entries = [
                DirEntry(name=name, type=kind, size=size, mtime=mtime)
                for name, kind, size, mtime in reply["entries"]
            ]
        except (KeyError, TypeError, ValueError):
            raise self._malformed() from None
        return sorted(entries, key=lambda e: e.name)

    async def stat(self, path: str, *, expect: str | None = None) -> FileStat:
        """The stat of what ``path`` leads to (links followed)."""
        reply, _ = await self._file_call("stat", path, expect=expect)
        return self._file_stat(reply)

    async def _file_call(
        self, op: str, path: str, payload: bytes = b"", **args: Any
    ) -> tuple[dict[str, Any], bytes]:
        if "\x00" in path or not path:
            raise InvalidRequestError(f"path {path!r}: empty or contains a NUL byte")
        try:
            path.encode()
        except UnicodeEncodeError:
            raise InvalidRequestError(f"path {path!r}: is not valid UTF-8 text (a lone surrogate)") from None
        request = {"op": op, "path": path, "root": self.server.root, "cwd": self.server.cwd}
        request.update((k, v) for k, v in args.items() if v is not None)
        if payload or op in ("write", "stage"):
            request["payload"] = True
        reply, data = await self._files(request, payload)
        if "error" in reply:
            raise self._file_error(reply, path)
        return reply, data

    @abc.abstractmethod
    async def _files(self, request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        """One file operation, run where the files are (the operations and their replies are
        confined.py's). An expected failure is a reply ``{"error": kind, "message": ...}``."""

    def _file_stat(self, reply: dict[str, Any]) -> FileStat:
        try:
            st = reply["stat"]
            sha = reply.get("sha256")
            stat = FileStat(
                path=st["path"],
                type=st["type"],
                size=st["size"],
                mode=oct(st["mode"]),
                mtime=st["mtime"],
                sha256=sha if isinstance(sha, str) else None,
            )
            stat._version = str(st["version"])
        except (KeyError, TypeError, ValueError):
            raise self._malformed() from None
        return stat

    def _malformed(self) -> GtpError:
        return RemoteFileError(
            f"{self.name}: the file operation's answer was malformed",
            server=self.name,
            hint="the host answered something gtp-remote cannot read; retry, and report it if it persists",
        )

    def _file_error(self, reply: dict[str, Any], path: str) -> GtpError:
        """One typed error per kind of failure, naming the server and saying what to do."""
        kind, message = str(reply.get("error")), str(reply.get("message") or "failed")
        if kind == "offset" and isinstance(reply.get("expected"), int):
            expected = reply["expected"]
            return UploadOffsetError(
                f"{path} on {self.name}: {message}",
                expected_offset=expected,
                server=self.name,
                hint=f"resume the upload at offset {expected} (offset 0 starts it over)",
            )
        error, text, hint = FILE_ERRORS.get(kind, (RemoteFileError, "{name}: {path}: {message}", None))
        detail = "" if kind != "outside" or message == "leads outside its root" else f" ({message})"
        values = {"path": path, "name": self.name, "root": self.server.root, "message": message}
        return error(
            text.format(detail=detail, **values), server=self.name, hint=hint and hint.format(**values)
        )

    # -- the rest -----------------------------------------------------------------------------

    @abc.abstractmethod
    async def open_tunnel(self, remote_host: str, remote_port: int) -> tuple[str, int]:
        """A local (host, port) that reaches ``remote_host:remote_port`` as seen from the server."""

    @abc.abstractmethod
    async def check(self) -> CheckResult:
        """Reachability, latency, hostname and OS; failures are reported, not raised."""

    async def close(self) -> None:  # noqa: B027 - most executors hold nothing open
        """Release connections, tunnels and anything else held open."""
