"""MCP's OAuth, end to end: the SDK's own OAuth client against the gateway's authorization
server, with the consent page filled in by a real headless Chromium; then the refusals (PKCE
plain or missing, a wrong redirect URI, another audience, an expired token), revocation from the
terminal, and an external IdP's JWTs checked against a JWKS served over real HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from playwright.async_api import async_playwright

from gtp_remote.api.routes import create_app
from gtp_remote.api.state import Api
from gtp_remote.config import load_inventory
from gtp_remote.gateway import Gateway
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, digest, load_tokens
from tests.conftest import ROOT, Bed

pytestmark = pytest.mark.bed

SECRETS = {
    "root": "oauth-root-admin-token",
    "agent": "oauth-agent-token",
    "ops": "oauth-ops-token",
    "auditor": "oauth-auditor-token",
}
TOKENS_FILE = {
    "tokens": {
        "root": {"env": "OA_ROOT_TOKEN"},  # every permission, admin included: signs in to consent
        # an admin (sees every job) that may only read files on db: it may grant only itself
        "auditor": {"env": "OA_AUDITOR_TOKEN", "operations": ["admin", "files.read"], "servers": ["db"]},
        "agent": {
            "env": "OA_AGENT_TOKEN",
            "operations": ["exec", "files.read"],
            "policy": {"commands": {"deny": ["curl *"]}},
        },
        "ops": {"env": "OA_OPS_TOKEN", "operations": ["approve"]},  # not an admin
    }
}
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Gw:
    base: str
    api: Api
    env: dict[str, str]


async def serve(bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> AsyncIterator[Gw]:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump(TOKENS_FILE))
    values = {
        "GTP_STATE_DIR": str(tmp_path / "state"),
        "GTP_TOKENS_FILE": str(tokens),
        "GTP_DEFAULT_SERVER": "db",
        **{f"OA_{k.upper()}_TOKEN": v for k, v in SECRETS.items()},
        **env,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = replace(Settings.from_env(), rate=1000, burst=1000)
    api = Api(
        Gateway(load_inventory(bed.inventory, settings), settings), Authenticator(load_tokens(settings))
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = TestServer(create_app(api, base=base), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield Gw(base, api, values)
    finally:
        await server.close()


@pytest.fixture
async def gw(bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gw]:
    async for served in serve(bed, tmp_path, monkeypatch, GTP_OAUTH_ACCESS_TTL="3"):
        yield served


class Memory(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Callback:
    """The client's redirect URI: a real HTTP server that takes the code (or the error)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/callback"
        self.got: asyncio.Future[dict[str, str]] | None = None
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def callback(request: web.Request) -> web.Response:
            assert self.got is not None
            if not self.got.done():
                self.got.set_result(dict(request.query))
            return web.Response(text="You may close this window.")

        app = web.Application()
        app.router.add_get("/callback", callback)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium", pytrace=False)
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield chromium
        await chromium.close()


async def consent(browser: Any, url: str, admin: str, choose: str | None, seen: list[str]) -> None:
    """A person at the consent page: signs in with ``admin``, then allows ``choose`` (or denies)."""
    page = await browser.new_page()
    await page.goto(url)
    seen.append(await page.content())
    await page.fill("#admin_token", admin)
    await page.click("#sign_in")
    await page.wait_for_load_state()
    seen.append(await page.content())
    if await page.query_selector("#error"):
        await page.close()
        return
    if choose is None:
        await page.click("#deny")
    else:
        await page.select_option("#token_name", choose)
        await page.click("#grant")
    await page.wait_for_load_state()
    await page.close()


def oauth_client(
    gw: Gw, storage: Memory, callback: Callback, browser: Any, admin: str, choose: str | None, seen: list[str]
) -> OAuthClientProvider:
    async def redirect(url: str) -> None:
        callback.got = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().create_task(consent(browser, url, admin, choose, seen))

    async def wait_for_code() -> AuthorizationCodeResult:
        assert callback.got is not None
        query = await asyncio.wait_for(callback.got, 60)
        if "error" in query:
            raise RuntimeError(f"authorization refused: {query['error']}")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    metadata = OAuthClientMetadata(
        client_name="pytest-oauth-client",
        redirect_uris=[callback.url],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="client_secret_post",
    )
    return OAuthClientProvider(f"{gw.base}/mcp", metadata, storage, redirect, wait_for_code)


def audit(gw: Gw) -> list[dict]:
    path = Path(gw.env["GTP_STATE_DIR"]) / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def cli(gw: Gw, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gtp_remote", *args],
        env={**os.environ, **gw.env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


async def test_oauth_end_to_end_with_the_sdk_client_and_a_browser(gw: Gw, browser: Any):
    callback = Callback()
    await callback.start()
    storage, seen = Memory(), []
    try:
        auth = oauth_client(gw, storage, callback, browser, SECRETS["root"], "agent", seen)
        async with (
            httpx2.AsyncClient(auth=auth, timeout=60) as http,
            Client(streamable_http_client(f"{gw.base}/mcp", http_client=http), mode="legacy") as client,
        ):
            # discovery, dynamic registration, PKCE, resource, consent: all behind this first call
            names = {t.name for t in (await client.list_tools()).tools}
            assert "execute_shell" in names
            ok = await client.call_tool("execute_shell", {"command": "hostname", "server": "db"})
            assert not ok.is_error and ok.structured_content["stdout"] == "db\n"
            denied = await client.call_tool("execute_shell", {"command": "curl http://x", "server": "db"})
            assert denied.is_error and json.loads(denied.content[0].text)["error"]["code"] == "policy_denied"
            first = storage.tokens
            assert first is not None and first.refresh_token and first.expires_in == 3
            await asyncio.sleep(4)  # the access token expires: the client refreshes it
            again = await client.call_tool("execute_shell", {"command": "hostname", "server": "db"})
            assert not again.is_error
            assert storage.tokens.access_token != first.access_token
            assert storage.tokens.refresh_token != first.refresh_token  # rotated
    finally:
        await callback.stop()
    assert "not a gateway token" not in seen[0] and "agent" not in seen[0]  # no token names before sign-in
    assert "Signed in as" in seen[1] and "agent" in seen[1]
    events = [e for e in audit(gw) if e.get("kind") == "oauth"]
    kinds = [e["event"] for e in events]
    for wanted in (
        "client_registered",
        "consent_signed_in",
        "consent_granted",
        "token_issued",
        "token_refreshed",
    ):
        assert wanted in kinds, kinds
    granted = next(e for e in events if e["event"] == "consent_granted")
    assert (granted["token"], granted["by"]) == ("agent", "root")
    calls = [e for e in audit(gw) if e.get("kind") == "command" and e.get("front_end") == "mcp"]
    assert calls and {e["token"] for e in calls} == {"agent"}  # it acted as the chosen token

    # the old refresh token is spent: a second use revokes the whole grant
    client_info = storage.client
    assert client_info is not None
    async with httpx2.AsyncClient(timeout=30) as http:
        reused = await http.post(
            f"{gw.base}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first.refresh_token,
                "client_id": client_info.client_id,
                "client_secret": client_info.client_secret or "",
            },
        )
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        still = await http.post(
            f"{gw.base}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {storage.tokens.access_token}"},
        )
        assert still.status_code == 401  # the grant is gone with it
    assert "refresh_reused" in [e["event"] for e in audit(gw) if e.get("kind") == "oauth"]


async def test_grants_are_listed_and_revoked_from_the_terminal(gw: Gw, browser: Any):
    callback = Callback()
    await callback.start()
    storage, seen = Memory(), []
    try:
        auth = oauth_client(gw, storage, callback, browser, SECRETS["root"], "agent", seen)
        async with (
            httpx2.AsyncClient(auth=auth, timeout=60) as http,
            Client(streamable_http_client(f"{gw.base}/mcp", http_client=http), mode="legacy") as client,
        ):
            await client.list_tools()
    finally:
        await callback.stop()
    listed = cli(gw, "oauth", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [grant] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (grant["token_name"], grant["approved_by"], grant["client_name"]) == (
        "agent",
        "root",
        "pytest-oauth-client",
    )
    revoked = cli(gw, "oauth", "revoke", grant["id"])
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert storage.tokens is not None
    async with httpx2.AsyncClient(timeout=30) as http:
        gone = await http.post(
            f"{gw.base}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {storage.tokens.access_token}"},
        )
    assert gone.status_code == 401
    assert cli(gw, "oauth", "list").stdout.strip() == "no OAuth grants in force"
    unknown = cli(gw, "oauth", "revoke", "nope")
    assert unknown.returncode != 0 and "no OAuth grant 'nope'" in unknown.stderr


async def test_the_consent_page_refuses_a_token_without_admin_and_a_denial_returns_an_error(
    gw: Gw, browser: Any
):
    for admin, choose in ((SECRETS["ops"], "agent"), (SECRETS["root"], None)):
        callback = Callback()
        await callback.start()
        storage, seen = Memory(), []
        try:
            auth = oauth_client(gw, storage, callback, browser, admin, choose, seen)
            async with httpx2.AsyncClient(auth=auth, timeout=60) as http:
                with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the refusal its own way
                    async with asyncio.timeout(8):
                        async with Client(
                            streamable_http_client(f"{gw.base}/mcp", http_client=http), mode="legacy"
                        ) as client:
                            await client.list_tools()
        finally:
            await callback.stop()
        assert storage.tokens is None
        if choose is not None:
            assert "not a gateway token with the admin permission" in seen[-1]
    events = [e["event"] for e in audit(gw) if e.get("kind") == "oauth"]
    assert "consent_sign_in_refused" in events and "consent_denied" in events
    assert "token_issued" not in events


# -- refusals, on the wire ---------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def register(http: httpx2.AsyncClient, gw: Gw, redirect: str) -> dict:
    made = await http.post(
        f"{gw.base}/register",
        json={
            "client_name": "probe",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_post",
        },
    )
    assert made.status_code == 201, made.text
    return made.json()


async def test_discovery_documents(gw: Gw):
    async with httpx2.AsyncClient(timeout=30) as http:
        challenge = await http.post(
            f"{gw.base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        )
        assert challenge.status_code == 401
        header = challenge.headers["www-authenticate"]
        metadata_url = header.split('resource_metadata="')[1].split('"')[0]
        resource = (await http.get(metadata_url)).json()
        assert resource["resource"] == f"{gw.base}/mcp" and resource["authorization_servers"] == [gw.base]
        issuer = (await http.get(f"{gw.base}/.well-known/oauth-authorization-server")).json()
    assert issuer["issuer"] == gw.base
    assert issuer["code_challenge_methods_supported"] == ["S256"]
    assert issuer["registration_endpoint"] == f"{gw.base}/register"
    assert {"authorization_code", "refresh_token"} <= set(issuer["grant_types_supported"])


async def test_authorization_refusals(gw: Gw):
    redirect = "http://127.0.0.1:9/callback"
    async with httpx2.AsyncClient(timeout=30, follow_redirects=False) as http:
        client = await register(http, gw, redirect)
        _, challenge = pkce()
        base = {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": redirect,
            "state": "s",
        }

        def error_of(response: httpx2.Response) -> str:
            if response.status_code in (302, 303):
                return parse_qs(urlsplit(response.headers["location"]).query)["error"][0]
            return response.json()["error"]

        plain = await http.get(
            f"{gw.base}/authorize",
            params={**base, "code_challenge": challenge, "code_challenge_method": "plain"},
        )
        assert error_of(plain) == "invalid_request"
        missing = await http.get(f"{gw.base}/authorize", params=base)
        assert error_of(missing) == "invalid_request"
        wrong = await http.get(
            f"{gw.base}/authorize",
            params={**base, "redirect_uri": "http://evil.example/cb", "code_challenge": challenge},
        )
        assert wrong.status_code == 400 and "location" not in wrong.headers  # never redirected there
        other = await http.get(
            f"{gw.base}/authorize",
            params={**base, "code_challenge": challenge, "resource": "https://other.example/mcp"},
        )
        assert error_of(other) == "invalid_target"
        fine = await http.get(
            f"{gw.base}/authorize",
            params={**base, "code_challenge": challenge, "resource": f"{gw.base}/mcp"},
        )
        assert fine.status_code == 302 and "/oauth/consent?request=" in fine.headers["location"]
        # the consent page's forms are bound to their step: a replayed or forged one is refused
        request_id = parse_qs(urlsplit(fine.headers["location"]).query)["request"][0]
        forged = await http.post(
            f"{gw.base}/oauth/consent",
            data={"request": request_id, "step": "guess", "action": "grant", "token_name": "root"},
        )
        assert forged.status_code in (400, 403)
        page = await http.get(fine.headers["location"])
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert page.headers["x-frame-options"] == "DENY"


async def test_an_expired_or_unknown_access_token_is_refused(gw: Gw, browser: Any):
    callback = Callback()
    await callback.start()
    storage, seen = Memory(), []
    try:
        auth = oauth_client(gw, storage, callback, browser, SECRETS["root"], "agent", seen)
        async with (
            httpx2.AsyncClient(auth=auth, timeout=60) as http,
            Client(streamable_http_client(f"{gw.base}/mcp", http_client=http), mode="legacy") as client,
        ):
            await client.list_tools()
    finally:
        await callback.stop()
    assert storage.tokens is not None
    await asyncio.sleep(4)
    async with httpx2.AsyncClient(timeout=30) as http:
        for token in (storage.tokens.access_token, "made-up"):
            late = await http.post(
                f"{gw.base}/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert late.status_code == 401


# -- an external IdP ---------------------------------------------------------------------------


class Idp:
    """A JWKS endpoint over real HTTP, and tokens signed with its key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        keys = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}

        async def jwks(request: web.Request) -> web.Response:
            return web.json_response(keys)

        async def metadata(request: web.Request) -> web.Response:
            return web.json_response({"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"})

        app = web.Application()
        app.router.add_get("/jwks", jwks)
        app.router.add_get("/.well-known/openid-configuration", metadata)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def token(self, **claims: Any) -> str:
        body = {"iss": self.issuer, "exp": int(time.time()) + 300, "sub": "alice", **claims}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": "k1"})


async def test_an_external_idps_tokens_act_as_the_named_token(bed: Bed, tmp_path: Path, monkeypatch):
    idp = Idp()
    await idp.start()
    try:
        public = f"http://127.0.0.1:{free_port()}"
        monkeypatch.setenv("GTP_PUBLIC_URL", public)
        async for gw in serve(bed, tmp_path, monkeypatch, GTP_OAUTH="external", GTP_OAUTH_ISSUER=idp.issuer):
            base = gw.base
            audience = f"{public}/mcp"
            async with httpx2.AsyncClient(timeout=30) as http:

                async def status(token: str, base: str = base) -> int:
                    r = await http.post(
                        f"{base}/mcp",
                        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Accept": "application/json, text/event-stream",
                            "Host": urlsplit(public).netloc,
                        },
                    )
                    return r.status_code

                metadata = (await http.get(f"{base}/.well-known/oauth-protected-resource/mcp")).json()
                assert metadata["authorization_servers"] == [idp.issuer] and metadata["resource"] == audience
                good = idp.token(aud=audience, gtp_token="agent")
                assert await status(good) in (200, 400)  # accepted (400: no initialize first)
                assert await status(idp.token(aud="https://other.example/mcp", gtp_token="agent")) == 401
                assert (
                    await status(idp.token(aud=audience, gtp_token="agent", exp=int(time.time()) - 10)) == 401
                )
                assert await status(idp.token(aud=audience, gtp_token="nobody")) == 401
                assert await status(idp.token(aud=audience)) == 401  # no claim naming a token
                forged = jwt.encode(
                    {"iss": idp.issuer, "aud": audience, "exp": int(time.time()) + 60, "gtp_token": "root"},
                    rsa.generate_private_key(public_exponent=65537, key_size=2048),
                    algorithm="RS256",
                    headers={"kid": "k1"},
                )
                assert await status(forged) == 401
                hs = jwt.encode({"iss": idp.issuer, "aud": audience, "gtp_token": "root"}, "k" * 32, "HS256")
                assert await status(hs) == 401

                headers = {"Authorization": f"Bearer {good}", "Host": urlsplit(public).netloc}
                http.headers.update(headers)
                async with Client(
                    streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy"
                ) as client:
                    denied = await client.call_tool(
                        "execute_shell", {"command": "curl http://x", "server": "db"}
                    )
                    assert json.loads(denied.content[0].text)["error"]["policy"]["rule"] == "curl *"
    finally:
        if idp.runner is not None:
            await idp.runner.cleanup()


async def test_with_oauth_off_only_bearer_tokens_work(bed: Bed, tmp_path: Path, monkeypatch):
    async for gw in serve(bed, tmp_path, monkeypatch, GTP_OAUTH="off"):
        async with httpx2.AsyncClient(timeout=30) as http:
            metadata = (await http.get(f"{gw.base}/.well-known/oauth-protected-resource/mcp")).json()
            assert metadata["authorization_servers"] == []
            for path in ("/.well-known/oauth-authorization-server", "/authorize", "/register"):
                assert (await http.get(f"{gw.base}{path}")).status_code in (401, 404, 405)
            ok = await http.post(
                f"{gw.base}/mcp",
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"},
                    },
                },
                headers={
                    "Authorization": f"Bearer {SECRETS['agent']}",
                    "Accept": "application/json, text/event-stream",
                },
            )
            assert ok.status_code == 200


async def test_the_consent_page_is_bound_to_its_browser_and_to_what_the_operator_may_grant(gw: Gw):
    """An admin may grant only tokens that can do no more than its own; and the request id, which
    the client knows, shows nothing and decides nothing outside the browser that opened it."""
    redirect = "http://127.0.0.1:9/callback"
    async with httpx2.AsyncClient(timeout=30, follow_redirects=False) as client_side:
        client = await register(client_side, gw, redirect)
        _, challenge = pkce()
        authorize = await client_side.get(
            f"{gw.base}/authorize",
            params={
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": redirect,
                "code_challenge": challenge,
                "state": "s",
            },
        )
        consent_url = authorize.headers["location"]
        async with httpx2.AsyncClient(timeout=30, follow_redirects=False) as operator:
            first = await operator.get(consent_url)
            step = first.text.split('name="step" value="')[1].split('"')[0]
            request_id = parse_qs(urlsplit(consent_url).query)["request"][0]
            signed = await operator.post(
                f"{gw.base}/oauth/consent",
                data={
                    "request": request_id,
                    "step": step,
                    "action": "sign_in",
                    "admin_token": SECRETS["auditor"],
                },
            )
            assert signed.status_code == 200 and "Signed in as" in signed.text
            options = set(re.findall(r'<option value="([^"]+)"', signed.text))
            assert options == {"auditor"}  # not root, not agent: they can do more than it can
            step = signed.text.split('name="step" value="')[1].split('"')[0]
            # the client, holding the request id but not the operator's browser, gets nothing
            peek = await client_side.get(consent_url)
            assert peek.status_code == 403 and "Signed in as" not in peek.text and "auditor" not in peek.text
            stolen = await client_side.post(
                f"{gw.base}/oauth/consent",
                data={"request": request_id, "step": step, "action": "grant", "token_name": "auditor"},
            )
            assert stolen.status_code == 403
            escalate = await operator.post(
                f"{gw.base}/oauth/consent",
                data={"request": request_id, "step": step, "action": "grant", "token_name": "root"},
            )
            assert escalate.status_code == 400 and "Choose one of the tokens listed" in escalate.text


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "data:text/html,x",
        "file:///etc/passwd",
        "http://evil.example/cb",
        "https://good.example/cb#frag",
        "https://chatgpt.com@evil.example/cb",
    ],
)
async def test_unsafe_redirect_uris_are_refused_at_registration(gw: Gw, uri: str):
    async with httpx2.AsyncClient(timeout=30) as http:
        made = await http.post(
            f"{gw.base}/register",
            json={
                "client_name": "probe",
                "redirect_uris": [uri],
                "token_endpoint_auth_method": "client_secret_post",
            },
        )
    assert made.status_code == 400 and made.json()["error"] in (
        "invalid_redirect_uri",
        "invalid_client_metadata",
    )


async def test_a_grant_ends_with_its_token(gw: Gw, browser: Any):
    """A grant acts as one token: remove it from the tokens file, or put a new token under its
    name, and the grant's access and refresh tokens stop working."""
    callback = Callback()
    await callback.start()
    storage, seen = Memory(), []
    try:
        auth = oauth_client(gw, storage, callback, browser, SECRETS["root"], "agent", seen)
        async with (
            httpx2.AsyncClient(auth=auth, timeout=60) as http,
            Client(streamable_http_client(f"{gw.base}/mcp", http_client=http), mode="legacy") as client,
        ):
            await client.list_tools()
    finally:
        await callback.stop()
    assert storage.tokens is not None and storage.client is not None
    tokens = gw.api.auth.tokens
    old = next(t for t in tokens if t.name == "agent")
    tokens[tokens.index(old)] = replace(old, digest=digest("a new secret under the old name"))
    async with httpx2.AsyncClient(timeout=30) as http:
        used = await http.post(
            f"{gw.base}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {storage.tokens.access_token}"},
        )
        assert used.status_code == 401
        refreshed = await http.post(
            f"{gw.base}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": storage.tokens.refresh_token,
                "client_id": storage.client.client_id,
                "client_secret": storage.client.client_secret or "",
            },
        )
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
