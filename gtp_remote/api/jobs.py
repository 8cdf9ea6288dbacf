"""Jobs: list, read, cancel, and decide on an action awaiting approval."""

from __future__ import annotations

from aiohttp import web

from gtp_remote.api.http import CALLER, REQUEST_ID, json_response
from gtp_remote.api.state import API
from gtp_remote.errors import InvalidRequestError, NotFoundError
from gtp_remote.jobs import Job


def _scope(request: web.Request) -> str | None:
    caller = request[CALLER]
    return None if "admin" in caller.operations else caller.name


async def jobs_list(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    try:
        limit = min(max(int(request.query.get("limit", "50")), 1), 200)
    except ValueError:
        raise InvalidRequestError("limit: must be an integer 1-200") from None
    jobs = await api.jobs.list(_scope(request), limit)
    views = [{**j.view(), "result": None} for j in jobs]  # results via GET /jobs/{id}: keeps this small
    return json_response({"jobs": views})


async def job_get(request: web.Request) -> web.StreamResponse:
    """Its owner sees a job, an admin any; an approver, those on servers it may use (to decide)."""
    api = request.app[API]
    caller = request[CALLER]
    job_id = request.match_info["job_id"]
    scope = _scope(request)
    if scope is not None and "approve" in caller.operations:
        job = await api.jobs.get(job_id, None)
        if job.token != caller.name and not _may_decide(api, request, job):
            raise NotFoundError(f"no job '{job_id}'", hint="GET /jobs lists your jobs")
    else:
        job = await api.jobs.get(job_id, scope)
    return json_response(job.view())


def _may_decide(api, request: web.Request, job: Job) -> bool:  # type: ignore[no-untyped-def]
    inventory = api.gateway.inventory
    return all(request[CALLER].may_use(inventory, s) for s in _servers_of(job))


def _servers_of(job: Job) -> list[str]:
    pending = job.pending or {}
    if pending.get("servers"):
        return list(pending["servers"])
    return [pending["server"]] if pending.get("server") else (job.server or "").split(",")


async def _decide(request: web.Request, approve: bool) -> web.StreamResponse:
    api = request.app[API]
    caller = request[CALLER]
    caller.require("approve")
    job_id = request.match_info["job_id"]
    job = await api.jobs.get(job_id, None)
    if not _may_decide(api, request, job):
        # approvers are scoped like everyone: a job on a server they may not use is not theirs
        raise NotFoundError(f"no job '{job_id}'", hint="GET /jobs lists your jobs")
    job = await api.jobs.decide(job.id, None, approve, caller.name)
    await api.record(
        {
            "kind": "approval",
            "request_id": request[REQUEST_ID],
            "token": caller.name,
            "client": request.remote,
            "job_id": job.id,
            "server": job.server,
            "decision": "approved" if approve else "rejected",
        }
    )
    await api.jobs.wait(job, 0.2)  # a moment to show the job moving on
    return json_response(job.view())


async def job_approve(request: web.Request) -> web.StreamResponse:
    return await _decide(request, True)


async def job_reject(request: web.Request) -> web.StreamResponse:
    return await _decide(request, False)


async def job_cancel(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    job = await api.jobs.cancel(request.match_info["job_id"], _scope(request))
    return json_response(job.view())
