"""What every request passes before and after its handler: a request id, errors mapped to
status codes in one place, CORS, and authentication with its audit line."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gtp_remote.api.errors import status_of
from gtp_remote.api.http import (
    BODY_LIMIT,
    CALLER,
    OWN_AUTH,
    OWN_AUTH_PREFIXES,
    REQUEST_ID,
    ClientGone,
    error_response,
    finished,
    json_response,
    working,
)
from gtp_remote.api.state import API
from gtp_remote.errors import (
    AuditUnavailableError,
    GtpError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    UnauthorizedError,
)

log = logging.getLogger("gtp_remote.api")

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PUBLIC_PATHS = {"/health", "/openapi.json", "/openapi.yaml"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_id_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    request[REQUEST_ID] = given if REQUEST_ID_RE.match(given) else secrets.token_hex(8)
    if not request.can_read_body:
        working(request)  # no body to wait for: it arrived whole with its headers
    try:
        response = await handler(request)
    finally:
        finished(request)
    response.headers["X-Request-Id"] = request[REQUEST_ID]
    return response


@web.middleware
async def metrics_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time each request by its route's template (``/jobs/{job_id}``), never its raw
    path, so the series stay few. Inside ``request_id_mw``, outside ``errors_mw``: errors are
    answers by then, with their status."""
    started = time.monotonic()
    status = 499  # the client left before an answer
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        metrics = request.app[API].metrics
        metrics.requests.labels(route, request.method, str(status)).inc()
        metrics.request_seconds.labels(route, request.method).observe(time.monotonic() - started)


@web.middleware
async def errors_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GtpError as exc:
        return error_response(exc, request.get(REQUEST_ID))
    except ClientGone:
        log.info(
            "client %s left during its request %s %s (499)", request.remote, request.method, request.path
        )
        return web.Response(status=499)  # nobody reads it; the audit log records the 499
    except web.HTTPRequestEntityTooLarge:
        return error_response(
            PayloadTooLargeError(f"request body over {BODY_LIMIT} bytes"), request.get(REQUEST_ID)
        )
    except web.HTTPNotFound:
        return error_response(
            NotFoundError(f"no such endpoint: {request.method} {request.path}", hint="see /openapi.json"),
            request.get(REQUEST_ID),
        )
    except web.HTTPMethodNotAllowed as exc:
        body = {
            "error": {
                "code": "method_not_allowed",
                "message": f"{request.method} is not allowed on {request.path}",
                "request_id": request.get(REQUEST_ID),
            }
        }
        return json_response(body, status=405, headers={"Allow": ",".join(sorted(exc.allowed_methods))})
    except web.HTTPException:
        raise
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        body = {
            "error": {
                "code": "internal_error",
                "message": "internal error; the server log has the details",
                "request_id": request.get(REQUEST_ID),
            }
        }
        return json_response(body, status=500)


def cors_mw(origins: tuple[str, ...]):  # type: ignore[no-untyped-def]
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin if origin and ("*" in origins or origin in origins) else None
        if request.method == "OPTIONS" and allowed and request.headers.get("Access-Control-Request-Method"):
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, X-Request-Id"
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"
        return response

    return middleware


@web.middleware
async def auth_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    api = request.app[API]
    started = time.monotonic()
    if request.path in PUBLIC_PATHS or request.path in request.app.get(OWN_AUTH, ()):
        return await handler(request)
    for prefix in request.app.get(OWN_AUTH_PREFIXES, ()):
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return await handler(request)
    caller = None
    status = 500
    counted = False  # over its address's limit of refusals: counted, not a line of its own
    try:
        try:
            token = api.auth.authenticate(request.headers.get("Authorization"))
        except UnauthorizedError:
            try:
                api.refused.check(request.remote or "")
            except RateLimitedError:
                api.count_refused(request.remote or "")
                counted = True
                raise
            raise
        api.limiter.check(token.name)
        caller = token.principal("rest", request.remote)
        request[CALLER] = caller
        response = await handler(request)
        status = response.status
        return response
    except GtpError as exc:
        status = status_of(exc)
        raise
    except (ClientGone, asyncio.CancelledError):  # the client left: there is nobody to answer
        status = 499
        raise
    finally:
        if not counted:
            event = {
                "kind": "request",
                "request_id": request.get(REQUEST_ID),
                "token": caller.name if caller else None,
                "client": request.remote,
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round((time.monotonic() - started) * 1000, 3),
            }
            try:
                await api.record(event)
            except AuditUnavailableError as exc:
                # The answer stands: an action was refused before it ran if its own events could
                # not be written (the gateway checks first), and a read changes nothing. Only the
                # request's line is lost, and said so where an operator looks.
                log.error(
                    "audit: a request line was not written (%s %s %s): %s",
                    request.method,
                    request.path,
                    status,
                    exc.message,
                )
