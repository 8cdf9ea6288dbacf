"""Serving the app: a listening socket behind the connection guard, stopped cleanly by a signal.

``web.run_app`` gives no way in to the protocol factory, which the connection guard wraps; this
is the same job in a few lines: the app runner (the app's startup and shutdown hooks), one
listening socket, and SIGINT/SIGTERM to stop (running jobs are killed and recorded as
interrupted by the app's shutdown).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from gtp_remote.api.connections import HEADER_SECONDS, ConnectionGuard

GUARD = web.AppKey("guard", ConnectionGuard)
ACCEPT_BATCH = 64


async def serve(
    app: web.Application, host: str, port: int, *, ready: Callable[[], None] | None = None
) -> None:
    runner = web.AppRunner(app, keepalive_timeout=HEADER_SECONDS, access_log=None, handle_signals=False)
    await runner.setup()
    guard = ConnectionGuard(runner.server)
    app[GUARD] = guard
    loop = asyncio.get_running_loop()
    # asyncio accepts up to `backlog` connections in one go before any of them runs: a small one
    # lets the guard close stalled connections between batches instead of running out of files.
    listening = await loop.create_server(guard, host, port, reuse_address=True, backlog=ACCEPT_BATCH)
    stop = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    if ready is not None:
        ready()
    try:
        await stop.wait()
    finally:
        listening.close()
        await runner.cleanup()
        await listening.wait_closed()


def run(app: web.Application, host: str, port: int, *, ready: Callable[[], None] | None = None) -> None:
    asyncio.run(serve(app, host, port, ready=ready))
