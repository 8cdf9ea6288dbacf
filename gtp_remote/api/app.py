"""The HTTP API: thin handlers over the gateway, built for ChatGPT Custom GPT Actions first.

Each handler parses its body into a model from ``api.models`` (400 naming the fields if it does
not validate), checks the caller's permissions, calls the gateway, and shapes the answer to the
client's budgets: 45 seconds (long work answers 202 with a job id) and 100,000 characters
(outputs keep their head and tail, multi-host results share the budget).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gtp_remote.api.auth import Authenticator, RateLimiter, Token
from gtp_remote.api.errors import STATUS, status_of
from gtp_remote.audit import AuditLog, AuditWriter
from gtp_remote.errors import (
    ForbiddenError,
    GtpError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    UnauthorizedError,
    UnknownServerError,
)
from gtp_remote.executors.output import clip_json
from gtp_remote.fanout import FanOutResult
from gtp_remote.gateway import Gateway
from gtp_remote.jobs import Job, JobManager, JobStore

log = logging.getLogger("gtp_remote.api")

RESPONSE_BUDGET = 100_000
OUTPUT_BUDGET = 80_000  # what all command output of one response may take; the rest is structure
RUN_OUTPUT_LIMIT = 256 * 1024  # bytes kept per stream while running (head + tail)
BODY_LIMIT = 1024 * 1024
DEFAULT_ORIGINS = ("https://chat.openai.com", "https://chatgpt.com")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PUBLIC_PATHS = {"/health", "/openapi.json", "/openapi.yaml"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ApiConfig:
    cors_origins: tuple[str, ...] = DEFAULT_ORIGINS
    rate: float = 20.0
    burst: int = 60
    public_url: str | None = None
    default_server: str | None = None

    @classmethod
    def from_env(cls) -> ApiConfig:
        origins = os.environ.get("GTP_CORS_ORIGINS")
        return cls(
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip())
            if origins
            else DEFAULT_ORIGINS,
            rate=float(os.environ.get("GTP_RATE_LIMIT", "20")),
            burst=int(os.environ.get("GTP_RATE_BURST", "60")),
            public_url=os.environ.get("GTP_PUBLIC_URL"),
            default_server=os.environ.get("GTP_DEFAULT_SERVER"),
        )


REQUEST_ID = web.RequestKey("request_id", str)
CALLER = web.RequestKey("caller", Token)


class Api:
    """The state the handlers share: the core, the callers' choices, jobs, audit."""

    def __init__(self, gateway: Gateway, auth: Authenticator, config: ApiConfig | None = None):
        self.gateway = gateway
        self.auth = auth
        self.config = config or ApiConfig.from_env()
        gateway.hidden_env |= auth.env_names()
        state = gateway.settings.state_dir
        self.audit = AuditLog(state / "audit.jsonl", secrets=auth.secrets_for_redaction())
        self.audit_writer = AuditWriter(self.audit)
        self.store = JobStore(state / "jobs.sqlite3")
        self.store.mark_interrupted()
        self.jobs = JobManager(self.store, on_finish=self._audit_job)
        self.limiter = RateLimiter(self.config.rate, self.config.burst)
        # Refused tokens, per client address: past this a client is answered 429 and its refused
        # requests are counted, one audit line per address a second, so nobody without a token
        # can keep the disk busy with fsyncs. (Tokens are long and random: this is not what
        # stops guessing them.)
        self.refused = RateLimiter(2, 20, what="requests with a wrong or missing token from this address")
        self._refused_counts: dict[str, int] = {}
        self._refused_timer: asyncio.TimerHandle | None = None
        self.current: dict[str, str] = {}  # token name -> current server: per caller, never global
        self.health: dict[str, dict[str, Any]] = {}
        self.model_health: dict[str, dict[str, Any]] = {}

    # -- helpers ----------------------------------------------------------------------------------

    def count_refused(self, client: str) -> None:
        """Count a refused request over its address's limit: it gets no audit line of its own;
        within a second, one line per address says how many there were."""
        self._refused_counts[client] = self._refused_counts.get(client, 0) + 1
        if self._refused_timer is None:
            self._refused_timer = asyncio.get_running_loop().call_later(1.0, self.flush_refused)

    def flush_refused(self) -> None:
        """Queue the counted refusals' lines (also at shutdown, so none is lost)."""
        if self._refused_timer is not None:
            self._refused_timer.cancel()
            self._refused_timer = None
        counts, self._refused_counts = self._refused_counts, {}
        for client, count in counts.items():
            self.audit_writer.add(
                {"kind": "request", "token": None, "client": client, "status": 429, "refused_count": count}
            )

    async def record(self, event: dict[str, Any]) -> None:
        """Append to the audit log; returns once the event is on disk (shared fsyncs, see AuditWriter)."""
        await self.audit_writer.record(event)

    async def _audit_job(self, job: Job) -> None:
        """A finished job's event. When a request is waiting to answer with the outcome, the event
        is only queued: that request's own event, written before its response goes out, takes
        it to disk in the same write and fsync (see AuditWriter.add). Otherwise it is written
        now."""
        event = self._job_event(job)
        if job.waiting:
            self.audit_writer.add(event)
        else:
            await self.record(event)

    def _job_event(self, job: Job) -> dict[str, Any]:
        result = job.result or {}
        if job.operation == "execute-llm":
            return {
                "kind": "llm",
                "token": job.token,
                "request_id": job.request.get("_request_id"),
                "client": job.request.get("_client"),
                "job_id": job.id,
                "server": result.get("server") or job.server,
                "specialist": job.request.get("provider"),
                "provider": result.get("provider"),
                "model": result.get("model"),
                "instructions": job.request.get("instructions"),
                "steps": len(result.get("steps") or []),
                "usage": result.get("usage"),
                "duration_ms": result.get("duration_ms"),
                "stop_reason": result.get("stop_reason"),
                "outcome": job.status,
                "error": job.error or result.get("error"),
            }
        return {
            "kind": "command",
            "token": job.token,
            "request_id": job.request.get("_request_id"),
            "client": job.request.get("_client"),
            "job_id": job.id,
            "server": job.server,
            "operation": job.operation,
            "command": job.request.get("command") or job.request.get("language"),
            "code": job.request.get("code"),  # execute-code: what ran (its first 2000 characters)
            "exit_code": result.get("exit_code"),
            "duration_ms": result.get("duration_ms"),
            "bytes": (result.get("stdout_bytes") or 0) + (result.get("stderr_bytes") or 0),
            "summary": result.get("summary"),
            "outcome": job.status,
            "error": job.error,
        }

    def server_for(self, caller: Token, requested: str | None) -> str:
        """The server a request acts on: its own field, else the caller's current, else the default."""
        inventory = self.gateway.inventory
        name = requested or self.current.get(caller.name) or self._default_for(caller)
        if name not in inventory.servers:
            raise UnknownServerError(
                f"unknown server '{name}'", hint=f"your servers: {self.servers_of(caller)}"
            )
        caller.require_server(inventory, name)
        return name

    def servers_of(self, caller: Token) -> str:
        """The servers a caller may use, for hints: never the names it may not see."""
        inventory = self.gateway.inventory
        return ", ".join(n for n in inventory.servers if caller.may_use(inventory, n)) or "none"

    def resolve_target(self, caller: Token, target: str) -> list[str]:
        try:
            servers = self.gateway.inventory.resolve(target)
        except UnknownServerError as exc:
            raise UnknownServerError(exc.message, hint=f"your servers: {self.servers_of(caller)}") from None
        for server in servers:
            caller.require_server(self.gateway.inventory, server.name)
        return [s.name for s in servers]

    def _default_for(self, caller: Token) -> str:
        inventory = self.gateway.inventory
        preferred = self.config.default_server
        if preferred and caller.may_use(inventory, preferred):
            return preferred
        for name in inventory.servers:
            if caller.may_use(inventory, name):
                return name
        raise ForbiddenError(f"token '{caller.name}' may use no server of this inventory")

    async def respond_job(self, job: Job, wait: float) -> web.Response:
        if not await self.jobs.wait(job, wait):
            if job.status == "awaiting_approval":
                return json_response(
                    {
                        "job_id": job.id,
                        "status": "awaiting_approval",
                        "pending_action": job.pending,
                        "output_tail": job.output_tail,
                        "hint": f"POST /jobs/{job.id}/approve or /jobs/{job.id}/reject (a token with the "
                        "approve permission); then GET /jobs/{id} for the result",
                    },
                    status=202,
                )
            return json_response(
                {
                    "job_id": job.id,
                    "status": "running",
                    "output_tail": job.output_tail,
                    "hint": f"still running; GET /jobs/{job.id} for the result",
                },
                status=202,
            )
        if job.result is not None:
            return json_response({"job_id": job.id, "status": job.status, **job.result})
        error = job.error or {"code": "failed", "message": "the job failed"}
        status = 409 if job.status == "cancelled" else _status_for_code(error.get("code"))
        return json_response({"error": {**error, "job_id": job.id}}, status=status)


API = web.AppKey("api", Api)


def _status_for_code(code: str | None) -> int:
    for cls, status in STATUS:
        if cls.code == code:
            return status
    return 502


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


def clip_run(result: dict[str, Any], budget: int) -> dict[str, Any]:
    """Keep a run's outputs inside ``budget`` characters of JSON, head and tail, stderr getting a
    quarter."""
    stdout, cut_out = clip_json(result.get("stdout", ""), budget * 3 // 4)
    stderr, cut_err = clip_json(result.get("stderr", ""), budget // 4)
    return {
        **result,
        "stdout": stdout,
        "stderr": stderr,
        "truncated": result.get("truncated") or cut_out or cut_err,
    }


def compact_fan_out(result: FanOutResult) -> dict[str, Any]:
    """A fan-out's rows inside the response budget. Each host's output gets an equal share of
    :data:`OUTPUT_BUDGET`, smaller while the rows do not fit, down to 200 characters; with
    hundreds of hosts even that would not fit: then the outputs of hosts that succeeded go
    first, then every output, then the rows of hosts that succeeded (counted in
    ``results_omitted``), then any row beyond the budget. The summary counts every host."""
    limit = RESPONSE_BUDGET - 3_000  # the job's own fields around it (its target: up to 2,000)
    per_host = max(OUTPUT_BUDGET // max(len(result.results), 1), 200)
    while True:
        rows = [clip_run(r.model_dump(), per_host) for r in result.results]
        body: dict[str, Any] = {"results": rows, "summary": result.summary.model_dump(), "ok": result.ok}
        if per_host <= 200 or json_size(body) <= limit:
            break
        per_host = max(per_host * 3 // 4, 200)
    for which in ("ok", "all"):
        if json_size(body) <= limit:
            return body
        for row in rows:
            if which == "all" or row["status"] == "ok":
                row["stdout"] = row["stderr"] = ""
                row["output_omitted"] = True
    if json_size(body) > limit:
        kept = [r for r in rows if r["status"] != "ok"]
        while kept and json_size({**body, "results": kept}) > limit:
            kept = kept[: len(kept) * 9 // 10]
        body["results"] = kept
        body["results_omitted"] = len(rows) - len(kept)
    return body


def json_size(data: Any) -> int:
    """Characters ``data`` takes in a response body (sent with ``ensure_ascii=False``)."""
    return len(json.dumps(data, ensure_ascii=False))


# -- middlewares ---------------------------------------------------------------------------------


@web.middleware
async def request_id_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    request[REQUEST_ID] = given if REQUEST_ID_RE.match(given) else secrets.token_hex(8)
    response = await handler(request)
    response.headers["X-Request-Id"] = request[REQUEST_ID]
    return response


@web.middleware
async def errors_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GtpError as exc:
        return error_response(exc, request.get(REQUEST_ID))
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
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    caller: Token | None = None
    status = 500
    counted = False  # over its address's limit of refusals: counted, not a line of its own
    try:
        try:
            caller = api.auth.authenticate(request.headers.get("Authorization"))
        except UnauthorizedError:
            try:
                api.refused.check(request.remote or "")
            except RateLimitedError:
                api.count_refused(request.remote or "")
                counted = True
                raise
            raise
        api.limiter.check(caller.name)
        request[CALLER] = caller
        response = await handler(request)
        status = response.status
        return response
    except GtpError as exc:
        status = status_of(exc)
        raise
    finally:
        if not counted:
            await api.record(
                {
                    "kind": "request",
                    "request_id": request.get(REQUEST_ID),
                    "token": caller.name if caller else None,
                    "client": request.remote,
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "duration_ms": round((time.monotonic() - started) * 1000, 3),
                }
            )
