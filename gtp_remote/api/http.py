"""The HTTP plumbing every handler shares: request keys, JSON bodies in and out, error bodies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gtp_remote.access import Principal
from gtp_remote.api.errors import status_of
from gtp_remote.errors import GtpError, InvalidRequestError, PayloadTooLargeError, RateLimitedError

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


async def parse(request: web.Request, model: type[BaseModel]) -> Any:
    """The request body as ``model``: a 400 naming each field that does not validate."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLargeError(
            f"request body over {BODY_LIMIT} bytes", hint="send less; files go in pieces of 90000 characters"
        ) from None
    try:
        data = json.loads(raw or b"{}")
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
