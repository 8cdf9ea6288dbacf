"""Running commands and programs: ``execute-shell`` (one server, or a target's servers) and
``execute-code``. Every run is a job, so no result is lost to a client's time budget."""

from __future__ import annotations

from aiohttp import web

from gtp_remote.api import models as m
from gtp_remote.api.http import CALLER, answer, meta, parse
from gtp_remote.api.operations import prepare, run
from gtp_remote.api.state import API


async def _execute(request: web.Request, model: type[m.ExecuteShell | m.ExecuteCode]) -> web.StreamResponse:
    api = request.app[API]
    body = await parse(request, model)
    prepared = await prepare(api, request[CALLER], body, meta(request))
    return await answer(api, await run(api, prepared, meta(request)), prepared.wait)


async def execute_shell(request: web.Request) -> web.StreamResponse:
    return await _execute(request, m.ExecuteShell)


async def execute_code(request: web.Request) -> web.StreamResponse:
    return await _execute(request, m.ExecuteCode)
