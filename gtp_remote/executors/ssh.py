"""The ``ssh`` executor: one pooled asyncssh connection per host, shared by every caller.

Why it is built this way:

* **One connection, many channels.** A handshake costs ~35 ms (and ~250 ms for an OpenSSH
  client); a channel on an open connection ~3 ms. Every command, SFTP call and tunnel rides on
  the host's one connection, opened on first use and kept alive with keepalives.
* **Persistent shells.** A command without stdin goes to a ``bash`` already running on the host
  in one of the pooled session channels (``shells.py``), sparing sshd a new session per
  command. A command with stdin gets a channel of its own.
* **A channel cap below sshd's MaxSessions.** sshd refuses session channels beyond
  ``MaxSessions`` (10 by default) and frees a slot slightly after the client sees the close, so
  the cap (``max_sessions``, default 8) leaves slack, and a refused open is retried briefly.
  Callers queue; they never see ``ChannelOpenError`` under load.
* **Coalesced connects, bounded per sshd.** Concurrent callers of a disconnected host wait for
  the same connect attempt; handshakes in flight to one sshd stay under its ``MaxStartups``.
* **Kill means kill.** A timeout or cancel sends the ``signal`` channel request: OpenSSH's sshd
  answers it with ``killpg`` on the session's process group, so the command's children die too.
* **A lost connection fails what was in flight, clearly**, and the next call reconnects (with
  a short backoff if the host is coming back). A command that never started is retried once.
* **Files through a helper on the host.** SFTP names files by path, and each lookup can be
  raced; file operations go to the host's python3 running ``confined.py`` (filehelper.py), which
  opens by descriptor below ``root``, one round trip each. SFTP by name remains for hosts
  without python3 (never under a ``root`` unless the server says ``files: sftp``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from gtp_remote.config import Server
from gtp_remote.errors import (
    AuthFailedError,
    ChannelError,
    CommandTimeoutError,
    ConfinementUnavailableError,
    ConnectionLostError,
    GtpError,
    HostKeyError,
    HostUnreachableError,
    InventoryError,
    RemoteFileError,
    TunnelError,
)
from gtp_remote.executors.base import CheckResult, Executor, Process, StreamName
from gtp_remote.executors.confined import READ_MAX
from gtp_remote.executors.filehelper import COMMAND as HELPER_COMMAND
from gtp_remote.executors.filehelper import FileHelper, HelperGone, HelperUnavailable, Malformed
from gtp_remote.executors.hostkeys import HostKeyVerifier
from gtp_remote.executors.sftpfiles import SftpFiles
from gtp_remote.executors.shells import DRIVER_COMMAND, SessionPool, Shell, ShellCommand, ShellGone
from gtp_remote.settings import Settings

READ_CHUNK = 65536
_T = TypeVar("_T")
CHANNEL_RETRY_SECONDS = 10.0
# A file operation in the helper: this long, plus a second per MiB it moves (a slow link), before
# the helper is killed as stuck (a hung mount) and the call fails; python3 starts well within 20 s.
FILE_TIMEOUT_SECONDS = 60.0
FILE_BYTES_PER_SECOND = 1 << 20
HELPER_START_SECONDS = 20.0
TUNNEL_RECHECK_SECONDS = 30.0
# asyncssh's defaults with AES-GCM first: one OpenSSL AEAD call per packet (AES-NI) where
# chacha20-poly1305 costs several Python-level calls; ~0.1 ms less per command round trip and
# ~15% less CPU under concurrency, measured on the bed. An ssh_config's Ciphers line wins.
PREFERRED_CIPHERS = [
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
]
_LOST = (asyncssh.ConnectionLost, asyncssh.DisconnectError, BrokenPipeError, ConnectionResetError)


class ConnectLimits:
    """Bounds SSH handshakes in flight: per sshd (its MaxStartups) and in total."""

    def __init__(self, per_host: int = 8, total: int = 64):
        self._total = asyncio.Semaphore(total)
        self._per_host: defaultdict[tuple[str, int | None], asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(per_host)
        )

    @contextlib.asynccontextmanager
    async def slot(self, host: str, port: int | None) -> AsyncIterator[None]:
        async with self._total, self._per_host[(host, port)]:
            yield


@dataclass
class _Tunnel:
    listener: asyncssh.SSHListener
    checked_at: float


@dataclass
class _Link:
    """One live connection and everything that rides on it; replaced whole on reconnect."""

    conn: asyncssh.SSHClientConnection
    sessions: SessionPool
    closed: bool = False
    no_shell: bool = False  # the host has no bash: a channel per command
    had_session: bool = False  # sshd sets TCP_NODELAY on the connection at its first session
    sftp: asyncssh.SFTPClient | None = None
    sftp_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    helper: FileHelper | None = None  # confined file operations (filehelper.py)
    helper_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    helper_missing: str | None = None  # why the host cannot run it (no python3)
    tunnels: dict[tuple[str, int], _Tunnel] = field(default_factory=dict)
    tunnel_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _close_unowned(opening: asyncio.Future[Any]) -> None:
    """Close a channel (a process or an SFTP client) whose opener was cancelled meanwhile."""
    if opening.cancelled() or opening.exception() is not None:
        return
    opened = opening.result()
    with contextlib.suppress(Exception):
        opened.exit() if isinstance(opened, asyncssh.SFTPClient) else opened.close()


class _LinkGone(Exception):
    """The pooled connection died before a command could start: safe to retry."""


class _Client(asyncssh.SSHClient):
    def __init__(self, executor: SSHExecutor, verifier: HostKeyVerifier):
        self._executor = executor
        self._verifier = verifier
        self._conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self._conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        self._executor._lost(self._conn)

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return self._verifier.validate(host, addr, port, key)


class _SSHProcess(Process):
    def __init__(self, executor: SSHExecutor, link: _Link, proc: asyncssh.SSHClientProcess):
        self._executor = executor
        self._link = link
        self._proc = proc
        self._released = False

    async def read(self, stream: StreamName) -> bytes:
        reader = self._proc.stdout if stream == "stdout" else self._proc.stderr
        try:
            return await reader.read(READ_CHUNK)
        except _LOST as exc:
            raise self._executor._lost_error(exc) from None

    async def wait(self) -> int | None:
        try:
            await self._proc.wait_closed()
        except _LOST as exc:
            raise self._executor._lost_error(exc) from None
        if self._proc.exit_signal is not None:
            return None
        status = self._proc.exit_status
        if status is None:
            raise self._executor._lost_error(None)
        return status

    async def kill(self) -> None:
        with contextlib.suppress(Exception):
            self._proc.send_signal("KILL")
        self._proc.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._proc.wait_closed(), 5)

    def close(self) -> None:
        self._proc.close()
        if not self._released:
            self._released = True
            self._link.sessions.release()


def _remote_script(command: str, cwd: str | None, env: dict[str, str]) -> str:
    """Prefix the command with its environment and directory.

    sshd only passes ``env`` requests listed in ``AcceptEnv`` (usually none), so variables
    are exported by the shell itself instead.
    """
    lines = []
    if env:
        lines.append("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()))
    if cwd:
        target = f"~/{shlex.quote(cwd[2:])}" if cwd.startswith("~/") else shlex.quote(cwd)
        lines.append(f"cd {target} || exit 126")
    lines.append(command)
    return "\n".join(lines)


class SSHExecutor(Executor):
    """Runs on a host reached over SSH."""

    def __init__(
        self,
        server: Server,
        settings: Settings,
        limits: ConnectLimits,
        jump: SSHExecutor | None = None,
    ):
        super().__init__(server)
        self._settings = settings
        self._limits = limits
        self._jump = jump
        self._link: _Link | None = None
        self._connecting: asyncio.Future[_Link] | None = None
        self._ever_connected = False
        self.reconnects = 0  # connections opened after the first (for the metrics)
        self.host_key_status: str | None = None
        self._by_name = SftpFiles(server, self._sftp_client)

    @property
    def where(self) -> str:
        port = self.server.port or 22
        return f"{self.name} ({self.server.host}:{port})"

    # -- the pooled connection --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.closed

    def channels(self) -> tuple[int, int]:
        """Session channels open now on the pooled connection: (running something, idle shells)."""
        link = self._link
        if link is None or link.closed:
            return 0, 0
        idle = len(link.sessions.idle)
        return link.sessions.used - idle, idle

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The host's live connection, connecting (once, for all waiting callers) if needed."""
        return (await self._get_link()).conn

    async def _get_link(self) -> _Link:
        link = self._link
        if link is not None and not link.closed:
            return link
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connect_done)
        return await asyncio.shield(self._connecting)

    def _connect_done(self, task: asyncio.Future[_Link]) -> None:
        self._connecting = None
        if not task.cancelled():
            task.exception()  # retrieved here, so a failure nobody awaited is not logged as lost

    async def _connect(self) -> _Link:
        # After a drop the host is often restarting: retry briefly with backoff. A host never
        # reached is reported at once, so fan-out can say "unreachable" without delay.
        attempts = 3 if self._ever_connected else 1
        for attempt in range(attempts):
            try:
                return await self._connect_once()
            except HostUnreachableError:
                if attempt + 1 == attempts:
                    raise
                await asyncio.sleep(0.25 * 2**attempt)
        raise AssertionError("unreachable")

    def _connect_options(self) -> tuple[HostKeyVerifier, dict]:
        """What asyncssh.connect needs; reads known_hosts and checks keys, so run in a thread."""
        s = self.server
        known = [Path(s.known_hosts or "~/.ssh/known_hosts").expanduser(), self._settings.known_hosts]
        verifier = HostKeyVerifier(s.name, s.host_key_policy, known, self._settings.known_hosts)
        options: dict = {
            "known_hosts": verifier.known,
            "client_factory": lambda: _Client(self, verifier),
            "connect_timeout": s.connect_timeout,
            "keepalive_interval": s.keepalive,
            "keepalive_count_max": 3,
        }
        if s.port:
            options["port"] = s.port
        if s.username:
            options["username"] = s.username
        if s.identity_files:
            keys = [os.path.expanduser(p) for p in s.identity_files]
            missing = [k for k in keys if not os.path.isfile(k)]
            if missing:
                raise AuthFailedError(
                    f"{self.where}: identity file {missing[0]} does not exist",
                    server=s.name,
                    hint="fix identity_files in the inventory",
                )
            options["client_keys"] = keys
        config, text = self._settings.ssh_config, ""
        if config is not None:
            options["config"] = [str(config)]
            try:
                text = config.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise self._config_error(getattr(exc, "strerror", None) or str(exc)) from None
        if config is None or "ciphers" not in text.lower():
            options["encryption_algs"] = PREFERRED_CIPHERS
        return verifier, options

    def _config_error(self, reason: str) -> InventoryError:
        return InventoryError(
            f"{self.where}: ssh config {self._settings.ssh_config}: {reason}",
            server=self.name,
            hint="fix that file, or point GTP_SSH_CONFIG at another",
        )

    async def _connect_once(self) -> _Link:
        s = self.server
        assert s.host is not None
        verifier, options = await asyncio.to_thread(self._connect_options)
        if self._jump is not None:
            options["tunnel"] = await self._jump.connection()
        elif s.jump:
            options["tunnel"] = s.jump
        try:
            async with self._limits.slot(s.host, s.port):
                conn = await asyncssh.connect(s.host, **options)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise verifier.error or HostKeyError(
                f"host key of {self.where} refused: {exc.reason}", server=s.name
            ) from None
        except asyncssh.PermissionDenied:
            user = f"{s.username}@" if s.username else ""
            raise AuthFailedError(
                f"ssh authentication failed for {user}{self.where}",
                server=s.name,
                hint="the server accepted none of the offered keys: check username and identity_files",
            ) from None
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            raise AuthFailedError(f"{self.where}: cannot load identity file: {exc}", server=s.name) from None
        except asyncssh.ConfigParseError as exc:
            raise self._config_error(str(exc)) from None
        except TimeoutError:
            raise HostUnreachableError(
                f"{self.where} did not answer within {s.connect_timeout:g}s",
                server=s.name,
                hint="check that the host is up and its port reachable, or raise connect_timeout",
            ) from None
        except ConnectionRefusedError:
            raise HostUnreachableError(
                f"{self.where} refused the connection", server=s.name, hint="check that sshd is running there"
            ) from None
        except asyncssh.ChannelOpenError as exc:
            raise HostUnreachableError(
                f"{self.where}: jump host {s.jump} could not reach it: {exc.reason}", server=s.name
            ) from None
        except (OSError, asyncssh.Error) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise HostUnreachableError(f"cannot reach {self.where}: {reason}", server=s.name) from None
        verifier.commit()
        self.host_key_status = verifier.status
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        link = _Link(conn=conn, sessions=SessionPool(s.max_sessions))
        self._link = link
        return link

    def _lost(self, conn: asyncssh.SSHClientConnection | None) -> None:
        link = self._link
        if link is not None and link.conn is conn:
            link.closed = True
            self._link = None

    def _lost_error(self, exc: BaseException | None) -> ConnectionLostError:
        detail = f": {getattr(exc, 'reason', None) or exc}" if exc else ""
        return ConnectionLostError(
            f"connection to {self.where} was lost while the command ran{detail}",
            server=self.name,
            hint="the command may or may not have finished on the host; the next call reconnects",
        )

    # -- commands ---------------------------------------------------------------------------------

    async def _spawn(
        self, command: str, cwd: str | None, env: dict[str, str], stdin: bytes | None
    ) -> Process:
        script = _remote_script(command, cwd, env)
        for attempt in range(2):
            link = await self._get_link()
            try:
                if not stdin and self.server.persistent_shell and not link.no_shell:
                    proc = await self._in_shell(link, script)
                    if proc is not None:
                        return proc
                return await self._in_channel(link, script, stdin)
            except _LinkGone:
                link.closed = True
                if self._link is link:
                    self._link = None
                if attempt == 0:
                    continue
                raise self._lost_error(None) from None
        raise AssertionError("unreachable")

    async def _in_channel(self, link: _Link, script: str, stdin: bytes | None) -> Process:
        """The command in a session channel of its own."""
        await link.sessions.slot()
        try:
            proc = await self._open_session(link, script)
        except BaseException:
            link.sessions.release()
            raise
        if stdin:
            proc.stdin.write(stdin)
        proc.stdin.write_eof()
        return _SSHProcess(self, link, proc)

    async def _in_shell(self, link: _Link, script: str) -> Process | None:
        """The command in a pooled shell (see shells.py); None when the host has none."""
        for _ in range(2):  # an idle shell may have died since its last command
            shell = await link.sessions.shell()
            if shell is None:
                try:
                    shell = Shell(await self._open_session(link, DRIVER_COMMAND))
                except BaseException:
                    link.sessions.release()
                    raise
            command = ShellCommand(shell, link.sessions, self._shell_died)
            try:
                await command.start(script)
                return command
            except (ShellGone, *_LOST) as exc:
                command.close()
                if link.closed or not isinstance(exc, ShellGone):
                    if command.sent:  # it may have started: running it again could run it twice
                        link.closed = True
                        raise self._lost_error(None) from None
                    raise _LinkGone from None
                if shell.fresh:  # EOF before the header: no bash here, or no /proc
                    link.no_shell = True
                    return None
            except BaseException:
                try:
                    await asyncio.shield(command.kill())
                finally:
                    command.close()  # even when cancelled again while killing: the slot comes back
                raise
        return None

    def _shell_died(self, exc: BaseException | None) -> GtpError:
        if exc is not None or not self.connected:
            return self._lost_error(exc)
        return ConnectionLostError(
            f"the shell running the command on {self.where} ended before the command did",
            server=self.name,
            hint="the command may or may not have finished on the host; retry",
        )

    async def _open_session(self, link: _Link, script: str) -> asyncssh.SSHClientProcess:
        proc = await self._open_channel(link, lambda: link.conn.create_process(script, encoding=None))
        link.had_session = True
        return proc

    async def _open_channel(
        self, link: _Link, open_it: Callable[[], Awaitable[_T]], final: tuple[int, ...] = ()
    ) -> _T:
        """Open a session channel, waiting out a refusal while a slot frees up on sshd's side;
        a refusal whose code is in ``final`` is raised at once."""
        deadline = time.monotonic() + CHANNEL_RETRY_SECONDS
        delay = 0.005
        while True:
            opening = asyncio.ensure_future(open_it())
            try:
                return await asyncio.shield(opening)
            except asyncio.CancelledError:
                # The open goes on without us: a channel confirmed after this must not stay open,
                # owned by nobody, holding one of sshd's sessions (all of them, with MaxSessions 1).
                opening.add_done_callback(_close_unowned)
                raise
            except asyncssh.ChannelOpenError as exc:
                if exc.code in final:
                    raise
                if link.closed or (exc.code == asyncssh.OPEN_CONNECT_FAILED and "closed" in exc.reason):
                    raise _LinkGone from None
                if time.monotonic() > deadline:
                    raise ChannelError(
                        f"{self.where} refused a session channel: {exc.reason}",
                        server=self.name,
                        hint="lower max_sessions for this server or raise MaxSessions in sshd_config",
                    ) from None
                # sshd's session slots free up just after the client sees a close: wait, retry.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)
            except _LOST:
                raise _LinkGone from None

    # -- files over SFTP --------------------------------------------------------------------------

    async def _start_sftp(self, link: _Link) -> asyncssh.SFTPClient:
        """An SFTP client on a session channel of its own (a slot of the pool; given back on any
        failure, cancellation included)."""
        await link.sessions.slot()
        try:
            # A refused subsystem request (no Subsystem sftp line) will not change by waiting.
            final = (asyncssh.OPEN_REQUEST_SESSION_FAILED,)
            return await self._open_channel(link, link.conn.start_sftp_client, final)
        except BaseException as exc:
            link.sessions.release()
            if isinstance(exc, _LinkGone):
                raise self._lost_error(None) from None
            if isinstance(exc, asyncssh.Error | OSError):
                raise ChannelError(
                    f"{self.where}: cannot start SFTP: {getattr(exc, 'reason', exc)}",
                    server=self.name,
                    hint="check that sshd_config has a 'Subsystem sftp' line",
                ) from None
            raise

    async def _sftp(self, link: _Link) -> asyncssh.SFTPClient:
        """The connection's SFTP client, kept for the connection's whole life."""
        if link.sftp is not None:
            return link.sftp
        async with link.sftp_lock:
            if link.sftp is None:
                link.sftp = await self._start_sftp(link)
        return link.sftp

    @contextlib.asynccontextmanager
    async def _sftp_client(self, path: str) -> AsyncIterator[asyncssh.SFTPClient]:
        """The connection's SFTP client for one operation (sftpfiles.py maps its errors)."""
        link = await self._get_link()
        # With one session channel allowed, a kept SFTP client would hold it for good and every
        # command would wait forever: there each file operation opens its own and closes it.
        transient = link.sessions.cap < 2
        sftp = await (self._start_sftp(link) if transient else self._sftp(link))
        try:
            yield sftp
        except _LOST as exc:
            raise self._lost_error(exc) from None
        finally:
            if transient:
                try:
                    sftp.exit()
                    with contextlib.suppress(Exception):
                        await asyncio.shield(sftp.wait_closed())
                finally:  # a second cancellation must not keep the only slot
                    link.sessions.release()

    # -- files: confined by the helper on the host, or by name over SFTP --------------------------

    async def _files(self, request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        """One file operation: in the host's helper (confined.py, by descriptor) unless the
        server says ``files: sftp``, or the host has no python3 and the server no root."""
        choice = self.server.files
        if choice != "sftp":
            link = await self._get_link()
            if link.helper_missing is None:
                try:
                    return await self._by_helper(link, request, payload)
                except HelperUnavailable as exc:
                    if link.closed or link.conn.is_closed():  # not the helper: the connection
                        raise self._lost_error(None) from None
                    link.helper_missing = exc.reason  # for this connection's life: no retry per call
            if choice == "confined" or self.server.root is not None:
                raise self._unconfinable(link.helper_missing or "")
        return await self._by_name.call(request, payload)

    def _unconfinable(self, reason: str) -> ConfinementUnavailableError:
        s = self.server
        if s.root is not None:
            what = f"file operations below its root {s.root} open files by descriptor there with python3"
            hint = (
                f"install python3 on {s.host}; or set `files: sftp` for {s.name} in the inventory to "
                "go by name over SFTP instead, accepting that a process on the host can race a check "
                "(README: Roots)"
            )
        else:
            what = "it says `files: confined`, which opens files by descriptor there with python3"
            hint = f"install python3 on {s.host}, or set `files: auto` or `files: sftp` for {s.name}"
        return ConfinementUnavailableError(f"{self.where}: {what}, and {reason}", server=s.name, hint=hint)

    async def _by_helper(
        self, link: _Link, request: dict[str, Any], payload: bytes
    ) -> tuple[dict[str, Any], bytes]:
        transient = link.sessions.cap < 2  # one channel only: the helper must not keep it
        data_max = int(request.get("limit") or READ_MAX) if request["op"] == "read" else 0
        timeout = FILE_TIMEOUT_SECONDS + (len(payload) + data_max) / FILE_BYTES_PER_SECOND
        helper: FileHelper | None = None
        try:
            for attempt in range(2):
                helper = await (self._start_helper(link) if transient else self._helper(link))
                try:
                    return await helper.call(request, payload, timeout=timeout, data_max=data_max)
                except HelperGone:
                    # It ended under us. An operation that only looks is safely asked again of
                    # a new one; a write may have happened, and is reported instead.
                    if attempt or request["op"] in ("write", "stage") or link.closed or link.conn.is_closed():
                        raise
                    if transient:
                        helper.close()
            raise AssertionError("unreachable")
        except TimeoutError:
            what = (
                f"the file operation on {request['path']} did not finish within {timeout:g}s"
                if helper is not None
                else f"its file helper (python3) did not start within {HELPER_START_SECONDS:g}s"
            )
            raise CommandTimeoutError(
                f"{self.where}: {what}",
                server=self.name,
                hint="a disk or a mount on the host may be hung; the helper was stopped: retry",
            ) from None
        except HelperGone:
            if link.closed or link.conn.is_closed():
                raise self._lost_error(None) from None
            said = f" ({helper.said})" if helper is not None and helper.said else ""
            raise RemoteFileError(
                f"{self.where}: the file helper ended during the operation on {request['path']}{said}",
                server=self.name,
                hint="it may or may not have been done; look, then retry (the next call starts a new helper)",
            ) from None
        except Malformed as exc:
            raise RemoteFileError(
                f"{self.where}: the file helper answered something malformed ({exc})",
                server=self.name,
                hint="retry; a host that keeps doing this is not running the helper gtp-remote sent",
            ) from None
        except _LOST as exc:
            raise self._lost_error(exc) from None
        finally:
            if transient and helper is not None:
                helper.close()

    async def _helper(self, link: _Link) -> FileHelper:
        """The connection's helper, started on first use and kept for the connection's life
        (replaced if it ends)."""
        helper = link.helper
        if helper is not None and helper.usable:
            return helper
        async with link.helper_lock:
            if link.helper is None or not link.helper.usable:
                if link.helper is not None:
                    link.helper.close()  # ended by itself: its slot comes back
                link.helper = await self._start_helper(link)
            return link.helper

    async def _start_helper(self, link: _Link) -> FileHelper:
        """A helper on a session channel of its own: a slot of the pool, given back when the
        helper closes (or fails to start, cancellation included)."""
        await link.sessions.slot()
        try:
            proc = await self._open_session(link, HELPER_COMMAND)
        except BaseException as exc:
            link.sessions.release()
            if isinstance(exc, _LinkGone):
                raise self._lost_error(None) from None
            raise
        return await FileHelper.start(proc, link.sessions.release, timeout=HELPER_START_SECONDS)

    # -- tunnels ----------------------------------------------------------------------------------

    async def open_tunnel(self, remote_host: str, remote_port: int) -> tuple[str, int]:
        """Forward a local port to ``remote_host:remote_port`` as the host sees it.

        Cached per (host, port) on the live connection and reused; re-probed when it has not
        been checked for a while; reopened after a reconnect (tunnels die with their connection).
        """
        link = await self._get_link()
        if not link.had_session:
            # OpenSSH's sshd turns Nagle off on the connection only when its first session
            # starts; on a connection that only forwards, a streamed reply's second write waits
            # for our delayed ACK (~40 ms to a model's first token). One `true` sets it for good.
            with contextlib.suppress(GtpError):
                await self.run("true", timeout=self.server.connect_timeout)
        key = (remote_host, remote_port)
        async with link.tunnel_lock:
            tunnel = link.tunnels.get(key)
            now = time.monotonic()
            if tunnel is None or now - tunnel.checked_at > TUNNEL_RECHECK_SECONDS:
                await self._probe(link, remote_host, remote_port)
            if tunnel is None:
                try:
                    listener = await link.conn.forward_local_port("127.0.0.1", 0, remote_host, remote_port)
                except (asyncssh.Error, OSError) as exc:
                    raise TunnelError(
                        f"cannot open a tunnel to {remote_host}:{remote_port} on {self.where}: "
                        f"{getattr(exc, 'reason', exc)}",
                        server=self.name,
                    ) from None
                tunnel = link.tunnels[key] = _Tunnel(listener, now)
            tunnel.checked_at = now
        return "127.0.0.1", tunnel.listener.get_port()

    async def _probe(self, link: _Link, host: str, port: int) -> None:
        try:
            _, writer = await link.conn.open_connection(host, port)
        except asyncssh.ChannelOpenError as exc:
            if exc.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED:
                raise TunnelError(
                    f"sshd on {self.where} refuses port forwarding",
                    server=self.name,
                    hint="set AllowTcpForwarding yes in its sshd_config",
                ) from None
            raise TunnelError(
                f"nothing is answering on {host}:{port} on {self.where} ({exc.reason})",
                server=self.name,
                hint="check that the service runs there and listens on that address",
            ) from None
        except _LOST as exc:
            raise self._lost_error(exc) from None
        writer.close()

    # -- health and shutdown ----------------------------------------------------------------------

    async def check(self) -> CheckResult:
        started = time.monotonic()
        was_connected = self.connected
        try:
            await self._get_link()
            connected = time.monotonic()
            result = await self.run("uname -n; uname -sr", timeout=self.server.connect_timeout)
            # The first session on a new connection pays one-off setup; time a warm round trip.
            latency = (await self.run("true", timeout=self.server.connect_timeout)).duration_ms
        except GtpError as exc:
            return CheckResult(
                server=self.name,
                protocol="ssh",
                reachable=False,
                host_key="rejected" if isinstance(exc, HostKeyError) else None,
                error=exc.to_dict(),
            )
        lines = result.stdout.splitlines()
        return CheckResult(
            server=self.name,
            protocol="ssh",
            reachable=result.exit_code == 0,
            latency_ms=latency,
            connect_ms=0.0 if was_connected else round((connected - started) * 1000, 3),
            hostname=lines[0] if lines else None,
            os=lines[1] if len(lines) > 1 else None,
            host_key=self.host_key_status,
        )

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        link, self._link = self._link, None
        if link is not None:
            link.closed = True
            link.conn.close()
            with contextlib.suppress(Exception):
                await link.conn.wait_closed()
