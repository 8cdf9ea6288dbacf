"""Endpoints: one table that both routes requests and describes them in the OpenAPI document.

Paths follow the product this one replaces (GPT Terminal Plus), so existing Custom GPT set-ups
carry over.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gtp_remote import __version__
from gtp_remote.api import models as m
from gtp_remote.api.app import (
    API,
    BODY_LIMIT,
    CALLER,
    OUTPUT_BUDGET,
    REQUEST_ID,
    RUN_OUTPUT_LIMIT,
    Api,
    auth_mw,
    clip_run,
    compact_fan_out,
    cors_mw,
    errors_mw,
    json_response,
    json_size,
    parse,
    request_id_mw,
)
from gtp_remote.errors import GtpError, InvalidRequestError
from gtp_remote.executors.output import clip_text
from gtp_remote.jobs import Job
from gtp_remote.llm.agent import Agent

SSE_HEARTBEAT = 10.0


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    operation_id: str
    summary: str
    body: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | tuple[type[BaseModel], ...]] = field(default_factory=dict)
    public: bool = False
    consequential: bool = False
    query: tuple[tuple[str, str, str], ...] = ()  # (name, type, description)
    errors: tuple[int, ...] = (400, 401, 403, 404, 429)


def api_of(request: web.Request) -> Api:
    return request.app[API]


async def _file_audit(
    api: Api, request: web.Request, operation: str, server: str, path: str, **extra: Any
) -> None:
    await api.record(
        {
            "kind": "file",
            "request_id": request[REQUEST_ID],
            "token": request[CALLER].name,
            "client": request.remote,
            "server": server,
            "operation": operation,
            "path": path,
            **extra,
        }
    )


# -- commands ------------------------------------------------------------------------------------


async def execute_shell(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    body: m.ExecuteShell = await parse(request, m.ExecuteShell)
    caller = request[CALLER]
    caller.require("exec")
    record = body.model_dump(exclude={"env"}) | {
        "env": sorted(body.env),  # names only: values are often passwords, and this is stored
        "_request_id": request[REQUEST_ID],
        "_client": request.remote,
    }
    if body.target:
        api.resolve_target(caller, body.target)
        command = body.command if not body.cwd else f"cd {_quote(body.cwd)} || exit 126\n{body.command}"

        async def fan(job: Job) -> dict[str, Any]:
            result = await api.gateway.fan_out(
                body.target or "", command, timeout=body.timeout, output_limit=RUN_OUTPUT_LIMIT, env=body.env
            )
            return compact_fan_out(result)

        job = await api.jobs.start(
            token=caller.name, operation="execute-shell", server=body.target, request=record, work=fan
        )
        return await api.respond_job(job, body.wait_seconds)
    server = api.server_for(caller, body.server)

    async def run(job: Job) -> dict[str, Any]:
        result = await api.gateway.run_streaming(
            server,
            body.command,
            timeout=body.timeout,
            cwd=body.cwd,
            env=body.env,
            output_limit=RUN_OUTPUT_LIMIT,
            on_output=job.on_output,
        )
        return clip_run(result.model_dump(exclude={"command"}), OUTPUT_BUDGET) | {"ok": result.ok}

    job = await api.jobs.start(
        token=caller.name, operation="execute-shell", server=server, request=record, work=run
    )
    return await api.respond_job(job, body.wait_seconds)


async def execute_code(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    body: m.ExecuteCode = await parse(request, m.ExecuteCode)
    caller = request[CALLER]
    caller.require("exec")
    server = api.server_for(caller, body.server)

    async def run(job: Job) -> dict[str, Any]:
        result = await api.gateway.run_code(
            server, body.code, body.language, timeout=body.timeout, on_output=job.on_output
        )
        return clip_run(result.model_dump(exclude={"command"}), OUTPUT_BUDGET) | {"ok": result.ok}

    record = {
        "language": body.language,
        "code": body.code[:2000],
        "_request_id": request[REQUEST_ID],
        "_client": request.remote,
    }
    job = await api.jobs.start(
        token=caller.name, operation="execute-code", server=server, request=record, work=run
    )
    return await api.respond_job(job, body.wait_seconds)


async def execute_llm(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    body: m.ExecuteLLM = await parse(request, m.ExecuteLLM)
    caller = request[CALLER]
    caller.require("llm")
    if body.server:  # a server the caller may not use is refused before anything is said of it
        current: str | None = api.server_for(caller, body.server)
    else:
        current = None
        with contextlib.suppress(GtpError):
            current = api.server_for(caller, None)
    inventory = api.gateway.inventory
    specialist = api.gateway.llm.resolve(
        body.provider,
        current=current,
        server=body.server,
        model=body.model,
        visible=lambda name: caller.may_use(inventory, name),
    )
    caller.require_server(inventory, specialist.server)
    if not specialist.configured:
        # A server's model or a bare provider gets the built-in tools with no policy: as powerful
        # as execute-shell and file writes, so it needs those permissions too.
        caller.require("exec")
        caller.require("files.write")
    record = {
        "provider": body.provider,
        "instructions": body.instructions[:2000],
        "dry_run": body.dry_run,
        "_request_id": request[REQUEST_ID],
        "_client": request.remote,
    }

    async def work(job: Job) -> dict[str, Any]:
        def emit(kind: str, data: dict[str, Any]) -> None:
            if kind == "final":
                data = clip_llm(copy.deepcopy(data))
            job.publish(kind, data)
            line = _progress_line(kind, data)
            if line:
                job.tail.add(line.encode())

        agent = Agent(
            api.gateway.llm,
            specialist,
            emit=emit,
            approver=api.jobs.approver(job),
            audit=api.record,
            dry_run=body.dry_run,
            max_steps=body.max_steps,
            stream=body.stream,
            context={"job_id": job.id, "request_id": request[REQUEST_ID], "token": caller.name},
        )
        try:
            result = await agent.run(body.instructions)
        except GtpError as exc:
            job.publish("error", exc.to_dict())
            raise
        return clip_llm(result)

    job = await api.jobs.start(
        token=caller.name, operation="execute-llm", server=specialist.server, request=record, work=work
    )
    if body.stream:
        return await _stream_job(request, job)
    return await api.respond_job(job, body.wait_seconds)


def _progress_line(kind: str, data: dict[str, Any]) -> str | None:
    """What an execute-llm job shows in ``output_tail`` while it runs."""
    if kind == "tool_call":
        return f"[{data['index']}] {data['tool']} {json.dumps(data['arguments'], ensure_ascii=False)[:300]}\n"
    if kind == "tool_result":
        return f"    -> {data['status']} (exit {data['exit_code']})\n"
    if kind == "awaiting_approval":
        return f"    awaiting approval: {data['reason']}\n"
    if kind == "delta":
        return str(data["text"])
    return None


async def _stream_job(request: web.Request, job: Job) -> web.StreamResponse:
    """Server-sent events of a job as it runs; the job goes on if the client leaves."""
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    job.listeners.append(queue)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)

    async def send(kind: str, data: dict[str, Any]) -> None:
        payload = json.dumps({"job_id": job.id, **data}, ensure_ascii=False)
        await response.write(f"event: {kind}\ndata: {payload}\n\n".encode())

    try:
        await send("job", {"status": job.status})
        while True:
            try:
                kind, data = await asyncio.wait_for(queue.get(), SSE_HEARTBEAT)
            except TimeoutError:
                if job.task is not None and job.task.done():
                    error = job.error or {"code": job.status, "message": f"the job ended {job.status}"}
                    await send("error", error)
                    break
                await response.write(b": heartbeat\n\n")
                continue
            if kind in ("final", "error") and job.task is not None:
                # The outcome goes out once the job's own audit event is on disk, as in a reply.
                await asyncio.wait({job.task})
                await api_of(request).audit_writer.flush()
            await send(kind, data)
            if kind in ("final", "error"):
                break
    except ConnectionResetError:
        pass  # the client left; the job goes on
    finally:
        job.listeners.remove(queue)
    return response


def clip_llm(result: dict[str, Any]) -> dict[str, Any]:
    """An execute-llm result inside the response budget, whatever the specialist produced.

    The longest step outputs are halved first; if that is not enough, the oldest steps go (their
    count is kept in ``steps_omitted``): the answer and the last steps matter most.
    """

    while json_size(result) > OUTPUT_BUDGET and result["steps"]:
        longest = max(result["steps"], key=lambda s: len(s["output"]))
        if len(longest["output"]) <= 200:
            break
        longest["output"] = clip_text(longest["output"], len(longest["output"]) // 2)[0]
    while json_size(result) > OUTPUT_BUDGET and result["steps"]:
        result["steps"].pop(0)
        result["steps_omitted"] = result.get("steps_omitted", 0) + 1
    return result


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# -- files ---------------------------------------------------------------------------------------


async def file_read(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    body: m.FileRead = await parse(request, m.FileRead)
    request[CALLER].require("files.read")
    server = api.server_for(request[CALLER], body.server)
    try:
        content = await api.gateway.read_file(
            server, body.path, offset=body.offset, limit=body.limit, max_json_chars=OUTPUT_BUDGET
        )
    except GtpError as exc:  # a refused path is worth seeing in the log as much as a read one
        await _file_audit(api, request, "read", server, body.path, outcome=exc.code)
        raise
    await _file_audit(api, request, "read", server, content.path, bytes=content.bytes_read, outcome="ok")
    return json_response(content.model_dump())


async def file_write(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    body: m.FileWrite = await parse(request, m.FileWrite)
    request[CALLER].require("files.write")
    server = api.server_for(request[CALLER], body.server)
    try:
        stat = await api.gateway.write_file(server, body.path, body.content, mode=body.mode)
    except GtpError as exc:
        await _file_audit(api, request, f"write:{body.mode}", server, body.path, outcome=exc.code)
        raise
    await _file_audit(
        api, request, f"write:{body.mode}", server, stat.path, bytes=len(body.content.encode()), outcome="ok"
    )
    return json_response({"server": server, "stat": stat.model_dump()})


async def file_list(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    body: m.FileList = await parse(request, m.FileList)
    request[CALLER].require("files.read")
    server = api.server_for(request[CALLER], body.server)
    try:
        listing = await api.gateway.list_dir(server, body.path, recursive=body.recursive, max_entries=500)
    except GtpError as exc:
        await _file_audit(api, request, "list", server, body.path, outcome=exc.code)
        raise
    await _file_audit(api, request, "list", server, listing.path, entries=len(listing.entries), outcome="ok")
    return json_response(listing.model_dump())


async def file_patch(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    body: m.FilePatch = await parse(request, m.FilePatch)
    request[CALLER].require("files.write")
    server = api.server_for(request[CALLER], body.server)
    try:
        result = await api.gateway.patch_file(server, body.path, body.diff, dry_run=body.dry_run)
    except GtpError as exc:
        await _file_audit(api, request, "patch", server, body.path, dry_run=body.dry_run, outcome=exc.code)
        raise
    await _file_audit(
        api, request, "patch", server, result.path, dry_run=body.dry_run, hunks=result.hunks, outcome="ok"
    )
    return json_response(result.model_dump())


# -- servers -------------------------------------------------------------------------------------


async def server_list(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    caller = request[CALLER]
    inventory = api.gateway.inventory
    names = [n for n in inventory.servers if caller.may_use(inventory, n)]
    if request.query.get("check") in ("1", "true"):
        results = await asyncio.gather(*(api.gateway.executor(n).check() for n in names))
        models = await asyncio.gather(*(api.gateway.llm.health(n) for n in names))
        for r, model in zip(results, models, strict=True):
            api.health[r.server] = r.model_dump() | {"checked_at": time.time()}
            if model is not None:
                api.model_health[r.server] = model | {"checked_at": time.time()}
    current = api.current.get(caller.name)
    with contextlib.suppress(GtpError):
        current = current or api.server_for(caller, None)
    rows = []
    for name in names:
        s = inventory.servers[name]
        rows.append(
            {
                "name": name,
                "protocol": s.protocol,
                "address": s.address,
                "groups": list(s.groups),
                "model": f"{s.llm.provider}:{s.llm.model or 'default'}" if s.llm else None,
                "description": s.description,
                "current": name == current,
                "health": api.health.get(name),
                "model_health": api.model_health.get(name),
            }
        )
    return json_response({"current": current, "servers": rows})


async def server_set(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    body: m.ServerSet = await parse(request, m.ServerSet)
    caller = request[CALLER]
    name = api.server_for(caller, body.server)
    api.current[caller.name] = name
    return json_response({"current": name})


# -- jobs ----------------------------------------------------------------------------------------


def _scope(request: web.Request) -> str | None:
    caller = request[CALLER]
    return None if "admin" in caller.operations else caller.name


async def jobs_list(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    try:
        limit = min(max(int(request.query.get("limit", "50")), 1), 200)
    except ValueError:
        raise InvalidRequestError("limit: must be an integer 1-200") from None
    jobs = await api.jobs.list(_scope(request), limit)
    views = [{**j.view(), "result": None} for j in jobs]  # results via GET /jobs/{id}: keeps this small
    return json_response({"jobs": views})


async def job_get(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    job = await api.jobs.get(request.match_info["job_id"], _scope(request))
    return json_response(job.view())


async def _decide(request: web.Request, approve: bool) -> web.StreamResponse:
    api = api_of(request)
    caller = request[CALLER]
    caller.require("approve")
    job = await api.jobs.get(request.match_info["job_id"], None)
    if job.server:
        caller.require_server(api.gateway.inventory, job.server)  # approvers are scoped like everyone
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


async def llm_models(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    caller = request[CALLER]
    caller.require("llm")
    server = api.server_for(caller, request.query.get("server") or None)
    listed = await api.gateway.llm.list_models(server, request.query.get("provider") or None)
    return json_response(listed)


async def job_cancel(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    job = await api.jobs.cancel(request.match_info["job_id"], _scope(request))
    return json_response(job.view())


# -- public --------------------------------------------------------------------------------------


async def health(request: web.Request) -> web.StreamResponse:
    api = api_of(request)
    return json_response(
        {"status": "ok", "version": __version__, "servers": len(api.gateway.inventory.servers)}
    )


async def openapi_json(request: web.Request) -> web.StreamResponse:
    from gtp_remote.api.openapi import build

    return json_response(build(api_of(request).config.public_url, request.query.get("version", "3.1")))


async def openapi_yaml(request: web.Request) -> web.StreamResponse:
    import yaml

    from gtp_remote.api.openapi import build

    spec = build(api_of(request).config.public_url, request.query.get("version", "3.1"))
    return web.Response(text=yaml.safe_dump(spec, sort_keys=False), content_type="application/yaml")


RUN_RESPONSES = {200: m.ShellResult, 202: m.JobAccepted}
ROUTES: list[Route] = [
    Route(
        "POST",
        "/command/execute-shell",
        execute_shell,
        "executeShell",
        "Run a shell command on a server (or on several with target). Long commands answer 202 "
        "with a job_id: fetch the result with getJob.",
        m.ExecuteShell,
        {200: m.ShellResult, 202: m.JobAccepted},
        consequential=True,
        errors=(400, 401, 403, 404, 429, 502, 504),
    ),
    Route(
        "POST",
        "/command/execute-code",
        execute_code,
        "executeCode",
        "Run a Python, bash, sh or Node program on a server; nothing is left behind on it.",
        m.ExecuteCode,
        RUN_RESPONSES,
        consequential=True,
        errors=(400, 401, 403, 404, 429, 502, 504),
    ),
    Route(
        "POST",
        "/command/execute-llm",
        execute_llm,
        "executeLlm",
        "Delegate a task to a specialist model (e.g. database-llm) that uses its tools on its own "
        "server. Returns its answer and steps; long tasks or actions needing approval answer 202 "
        "with a job_id.",
        m.ExecuteLLM,
        {200: m.LLMResult, 202: m.JobAccepted},
        consequential=True,
        errors=(400, 401, 403, 404, 429, 502, 504),
    ),
    Route(
        "GET",
        "/llm/models",
        llm_models,
        "listModels",
        "The models a server's model server has (Ollama /api/tags or OpenAI-compatible /v1/models).",
        None,
        {200: m.LLMModels},
        query=(
            ("server", "string", "Server name (default: your current server)."),
            ("provider", "string", "Provider to ask (default: the server's own)."),
        ),
        errors=(401, 403, 404, 429, 502, 504),
    ),
    Route(
        "POST",
        "/file/read",
        file_read,
        "readFile",
        "Read a text file on a server, in pieces of up to 60000 bytes (offset, limit).",
        m.FileRead,
        {200: m.FileContent},
        errors=(400, 401, 403, 404, 429, 502),
    ),
    Route(
        "POST",
        "/file/write",
        file_write,
        "writeFile",
        "Create, overwrite (atomically) or append to a file on a server.",
        m.FileWrite,
        {200: m.FileWritten},
        consequential=True,
        errors=(400, 401, 403, 404, 409, 429, 502),
    ),
    Route(
        "POST",
        "/file/list",
        file_list,
        "listFiles",
        "List a directory on a server, optionally recursively.",
        m.FileList,
        {200: m.Listing},
        errors=(400, 401, 403, 404, 429, 502),
    ),
    Route(
        "POST",
        "/file/patch",
        file_patch,
        "patchFile",
        "Apply a unified diff to a file on a server; refused whole if any hunk does not match.",
        m.FilePatch,
        {200: m.PatchResult},
        consequential=True,
        errors=(400, 401, 403, 404, 429, 502),
    ),
    Route(
        "GET",
        "/server/list",
        server_list,
        "listServers",
        "The servers you may use, which one is current for you, their model and last health.",
        None,
        {200: m.ServerList},
        query=(("check", "boolean", "Check each server now (slower)."),),
        errors=(401, 429),
    ),
    Route(
        "POST",
        "/server/set",
        server_set,
        "setServer",
        "Choose your current server: requests without a server field act on it.",
        m.ServerSet,
        {200: m.ServerSelected},
        consequential=True,
        errors=(400, 401, 403, 404, 429),
    ),
    Route(
        "GET",
        "/jobs",
        jobs_list,
        "listJobs",
        "Your recent jobs, newest first, without their results.",
        None,
        {200: m.JobList},
        query=(("limit", "integer", "How many jobs (1-200, default 50)."),),
        errors=(400, 401, 429),
    ),
    Route(
        "GET",
        "/jobs/{job_id}",
        job_get,
        "getJob",
        "A job's status and, once finished, its result.",
        None,
        {200: m.JobView},
        errors=(401, 404, 429),
    ),
    Route(
        "POST",
        "/jobs/{job_id}/cancel",
        job_cancel,
        "cancelJob",
        "Cancel a running job; its process is killed on the server.",
        None,
        {200: m.JobView},
        consequential=True,
        errors=(401, 404, 409, 429),
    ),
    Route(
        "POST",
        "/jobs/{job_id}/approve",
        job_approve,
        "approveJob",
        "Approve the action an execute-llm job is waiting on (needs the approve permission).",
        None,
        {200: m.JobView},
        consequential=True,
        errors=(401, 403, 404, 409, 429),
    ),
    Route(
        "POST",
        "/jobs/{job_id}/reject",
        job_reject,
        "rejectJob",
        "Reject the action an execute-llm job is waiting on; the specialist is told and goes on.",
        None,
        {200: m.JobView},
        consequential=True,
        errors=(401, 403, 404, 409, 429),
    ),
    Route(
        "GET",
        "/health",
        health,
        "health",
        "Liveness of the gateway (no authentication).",
        None,
        {200: m.Health},
        public=True,
        errors=(),
    ),
]


def create_app(api: Api) -> web.Application:
    app = web.Application(
        client_max_size=BODY_LIMIT,
        middlewares=[request_id_mw, errors_mw, cors_mw(api.config.cors_origins), auth_mw],
    )
    app[API] = api
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/openapi.yaml", openapi_yaml)

    async def shutdown(app: web.Application) -> None:
        await api.jobs.shutdown()
        await api.gateway.close()
        api.flush_refused()
        await api.audit_writer.close()
        api.store.close()

    app.on_shutdown.append(shutdown)
    return app
