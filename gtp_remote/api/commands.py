"""Running commands and programs: ``execute-shell`` (one server, or a target's servers) and
``execute-code``. Every run is a job, so no result is lost to a client's time budget."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gtp_remote import gateway as g
from gtp_remote.api import models as m
from gtp_remote.api.http import CALLER, REQUEST_ID, parse
from gtp_remote.api.state import API
from gtp_remote.budget import OUTPUT_BUDGET, RUN_OUTPUT_LIMIT, clip_run, compact_fan_out
from gtp_remote.executors.base import RunResult
from gtp_remote.fanout import FanOutResult


def shape_run(result: RunResult) -> dict[str, Any]:
    return clip_run(result.model_dump(exclude={"command"}), OUTPUT_BUDGET) | {"ok": result.ok}


def shape_fan_out(result: FanOutResult) -> dict[str, Any]:
    return compact_fan_out(result)


async def execute_shell(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    body: m.ExecuteShell = await parse(request, m.ExecuteShell)
    caller = request[CALLER]
    action = g.Command(
        body.command,
        server=None if body.target else body.server,
        target=body.target,
        cwd=body.cwd,
        env=body.env,
        timeout=body.timeout,
        output_limit=RUN_OUTPUT_LIMIT,
    )
    plan = await api.gateway.plan(
        caller, action, current=api.current.get(caller.name), context={"request_id": request[REQUEST_ID]}
    )
    record = body.model_dump(exclude={"env"}) | {"env": sorted(body.env)}  # names only: values are secrets
    shape = shape_fan_out if plan.fan_out else shape_run
    return await api.run(
        request, plan, shape, record=record, job_name="execute-shell", wait=body.wait_seconds
    )


async def execute_code(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    body: m.ExecuteCode = await parse(request, m.ExecuteCode)
    caller = request[CALLER]
    action = g.Code(
        body.code, body.language, server=body.server, timeout=body.timeout, output_limit=RUN_OUTPUT_LIMIT
    )
    plan = await api.gateway.plan(
        caller, action, current=api.current.get(caller.name), context={"request_id": request[REQUEST_ID]}
    )
    record = {"language": body.language, "code": body.code[:2000]}
    return await api.run(
        request, plan, shape_run, record=record, job_name="execute-code", wait=body.wait_seconds
    )
