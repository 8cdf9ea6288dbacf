"""The HTTP plumbing every handler shares: request keys, JSON bodies in and out, error bodies."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ValidationError

from gtp_remote.access import Principal
from gtp_remote.api.connections import BODY_SECONDS
from gtp_remote.api.errors import status_of
from gtp_remote.api.server import GUARD
from gtp_remote.errors import (
    GtpError,
    InvalidRequestError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestTimeoutError,
)

BODY_LIMIT = 1024 * 1024

REQUEST_ID = web.RequestKey("request_id", str)
CALLER = web.RequestKey("caller", Principal)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(exc: GtpError, request_id: str | None) -> web.Response:
    body = {"error": {**exc.to_dict(), "request_id": request_id}}
    headers = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, round(exc.retry_after + 0.5)))
    if status_of(exc) == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="gtp-remote"'
    return json_response(body, status=status_of(exc), headers=headers)


WORKING = web.RequestKey("working", bool)


def working(request: web.Request) -> None:
    """Tell the connection guard this request has arrived whole (see ``api.connections``)."""
    guard = request.app.get(GUARD)
    if guard is not None and not request.get(WORKING):
        guard.working(request.transport)
        request[WORKING] = True


def finished(request: web.Request) -> None:
    guard = request.app.get(GUARD)
    if guard is not None and request.get(WORKING):
        guard.done(request.transport)


class ClientGone(Exception):
    """The client left before its request's body arrived (nginx's 499): nothing to answer."""


MAX_NESTING = 400  # JSON levels a body may nest; checked before parsing (the parser recurses)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def nesting(raw: bytes) -> int:
    """How deep a JSON text nests (its strings skipped): linear, and quick when it cannot be deep."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_NESTING:
        return 0
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_NESTING:
                break  # deep enough to refuse: no need to read further
    return deepest


async def parse(request: web.Request, model: type[BaseModel]) -> Any:
    """The request body as ``model``: a 400 naming each field that does not validate."""
    try:
        async with asyncio.timeout(BODY_SECONDS):
            raw = await request.read()
    except TimeoutError:
        raise RequestTimeoutError(
            f"the request body did not arrive within {BODY_SECONDS:g}s", hint="send the whole body at once"
        ) from None
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLargeError(
            f"request body over {BODY_LIMIT} bytes", hint="send less; files go in pieces of 90000 characters"
        ) from None
    except ConnectionResetError:
        raise ClientGone from None
    except (RequestPayloadError, BadHttpMessage) as exc:  # a body that cannot be decoded (gzip...)
        raise InvalidRequestError(
            f"the request body could not be read: {exc.__class__.__name__}",
            hint="send the JSON body uncompressed, or compressed as its Content-Encoding says",
        ) from None
    working(request)  # arrived whole: no longer a connection to close for room
    deep = await asyncio.to_thread(nesting, raw) if len(raw) > 65536 else nesting(raw)
    if deep > MAX_NESTING:
        raise InvalidRequestError(
            f"the body nests deeper than {MAX_NESTING} levels",
            hint="send a flat JSON object (see /openapi.json)",
        )
    try:
        data = json.loads(raw or b"{}")
    except RecursionError:
        raise InvalidRequestError(f"the body nests deeper than {MAX_NESTING} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc}", hint="send a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidRequestError(problems, hint="see /openapi.json for the request schema") from None
