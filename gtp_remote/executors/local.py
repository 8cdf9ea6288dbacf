"""The ``local`` executor: the gateway's own machine.

Commands run in ``/bin/sh`` in a new session (process group), so a timeout or a cancel kills
the command and every child it started. File calls run in a worker thread so a slow disk never
blocks the event loop.

A command gets the gateway's environment less its secrets: every ``GTP_*`` variable (the API's
token among them) and the ones the gateway names as holding secrets (model API keys, tokens),
so that a command does not hand them on by accident (``env``, a crash report, a child's log). It
is no boundary: a command runs as the gateway's user and can read the gateway's own
``/proc/PID/environ`` and state folder; callers who must not see the tokens get no ``local``
server (the README says so).
"""

from __future__ import annotations

import asyncio
import errno
import os
import platform
import signal
import socket
import stat as stat_mod
import tempfile
import time
from collections.abc import Collection
from typing import BinaryIO

from gtp_remote.config import Server
from gtp_remote.errors import (
    FileExistsConflictError,
    FileMissingError,
    FilePermissionError,
    GtpError,
    InvalidRequestError,
    RemoteFileError,
)
from gtp_remote.executors.base import (
    CheckResult,
    DirEntry,
    Executor,
    FileStat,
    Process,
    StreamName,
)

READ_CHUNK = 65536


def file_type(mode: int) -> str:
    if stat_mod.S_ISLNK(mode):
        return "symlink"
    if stat_mod.S_ISDIR(mode):
        return "dir"
    if stat_mod.S_ISREG(mode):
        return "file"
    return "other"


def _open_regular(path: str, flags: int) -> BinaryIO:
    """Open without blocking (a pipe with no writer or reader would wait forever) and refuse
    anything but a regular file, in one step with the open, so nothing can be swapped in.
    Buffered, so a write writes everything or raises (a raw write may stop short)."""
    fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY, 0o644)
    try:
        if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb" if flags & os.O_ACCMODE == os.O_RDONLY else "ab")
    except BaseException:
        os.close(fd)
        raise


class _LocalProcess(Process):
    def __init__(self, proc: asyncio.subprocess.Process):
        self._proc = proc

    async def read(self, stream: StreamName) -> bytes:
        reader = self._proc.stdout if stream == "stdout" else self._proc.stderr
        assert reader is not None
        return await reader.read(READ_CHUNK)

    async def wait(self) -> int | None:
        code = await self._proc.wait()
        return code if code >= 0 else None

    async def kill(self) -> None:
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        await self._proc.wait()

    def close(self) -> None:
        transport = getattr(self._proc, "_transport", None)
        if transport is not None:
            transport.close()


class LocalExecutor(Executor):
    """Runs on the machine gtp-remote itself runs on."""

    def __init__(self, server: Server, hidden_env: Collection[str] = ()):
        super().__init__(server)
        self.hidden_env = hidden_env  # the gateway's set, shared: names added later count too

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """What a command starts with: the gateway's environment less its secrets, then ``env``."""
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith("GTP_") and k not in self.hidden_env
        }
        return {**inherited, **env}

    async def _spawn(
        self, command: str, cwd: str | None, env: dict[str, str], stdin: bytes | None
    ) -> Process:
        try:
            proc = await asyncio.create_subprocess_shell(
                command,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=os.path.expanduser(cwd) if cwd else None,  # noqa: ASYNC240 - no I/O, a string op
                env=self.environment(env),
                start_new_session=True,
            )
        except OSError as exc:
            if cwd and exc.filename is not None and not os.path.isdir(os.path.expanduser(cwd)):  # noqa: ASYNC240
                raise InvalidRequestError(
                    f"{self.name}: cannot enter cwd {cwd}: {exc.strerror or exc}",
                    server=self.name,
                    hint="use a directory that exists there (the request's cwd, or the server's)",
                ) from None
            reason = exc.strerror or exc
            raise GtpError(f"{self.name}: cannot start the command: {reason}", server=self.name) from None
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
        return _LocalProcess(proc)

    # -- files: plain os calls in a thread --------------------------------------------------------

    async def _io(self, func, *args):  # type: ignore[no-untyped-def]
        try:
            return await asyncio.to_thread(func, *args)
        except OSError as exc:
            kind = {
                FileNotFoundError: FileMissingError,
                FileExistsError: FileExistsConflictError,
                PermissionError: FilePermissionError,
            }.get(type(exc), RemoteFileError)
            raise kind(
                f"{self.name}: {exc.filename or ''}: {exc.strerror or exc}", server=self.name
            ) from None

    async def _realpath(self, path: str) -> str:
        def real(p: str) -> str:
            p = os.path.expanduser(p)
            os.stat(p)  # must exist: raises FileNotFoundError with the path
            return os.path.realpath(p)

        return await self._io(real, path)

    async def _readlink(self, path: str) -> str | None:
        try:
            return await asyncio.to_thread(os.readlink, path)
        except OSError:  # not a link, or not there
            return None

    async def _read_file(self, path: str, offset: int, limit: int | None) -> bytes:
        def read() -> bytes:
            # O_NONBLOCK: a pipe swapped in after the regular-file check cannot hang the thread.
            with _open_regular(path, os.O_RDONLY) as f:
                f.seek(offset)
                return f.read() if limit is None else f.read(limit)

        return await self._io(read)

    async def _write_file(self, path: str, data: bytes, mode: str) -> None:
        def write() -> None:
            if mode == "append":
                with _open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT) as f:
                    f.write(data)
                return
            exists = os.path.lexists(path)
            if mode == "create" and exists:
                raise FileExistsError(17, "file exists (mode 'create' never overwrites)", path)
            directory = os.path.dirname(path) or "."
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".gtp-tmp", dir=directory)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, stat_mod.S_IMODE(os.stat(path).st_mode) if exists else 0o644)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise

        await self._io(write)

    async def _list_dir(self, path: str) -> list[DirEntry]:
        def listing() -> list[DirEntry]:
            out = []
            with os.scandir(path) as it:
                for entry in it:
                    st = entry.stat(follow_symlinks=False)
                    out.append(
                        DirEntry(
                            name=entry.name, type=file_type(st.st_mode), size=st.st_size, mtime=st.st_mtime
                        )
                    )
            return out

        return await self._io(listing)

    async def _stat(self, path: str) -> FileStat:
        def do_stat() -> FileStat:
            st = os.lstat(path)
            return FileStat(
                path=path,
                type=file_type(st.st_mode),
                size=st.st_size,
                mode=oct(stat_mod.S_IMODE(st.st_mode)),
                mtime=st.st_mtime,
            )

        return await self._io(do_stat)

    # -- the rest ---------------------------------------------------------------------------------

    async def open_tunnel(self, remote_host: str, remote_port: int) -> tuple[str, int]:
        """Nothing to tunnel: the service is reachable from here as it is."""
        return remote_host, remote_port

    async def check(self) -> CheckResult:
        started = time.monotonic()
        try:
            result = await self.run("true", timeout=10)
        except GtpError as exc:  # reported, not raised: one bad server must not hide the others
            return CheckResult(server=self.name, protocol="local", reachable=False, error=exc.to_dict())
        return CheckResult(
            server=self.name,
            protocol="local",
            reachable=result.exit_code == 0,
            latency_ms=round((time.monotonic() - started) * 1000, 3),
            connect_ms=0.0,
            hostname=socket.gethostname(),
            os=f"{platform.system()} {platform.release()}",
            host_key="n/a",
        )
