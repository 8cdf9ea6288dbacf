"""The caller's servers, its current one, and the public endpoints (health, the OpenAPI document)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web

from gtp_remote import __version__
from gtp_remote.access import Principal
from gtp_remote.api import models as m
from gtp_remote.api.http import CALLER, json_response, parse
from gtp_remote.api.state import API, Api
from gtp_remote.errors import ForbiddenError, GtpError
from gtp_remote.metrics import CONTENT_TYPE


async def servers_view(api: Api, caller: Principal, check: bool) -> dict[str, Any]:
    """The servers ``caller`` may use, its current one, each one's model and last health (checked
    now with ``check``)."""
    gateway = api.gateway
    inventory = gateway.inventory
    names = gateway.visible(caller)
    if check:
        results = await gateway.check(names)
        models = await asyncio.gather(*(api.llm.health(n) for n in names))
        for r, model in zip(results, models, strict=True):
            api.health[r.server] = r.model_dump() | {"checked_at": time.time()}
            if model is not None:
                api.model_health[r.server] = model | {"checked_at": time.time()}
    current = api.current.get(caller.name)
    with contextlib.suppress(GtpError):
        current = gateway.server_for(caller, None, current=current)
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
    return {"current": current, "servers": rows}


def specialists_view(api: Api, caller: Principal) -> dict[str, Any]:
    """The specialists on servers ``caller`` may use (others are as unknown as none): their
    server, model, tools and policy."""
    inventory = api.gateway.inventory
    shown = {}
    for name, spec in inventory.specialists.items():
        if not caller.may_use(inventory, spec.server):
            continue
        llm = inventory.servers[spec.server].llm
        shown[name] = {
            "server": spec.server,
            "description": spec.description,
            "provider": spec.provider or (llm.provider if llm else None),
            "model": spec.model or (llm.model if llm else None),
            "tools": spec.tools,
            "policy": spec.policy.model_dump(mode="json", exclude_defaults=True),
            "max_steps": spec.max_steps,
        }
    return shown


async def server_list(request: web.Request) -> web.StreamResponse:
    check = request.query.get("check") in ("1", "true")
    return json_response(await servers_view(request.app[API], request[CALLER], check))


async def server_set(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    body: m.ServerSet = await parse(request, m.ServerSet)
    caller = request[CALLER]
    name = api.gateway.server_for(caller, body.server)
    api.current[caller.name] = name
    return json_response({"current": name})


async def health(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    return json_response(
        {"status": "ok", "version": __version__, "servers": len(api.gateway.inventory.servers)}
    )


async def openapi_json(request: web.Request) -> web.StreamResponse:
    from gtp_remote.api.openapi import build

    return json_response(build(request.app[API].settings.public_url, request.query.get("version", "3.1")))


async def openapi_yaml(request: web.Request) -> web.StreamResponse:
    import yaml

    from gtp_remote.api.openapi import build

    spec = build(request.app[API].settings.public_url, request.query.get("version", "3.1"))
    return web.Response(text=yaml.safe_dump(spec, sort_keys=False), content_type="application/yaml")


async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus's text format (prometheus-client renders it), for a token with ``metrics`` or
    ``admin``: what the gateway serves, to whom, is not every caller's to see."""
    caller = request[CALLER]
    if not {"metrics", "admin"} & caller.operations:
        raise ForbiddenError(
            f"token '{caller.name}' lacks the 'metrics' permission", hint="give the scraper's token metrics"
        )
    body = request.app[API].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
