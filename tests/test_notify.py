"""Webhooks on the bed: a real HTTP receiver gets the awaiting-approval event (Slack-compatible,
with a link that works), and the failed and succeeded ones it asked for; a receiver that fails
is retried; one that is down is given up on, audited, and no job notices any of it."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from gtp_remote import notify
from gtp_remote.api.routes import create_app
from gtp_remote.api.state import Api
from gtp_remote.config import load_inventory
from gtp_remote.gateway import Gateway
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, load_tokens
from tests.test_mcp import SANDBOX, SECRETS, Served, Setup, on_host, setup  # noqa: F401 - fixtures

pytestmark = pytest.mark.bed


class Receiver:
    """A webhook receiver: answers ``fail_first`` times with 503, then 200; keeps what it got."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.got: list[dict[str, Any]] = []
        self.attempts = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return web.Response(status=503)
            self.got.append(await request.json())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_until(check, seconds: float = 20) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds * 20)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def test_webhooks_tell_people_and_never_touch_the_job(setup: Setup, bed, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(notify, "BACKOFF", 0.05)
    good, flaky = Receiver(), Receiver(fail_first=2)
    await good.start()
    await flaky.start()
    monkeypatch.setenv("GTP_HOOK_URL", flaky.url)
    doc = yaml.safe_load(setup.inventory.read_text())
    doc["notifications"] = {
        "webhooks": [
            {"url": good.url, "events": ["awaiting_approval", "failed", "succeeded"]},
            {"url_env": "GTP_HOOK_URL"},
            {"url": f"http://127.0.0.1:{closed_port()}/down", "events": ["awaiting_approval", "succeeded"]},
        ]
    }
    setup.inventory.write_text(yaml.safe_dump(doc, sort_keys=False))
    settings = replace(Settings.from_env(), rate=1000, burst=1000)
    api = Api(
        Gateway(load_inventory(setup.inventory, settings), settings), Authenticator(load_tokens(settings))
    )
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    served = Served(api, str(server.make_url("")).rstrip("/"))
    api.base_url = served.base
    try:
        status, pending = await served.rest(
            "POST", "/command/execute-shell", "agent", {"command": f"touch {SANDBOX}/hooked", "server": "db"}
        )
        assert status == 202 and pending["status"] == "awaiting_approval"
        await wait_until(lambda: good.got and flaky.got)
        event = good.got[0]
        assert event["event"] == "awaiting_approval" and event["job_id"] == pending["job_id"]
        assert "touch mcp/hooked" in event["text"] and "db" in event["text"] and "touch *" in event["text"]
        assert event["blocks"][0]["type"] == "section"  # Slack's block format
        assert event["link"] == f"{served.base}/ui/jobs/{pending['job_id']}"
        # the link works: an approver signs in and opens it (unsafe: the jar takes cookies from an IP)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(f"{served.base}/ui/login") as form:
                login_csrf = (await form.text()).split('name="login_csrf" value="')[1].split('"')[0]
            await browser.post(
                f"{served.base}/ui/login", data={"token": SECRETS["ops"], "login_csrf": login_csrf}
            )
            async with browser.get(event["link"]) as page:
                assert page.status == 200 and "awaiting_approval" in await page.text()
        status, view = await served.rest("GET", f"/jobs/{pending['job_id']}", "ops")
        assert status == 200 and view["status"] == "awaiting_approval"
        assert flaky.attempts == 3 and flaky.got[0]["job_id"] == pending["job_id"]  # retried past two 503s

        status, _ = await served.rest(
            "POST", f"/jobs/{pending['job_id']}/approve", "ops", {"pending_id": view["pending_action"]["id"]}
        )
        assert status == 200
        await wait_until(lambda: len(good.got) == 2)
        assert good.got[1]["event"] == "succeeded" and on_host(bed, "db", "hooked").exists()
        assert len(flaky.got) == 1  # it asked only for awaiting_approval

        await wait_until(
            lambda: any(
                json.loads(line).get("kind") == "notification"
                for line in (setup.state / "audit.jsonl").read_text().splitlines()
            )
        )
    finally:
        await server.close()
        for receiver in (good, flaky):
            assert receiver.runner is not None
            await receiver.runner.cleanup()
    audit = [json.loads(line) for line in (setup.state / "audit.jsonl").read_text().splitlines()]
    failures = [e for e in audit if e.get("kind") == "notification"]
    assert (
        failures and failures[0]["webhook_host"] == "127.0.0.1" and failures[0]["attempts"] == notify.ATTEMPTS
    )
    assert all("down" not in json.dumps(e) for e in failures)  # a URL may hold a secret: only its host
    jobs = [e for e in audit if e.get("kind") == "command" and e.get("command") == f"touch {SANDBOX}/hooked"]
    assert [e["outcome"] for e in jobs] == ["ok"]  # the job went on, whatever the webhooks did
