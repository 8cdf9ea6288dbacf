"""The operators' console in a real headless Chromium (Debian's, driven by Playwright) against
the gateway on the bed: signing in, hosts, an approval that appears without a reload and is
approved or rejected by clicking, permissions and attacks (no button without approve, a forged
or cross-site POST refused, output with markup shown as text and no script run). The pages'
screenshots are written to docs/screenshots/ for the README.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.conftest import ROOT, Bed
from tests.test_mcp import SANDBOX, SECRETS, Served, Setup, on_host, served, setup  # noqa: F401 - fixtures
from tests.test_mcp_oauth import browser  # noqa: F401 - the Chromium fixture

pytestmark = pytest.mark.bed

SHOTS = ROOT / "docs" / "screenshots"


async def signed_in(browser: Any, served: Served, token: str) -> Any:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    await page.goto(f"{served.base}/ui/login")
    await page.fill("#token", SECRETS[token])
    await page.click("#sign-in")
    await page.wait_for_load_state()
    return page


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


async def test_sign_in_and_see_the_hosts(browser: Any, served: Served):
    page = await browser.new_page()
    await page.goto(f"{served.base}/ui/hosts")
    assert page.url.endswith("/ui/login")  # signed out: to the sign-in page
    await page.fill("#token", "not-a-token")
    await page.click("#sign-in")
    assert "not one of this gateway's tokens" in await page.inner_text("#error")
    await page.close()

    page = await signed_in(browser, served, "boss")
    await page.goto(f"{served.base}/ui/hosts")
    rows = await page.locator("#hosts tbody tr").count()
    assert rows == 3
    await page.click("#check-now")
    await page.wait_for_load_state()
    for host in ("db", "code", "k8s-master"):
        assert "reachable" in await page.inner_text(f'tr[data-server="{host}"] .reach')
    cookies = await page.context.cookies()
    [cookie] = [c for c in cookies if c["name"] == "gtp_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    await shot(page, "hosts")
    await page.click("#logout")
    await page.wait_for_load_state()
    assert page.url.endswith("/ui/login")
    await page.goto(f"{served.base}/ui/jobs")
    assert page.url.endswith("/ui/login")
    await page.close()


async def test_an_approval_appears_live_and_is_approved_or_rejected(browser: Any, served: Served, bed: Bed):
    page = await signed_in(browser, served, "ops")
    await page.goto(f"{served.base}/ui/approvals")
    await page.wait_for_selector("body[data-live-ready]")
    # a fresh trigger, after the page loaded: the agent's command that db's policy wants confirmed
    status, asked = await served.rest(
        "POST",
        "/command/execute-shell",
        "agent",
        {"command": f"mkdir -v {SANDBOX}/made", "server": "db", "wait_seconds": 0},
    )
    assert status == 202 and asked["status"] == "awaiting_approval"
    row = page.locator(f'tr[data-job="{asked["job_id"]}"]')
    await row.wait_for(timeout=15000)  # no reload
    assert "mkdir -v mcp/made" in await row.inner_text() and "mkdir *" in await row.inner_text()
    await shot(page, "approvals")
    await row.locator('input[name="reason"]').fill("planned")
    await row.locator("button.approve").click()
    await page.wait_for_url(f"**/ui/jobs/{asked['job_id']}")
    await page.wait_for_function(
        "document.querySelector('#job-status').textContent === 'succeeded'", timeout=15000
    )
    assert "created directory" in await page.inner_text("#stdout")
    assert '"by": "ops"' in await page.inner_text("#approval")
    assert on_host(bed, "db", "made").is_dir()
    await shot(page, "job")

    status, second = await served.rest(
        "POST",
        "/command/execute-shell",
        "agent",
        {"command": f"mkdir -v {SANDBOX}/never", "server": "db", "wait_seconds": 0},
    )
    await page.goto(f"{served.base}/ui/approvals")
    row = page.locator(f'tr[data-job="{second["job_id"]}"]')
    await row.locator("button.reject").click()
    await page.wait_for_url(f"**/ui/jobs/{second['job_id']}")
    await page.wait_for_function(
        "document.querySelector('#job-status').textContent === 'rejected'", timeout=15000
    )
    assert not on_host(bed, "db", "never").exists()
    await page.goto(f"{served.base}/ui/jobs?status=succeeded")
    await shot(page, "jobs")
    await page.close()
    page = await signed_in(browser, served, "boss")
    await page.goto(f"{served.base}/ui/audit?operation=execute-shell")
    assert "Hash chain intact" in await page.inner_text("#chain")
    await shot(page, "audit")
    await page.goto(f"{served.base}/ui/specialists")
    assert "database-llm" in await page.inner_text("main")
    await page.close()


async def test_permissions_and_attacks(browser: Any, served: Served, bed: Bed):
    status, asked = await served.rest(
        "POST",
        "/command/execute-shell",
        "agent",
        {"command": f"mkdir {SANDBOX}/forged", "server": "db", "wait_seconds": 0},
    )
    assert asked["status"] == "awaiting_approval"
    # a token without approve sees the action, and no button
    page = await signed_in(browser, served, "dbonly")
    await page.goto(f"{served.base}/ui/approvals")
    assert await page.locator("button.approve").count() == 0
    # and a POST it forges with its own session and CSRF token is refused by the server
    csrf = await page.locator('form[action="/ui/logout"] input[name="csrf"]').get_attribute("value")
    forged = await page.request.post(
        f"{served.base}/ui/jobs/{asked['job_id']}/approve",
        form={"csrf": csrf or "", "pending_id": asked["pending_action"]["id"]},
    )
    assert forged.status in (403, 404)
    await page.close()

    # a cross-site form POST (the cookie would not even be sent: SameSite=Strict; without a
    # CSRF token it is refused even so)
    page = await signed_in(browser, served, "ops")
    cross = await page.request.post(
        f"{served.base}/ui/jobs/{asked['job_id']}/approve", form={"pending_id": asked["pending_action"]["id"]}
    )
    assert cross.status == 403
    assert not on_host(bed, "db", "forged").exists()

    # output with markup is text, and nothing in it runs
    markup = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    status, ran = await served.rest(
        "POST", "/command/execute-shell", "boss", {"command": f"printf '%s' '{markup}'", "server": "code"}
    )
    assert status == 200 and ran["stdout"] == markup
    await page.close()
    page = await signed_in(browser, served, "boss")
    await page.goto(f"{served.base}/ui/jobs/{ran['job_id']}")
    assert await page.inner_text("#stdout") == markup
    await page.wait_for_timeout(500)
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert (
        await page.locator("#stdout img").count() == 0 and await page.locator("#stdout script").count() == 0
    )
    response = await page.request.get(f"{served.base}/ui/jobs/{ran['job_id']}")
    csp = response.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "frame-ancestors 'none'" in csp
        and "unsafe-inline" not in csp.split("style-src")[0]
    )
    await page.close()


async def test_the_console_is_refused_without_a_session(served: Served):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{served.base}/ui/jobs/x/approve", data={"pending_id": "y"}) as r:
            assert r.status == 401
        async with session.get(f"{served.base}/ui/fragment/jobs") as r:
            assert r.status == 401
        async with session.get(f"{served.base}/ui/jobs", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/ui/login"


async def test_what_the_red_team_found_stays_fixed(served: Served, setup: Setup):
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as web:
        # a sign-in posted from elsewhere (no form value, or another Origin) is refused
        async with web.post(f"{served.base}/ui/login", data={"token": SECRETS["dbonly"]}) as r:
            assert r.status == 403
        async with web.get(f"{served.base}/ui/login") as r:
            value = (await r.text()).split('name="login_csrf" value="')[1].split('"')[0]
        async with web.post(
            f"{served.base}/ui/login",
            data={"token": SECRETS["dbonly"], "login_csrf": value},
            headers={"Origin": "http://evil.example"},
        ) as r:
            assert r.status == 403
        # a malformed form is a 400, never a 500, signed in or not
        bad = {"Content-Type": "multipart/form-data; boundary=x"}
        async with web.post(f"{served.base}/ui/login", data=b"--y\r\nnonsense", headers=bad) as r:
            assert r.status in (400, 403)
        async with web.post(
            f"{served.base}/ui/login", data={"token": SECRETS["dbonly"], "login_csrf": value}
        ) as r:
            assert r.status == 200 and "/ui/" in str(r.url)
        async with web.post(f"{served.base}/ui/hosts/check", data=b"--y\r\nnonsense", headers=bad) as r:
            assert r.status == 400
        # a non-admin's audit page shows its own events, and nothing about the whole log
        async with web.get(f"{served.base}/ui/audit") as r:
            page = await r.text()
            assert r.status == 200 and "Hash chain intact" not in page and "shown to admins" in page
    _, asked = await served.rest(
        "POST",
        "/command/execute-shell",
        "agent",
        {"command": f"mkdir {SANDBOX}/long", "server": "db", "wait_seconds": 0},
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as web:
        async with web.get(f"{served.base}/ui/login") as r:
            value = (await r.text()).split('name="login_csrf" value="')[1].split('"')[0]
        async with web.post(
            f"{served.base}/ui/login", data={"token": SECRETS["ops"], "login_csrf": value}
        ) as r:
            assert r.status == 200
        async with web.get(f"{served.base}/ui/approvals") as r:
            csrf = (await r.text()).split('name="csrf" value="')[1].split('"')[0]
        async with web.post(
            f"{served.base}/ui/jobs/{asked['job_id']}/approve", data={"csrf": csrf, "pending_id": "x" * 500}
        ) as r:
            assert r.status == 400  # a pending_id past its limit: a clear refusal, not a 500
        async with web.post(
            f"{served.base}/ui/jobs/{asked['job_id']}/reject",
            data={"csrf": csrf, "pending_id": asked["pending_action"]["id"]},
        ) as r:
            assert r.status == 200
    lines = [json.loads(line) for line in (setup.state / "audit.jsonl").read_text().splitlines()]
    posts = [e for e in lines if e.get("front_end") == "console" and e.get("method") == "POST"]
    assert any(e["path"].endswith("/reject") and e["token"] == "ops" for e in posts)
    assert any(e.get("kind") == "approval" and e.get("front_end") == "console" for e in lines)
