"""Delegating to specialists: ``execute-llm`` (answered whole, or streamed as server-sent
events) and the models a server's model server has. The agent loop's tool calls go through the
gateway like every other action, with the caller's permissions and policy."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from gtp_remote.access import Principal
from gtp_remote.api import models as m
from gtp_remote.api.http import CALLER, answer, json_response, meta, parse
from gtp_remote.api.operations import start_delegation
from gtp_remote.api.state import API, Api
from gtp_remote.jobs import Job

SSE_HEARTBEAT = 10.0


async def execute_llm(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    body: m.ExecuteLLM = await parse(request, m.ExecuteLLM)
    job = await start_delegation(api, request[CALLER], body, meta(request), stream=body.stream)
    if body.stream:
        return await _stream_job(request, job)
    return await answer(api, job, body.wait_seconds)


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


async def models_view(
    api: Api, caller: Principal, server: str | None, provider: str | None
) -> dict[str, Any]:
    """The models a server's model server has, as ``caller`` may see them."""
    caller.require("llm")
    server = api.gateway.server_for(caller, server or None, current=api.current.get(caller.name))
    inventory = api.gateway.inventory
    return await api.llm.list_models(
        server, provider or None, visible=lambda name: caller.may_use(inventory, name)
    )


async def llm_models(request: web.Request) -> web.StreamResponse:
    query = request.query
    listed = await models_view(request.app[API], request[CALLER], query.get("server"), query.get("provider"))
    return json_response(listed)
