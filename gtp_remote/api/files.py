"""File operations on a server, confined to its ``root`` and judged by the policy like every
other action; one the policy wants confirmed becomes a job awaiting approval (202)."""

from __future__ import annotations

from aiohttp import web

from gtp_remote import gateway as g
from gtp_remote.api import models as m
from gtp_remote.api.http import CALLER, REQUEST_ID, parse
from gtp_remote.api.state import API
from gtp_remote.budget import OUTPUT_BUDGET


async def _perform(request: web.Request, action: g.FileAction, name: str) -> web.StreamResponse:
    api = request.app[API]
    caller = request[CALLER]
    plan = await api.gateway.plan(
        caller, action, current=api.current.get(caller.name), context={"request_id": request[REQUEST_ID]}
    )
    record = {"path": action.path, "server": plan.server}
    return await api.run(request, plan, lambda r: r.model_dump(), record=record, job_name=name, wait=None)


async def file_read(request: web.Request) -> web.StreamResponse:
    body: m.FileRead = await parse(request, m.FileRead)
    action = g.FileRead(body.path, body.server, body.offset, body.limit, max_json_chars=OUTPUT_BUDGET)
    return await _perform(request, action, "file-read")


async def file_write(request: web.Request) -> web.StreamResponse:
    body: m.FileWrite = await parse(request, m.FileWrite)
    return await _perform(request, g.FileWrite(body.path, body.content, body.mode, body.server), "file-write")


async def file_list(request: web.Request) -> web.StreamResponse:
    body: m.FileList = await parse(request, m.FileList)
    action = g.FileList(body.path, body.server, body.recursive, max_entries=500)
    return await _perform(request, action, "file-list")


async def file_patch(request: web.Request) -> web.StreamResponse:
    body: m.FilePatch = await parse(request, m.FilePatch)
    return await _perform(request, g.FilePatch(body.path, body.diff, body.dry_run, body.server), "file-patch")
