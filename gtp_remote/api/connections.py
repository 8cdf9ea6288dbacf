"""Slow and half-open clients cannot starve the good ones.

aiohttp closes a connection that sends no complete request headers only after its keep-alive
timeout (75 s by default) and waits for a request body forever; 350 half-sent requests were still
open after 20 s, and with 1024 open files 300 of them made a valid request time out. So:

* a connection must send its request headers within :data:`HEADER_SECONDS` (aiohttp's keep-alive
  timeout, which also runs from the moment a connection opens) and its body within
  :data:`BODY_SECONDS` (``api.http.parse``);
* :class:`ConnectionGuard` wraps the server's protocol factory and counts connections per client
  address and in all. Past an address's cap, or the total cap, the oldest connection that is not
  busy with a request (idle, or still sending its request) is closed to make room — so a client
  that sends a real request gets in while a thousand stalled ones are held — and only when every
  connection is busy is the new one refused. When the process runs out of files all the same
  (its files are not only connections), the accept loop has it :meth:`~ConnectionGuard.shed` a
  few of those (``api.server``).

Hand-written: aiohttp has no per-address limits, and a reverse proxy in front (the recommended
set-up for TLS) sees every client as itself, so it should limit per client address too.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HEADER_SECONDS = 15.0
BODY_SECONDS = 30.0
PER_ADDRESS = 128


def _abort(transport: asyncio.BaseTransport) -> None:
    """Close at once, without waiting to flush: the file is given back now."""
    abort = getattr(transport, "abort", None)
    (abort or transport.close)()


def total_limit() -> int:
    """Connections in all: half the open files this process may have (the rest are for a batch
    of new connections, SSH connections, files and the databases), at most 4096."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(soft // 2, 4096)) if soft != resource.RLIM_INFINITY else 4096


@dataclass
class _Connection:
    transport: asyncio.BaseTransport
    address: str
    opened: float = field(default_factory=time.monotonic)
    busy: int = 0  # requests being worked on (their body read)


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol (whose methods cannot be replaced: it has slots), with the guard told
    when a connection opens and closes."""

    def __init__(self, guard: ConnectionGuard, inner: Any) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.inner.connection_made(transport)
        self.guard._admit(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard._lost(self.transport)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionGuard:
    """A protocol factory around aiohttp's server that keeps room for clients that send requests."""

    def __init__(
        self, factory: Callable[[], Any], *, per_address: int = PER_ADDRESS, total: int | None = None
    ) -> None:
        self.factory = factory
        self.per_address = per_address
        self.total = total or total_limit()
        self._open: dict[asyncio.BaseTransport, _Connection] = {}
        self._by_address: dict[str, list[_Connection]] = {}
        # Closed by the guard, their files not yet given back: asyncio closes an aborted socket
        # on the loop's next turn, while the accept loop may be taking in more.
        self._closing: set[asyncio.BaseTransport] = set()
        self.on_lost: Callable[[], None] | None = None  # told when a connection's file is given back
        self.refused = 0
        self.evicted = 0

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self, self.factory())

    @property
    def closing(self) -> int:
        """Connections the guard closed whose files are not given back yet."""
        return len(self._closing)

    # -- what the request handlers report -------------------------------------------------------

    def working(self, transport: asyncio.BaseTransport | None) -> None:
        """A request on this connection has arrived whole: it is not to be closed for room."""
        connection = self._open.get(transport) if transport is not None else None
        if connection is not None:
            connection.busy += 1

    def done(self, transport: asyncio.BaseTransport | None) -> None:
        connection = self._open.get(transport) if transport is not None else None
        if connection is not None and connection.busy:
            connection.busy -= 1

    # -- admission ------------------------------------------------------------------------------

    def _admit(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) and peer else str(peer)
        mine = self._by_address.setdefault(address, [])
        if len(mine) >= self.per_address and not self._make_room(mine):
            self._refuse(transport)
            return
        if len(self._open) >= self.total and not self._make_room(list(self._open.values())):
            self._refuse(transport)
            return
        connection = _Connection(transport, address)
        self._open[transport] = connection
        mine.append(connection)

    def _make_room(self, among: list[_Connection]) -> bool:
        idle = [c for c in among if not c.busy]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.opened)
        self._forget(oldest.transport)
        self._closing.add(oldest.transport)
        _abort(oldest.transport)  # stalled or idle: its client loses nothing it sent whole
        self.evicted += 1
        return True

    def shed(self, count: int) -> int:
        """Close up to ``count`` of the oldest connections not busy with a request, to give
        their files back (the process has run out: see ``api.server``); how many were closed."""
        closed = 0
        while closed < count and self._make_room(list(self._open.values())):
            closed += 1
        return closed

    def _refuse(self, transport: asyncio.BaseTransport) -> None:
        self.refused += 1
        self._closing.add(transport)
        _abort(transport)

    def _lost(self, transport: asyncio.BaseTransport | None) -> None:
        self._forget(transport)
        self._closing.discard(transport)  # type: ignore[arg-type]
        if self.on_lost is not None:
            self.on_lost()

    def _forget(self, transport: asyncio.BaseTransport | None) -> None:
        connection = self._open.pop(transport, None) if transport is not None else None
        if connection is None:
            return
        mine = self._by_address.get(connection.address, [])
        if connection in mine:
            mine.remove(connection)
        if not mine:
            self._by_address.pop(connection.address, None)
