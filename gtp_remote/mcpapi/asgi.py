"""An ASGI app served by an aiohttp handler: how the SDK's Starlette apps share our port.

Written here because the one library for it, ``aiohttp-asgi`` 0.7.1, hangs the event loop on the
SDK's first request: after the body its ``receive()`` answers ``http.request`` again at once
instead of waiting for the client to leave, and the SDK's disconnect watcher spins on it
(python-sdk issue #3439). This adapter does only what the SDK needs: one HTTP request in,
a streamed response out, and ``http.disconnect`` once the connection closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web

from gtp_remote.api.http import read_body

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[dict[str, Any]]],
        Callable[[dict[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]
SHIELD_SECONDS = 30.0  # how long a cancelled handler lets its app finish
GONE_POLL = 0.5  # seconds between looks at whether the client left (aiohttp has no event for it)


def scope_of(request: web.Request) -> dict[str, Any]:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "root_path": "",
        "path": request.path,
        "raw_path": request.raw_path.split("?", 1)[0].encode(),
        "query_string": request.query_string.encode(),
        "headers": [(k.lower(), v) for k, v in request.raw_headers],
        "client": (peer[0], peer[1]) if isinstance(peer, tuple) else None,
        "server": (request.host, 0),
        "state": {},
    }


async def serve(asgi: ASGIApp, request: web.Request) -> web.StreamResponse:
    """Hand ``request`` to ``asgi``; its response is streamed back as it is sent.

    The body is read whole first, as REST's are (``read_body``: its time and size limits, and a
    clear 400 for one that cannot be decoded): the SDK's messages are small JSON documents."""
    body = await read_body(request) if request.can_read_body else b""
    body_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:  # the body (an empty one too: ASGI apps read until more_body is false)
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # aiohttp tells a handler nothing when its client leaves (no event, no cancellation)
        while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
            await asyncio.sleep(GONE_POLL)
        return {"type": "http.disconnect"}

    response: web.StreamResponse | None = None

    async def send(message: dict[str, Any]) -> None:
        nonlocal response
        try:
            if message["type"] == "http.response.start":
                if response is not None:
                    return  # one response per request, whatever the app sends
                response = web.StreamResponse(status=message["status"])
                for key, value in message.get("headers", ()):
                    name = key.decode("latin-1")
                    if name.lower() in ("content-length", "transfer-encoding"):
                        continue  # aiohttp frames the body itself
                    response.headers.add(name, value.decode("latin-1"))
                await response.prepare(request)
            elif message["type"] == "http.response.body" and response is not None:
                if message.get("body") and request.method != "HEAD":
                    await response.write(message["body"])
                if not message.get("more_body", False):
                    await response.write_eof()
        except ConnectionResetError:
            pass  # the client left: what it would have read is dropped, as a server would

    # The app finishes what it started even if aiohttp cancels this handler when the client
    # hangs up (a test server does): the SDK registers a session after its first answer is sent,
    # and a cancel there would forget a session the client was just told about.
    app = asyncio.ensure_future(asgi(scope_of(request), receive, send))
    try:
        await asyncio.shield(app)
    except asyncio.CancelledError:
        if not app.done():
            await asyncio.wait({app}, timeout=SHIELD_SECONDS)
        raise
    if response is None:
        raise web.HTTPInternalServerError(text="the MCP app sent no response")
    return response
