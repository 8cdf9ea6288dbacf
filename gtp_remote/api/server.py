"""Serving the app: listening sockets behind the connection guard, stopped cleanly by a signal.

``web.run_app`` gives no way in to the protocol factory, which the connection guard wraps; this
is the same job in a few lines: the app runner (the app's startup and shutdown hooks), the
listening sockets, and SIGINT/SIGTERM to stop (running jobs are killed and recorded as
interrupted by the app's shutdown).

Why the server accepts connections itself instead of ``loop.create_server``: asyncio's accept
loop takes in a batch of connections on each turn of the loop, and the guard sees them only
turns later (a task makes each transport, which then calls the protocol), while the sockets the
guard closed are given back a turn after that. Under a flood of stalled clients that is several
batches of files beyond the guard's limit: with 256 files and 300 half-open clients the process
ran out, and then asyncio logs a traceback and stops accepting for a whole second (the audit log
could not open its files either). So :class:`Listener` keeps the connections accepted and not
yet admitted, plus those closed and not yet gone, to at most :attr:`Listener.in_flight_max`,
pausing until the guard reports one gone. Should the process run out of files all the same
(its files are not only connections), it logs one line, has the guard close the oldest idle or
stalled connections, and accepts again after :data:`BACKOFF_SECONDS`; any other accept error is
one line and the same pause. A client that gave up before it was accepted (ECONNABORTED) is no
event at all.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import time
from collections.abc import Callable

from aiohttp import web

from gtp_remote.api.connections import HEADER_SECONDS, ConnectionGuard

GUARD = web.AppKey("guard", ConnectionGuard)
# The listening backlog, and the most connections accepted in one go, or in flight (accepted
# and not yet admitted by the guard, or closed by it and not yet gone): a small number lets the
# guard close stalled connections between batches instead of running out of files.
ACCEPT_BATCH = 64
BACKOFF_SECONDS = 0.1  # after an accept error, before accepting again
SHED = 8  # idle or stalled connections the guard closes when the process is out of files
LOG_EVERY = 10.0  # seconds: accept errors are logged at most this often (with a count)
OUT_OF_FILES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

log = logging.getLogger("gtp_remote.api")


class Listener:
    """Listening sockets whose accept errors are handled, not raised into the event loop."""

    def __init__(self, sockets: list[socket.socket], guard: ConnectionGuard) -> None:
        self.loop = asyncio.get_running_loop()
        self.sockets = sockets
        self.guard = guard
        # The guard's limit leaves half the files for the rest: an eighth of the limit in flight
        # at most keeps most of that half free (the process's own files, SSH, the audit log).
        self.in_flight_max = min(ACCEPT_BATCH, max(4, guard.total // 8))
        self.errors = 0  # accept errors since the last one logged
        self._logged = -LOG_EVERY
        self._retries: dict[int, asyncio.TimerHandle] = {}  # fd -> accepting again after an error
        self._full: list[socket.socket] = []  # paused until fewer connections are in flight
        self._tasks: set[asyncio.Task[None]] = set()  # connections accepted, transports being made
        guard.on_lost = self._room

    @classmethod
    async def open(cls, host: str | None, port: int, guard: ConnectionGuard) -> Listener:
        """Listen on every address ``host`` resolves to (all of them when it is empty), as
        ``loop.create_server`` does; OSError when one cannot be bound (taken, not ours)."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            host or None, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        sockets: list[socket.socket] = []
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
                sock.bind(address)
                sock.listen(ACCEPT_BATCH)
                sock.setblocking(False)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        listener = cls(sockets, guard)
        for sock in sockets:
            listener._listen(sock)
        return listener

    def _listen(self, sock: socket.socket) -> None:
        self._retries.pop(sock.fileno(), None)
        self.loop.add_reader(sock.fileno(), self._accept, sock)

    def in_flight(self) -> int:
        return len(self._tasks) + self.guard.closing

    def _room(self) -> None:
        """A connection in flight was admitted or is gone: accept again if paused for it."""
        if self._full and self.in_flight() < self.in_flight_max:
            paused, self._full = self._full, []
            for sock in paused:
                self._listen(sock)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.in_flight() >= self.in_flight_max:
                self.loop.remove_reader(sock.fileno())
                self._full.append(sock)
                return
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # none waiting
            except ConnectionAbortedError:
                continue  # that client left while waiting; the next may be there
            except OSError as exc:
                self._back_off(sock, exc)
                return
            conn.setblocking(False)
            task = self.loop.create_task(self._connect(conn))
            self._tasks.add(task)
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._room()

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.guard, conn)
        except OSError:  # reset before its transport was made: nothing to serve
            conn.close()

    def _back_off(self, sock: socket.socket, exc: OSError) -> None:
        """One line in the log (at most every LOG_EVERY seconds), room made when files ran out,
        and no accepting on this socket for BACKOFF_SECONDS: Linux keeps reporting it readable."""
        closed = self.guard.shed(SHED) if exc.errno in OUT_OF_FILES else 0
        self.errors += 1
        now = time.monotonic()
        if now - self._logged >= LOG_EVERY:
            log.warning(
                "cannot accept a connection: %s; closed %d idle or stalled connections, accepting "
                "again in %.0f ms (accept errors since the last such line: %d)",
                exc.strerror or exc,
                closed,
                BACKOFF_SECONDS * 1000,
                self.errors,
            )
            self.errors = 0
            self._logged = now
        self.loop.remove_reader(sock.fileno())
        self._retries[sock.fileno()] = self.loop.call_later(BACKOFF_SECONDS, self._listen, sock)

    def close(self) -> None:
        """Stop accepting; connections being set up are dropped (the runner closes the rest)."""
        self.guard.on_lost = None
        self._full.clear()
        for sock in self.sockets:
            if sock.fileno() >= 0:
                self.loop.remove_reader(sock.fileno())
            sock.close()
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        for task in self._tasks:
            task.cancel()


async def serve(
    app: web.Application, host: str, port: int, *, ready: Callable[[], None] | None = None
) -> None:
    runner = web.AppRunner(app, keepalive_timeout=HEADER_SECONDS, access_log=None, handle_signals=False)
    await runner.setup()
    guard = ConnectionGuard(runner.server)
    app[GUARD] = guard
    loop = asyncio.get_running_loop()
    try:
        listener = await Listener.open(host, port, guard)
    except BaseException:
        await runner.cleanup()
        raise
    stop = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    if ready is not None:
        ready()
    try:
        await stop.wait()
    finally:
        listener.close()
        await runner.cleanup()


def run(app: web.Application, host: str, port: int, *, ready: Callable[[], None] | None = None) -> None:
    asyncio.run(serve(app, host, port, ready=ready))
