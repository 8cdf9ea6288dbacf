"""File operations on a server, confined to its ``root`` and judged by the policy like every
other action; one the policy wants confirmed becomes a job awaiting approval (202)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from gtp_remote.api import models as m
from gtp_remote.api.http import CALLER, answer, meta, parse
from gtp_remote.api.operations import prepare, run
from gtp_remote.api.state import API


async def _perform(request: web.Request, model: type[BaseModel]) -> web.StreamResponse:
    api = request.app[API]
    body = await parse(request, model)
    prepared = await prepare(api, request[CALLER], body, meta(request))
    return await answer(api, await run(api, prepared, meta(request)), prepared.wait)


async def file_read(request: web.Request) -> web.StreamResponse:
    return await _perform(request, m.FileRead)


async def file_write(request: web.Request) -> web.StreamResponse:
    return await _perform(request, m.FileWrite)


async def file_list(request: web.Request) -> web.StreamResponse:
    return await _perform(request, m.FileList)


async def file_patch(request: web.Request) -> web.StreamResponse:
    return await _perform(request, m.FilePatch)


async def file_upload(request: web.Request) -> web.StreamResponse:
    return await _perform(request, m.FileUpload)


async def file_download(request: web.Request) -> web.StreamResponse:
    return await _perform(request, m.FileDownload)
