"""Jobs: list, read, cancel, and decide on an action awaiting approval.

Who sees a job: its owner (the token that started it), an admin, and an approver while it is
theirs to decide on (awaiting approval on servers they may use) or after they decided on it.
Any other job answers 404, exactly like one that does not exist: an approver for ``db`` does
not read other tokens' results on ``db``.
"""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from gtp_remote.access import Principal
from gtp_remote.api import models as m
from gtp_remote.api.http import CALLER, json_response, meta, parse
from gtp_remote.api.state import API, Api, Meta
from gtp_remote.errors import InvalidRequestError, NotFoundError
from gtp_remote.jobs import STATUSES, Job, JobFilter


def _scope(caller: Principal) -> str | None:
    return None if "admin" in caller.operations else caller.name


async def jobs_list(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    caller = request[CALLER]
    query = request.query
    try:
        limit = min(max(int(query.get("limit", "50")), 1), 200)
    except ValueError:
        raise InvalidRequestError("limit: must be an integer 1-200") from None
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidRequestError(f"status: must be one of {', '.join(STATUSES)}")
    server = query.get("server") or None
    if server is not None:  # unknown, or not theirs: the same answer, naming only their servers
        server = api.gateway.server_for(caller, server)
    filters = JobFilter(status, server, query.get("token") or None, query.get("kind") or None)
    jobs = await listed_jobs(api, caller, limit, filters)
    views = [{**j.view(), "result": None} for j in jobs]  # results via GET /jobs/{id}: keeps this small
    return json_response({"jobs": views})


async def listed_jobs(api: Api, caller: Principal, limit: int, filters: JobFilter) -> list[Job]:
    """The jobs ``caller`` may list, newest first: its own (an admin: everyone's) and, for an
    approver, those awaiting approval on servers it may use, which are its to decide on."""
    scope = _scope(caller)
    jobs = await api.jobs.list(scope, limit, filters)
    if scope is not None and "approve" in caller.operations and filters.status in (None, "awaiting_approval"):
        waiting = await api.jobs.list(None, limit, replace(filters, status="awaiting_approval"))
        mine = {j.id for j in jobs}
        jobs += [j for j in waiting if j.id not in mine and _may_decide(api, caller, j)]
        jobs.sort(key=lambda j: j.created_at, reverse=True)
    return jobs[:limit]


async def visible_job(api: Api, caller: Principal, job_id: str) -> Job:
    """A job as ``caller`` may see it: its owner sees a job, an admin any, an approver those it
    may decide on or decided on. Any other is as unknown as one that does not exist."""
    scope = _scope(caller)
    if scope is not None and "approve" in caller.operations:
        job = await api.jobs.get(job_id, None)
        if not _sees(api, caller, job):
            raise _not_found(job_id)
        return job
    return await api.jobs.get(job_id, scope)


async def job_get(request: web.Request) -> web.StreamResponse:
    job = await visible_job(request.app[API], request[CALLER], request.match_info["job_id"])
    return json_response(job.view())


def _not_found(job_id: str) -> NotFoundError:
    return NotFoundError(f"no job '{job_id}'", hint="GET /jobs lists your jobs")


def _sees(api: Api, caller: Principal, job: Job) -> bool:
    """Whether an approver may know of ``job``: its own, any for an admin, one waiting for it to
    decide, or one it decided on. Another token's results are not an approver's to read."""
    return (
        job.token == caller.name
        or "admin" in caller.operations
        or _may_decide(api, caller, job)
        or _decided_by(job, caller.name)
    )


def _may_decide(api: Api, caller: Principal, job: Job) -> bool:
    """The job waits for approval on servers the caller may use: it is theirs to decide on."""
    return job.status == "awaiting_approval" and on_their_servers(api, caller, job)


def on_their_servers(api: Api, caller: Principal, job: Job) -> bool:
    """Every server the job acts on is one the caller may use."""
    inventory = api.gateway.inventory
    return all(caller.may_use(inventory, s) for s in _servers_of(job))


def _decided_by(job: Job, name: str) -> bool:
    return (job.approval or {}).get("by") == name


def _servers_of(job: Job) -> list[str]:
    pending = job.pending or {}
    if pending.get("servers"):
        return list(pending["servers"])
    return [pending["server"]] if pending.get("server") else (job.server or "").split(",")


async def decide_job(
    api: Api, caller: Principal, meta: Meta, job_id: str, approve: bool, decision: m.JobDecision | None
) -> Job:
    """Who may decide comes first (403 without the permission; 404 for a job that is not theirs
    to decide on; 403 for the asker approving itself; 409 when nothing waits), then what they
    decide on: ``pending_id`` must name the action waiting now (400 without it, 409 if stale).
    REST and the console decide through here."""
    caller.require("approve")
    job = await api.jobs.get(job_id, None)
    if not _sees(api, caller, job) or (
        job.status == "awaiting_approval" and not _may_decide(api, caller, job)
    ):
        # approvers are scoped like everyone: a job on a server they may not use is not theirs
        raise _not_found(job_id)
    api.jobs.check_decider(job, caller.name, approve)
    if decision is None:
        raise InvalidRequestError(
            "pending_id: required", hint='send {"pending_id": ID}: the id of the pending_action you decide on'
        )
    job = await api.jobs.decide(job.id, None, approve, caller.name, decision.pending_id, decision.reason)
    await api.record(
        {
            "kind": "approval",
            "request_id": meta.request_id,
            "token": caller.name,
            "front_end": caller.front_end,
            "client": meta.client,
            "job_id": job.id,
            "server": job.server,
            "pending_id": decision.pending_id,
            "decision": "approved" if approve else "rejected",
            "reason": decision.reason,
        }
    )
    await api.jobs.wait(job, 0.2)  # a moment to show the job moving on
    return job


async def _decide(request: web.Request, approve: bool) -> web.StreamResponse:
    api = request.app[API]
    caller = request[CALLER]
    caller.require("approve")
    job = await api.jobs.get(request.match_info["job_id"], None)
    if not _sees(api, caller, job) or (
        job.status == "awaiting_approval" and not _may_decide(api, caller, job)
    ):
        raise _not_found(job.id)
    api.jobs.check_decider(job, caller.name, approve)  # who, before what: no body needed to learn it
    try:
        body: m.JobDecision = await parse(request, m.JobDecision)
    except InvalidRequestError as exc:
        exc.hint = 'send {"pending_id": ID}: the id of the pending_action you decide on (GET /jobs/{id})'
        raise
    job = await decide_job(api, caller, meta(request), job.id, approve, body)
    return json_response(job.view())


async def job_approve(request: web.Request) -> web.StreamResponse:
    return await _decide(request, True)


async def job_reject(request: web.Request) -> web.StreamResponse:
    return await _decide(request, False)


async def cancel_job(api: Api, caller: Principal, job_id: str) -> Job:
    """Cancel a job its owner (or an admin) started; anyone else's is unknown to them."""
    return await api.jobs.cancel(job_id, _scope(caller))


async def job_cancel(request: web.Request) -> web.StreamResponse:
    job = await cancel_job(request.app[API], request[CALLER], request.match_info["job_id"])
    return json_response(job.view())
