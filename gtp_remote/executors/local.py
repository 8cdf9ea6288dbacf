"""The ``local`` executor: the gateway's own machine.

Commands run in ``/bin/sh`` in a new session (process group), so a timeout or a cancel kills
the command and every child it started. File calls are ``confined.py``'s, opened by descriptor
below ``root``, in a worker thread so a slow disk never blocks the event loop.

A command gets the gateway's environment less its secrets: every ``GTP_*`` variable (the API's
token among them) and the ones the gateway names as holding secrets (model API keys, tokens),
so that a command does not hand them on by accident (``env``, a crash report, a child's log). It
is no boundary: a command runs as the gateway's user and can read the gateway's own
``/proc/PID/environ`` and state folder; callers who must not see the tokens get no ``local``
server (the README says so).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import platform
import signal
import socket
import time
from collections.abc import Collection
from typing import Any

from gtp_remote.config import Server
from gtp_remote.errors import GtpError, InvalidRequestError
from gtp_remote.executors import confined
from gtp_remote.executors.base import CheckResult, Executor, Process, StreamName

READ_CHUNK = 65536


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

    def login_user(self) -> str | None:
        return getpass.getuser()

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

    # -- files: confined.py in a worker thread ---------------------------------------------------

    async def _files(self, request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        """The same module the ssh executor runs on its hosts, here in a thread: a slow disk
        (or a hung NFS mount) never blocks the event loop."""
        return await asyncio.to_thread(confined.run, request, payload)

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
