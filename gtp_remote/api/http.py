"""The HTTP plumbing every handler shares: request keys, JSON bodies in and out, error bodies."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel

from gtp_remote.access import Principal
from gtp_remote.api.connections import BODY_SECONDS
from gtp_remote.api.errors import status_of
from gtp_remote.api.models import validate
from gtp_remote.api.operations import Answer, job_answer
from gtp_remote.api.server import GUARD
from gtp_remote.api.state import Api, Meta
from gtp_remote.errors import (
    GtpError,
    InvalidRequestError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestTimeoutError,
)
from gtp_remote.jobs import Job

BODY_LIMIT = 1024 * 1024

REQUEST_ID = web.RequestKey("request_id", str)
CALLER = web.RequestKey("caller", Principal)
#: Paths that check their callers themselves (MCP's): the REST token check lets them by.
OWN_AUTH = web.AppKey("own_auth", frozenset)
#: Path prefixes that do the same (the console's ``/ui``, with its own sessions).
OWN_AUTH_PREFIXES = web.AppKey("own_auth_prefixes", tuple)


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


async def read_body(request: web.Request) -> bytes:
    """The whole request body, within BODY_SECONDS and BODY_LIMIT; one that cannot be read
    (slow, too large, badly compressed) is a clear error, never a 500."""
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
    return raw


async def parse(request: web.Request, model: type[BaseModel]) -> Any:
    """The request body as ``model``: a 400 naming each field that does not validate."""
    raw = await read_body(request)
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
    return validate(model, data, hint="see /openapi.json for the request schema")


def meta(request: web.Request) -> Meta:
    return Meta(request[REQUEST_ID], request.remote)


async def answer(api: Api, outcome: Answer | Job, wait: float | None) -> web.Response:
    """Send an operation's answer; a job is waited on for up to ``wait`` seconds (then 202)."""
    if isinstance(outcome, Job):
        finished = await api.jobs.wait(outcome, wait or 0.0)
        outcome = job_answer(outcome, finished)
    return json_response(outcome.body, status=outcome.status)
