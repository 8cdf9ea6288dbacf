"""Delegating to specialists: ``execute-llm`` (answered whole, or streamed as server-sent
events) and the models a server's model server has. The agent loop's tool calls go through the
gateway like every other action, with the caller's permissions and policy."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from typing import Any

from aiohttp import web

from gtp_remote.api import models as m
from gtp_remote.api.http import CALLER, REQUEST_ID, parse
from gtp_remote.api.state import API
from gtp_remote.budget import clip_llm
from gtp_remote.errors import GtpError
from gtp_remote.jobs import Job
from gtp_remote.llm.agent import Agent

SSE_HEARTBEAT = 10.0


async def execute_llm(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    body: m.ExecuteLLM = await parse(request, m.ExecuteLLM)
    caller = request[CALLER]
    caller.require("llm")
    gateway = api.gateway
    current = api.current.get(caller.name)
    if body.server:  # a server the caller may not use is as unknown as one that does not exist
        current = gateway.server_for(caller, body.server)
    else:
        with contextlib.suppress(GtpError):
            current = gateway.server_for(caller, None, current=current)
    inventory = gateway.inventory
    specialist = api.llm.resolve(
        body.provider,
        current=current,
        server=body.server,
        model=body.model,
        visible=lambda name: caller.may_use(inventory, name),
    )
    gateway.server_for(caller, specialist.server)
    if not specialist.configured:
        # A server's model or a bare provider gets the built-in tools and no specialist policy:
        # as powerful as execute-shell and file writes, so it needs those permissions too.
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
            api.llm,
            specialist,
            caller,
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
                await request.app[API].audit_writer.flush()
            await send(kind, data)
            if kind in ("final", "error"):
                break
    except ConnectionResetError:
        pass  # the client left; the job goes on
    finally:
        job.listeners.remove(queue)
    return response


async def llm_models(request: web.Request) -> web.StreamResponse:
    from gtp_remote.api.http import json_response

    api = request.app[API]
    caller = request[CALLER]
    caller.require("llm")
    server = api.gateway.server_for(
        caller, request.query.get("server") or None, current=api.current.get(caller.name)
    )
    inventory = api.gateway.inventory
    listed = await api.llm.list_models(
        server, request.query.get("provider") or None, visible=lambda name: caller.may_use(inventory, name)
    )
    return json_response(listed)
