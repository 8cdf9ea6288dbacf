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
import hmac
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
from gtp_remote.api.connections import BODY_SECONDS
from gtp_remote.api.errors import status_of
from gtp_remote.api.http import REQUEST_ID
from gtp_remote.api.jobs import cancel_job, decide_job, listed_jobs, on_their_servers, visible_job
from gtp_remote.api.servers import servers_view
from gtp_remote.api.state import API, Api, Meta
from gtp_remote.console.sessions import LOGIN_COOKIE, Session, Sessions
from gtp_remote.errors import (
    ForbiddenError,
    GtpError,
    InvalidRequestError,
    RateLimitedError,
    UnauthorizedError,
)
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
STREAMS_PER_TOKEN = 8  # live streams (tabs) one token may hold
MAX_STREAMS = 500

Page = Callable[[web.Request, Principal, Session], Awaitable[web.StreamResponse]]
SESSIONS = web.AppKey("console_sessions", Sessions)
WATCHERS = web.AppKey("console_watchers", set)
VERIFIED = web.AppKey("console_verified", dict)

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
)
templates.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False)
# a job's request as REST shows it: not the gateway's own bookkeeping (the asker's address)
templates.filters["public"] = lambda request: {k: v for k, v in request.items() if not k.startswith("_")}


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


def signed_in(page: Page, audited: bool = True) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The session's principal, or the sign-in page; a POST must carry the session's CSRF token.
    Each request is audited as REST's are (the live lists' refreshes are not: they only read
    again what a page shows)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        api = request.app[API]
        session = request.app[SESSIONS].find(request)
        if session is None:
            if request.method == "GET" and not request.path.startswith(f"{PREFIX}/fragment"):
                raise web.HTTPSeeOther(f"{PREFIX}/login")
            return render("error.html", 401, message="Your session has ended: sign in again.", me=None)
        caller: Principal | None = None
        status = 500
        try:
            try:
                caller = api.auth.named(session.token).principal("console", request.remote)
                api.limiter.check(caller.name)
                if request.method == "POST":
                    form = await _form(request)
                    if not Sessions.csrf_ok(session, str(form.get("csrf", ""))):
                        raise ForbiddenError("this form is not from this console (CSRF check)")
                response = await page(request, caller, session)
            except web.HTTPException as exc:  # a redirect after a form: the action is done
                status = exc.status
                raise
            except GtpError as exc:
                message = exc.message + (f" ({exc.hint})" if exc.hint else "")
                response = render("error.html", status_of(exc), message=message, me=caller, session=session)
            status = response.status
            return response
        finally:
            if audited:
                await api.record(
                    {
                        "kind": "request",
                        "front_end": "console",
                        "request_id": request.get(REQUEST_ID),
                        "token": caller.name if caller else session.token,
                        "client": request.remote,
                        "method": request.method,
                        "path": request.path,
                        "status": status,
                    }
                )

    return handler


async def _form(request: web.Request) -> dict[str, str]:
    """A form's fields, read like any body (time and size limits); a malformed one is a 400."""
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise InvalidRequestError("send the form as the page does")
    try:
        form = await asyncio.wait_for(request.post(), BODY_SECONDS)
    except (ValueError, TimeoutError, web.HTTPException) as exc:
        raise InvalidRequestError(f"the form could not be read ({type(exc).__name__})") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


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


def _same_origin(request: web.Request) -> bool:
    """A sign-in posted from this site: the browser's Origin (or Sec-Fetch-Site) says so."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}" and origin != "null":
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if origin != f"{forwarded or request.scheme}://{request.host}":
            return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


async def login_form(request: web.Request) -> web.StreamResponse:
    """The sign-in form, with a CSRF value in a cookie too: a sign-in posted from another site
    (to swap the victim's session for the attacker's token) is refused."""
    value = secrets.token_urlsafe(24)
    response = render("login.html", me=None, login_csrf=value)
    response.set_cookie(
        LOGIN_COOKIE,
        value,
        path=PREFIX,
        httponly=True,
        samesite="Strict",
        max_age=3600,
        secure=Sessions.secure(request, request.app[API].settings.public_url),
    )
    return response


async def login(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    try:
        form = await _form(request)
    except GtpError as exc:
        return render("login.html", 400, me=None, error=exc.message)
    presented = str(form.get("login_csrf", ""))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if (
        not _same_origin(request)
        or not expected
        or not hmac.compare_digest(presented.encode(), expected.encode())
    ):
        return render(
            "login.html", 403, me=None, error="This sign-in did not come from this page: try again."
        )
    try:
        token = api.auth.identify(str(form.get("token", "")).strip())
    except UnauthorizedError as exc:
        address = request.remote or ""
        try:
            api.refused.check(address)  # failures only, per address, as REST's refusals
        except RateLimitedError:
            api.count_refused(address)
            return render("login.html", 429, me=None, error="Too many attempts: wait a moment.")
        await api.record(
            {"kind": "console", "event": "sign_in_refused", "client": request.remote, "error": exc.message}
        )
        return render("login.html", 401, me=None, error="That token is not one of this gateway's tokens.")
    session = request.app[SESSIONS].open(token.name)
    await api.record({"kind": "console", "event": "signed_in", "token": token.name, "client": request.remote})
    response = web.HTTPSeeOther(f"{PREFIX}/")
    secure = Sessions.secure(request, api.settings.public_url)
    Sessions.set_cookie(response, request, session, secure)
    response.del_cookie(LOGIN_COOKIE, path=PREFIX)
    response.headers.update(HEADERS)
    if secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
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
    form = await _form(request)
    approve = request.match_info["verdict"] == "approve"
    reason = str(form.get("reason", "")).strip()[:1000] or None
    decision = m.validate(
        m.JobDecision, {"pending_id": form.get("pending_id") or "-", "reason": reason}, hint="reload the page"
    )
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
    checked, checked_ago = (None, None)
    if "admin" in caller.operations:  # the chain covers every token's events: an admin's to see
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
            cache["result"] = await asyncio.to_thread(lambda: audit_log.verify(path, snapshot=True))
            cache["at"] = time.monotonic()
    return cache["result"], round(time.monotonic() - cache["at"])


# -- live ----------------------------------------------------------------------------------------


async def events(request: web.Request, caller: Principal, session: Session) -> web.StreamResponse:
    """Server-sent events: ``changed`` when a job this token may see starts, waits, or ends (the
    page then asks for its list again). The stream ends with its session or its token."""
    app = request.app
    watchers = app[WATCHERS]
    mine = sum(1 for w in watchers if w.caller.name == caller.name)
    if mine >= STREAMS_PER_TOKEN:
        raise RateLimitedError(
            f"token '{caller.name}' has {mine} live streams open, the most it may", retry_after=30
        )
    if len(watchers) >= MAX_STREAMS:
        raise RateLimitedError("the console has as many live streams open as it serves", retry_after=30)
    watcher = Watcher(caller, session.id)
    watchers.add(watcher)
    response = web.StreamResponse(
        headers={**HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    try:
        await response.write(b"event: ready\ndata: {}\n\n")
        while app[SESSIONS].alive(session.id) and _token_alive(app, caller.name):
            try:
                kind = await asyncio.wait_for(watcher.queue.get(), HEARTBEAT)
                await response.write(f"event: changed\ndata: {json.dumps({'kind': kind})}\n\n".encode())
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        watchers.discard(watcher)
    return response


class Watcher:
    """One live stream: whose, and the changes it has not sent yet."""

    def __init__(self, caller: Principal, session_id: str):
        self.caller = caller
        self.session_id = session_id
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=100)


def _token_alive(app: web.Application, name: str) -> bool:
    try:
        app[API].auth.named(name)
    except UnauthorizedError:
        return False
    return True


def announce(app: web.Application, job: Job, event: str) -> None:
    """A job changed: tell the open consoles that may see it (they fetch again what they may)."""
    api = app[API]
    for watcher in list(app[WATCHERS]):
        caller = watcher.caller
        # its own jobs, any for an admin; for an approver, those on its servers (what waits there
        # for it, and the same jobs moving on): never word of servers it may not use
        sees = (
            job.token == caller.name
            or "admin" in caller.operations
            or ("approve" in caller.operations and on_their_servers(api, caller, job))
        )
        if sees:
            with contextlib.suppress(asyncio.QueueFull):
                watcher.queue.put_nowait(event)


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
    r.add_get(f"{PREFIX}/events", signed_in(events, audited=False))
    r.add_get(f"{PREFIX}/fragment/jobs", signed_in(jobs_fragment, audited=False))
    r.add_get(f"{PREFIX}/fragment/approvals", signed_in(approvals_fragment, audited=False))
    r.add_get(f"{PREFIX}/fragment/job/{{job_id}}", signed_in(job_fragment, audited=False))
    return (PREFIX,)
