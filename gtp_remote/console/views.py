"""The console's pages and forms, over the operations the REST API and MCP use.

Every page acts as the principal of the session's token (front end ``console``): the hosts,
jobs, approvals and specialists it shows are the token's, and a button it may not use is not
drawn, and refused by the server anyway. Forms are POSTs with the session's CSRF token;
responses carry a Content-Security-Policy with no inline script (``console.js`` is a file),
``frame-ancestors 'none'`` and the usual headers. Lists update live: ``/ui/events`` is a
server-sent event stream saying "something changed", on which the page fetches its list again
as server-rendered (escaped) HTML.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from gtp_remote import audit as audit_log
from gtp_remote.access import Principal
from gtp_remote.api import models as m
from gtp_remote.api.errors import status_of
from gtp_remote.api.http import REQUEST_ID
from gtp_remote.api.jobs import cancel_job, decide_job, listed_jobs, visible_job
from gtp_remote.api.servers import servers_view
from gtp_remote.api.state import API, Api, Meta
from gtp_remote.console.sessions import Session, Sessions
from gtp_remote.errors import GtpError, RateLimitedError, UnauthorizedError
from gtp_remote.jobs import STATUSES, Job, JobFilter

HERE = Path(__file__).parent
PREFIX = "/ui"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {"console.js": "text/javascript", "console.css": "text/css"}
HEARTBEAT = 15.0
VERIFY_SECONDS = 30.0  # how old the audit chain's check on the audit page may be
STREAMS_PER_SESSION = 8  # live streams (tabs) one session may hold
MAX_STREAMS = 500

Page = Callable[[web.Request, Principal, Session], Awaitable[web.StreamResponse]]
SESSIONS = web.AppKey("console_sessions", Sessions)
WATCHERS = web.AppKey("console_watchers", set)
VERIFIED = web.AppKey("console_verified", dict)

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
)
templates.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False)


def render(name: str, status: int = 200, **context: Any) -> web.Response:
    context = {"nav": "", "live": None, "session": None, **context}
    return web.Response(
        text=templates.get_template(name).render(**context),
        status=status,
        content_type="text/html",
        headers=HEADERS,
    )


def _meta(request: web.Request) -> Meta:
    return Meta(request.get(REQUEST_ID) or secrets.token_hex(8), request.remote)


def signed_in(page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The session's principal, or the sign-in page; a POST must carry the session's CSRF token."""

    async def handler(request: web.Request) -> web.StreamResponse:
        api = request.app[API]
        sessions = request.app[SESSIONS]
        session = sessions.find(request)
        if session is None:
            if request.method == "GET" and not request.path.startswith(f"{PREFIX}/fragment"):
                raise web.HTTPSeeOther(f"{PREFIX}/login")
            return render("error.html", 401, message="Your session has ended: sign in again.", me=None)
        try:
            caller = api.auth.named(session.token).principal("console", request.remote)
            api.limiter.check(caller.name)
        except (UnauthorizedError, RateLimitedError) as exc:
            return render("error.html", status_of(exc), message=exc.message, me=None)
        if request.method == "POST":
            form = await request.post()
            if not Sessions.csrf_ok(session, str(form.get("csrf", ""))):
                return render(
                    "error.html",
                    403,
                    message="This form is not from this console (CSRF check).",
                    me=caller,
                    session=session,
                )
        try:
            return await page(request, caller, session)
        except GtpError as exc:
            message = exc.message + (f" ({exc.hint})" if exc.hint else "")
            return render("error.html", status_of(exc), message=message, me=caller, session=session)

    return handler


def _page(
    request: web.Request, caller: Principal, session: Session, name: str, **context: Any
) -> web.Response:
    return render(
        name,
        me=caller,
        session=session,
        may_approve="approve" in caller.operations,
        nav=request.path,
        **context,
    )


# -- signing in ----------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.StreamResponse:
    return render("login.html", me=None)


async def login(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    form = await request.post()
    try:
        api.refused.check(request.remote or "")
        token = api.auth.identify(str(form.get("token", "")).strip())
    except (UnauthorizedError, RateLimitedError) as exc:
        await api.record(
            {"kind": "console", "event": "sign_in_refused", "client": request.remote, "error": exc.message}
        )
        message = (
            "Too many attempts: wait a moment."
            if isinstance(exc, RateLimitedError)
            else ("That token is not one of this gateway's tokens.")
        )
        return render("login.html", 401, me=None, error=message)
    session = request.app[SESSIONS].open(token.name)
    await api.record({"kind": "console", "event": "signed_in", "token": token.name, "client": request.remote})
    response = web.HTTPSeeOther(f"{PREFIX}/")
    Sessions.set_cookie(response, request, session)
    response.headers.update(HEADERS)
    raise response


async def logout(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    request.app[SESSIONS].close(session)
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    Sessions.set_cookie(response, request, None)
    raise response


async def home(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"{PREFIX}/approvals" if "approve" in caller.operations else f"{PREFIX}/jobs")


# -- hosts and specialists -----------------------------------------------------------------------


async def hosts(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    api = request.app[API]
    view = await servers_view(api, caller, False)
    pools = api.gateway.pools()
    inventory = api.gateway.inventory
    groups = sorted({g for s in view["servers"] for g in s["groups"]})
    members = {g: [s["name"] for s in view["servers"] if g in s["groups"]] for g in groups}
    return _page(
        request,
        caller,
        session,
        "hosts.html",
        servers=view["servers"],
        pools=pools,
        groups=members,
        inventory=inventory,
    )


async def check_hosts(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    await servers_view(request.app[API], caller, True)
    raise web.HTTPSeeOther(f"{PREFIX}/hosts")


async def specialists(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    from gtp_remote.api.servers import specialists_view

    return _page(
        request, caller, session, "specialists.html", specialists=specialists_view(request.app[API], caller)
    )


# -- jobs and approvals --------------------------------------------------------------------------


def _filters(request: web.Request, caller: Principal) -> JobFilter:
    query = request.query
    status = query.get("status") or None
    if status not in (None, *STATUSES):
        status = None
    server = query.get("server") or None
    if server:
        server = request.app[API].gateway.server_for(caller, server)
    return JobFilter(status, server, query.get("token") or None, query.get("kind") or None)


async def jobs(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    filters = _filters(request, caller)
    listed = await listed_jobs(request.app[API], caller, 100, filters)
    return _page(
        request,
        caller,
        session,
        "jobs.html",
        jobs=listed,
        filters=filters,
        statuses=STATUSES,
        live=f"{PREFIX}/fragment/jobs?{request.query_string}",
    )


async def jobs_fragment(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    listed = await listed_jobs(request.app[API], caller, 100, _filters(request, caller))
    return _page(request, caller, session, "jobs_table.html", jobs=listed)


async def _waiting(api: Api, caller: Principal) -> list[Job]:
    listed = await listed_jobs(api, caller, 200, JobFilter(status="awaiting_approval"))
    return [j for j in listed if j.status == "awaiting_approval"]


async def approvals(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    waiting = await _waiting(request.app[API], caller)
    return _page(
        request,
        caller,
        session,
        "approvals.html",
        jobs=waiting,
        now=time.time(),
        live=f"{PREFIX}/fragment/approvals",
    )


async def approvals_fragment(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    waiting = await _waiting(request.app[API], caller)
    return _page(request, caller, session, "approvals_table.html", jobs=waiting, now=time.time())


async def job(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    found = await visible_job(request.app[API], caller, request.match_info["job_id"])
    view = found.view()
    return _page(
        request, caller, session, "job.html", job=found, view=view, live=f"{PREFIX}/fragment/job/{found.id}"
    )


async def job_fragment(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    found = await visible_job(request.app[API], caller, request.match_info["job_id"])
    return _page(request, caller, session, "job_body.html", job=found, view=found.view())


async def decide(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    form = await request.post()
    approve = request.match_info["verdict"] == "approve"
    reason = str(form.get("reason", "")).strip()[:1000] or None
    decision = m.JobDecision(pending_id=str(form.get("pending_id", "")) or "-", reason=reason)
    done = await decide_job(
        request.app[API], caller, _meta(request), request.match_info["job_id"], approve, decision
    )
    raise web.HTTPSeeOther(f"{PREFIX}/jobs/{done.id}")


async def cancel(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    done = await cancel_job(request.app[API], caller, request.match_info["job_id"])
    raise web.HTTPSeeOther(f"{PREFIX}/jobs/{done.id}")


# -- audit ---------------------------------------------------------------------------------------


async def audit(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    """The last events, searchable; an admin sees everyone's, others their own token's."""
    api = request.app[API]
    path = api.audit.path
    events = await asyncio.to_thread(audit_log.tail, path, 2000)
    if "admin" not in caller.operations:
        events = [e for e in events if e.get("token") == caller.name]
    wanted = {
        k: v for k in ("token", "server", "operation", "outcome") if (v := request.query.get(k, "").strip())
    }
    for key, value in wanted.items():
        events = [
            e
            for e in events
            if value.lower() in str(e.get(key) or e.get("path" if key == "operation" else key) or "").lower()
        ]
    events = list(reversed(events))[:300]
    checked, checked_ago = await _verified(request.app, path)
    return _page(
        request,
        caller,
        session,
        "audit.html",
        events=events,
        wanted=wanted,
        checked=checked,
        checked_ago=checked_ago,
    )


async def _verified(app: web.Application, path: Path) -> Any:
    """The chain's check, at most VERIFY_SECONDS old: walking millions of lines on every page
    load would let anyone signed in keep a core busy. (One check at a time, in a thread.)"""
    cache = app[VERIFIED]
    async with cache.setdefault("lock", asyncio.Lock()):
        if "result" not in cache or time.monotonic() - cache["at"] > VERIFY_SECONDS:
            cache["result"] = await asyncio.to_thread(audit_log.verify, path)
            cache["at"] = time.monotonic()
    return cache["result"], round(time.monotonic() - cache["at"])


# -- live ----------------------------------------------------------------------------------------


async def events(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    """Server-sent events: ``changed`` when any job starts, waits, or ends (the page then asks
    for its list again, which shows only what this token may see)."""
    watchers = request.app[WATCHERS]
    mine = sum(1 for q in watchers if getattr(q, "session", None) == session.id)
    if mine >= STREAMS_PER_SESSION or len(watchers) >= MAX_STREAMS:
        raise RateLimitedError("too many live streams open for this session", retry_after=30)
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=100)
    queue.session = session.id  # type: ignore[attr-defined]
    watchers.add(queue)
    response = web.StreamResponse(
        headers={**HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    try:
        await response.write(b"event: ready\ndata: {}\n\n")
        while True:
            try:
                kind = await asyncio.wait_for(queue.get(), HEARTBEAT)
                await response.write(f"event: changed\ndata: {json.dumps({'kind': kind})}\n\n".encode())
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        watchers.discard(queue)
    return response


def announce(app: web.Application, job: Job, event: str) -> None:
    """A job changed: tell every open console (they fetch again what they may see)."""
    for queue in list(app[WATCHERS]):
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(event)


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(
        body=(HERE / "static" / name).read_bytes(),
        content_type=STATIC[name],
        headers={**HEADERS, "Cache-Control": "max-age=300"},
    )


def mount(app: web.Application) -> tuple[str, ...]:
    """The console's routes on ``app``; returns the path prefix it authenticates itself."""
    app[SESSIONS] = Sessions()
    app[WATCHERS] = set()
    app[VERIFIED] = {}
    r = app.router
    r.add_get(f"{PREFIX}/login", login_form)
    r.add_post(f"{PREFIX}/login", login)
    r.add_get(f"{PREFIX}/static/{{name}}", static)
    r.add_post(f"{PREFIX}/logout", signed_in(logout))
    r.add_get(f"{PREFIX}/", signed_in(home))
    r.add_get(f"{PREFIX}", signed_in(home))
    r.add_get(f"{PREFIX}/hosts", signed_in(hosts))
    r.add_post(f"{PREFIX}/hosts/check", signed_in(check_hosts))
    r.add_get(f"{PREFIX}/specialists", signed_in(specialists))
    r.add_get(f"{PREFIX}/jobs", signed_in(jobs))
    r.add_get(f"{PREFIX}/jobs/{{job_id}}", signed_in(job))
    r.add_post(f"{PREFIX}/jobs/{{job_id}}/cancel", signed_in(cancel))
    r.add_post(f"{PREFIX}/jobs/{{job_id}}/{{verdict:approve|reject}}", signed_in(decide))
    r.add_get(f"{PREFIX}/approvals", signed_in(approvals))
    r.add_get(f"{PREFIX}/audit", signed_in(audit))
    r.add_get(f"{PREFIX}/events", signed_in(events))
    r.add_get(f"{PREFIX}/fragment/jobs", signed_in(jobs_fragment))
    r.add_get(f"{PREFIX}/fragment/approvals", signed_in(approvals_fragment))
    r.add_get(f"{PREFIX}/fragment/job/{{job_id}}", signed_in(job_fragment))
    return (PREFIX,)
