"""MCP, with the official SDK's own client, over every transport, on the bed's sshd hosts.

One set-up on disk (an inventory with the owner's policies, a tokens file with the tokens'
policies and permissions) serves both ways a client reaches gtp-remote: the HTTP server's
``/mcp`` (Streamable HTTP, in the 2025 protocol and the 2026 one) and ``/sse``, and
``gtp-remote mcp`` on stdio, started as a client starts it. Every scenario runs on each:
the tools called against bed hosts, a fan-out, a policy denial, a confirm answered yes and no
through elicitation, a confirm without elicitation approved over REST, a delegation to a model
through its tunnel, progress notifications. What ran, or did not, is looked at on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import jsonschema
import pytest
import yaml
from aiohttp.test_utils import TestServer
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult, Implementation
from mcp_types import _v2025_11_25 as spec_2025
from mcp_types import _v2026_07_28 as spec_2026

from gtp_remote.api import models as m
from gtp_remote.api.routes import create_app
from gtp_remote.api.state import Api
from gtp_remote.config import load_inventory
from gtp_remote.gateway import Gateway
from gtp_remote.mcpapi.tools import GATEWAY_TOOLS, approval_message
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, load_tokens
from tests.conftest import ROOT, Bed
from tests.llmbed import write_inventory

pytestmark = pytest.mark.bed

SECRETS = {
    "agent": "mcp-agent-secret-token",
    "boss": "mcp-boss-secret-token",
    "ops": "mcp-ops-secret-token",
    "dbonly": "mcp-dbonly-secret-token",
}
SANDBOX = "mcp"
DB_POLICY = {
    "commands": {
        "allow": ["hostname", "cat *", "ls *", "echo *", "true", "printf *", "head *"],
        "confirm": ["touch *", "mkdir *"],
        "deny": ["rm *"],
    },
    "paths": {"allow": ["read:**", "list:**", f"write:**/{SANDBOX}/**"], "deny": ["**/secret*"]},
    "code": "confirm",
}
TOKENS_FILE = {
    "tokens": {
        # an agent: runs things, may not approve; never curl, whatever a server allows
        "agent": {
            "env": "MCP_AGENT_TOKEN",
            "operations": ["exec", "files.read", "files.write", "llm"],
            "policy": {"commands": {"deny": ["curl *"]}},
        },
        "boss": {"env": "MCP_BOSS_TOKEN"},  # every permission, approve included
        "ops": {"env": "MCP_OPS_TOKEN", "operations": ["approve"]},
        "dbonly": {"env": "MCP_DBONLY_TOKEN", "servers": ["db"], "operations": ["exec", "files.read"]},
    }
}
CLIENT = Implementation(name="pytest-mcp", version="1.0")
TRANSPORTS = ["http", "http-2026", "sse", "stdio"]


@dataclass
class Setup:
    inventory: Path
    tokens: Path
    state: Path
    env: dict[str, str]


@pytest.fixture
def setup(bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    for host in bed.hosts.values():
        box = f"{host.home}/{SANDBOX}"
        host.sh(
            f"rm -rf {box} && mkdir -p {box} && echo hunter2 > {box}/secret.txt && chown -R {bed.user} {box}"
        )
    folder = tmp_path / "hosts"
    inventory = write_inventory(bed, folder, extra={"groups": {"bed": {"policy": {"code": "confirm"}}}})
    doc = yaml.safe_load(inventory.read_text())
    doc["servers"]["db"]["policy"] = DB_POLICY
    inventory.write_text(yaml.safe_dump(doc, sort_keys=False))
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump(TOKENS_FILE))
    state = tmp_path / "state"
    env = {
        "GTP_STATE_DIR": str(state),
        "GTP_TOKENS_FILE": str(tokens),
        "GTP_TEMPLATES": str(ROOT / "templates"),
        "GTP_DEFAULT_SERVER": "db",
        **{f"MCP_{name.upper()}_TOKEN": value for name, value in SECRETS.items()},
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Setup(inventory, tokens, state, env)


@dataclass
class Served:
    """The HTTP server (REST and MCP on one port), and how to reach it."""

    api: Api
    base: str

    async def rest(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, dict]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, self.base + path, json=body, headers={"Authorization": f"Bearer {SECRETS[token]}"}
            ) as r,
        ):
            return r.status, await r.json()


@pytest.fixture
async def served(setup: Setup, request: pytest.FixtureRequest) -> AsyncIterator[Served | None]:
    """The HTTP server over the set-up; none for a stdio test (``gtp-remote mcp`` is a process of
    its own, which takes the state folder: a server there would hold it)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("transport") == "stdio":
        yield None
        return
    settings = replace(Settings.from_env(), rate=1000, burst=1000)
    api = Api(
        Gateway(load_inventory(setup.inventory, settings), settings), Authenticator(load_tokens(settings))
    )
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    try:
        yield Served(api, str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()


class Asked:
    """An elicitation callback that answers as told, and remembers what it was asked."""

    def __init__(self, approve: bool | None):
        self.approve = approve  # None: decline
        self.messages: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.messages.append(params.message)
        if self.approve is None:
            return ElicitResult(action="decline")
        return ElicitResult(action="accept", content={"approve": self.approve})


@contextlib.asynccontextmanager
async def connect(
    transport: str, setup: Setup, served: Served | None, token: str = "boss", elicit: Asked | None = None
) -> AsyncIterator[Client]:
    """The SDK's client on ``transport``, acting as ``token``, with elicitation if ``elicit``."""
    options: dict[str, Any] = {"client_info": CLIENT, "elicitation_callback": elicit}
    if transport == "stdio":
        env = {**os.environ, **setup.env, "GTP_TOKEN": SECRETS[token]}
        args = ["-m", "gtp_remote", "-i", str(setup.inventory), "mcp"]
        target: Any = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(ROOT))
        options["mode"] = "legacy"
    else:
        assert served is not None
        headers = {"Authorization": f"Bearer {SECRETS[token]}"}
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=120))
        if transport == "sse":
            target = sse_client(f"{served.base}/sse", headers=headers)
            options["mode"] = "legacy"
        else:
            target = streamable_http_client(f"{served.base}/mcp", http_client=http)
            options["mode"] = "legacy" if transport == "http" else "2026-07-28"
    async with Client(target, **options) as client:
        yield client


def structured(result: Any) -> dict:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content  # the same JSON as text
    return result.structured_content


def refused(result: Any) -> dict:
    assert result.is_error, result
    return json.loads(result.content[0].text)["error"]


def audit(setup: Setup) -> list[dict]:
    return [json.loads(line) for line in (setup.state / "audit.jsonl").read_text().splitlines()]


def on_host(bed: Bed, host: str, rel: str) -> Path:
    return Path(bed.hosts[host].home) / SANDBOX / rel


# -- the tools, their schemas and annotations ---------------------------------------------------


async def test_tools_are_the_rest_operations_with_their_schemas(setup: Setup, served: Served):
    async with connect("http", setup, served) as client:
        listed = (await client.list_tools()).tools
    # the wire form validates against both protocols' Tool definitions, as the SDK generates them
    # from the spec's schema.json (that file itself is not in any package this machine can install)
    for tool in listed:
        wire = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
        for generated in (spec_2025.Tool, spec_2026.Tool):
            assert (
                generated.model_validate(wire).model_dump(mode="json", by_alias=True, exclude_none=True)
                == wire
            )
    by_name = {t.name: t for t in listed}
    assert set(by_name) == {
        "execute_shell",
        "execute_code",
        "read_file",
        "write_file",
        "list_files",
        "patch_file",
        "upload_file",
        "download_file",
        "list_servers",
        "execute_llm",
        "list_models",
        "get_job",
        "cancel_job",
    }
    for spec in GATEWAY_TOOLS:  # the REST request model is the input schema, as is
        assert by_name[spec.name].input_schema == spec.model.model_json_schema()
    assert by_name["execute_shell"].input_schema["additionalProperties"] is False
    assert "stream" not in by_name["execute_llm"].input_schema["properties"]
    assert set(by_name["execute_llm"].input_schema["properties"]) == set(m.ExecuteLLM.model_fields) - {
        "stream"
    }
    for tool in listed:
        assert 0 < len(tool.description or "") < 300, tool.name
        # a valid JSON Schema (2020-12) of an object, for the arguments and for the results
        for schema in (tool.input_schema, tool.output_schema):
            assert schema is not None and schema["type"] == "object", tool.name
            jsonschema.Draft202012Validator.check_schema(schema)
        hints = tool.annotations
        assert hints is not None and None not in (
            hints.read_only_hint,
            hints.destructive_hint,
            hints.idempotent_hint,
            hints.open_world_hint,
        )
    assert by_name["read_file"].annotations.read_only_hint is True
    assert by_name["list_files"].annotations.read_only_hint is True
    assert by_name["execute_shell"].annotations.destructive_hint is True
    assert by_name["execute_shell"].annotations.open_world_hint is True
    assert by_name["write_file"].annotations.read_only_hint is False
    assert by_name["get_job"].annotations.idempotent_hint is True


# -- every tool, on every transport --------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_each_tool_on_the_bed(transport: str, setup: Setup, served: Served, bed: Bed):
    async with connect(transport, setup, served, token="boss") as client:
        out = structured(await client.call_tool("execute_shell", {"command": "hostname", "server": "db"}))
        assert (out["stdout"], out["exit_code"], out["server"], out["status"]) == (
            "db\n",
            0,
            "db",
            "succeeded",
        )

        fan = structured(await client.call_tool("execute_shell", {"command": "hostname", "target": "all"}))
        assert {r["server"]: r["stdout"] for r in fan["results"]} == {
            "db": "db\n",
            "code": "code\n",
            "k8s-master": "k8s-master\n",
        }
        assert fan["summary"]["ok"] == 3

        path = f"{bed.hosts['db'].home}/{SANDBOX}/notes.txt"
        written = structured(
            await client.call_tool("write_file", {"path": path, "content": "one\ntwo\n", "server": "db"})
        )
        assert written["stat"]["size"] == 8
        assert on_host(bed, "db", "notes.txt").read_text() == "one\ntwo\n"

        read = structured(await client.call_tool("read_file", {"path": path, "server": "db"}))
        assert (read["content"], read["eof"]) == ("one\ntwo\n", True)

        listed = structured(
            await client.call_tool(
                "list_files", {"path": f"{bed.hosts['db'].home}/{SANDBOX}", "server": "db"}
            )
        )
        assert "notes.txt" in {e["name"] for e in listed["entries"]}

        diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+three\n"
        patched = structured(
            await client.call_tool("patch_file", {"path": path, "diff": diff, "server": "db"})
        )
        assert patched["hunks"] == 1
        assert on_host(bed, "db", "notes.txt").read_text() == "one\nthree\n"

        servers = structured(await client.call_tool("list_servers", {}))
        assert {s["name"] for s in servers["servers"]} == {"db", "code", "k8s-master"}

        # a long command leaves a job: followed with get_job, or cancelled with cancel_job
        started = structured(
            await client.call_tool(
                "execute_shell", {"command": "sleep 30", "server": "code", "wait_seconds": 0}
            )
        )
        assert started["status"] == "running" and "get_job" in started["hint"]
        view = structured(await client.call_tool("get_job", {"job_id": started["job_id"]}))
        assert view["status"] == "running"
        cancelled = structured(await client.call_tool("cancel_job", {"job_id": started["job_id"]}))
        assert cancelled["status"] == "cancelled"

        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {"gtp://servers", "gtp://specialists"} <= resources
        text = (await client.read_resource("gtp://specialists")).contents[0].text
        specialists = json.loads(text)["specialists"]
        assert specialists["database-llm"]["server"] == "db" and "sql" in specialists["database-llm"]["tools"]
    events = [e for e in audit(setup) if e.get("front_end") == "mcp"]
    names = {e["client"] for e in events if e["kind"] == "command"}
    if transport == "stdio":
        assert names == {"pytest-mcp 1.0"}
    else:  # over HTTP, the address first: the name is only the client's own claim
        assert names == {"127.0.0.1 (client: pytest-mcp 1.0)"}
    reads = [e for e in events if e.get("method") == "resources/read"]
    assert [e["path"] for e in reads] == ["gtp://specialists"] and reads[0]["status"] == 200
    assert {e["path"] for e in events if e["kind"] == "request"} >= {
        "execute_shell",
        "write_file",
        "cancel_job",
    }


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_token_policy_denies_and_a_scope_hides(transport: str, setup: Setup, served: Served):
    async with connect(transport, setup, served, token="agent") as client:
        error = refused(
            await client.call_tool("execute_shell", {"command": "curl http://x", "server": "code"})
        )
        assert error["code"] == "policy_denied" and error["policy"]["rule"] == "curl *"
        error = refused(
            await client.call_tool("execute_shell", {"command": "hostname", "server": "db", "x": 1})
        )
        assert error["code"] == "invalid_request" and "x" in error["message"]
    denied = [e for e in audit(setup) if e.get("kind") == "command" and e.get("outcome") == "denied"]
    assert denied and denied[-1]["front_end"] == "mcp" and "pytest-mcp 1.0" in denied[-1]["client"]
    async with connect(transport, setup, served, token="dbonly") as client:
        error = refused(await client.call_tool("execute_shell", {"command": "hostname", "server": "code"}))
        assert error["code"] == "unknown_server"  # not "forbidden": code is as unknown as a typo
        servers = structured(await client.call_tool("list_servers", {}))
        assert [s["name"] for s in servers["servers"]] == ["db"]
        error = refused(await client.call_tool("write_file", {"path": "x", "content": "y", "server": "db"}))
        assert error["code"] == "forbidden"


# -- confirm: elicitation, or a job a person approves --------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_confirm_is_asked_through_elicitation(transport: str, setup: Setup, served: Served, bed: Bed):
    yes, no = Asked(True), Asked(None)
    async with connect(transport, setup, served, token="boss", elicit=yes) as client:
        out = structured(
            await client.call_tool("execute_shell", {"command": f"touch {SANDBOX}/yes", "server": "db"})
        )
        assert out["status"] == "succeeded"
    assert on_host(bed, "db", "yes").exists()
    [message] = yes.messages
    assert "touch mcp/yes" in message and "db" in message and "touch *" in message  # what, where, which rule
    async with connect(transport, setup, served, token="boss", elicit=no) as client:
        error = refused(
            await client.call_tool("execute_shell", {"command": f"touch {SANDBOX}/no", "server": "db"})
        )
        assert error["code"] == "rejected"
    assert no.messages and not on_host(bed, "db", "no").exists()
    events = [e for e in audit(setup) if e.get("kind") == "command" and "touch" in str(e.get("command"))]
    assert {e["outcome"] for e in events} >= {"ok", "rejected"}
    assert any("elicitation" in str(e.get("approved_by")) for e in events)


@pytest.mark.parametrize("transport", ["http", "http-2026", "stdio"])
async def test_a_fan_out_is_asked_once_with_all_its_hosts(
    transport: str, setup: Setup, served: Served, bed: Bed
):
    asked = Asked(False)  # accepted, and answered "no"
    async with connect(transport, setup, served, token="boss", elicit=asked) as client:
        error = refused(
            await client.call_tool(
                "execute_shell", {"command": f"touch {SANDBOX}/fan", "target": "group:bed"}
            )
        )
        assert error["code"] == "rejected"
        error = refused(
            await client.call_tool(
                "execute_code", {"code": "print('hi')", "language": "python", "server": "code"}
            )
        )
        assert error["code"] == "rejected"
    fan, code = asked.messages
    assert "db, code, k8s-master" in fan.splitlines()[0] and "touch mcp/fan" in fan
    assert "print('hi')" in code and "code" in code.splitlines()[0]
    assert not any(on_host(bed, host, "fan").exists() for host in bed.hosts)


@pytest.mark.parametrize("transport", ["http", "sse", "stdio"])
async def test_without_elicitation_a_confirm_waits_for_a_person(
    transport: str, setup: Setup, served: Served, bed: Bed
):
    """A client without elicitation, and a token that may not approve, both get a pending job;
    a person approves it over REST, and the client reads the outcome with get_job."""
    for token, elicit in (("boss", None), ("agent", Asked(True))):
        name = f"pending-{token}"
        async with connect(transport, setup, served, token=token, elicit=elicit) as client:
            pending = structured(
                await client.call_tool(
                    "execute_shell", {"command": f"touch {SANDBOX}/{name}", "server": "db"}
                )
            )
            assert pending["status"] == "awaiting_approval" and pending["pending_action"]["rule"] == "touch *"
            assert f"/jobs/{pending['job_id']}/approve" in pending["hint"]
            assert elicit is None or elicit.messages == []  # an agent's token cannot approve its own
            assert not on_host(bed, "db", name).exists()
            if transport == "stdio":
                continue  # stdio's jobs live in its own process: no REST there to approve them
            status, view = await served.rest(
                "POST",
                f"/jobs/{pending['job_id']}/approve",
                "ops",
                {"pending_id": pending["pending_action"]["id"]},
            )
            assert status == 200, view
            done = structured(
                await client.call_tool("get_job", {"job_id": pending["job_id"], "wait_seconds": 20})
            )
            assert done["status"] == "succeeded", done
            assert done["approval"]["by"] == "ops"
        assert on_host(bed, "db", name).exists()


# -- long work -----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_long_work_sends_progress_then_its_result(transport: str, setup: Setup, served: Served):
    seen: list[tuple[float, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, message))

    async with connect(transport, setup, served, token="boss") as client:
        result = await client.call_tool(
            "execute_shell",
            {"command": "echo started; sleep 5; echo finished", "server": "code", "wait_seconds": 20},
            progress_callback=progress,
        )
    out = structured(result)
    assert out["stdout"] == "started\nfinished\n"
    assert len(seen) >= 1 and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert any("started" in (msg or "") for _, msg in seen)  # the output so far


async def test_a_result_keeps_to_the_budget(setup: Setup, served: Served):
    async with connect("http", setup, served, token="boss") as client:
        result = await client.call_tool(
            "execute_shell", {"command": "head -c 500000 /dev/zero | tr '\\0' a", "server": "code"}
        )
    out = structured(result)
    assert out["truncated"] is True and out["stdout_bytes"] == 500000
    assert len(result.content[0].text) <= 100_000


# -- delegation through a tunnel -----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_execute_llm_delegates_through_a_tunnel(transport: str, setup: Setup, served: Served, scripted):
    scripted["code"].script(
        {"tool_calls": [{"name": "list_dir", "arguments": {"path": "."}}]},
        {"content": "The home folder has an mcp folder."},
    )
    async with connect(transport, setup, served, token="boss") as client:
        models = structured(await client.call_tool("list_models", {"server": "code"}))
        assert [x["name"] for x in models["models"]] == ["test-model:latest"]
        out = structured(
            await client.call_tool(
                "execute_llm", {"instructions": "What is in the home folder?", "provider": "code"}
            )
        )
    assert out["answer"] == "The home folder has an mcp folder." and out["server"] == "code"
    [step] = out["steps"]
    assert step["tool"] == "list_dir" and step["status"] == "ok" and "mcp" in step["output"]
    assert [r["path"] for r in scripted["code"].requests()][-1] == "/api/chat"


# -- the HTTP transport's guards -----------------------------------------------------------------


async def test_http_needs_a_token_and_says_where_to_get_one(served: Served):
    async with aiohttp.ClientSession() as session:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            async with session.post(f"{served.base}/mcp", json=body, headers=headers) as r:
                assert r.status == 401
                challenge = r.headers["WWW-Authenticate"]
                assert challenge.startswith("Bearer ") and "resource_metadata=" in challenge
                # RFC 6750: an error code only when a token was sent
                assert ('error="invalid_token"' in challenge) == bool(headers)
                metadata_url = challenge.split('resource_metadata="')[1].split('"')[0]
        async with session.get(
            f"{served.base}/.well-known/oauth-protected-resource/mcp", headers={"Host": "evil.example"}
        ) as r:
            assert r.status == 421  # a made-up Host is never echoed into the metadata
        async with session.get(metadata_url) as r:
            assert r.status == 200
            document = await r.json()
    assert document["resource"] == f"{served.base}/mcp"


async def test_a_session_belongs_to_the_token_that_opened_it(served: Served):
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    accept = {"Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=30) as http:
        opened = await http.post(
            f"{served.base}/mcp", json=init, headers={**accept, "Authorization": f"Bearer {SECRETS['boss']}"}
        )
        assert opened.status_code == 200
        session = opened.headers["mcp-session-id"]
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        other = await http.post(
            f"{served.base}/mcp",
            json=listing,
            headers={**accept, "Authorization": f"Bearer {SECRETS['agent']}", "mcp-session-id": session},
        )
        assert other.status_code == 404  # as if it did not exist


async def test_dns_rebinding_is_refused(served: Served):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    auth = {"Authorization": f"Bearer {SECRETS['boss']}", "Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=30) as http:
        bad_host = await http.post(f"{served.base}/mcp", json=body, headers={**auth, "Host": "evil.example"})
        assert bad_host.status_code == 421
        bad_origin = await http.post(
            f"{served.base}/mcp", json=body, headers={**auth, "Origin": "http://evil.example"}
        )
        assert bad_origin.status_code == 403


# -- stdio -----------------------------------------------------------------------------------------


def test_stdio_refuses_a_wrong_token_plainly(setup: Setup):
    env = {**os.environ, **setup.env, "GTP_TOKEN": "not-a-token"}
    done = subprocess.run(
        [sys.executable, "-m", "gtp_remote", "-i", str(setup.inventory), "mcp"],
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode != 0
    assert done.stdout == ""  # nothing but protocol ever goes there
    assert "GTP_TOKEN is not one of this gateway's tokens" in done.stderr
    assert "Traceback" not in done.stderr


# -- what the red team found, kept found ------------------------------------------------------------

ASK_SHELL = "gtp_remote.mcpapi.tools:ask_execute_shell"  # the SDK's wire key for execute_shell's question


async def raw_2026(http: httpx2.AsyncClient, served: Served, token: str, params: dict, id: int = 1) -> dict:
    """One sessionless 2026-protocol tools/call, as a client sends it (no SDK in between)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    }
    headers = {
        "Authorization": f"Bearer {SECRETS[token]}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": params["name"],
    }
    body = {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {**params, "_meta": meta}}
    answer = await http.post(f"{served.base}/mcp", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_2026_answer_approves_one_run_and_only_a_real_yes(setup: Setup, served: Served):
    call = {"name": "execute_shell", "arguments": {"command": f"touch {SANDBOX}/once", "server": "db"}}
    async with httpx2.AsyncClient(timeout=60) as http:
        first = await raw_2026(http, served, "boss", call)
        state = first["result"]["requestState"]  # the question, sealed, for the retry
        for odd in ({"approve": "true"}, {"approve": 1}):  # not a yes
            answer = {ASK_SHELL: {"action": "accept", "content": odd}}
            out = await raw_2026(
                http, served, "boss", {**call, "requestState": state, "inputResponses": answer}
            )
            assert "structuredContent" not in out.get("result", {}), out
        yes = {ASK_SHELL: {"action": "accept", "content": {"approve": True}}}
        first = await raw_2026(http, served, "boss", call, id=2)
        state = first["result"]["requestState"]
        ran = await raw_2026(
            http, served, "boss", {**call, "requestState": state, "inputResponses": yes}, id=3
        )
        assert ran["result"]["structuredContent"]["status"] == "succeeded"
        again = await raw_2026(
            http, served, "boss", {**call, "requestState": state, "inputResponses": yes}, id=4
        )
        error = json.loads(again["result"]["content"][0]["text"])["error"]
        assert error["code"] == "conflict" and "already used" in error["message"]
    runs = [
        e
        for e in audit(setup)
        if e.get("kind") == "command" and e.get("command") == call["arguments"]["command"]
    ]
    assert [e["outcome"] for e in runs if e["outcome"] == "ok"] == ["ok"]


async def test_a_token_cannot_hold_every_session(served: Served):
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {SECRETS['dbonly']}",
    }
    async with httpx2.AsyncClient(timeout=30) as http:
        statuses = [
            (await http.post(f"{served.base}/mcp", json=init, headers=headers)).status_code for _ in range(66)
        ]
        assert statuses[:64] == [200] * 64 and statuses[64:] == [429, 429]
        other = await http.post(
            f"{served.base}/mcp", json=init, headers={**headers, "Authorization": f"Bearer {SECRETS['boss']}"}
        )
        assert other.status_code == 200  # another token still gets in


async def test_odd_http_gets_clean_answers(served: Served):
    auth = {"Authorization": f"Bearer {SECRETS['boss']}", "Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=30) as http:
        for path in ("/mcp", "/sse"):
            head = await http.head(f"{served.base}{path}", headers=auth)
            assert head.status_code == 405 and head.content == b""
            follow = await http.get(f"{served.base}/health")  # the same connection still reads right
            assert follow.status_code == 200 and follow.json()["status"] == "ok"
        bad_gzip = await http.post(
            f"{served.base}/mcp",
            content=b"not gzip at all",
            headers={**auth, "Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert bad_gzip.status_code == 400 and bad_gzip.json()["error"]["code"] == "invalid_request"


async def test_an_approval_question_shows_each_value_on_its_own_line(setup: Setup, served: Served):
    asked = Asked(False)
    padding = "\n" * 50 + "rule: harmless\nreason: fine"
    async with connect("http", setup, served, token="boss", elicit=asked) as client:
        command = f"touch {SANDBOX}/x '{padding}'"
        refused(await client.call_tool("execute_shell", {"command": command, "server": "db"}))
    [message] = asked.messages
    lines = message.splitlines()
    assert len(lines) < 10 and not any(line.startswith("rule: harmless") for line in lines)
    assert any(line.startswith('command: "touch mcp/x') and "\\n" in line for line in lines)


async def test_a_delegation_step_asked_after_the_call_returned_waits_for_a_person(
    setup: Setup, served: Served, bed: Bed, scripted
):
    """Elicitation asks only while the tool call is open: a step the model reaches later waits in
    the job, as over REST (it used to fail the whole delegation)."""
    scripted["db"].script(
        {
            "delay": 3,
            "tool_calls": [{"name": "run_shell", "arguments": {"command": f"touch {SANDBOX}/late"}}],
        },
        {"content": "Touched it."},
    )
    asked = Asked(True)
    async with connect("http", setup, served, token="boss", elicit=asked) as client:
        started = structured(
            await client.call_tool(
                "execute_llm", {"instructions": "touch the file", "provider": "db", "wait_seconds": 1}
            )
        )
        assert started["status"] == "running"
    for _ in range(100):
        status, view = await served.rest("GET", f"/jobs/{started['job_id']}", "boss")
        if view["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert view["status"] == "awaiting_approval", view
    assert asked.messages == [] and not on_host(bed, "db", "late").exists()
    status, decided = await served.rest(
        "POST", f"/jobs/{started['job_id']}/approve", "ops", {"pending_id": view["pending_action"]["id"]}
    )
    assert status == 200, decided
    for _ in range(100):
        status, view = await served.rest("GET", f"/jobs/{started['job_id']}", "boss")
        if view["status"] == "succeeded":
            break
        await asyncio.sleep(0.1)
    assert view["status"] == "succeeded" and on_host(bed, "db", "late").exists()


async def test_a_client_name_no_utf8_can_hold_is_audited_and_breaks_nothing(setup: Setup, served: Served):
    """A lone surrogate (``\\ud800`` is valid JSON) in what a client says about itself once made
    the audit event unwritable, and with it every later one: actions ran unaudited."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "execute_shell",
            "arguments": {"command": "echo surrogate", "server": "db"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "\ud800", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {
        "Authorization": f"Bearer {SECRETS['agent']}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "execute_shell",
    }
    async with httpx2.AsyncClient(timeout=60) as http:
        answer = await http.post(f"{served.base}/mcp", content=json.dumps(body).encode(), headers=headers)
        assert (
            answer.status_code == 200
            and answer.json()["result"]["structuredContent"]["stdout"] == "surrogate\n"
        )
    status, jobs = await served.rest("GET", "/jobs", "agent")
    assert status == 200 and jobs["jobs"]
    events = [e for e in audit(setup) if e.get("kind") == "command" and e.get("command") == "echo surrogate"]
    assert len(events) == 1 and events[0]["client"] == "127.0.0.1 (client: ? 1)"


async def test_a_host_header_is_echoed_only_when_well_formed(served: Served):
    async with httpx2.AsyncClient(timeout=30) as http:
        for host in ("localhost:1@evil.example", 'localhost:x", error="injected', "localhost:80:80"):
            r = await http.get(
                f"{served.base}/.well-known/oauth-protected-resource/mcp", headers={"Host": host}
            )
            assert r.status_code == 421, host
        r = await http.get(
            f"{served.base}/.well-known/oauth-protected-resource/mcp", headers={"Host": "LOCALHOST:8"}
        )
        assert r.status_code == 200 and r.json()["resource"] == "http://LOCALHOST:8/mcp"


def test_an_approval_question_has_no_unicode_line_breaks():
    """U+2028 and bidi controls would draw lines or reorder text in the client's dialog."""
    pending = {
        "id": "x",
        "operation": "command",
        "server": "db",
        "command": "touch 'u\u2028rule: harmless\u2029reason: fine\u202e'",
        "rule": "touch *",
    }
    message = approval_message(pending)
    assert not any(c in message for c in "\u2028\u2029\u202e\u0085")
    assert len(message.splitlines()) == 3 and "\\u2028" in message
