"""execute-llm end to end: the HTTP API, specialists on bed hosts, models behind SSH tunnels.

The model servers are scripted (tests/modelserver.py) and run inside the bed hosts on 127.0.0.1,
so every call crosses a real tunnel; each test says which replies (tool calls, streamed or not)
the model gives, and asserts what happened ON the host, not only what the API answered.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gtp_remote.api.routes import create_app
from gtp_remote.api.state import Api
from gtp_remote.config import load_inventory
from gtp_remote.gateway import Gateway
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, Token, digest
from tests.conftest import ROOT, Bed
from tests.llmbed import bed_home, write_inventory
from tests.test_api import Client

pytestmark = pytest.mark.bed

TOKENS = {
    "alice": "alice-llm-token",
    "ops": "ops-llm-token",
    "viewer": "viewer-llm-token",
    "analyst": "analyst-llm-token",
    "dbops": "dbops-llm-token",
    "dbonly": "dbonly-llm-token",
}


@pytest.fixture
async def api(bed: Bed, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GTP_TEMPLATES", str(ROOT / "templates"))
    inventory = load_inventory(write_inventory(bed, tmp_path / "hosts"))
    auth = Authenticator(
        [
            Token(
                "alice",
                digest(TOKENS["alice"]),
                operations=frozenset({"exec", "files.read", "files.write", "llm"}),
            ),
            Token("analyst", digest(TOKENS["analyst"]), operations=frozenset({"llm"})),
            Token("dbops", digest(TOKENS["dbops"]), servers=("db",), operations=frozenset({"approve"})),
            Token("dbonly", digest(TOKENS["dbonly"]), servers=("db",), operations=frozenset({"llm"})),
            Token("ops", digest(TOKENS["ops"]), operations=frozenset({"approve"})),
            Token("viewer", digest(TOKENS["viewer"]), operations=frozenset({"files.read"})),
        ]
    )
    api = Api(Gateway(inventory, replace(settings, default_server="db", rate=1000, burst=1000)), auth)
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        client = Client(session, str(server.make_url("")).rstrip("/"))
        client.api = api  # type: ignore[attr-defined]
        yield client
    await server.close()


def call(name: str, **arguments: object) -> dict:
    return {"name": name, "arguments": arguments}


def audit_events(settings: Settings, kind: str) -> list[dict]:
    lines = (settings.state_dir / "audit.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("kind") == kind]


async def ask(
    api: Client, provider: str, instructions: str, token: str = "alice", **extra
) -> tuple[int, dict]:
    body = {"instructions": instructions, "provider": provider, **extra}
    status, data, _ = await api.call("POST", "/command/execute-llm", TOKENS.get(token, token), json=body)
    return status, data


# -- the seed's scenarios -------------------------------------------------------------------------


@pytest.fixture
async def app_db(bed: Bed, bed_gateway: Gateway) -> str:
    path = f"{bed_home(bed)}/app.db"
    sql = (
        "drop table if exists users; create table users (id integer primary key, email text, notify integer);"
        "insert into users values (1, 'ann@example.com', 1), (2, 'bob@example.com', 0), "
        "(12345, 'cy@example.com', 0), (4, 'di@example.com', 1);"
    )
    result = await bed_gateway.executor("db").run(f'sqlite3 {path} "{sql}"')
    assert result.ok, result.stderr
    return path


async def test_database_specialist_answers_through_sql_on_the_db_host(api, scripted, app_db, bed, settings):
    scripted["db"].script(
        {"tool_calls": [call("sql", query="SELECT count(*) AS n FROM users WHERE notify = 1")]},
        {"content": "2 users have notifications enabled."},
    )
    status, data = await ask(api, "database-llm", "How many users have notifications on?")
    assert status == 200, data
    assert data["status"] == "succeeded" and data["ok"] and data["stop_reason"] == "answer"
    assert (data["specialist"], data["server"], data["provider"]) == ("database-llm", "db", "ollama")
    assert data["answer"] == "2 users have notifications enabled."
    [step] = data["steps"]
    assert step["tool"] == "sql" and step["status"] == "ok" and step["exit_code"] == 0
    assert step["policy"]["action"] == "allow"
    assert step["output"].splitlines()[1:3] == ["n", "-"] or "2" in step["output"]
    assert step["details"]["command"].startswith("sqlite3 -safe -readonly ")
    first, second = scripted["db"].requests()
    assert first["path"] == "/api/chat"
    system = first["body"]["messages"][0]["content"]
    assert "CREATE TABLE users" in system  # the schema fact, gathered on db
    assert [t["function"]["name"] for t in first["body"]["tools"]] == ["sql", "list_dir"]
    tool_reply = second["body"]["messages"][-1]
    assert tool_reply["role"] == "tool" and tool_reply["tool_name"] == "sql" and "2" in tool_reply["content"]
    assert data["usage"]["prompt_tokens"] > 0 and data["usage"]["completion_tokens"] > 0
    calls = audit_events(settings, "model_call")
    assert len(calls) == 2 and calls[0]["host"] == "db" and calls[0]["model"] == "test-model"
    [tool_event] = audit_events(settings, "tool_call")
    assert tool_event["tool"] == "sql" and tool_event["policy"]["action"] == "allow"
    assert tool_event["job_id"] == data["job_id"]


async def test_database_write_is_refused_in_read_only_mode(api, scripted, app_db, bed_gateway):
    scripted["db"].script(
        {"tool_calls": [call("sql", query="UPDATE users SET notify = 1 WHERE id = 12345")]},
        {"content": "The database is read-only, so I could not change the preference."},
    )
    status, data = await ask(api, "database-llm", "Enable notifications for user 12345")
    assert status == 200, data
    [step] = data["steps"]  # refused before it reached sqlite3: parsed, and not a read statement
    assert step["status"] == "denied" and "UPDATE" in step["output"] and step["exit_code"] is None
    row = await bed_gateway.executor("db").run(
        f"sqlite3 {app_db} 'select notify from users where id = 12345'"
    )
    assert row.stdout.strip() == "0"  # unchanged on the host


async def test_code_specialist_edits_a_file_and_runs_its_tests_on_the_code_host(
    api, scripted, bed, bed_gateway
):
    home = bed_home(bed)
    setup = (
        f"mkdir -p {home}/proj && cd {home}/proj && "
        "printf 'def add(a, b):\\n    return a - b\\n' > calc.py && "
        "printf 'import unittest\\nfrom calc import add\\n\\nclass T(unittest.TestCase):\\n"
        "    def test_add(self):\\n        self.assertEqual(add(2, 3), 5)\\n' > test_calc.py"
    )
    assert (await bed_gateway.executor("code").run(setup)).ok
    fixed = "def add(a, b):\n    return a + b\n"
    scripted["code"].script(
        {"tool_calls": [call("read_file", path=f"{home}/proj/calc.py")]},
        {"tool_calls": [call("write_file", path=f"{home}/proj/calc.py", content=fixed)]},
        {"tool_calls": [call("run_shell", command=f"cd {home}/proj && python3 -m unittest -q 2>&1")]},
        {"content": "Fixed add() in calc.py; the tests pass."},
    )
    status, data = await ask(api, "code-llm", "Fix the failing test in ~/proj")
    assert status == 200, data
    read, write, test = data["steps"]
    assert read["status"] == "ok" and "return a - b" in read["output"]
    assert write["status"] == "ok" and write["details"]["path"] == f"{home}/proj/calc.py"
    assert test["status"] == "ok" and test["exit_code"] == 0 and "OK" in test["output"]
    assert (bed.hosts["code"].home / "proj/calc.py").read_text() == fixed  # the code host's file
    assert not (bed.hosts["db"].home / "proj").exists()


KUBECTL = """#!/bin/sh
echo "$*" >> "$HOME/kubectl.log"
case "$1" in
  scale) echo "deployment.apps/$3 scaled" ;;
  delete) echo "$2 \\"$3\\" deleted" ;;
  *) echo "ok" ;;
esac
"""


@pytest.fixture
async def kubectl(bed: Bed, bed_gateway: Gateway) -> Path:
    """A stand-in kubectl on k8s-master that records its calls (no cluster is reachable here)."""
    home = bed_home(bed)
    await bed_gateway.executor("k8s-master").run(f"mkdir -p {home}/bin && rm -f {home}/kubectl.log")
    await bed_gateway.executor("k8s-master").write_file(f"{home}/bin/kubectl", KUBECTL)
    assert (await bed_gateway.executor("k8s-master").run(f"chmod +x {home}/bin/kubectl")).ok
    return bed.hosts["k8s-master"].home / "kubectl.log"


def kubectl_calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


async def wait_status(api: Client, job_id: str, wanted: str, token: str = "alice") -> dict:
    for _ in range(100):
        status, data = await api.get(f"/jobs/{job_id}", TOKENS[token])
        assert status == 200, data
        if data["status"] == wanted:
            return data
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never became {wanted}: {data}")


async def test_devops_scale_passes_delete_namespace_waits_for_approval_kube_system_denied(
    api, scripted, kubectl
):
    scripted["k8s-master"].script(
        {"tool_calls": [call("kubectl", verb="scale", args=["deployment", "web", "--replicas=5"])]},
        {"tool_calls": [call("kubectl", verb="delete", args=["namespace", "staging"])]},
        {"tool_calls": [call("kubectl", verb="delete", args=["namespace", "kube-system"])]},
        {"content": "Scaled web to 5 and deleted staging; deleting kube-system is not allowed."},
    )
    status, data = await ask(api, "devops-llm", "Scale web to 5 replicas and clean up old namespaces")
    assert status == 202, data
    assert data["status"] == "awaiting_approval"
    pending = data["pending_action"]
    assert pending["command"] == "kubectl delete namespace staging" and pending["tool"] == "kubectl"
    assert kubectl_calls(kubectl) == ["scale deployment web --replicas=5"]  # the paused call has not run

    status, denied = await api.post(f"/jobs/{data['job_id']}/approve", {}, token=TOKENS["alice"])
    assert status == 403 and "approve" in denied["error"]["message"]  # alice may not approve
    decision = {"pending_id": pending["id"]}
    status, view = await api.post(f"/jobs/{data['job_id']}/approve", decision, token=TOKENS["ops"])
    assert status == 200, view
    done = await wait_status(api, data["job_id"], "succeeded")
    scale, delete, kube_system = done["result"]["steps"]
    assert scale["status"] == "ok" and scale["policy"]["action"] == "allow"
    assert (
        delete["status"] == "ok"
        and delete["policy"]["action"] == "confirm"
        and delete["approved_by"] == "ops"
    )
    assert kube_system["status"] == "denied" and "kube-system" in kube_system["output"]
    assert kubectl_calls(kubectl) == ["scale deployment web --replicas=5", "delete namespace staging"]
    status, _ = await api.post(f"/jobs/{data['job_id']}/approve", decision, token=TOKENS["ops"])
    assert status == 409


async def test_devops_rejected_action_does_not_run_and_the_model_is_told(api, scripted, kubectl, settings):
    scripted["k8s-master"].script(
        {"tool_calls": [call("kubectl", verb="delete", args=["namespace", "prod"])]},
        {"content": "The deletion was rejected by an operator; nothing was deleted."},
    )
    status, data = await ask(api, "devops-llm", "Delete the prod namespace")
    assert status == 202 and data["status"] == "awaiting_approval"
    status, denied = await api.post(f"/jobs/{data['job_id']}/approve", {}, token=TOKENS["dbops"])
    assert status == 404 and "k8s-master" not in json.dumps(denied)  # an approver for db only: not its job
    decision = {"pending_id": data["pending_action"]["id"]}
    status, _ = await api.post(f"/jobs/{data['job_id']}/reject", decision, token=TOKENS["ops"])
    assert status == 200
    done = await wait_status(api, data["job_id"], "succeeded")
    [step] = done["result"]["steps"]
    assert step["status"] == "rejected" and step["approved_by"] == "ops"
    assert kubectl_calls(kubectl) == []
    told = scripted["k8s-master"].requests()[-1]["body"]["messages"][-1]
    assert told["role"] == "tool" and "rejected" in told["content"]
    [approval] = audit_events(settings, "approval")
    assert approval["decision"] == "rejected" and approval["token"] == "ops"


async def test_docs_specialist_updates_markdown_and_cannot_touch_other_files(api, scripted, bed, bed_gateway):
    home = bed_home(bed)
    await bed_gateway.executor("code").run(f"mkdir -p {home}/docs")
    await bed_gateway.executor("code").write_file(f"{home}/docs/api.md", "# API\n\nAuth: sessions.\n")
    new = "# API\n\nAuth: JWT bearer tokens (POST /auth/token).\n"
    scripted["code"].script(
        {"tool_calls": [call("list_dir", path=f"{home}/docs")]},
        {"tool_calls": [call("read_file", path=f"{home}/docs/api.md")]},
        {
            "tool_calls": [
                call("write_file", path=f"{home}/docs/api.md", content=new),
                call("write_file", path=f"{home}/.profile", content="echo pwned\n"),
            ]
        },
        {"content": "Updated docs/api.md for JWT."},
    )
    status, data = await ask(api, "docs-llm", "Update the API docs for the new JWT auth endpoints")
    assert status == 200, data
    listing, read, write, sneaky = data["steps"]
    assert "api.md" in listing["output"] and "Auth: sessions." in read["output"]
    assert write["status"] == "ok"
    assert sneaky["status"] == "denied" and sneaky["policy"]["action"] == "deny"
    home_dir = bed.hosts["code"].home
    assert (home_dir / "docs/api.md").read_text() == new
    assert not (home_dir / ".profile").exists() or "pwned" not in (home_dir / ".profile").read_text()


# -- wire formats and failures, through the tunnels -----------------------------------------------


async def read_sse(response: aiohttp.ClientResponse) -> list[tuple[str, dict]]:
    events, kind = [], None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind:
            events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


async def stream(api: Client, body: dict) -> list[tuple[str, dict]]:
    headers = {"Authorization": f"Bearer {TOKENS['alice']}"}
    async with api.session.post(api.base + "/command/execute-llm", json=body, headers=headers) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        return await read_sse(r)


async def test_openai_wire_streams_fragmented_arguments_and_usage_as_sse(api, scripted, kubectl):
    scripted["k8s-master"].script(
        {
            "tool_calls": [call("kubectl", verb="get", args=["pods", "-A"])],
            "fragment": 3,
            "usage_chunk": "null_choices",
            "usage": {"prompt_tokens": 50, "completion_tokens": 7},
        },
        {
            "content": "All pods are running.",
            "chunk": 4,
            "usage": {"prompt_tokens": 80, "completion_tokens": 5},
        },
    )
    events = await stream(
        api, {"instructions": "Are the pods healthy?", "provider": "devops-llm", "stream": True}
    )
    kinds = [k for k, _ in events]
    assert kinds[0] == "job" and kinds[-1] == "final"
    assert kinds.index("step") < kinds.index("tool_call") < kinds.index("tool_result")
    deltas = "".join(d["text"] for k, d in events if k == "delta")
    assert deltas == "All pods are running."
    final = events[-1][1]
    assert final["answer"] == "All pods are running." and final["steps"][0]["status"] == "ok"
    assert final["usage"] == {"prompt_tokens": 130, "completion_tokens": 12}
    assert kubectl_calls(kubectl) == ["get pods -A"]
    sent = scripted["k8s-master"].requests()[0]
    assert sent["path"] == "/v1/chat/completions" and sent["body"]["stream"] is True
    assert sent["body"]["stream_options"] == {"include_usage": True}


async def test_a_streamed_outcome_is_audited_before_it_is_sent(api, scripted, settings, monkeypatch):
    scripted["k8s-master"].script({"content": "Nothing to do.", "chunk": 2})
    audit = api.api.audit
    append_many = audit.append_many

    def slow_disk(events: list) -> list:  # the job's event takes a while to reach the disk
        if any(e.get("kind") == "llm" for e in events):
            time.sleep(0.3)
        return append_many(events)

    monkeypatch.setattr(audit, "append_many", slow_disk)
    headers = {"Authorization": f"Bearer {TOKENS['alice']}"}
    body = {"instructions": "Anything?", "provider": "devops-llm", "stream": True}
    async with api.session.post(api.base + "/command/execute-llm", json=body, headers=headers) as r:
        kind = None
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif kind == "final" and line.startswith("data: "):
                job_id = json.loads(line.removeprefix("data: "))["job_id"]
                # read at once, before the stream ends: the job's event is already on disk
                assert [e["job_id"] for e in audit_events(settings, "llm")] == [job_id]
                break
        else:
            raise AssertionError("no final event")


async def test_ollama_wire_streams_whole_tool_calls_and_counters_as_sse(api, scripted, app_db):
    scripted["db"].script(
        {
            "tool_calls": [call("sql", query="SELECT count(*) FROM users")],
            "usage": {"prompt_tokens": 30, "completion_tokens": 4},
        },
        {"content": "There are 4 users.", "chunk": 5, "usage": {"prompt_tokens": 60, "completion_tokens": 6}},
    )
    events = await stream(
        api, {"instructions": "How many users?", "provider": "database-llm", "stream": True}
    )
    final = events[-1][1]
    assert events[-1][0] == "final" and final["answer"] == "There are 4 users."
    assert final["steps"][0]["status"] == "ok" and "4" in final["steps"][0]["output"]
    assert final["usage"] == {"prompt_tokens": 90, "completion_tokens": 10}
    assert "".join(d["text"] for k, d in events if k == "delta") == "There are 4 users."
    sent = scripted["db"].requests()
    assert sent[0]["path"] == "/api/chat" and sent[0]["body"].get("stream", True) is True
    assert sent[1]["body"]["messages"][-2]["tool_calls"][0]["function"]["arguments"] == {
        "query": "SELECT count(*) FROM users"
    }  # object arguments, as Ollama takes them


async def test_text_form_tool_calls_are_recovered(api, scripted, kubectl):
    scripted["k8s-master"].script(
        {"tool_calls": [call("kubectl", verb="get", args=["nodes"])], "text_form": "tool_call"},
        {"tool_calls": [call("kubectl", verb="get", args=["pods"])], "text_form": "tool_request"},
        {"content": "One node, pods fine."},
    )
    status, data = await ask(api, "devops-llm", "How is the cluster?")
    assert status == 200, data
    assert [s["status"] for s in data["steps"]] == ["ok", "ok"]
    assert kubectl_calls(kubectl) == ["get nodes", "get pods"]


async def test_bad_arguments_and_foreign_tools_go_back_to_the_model(api, scripted, kubectl):
    scripted["k8s-master"].script(
        {
            "tool_calls": [
                {"name": "kubectl", "arguments": '{"verb": "get", '},
                call("run_shell", command="id"),
                call("kubectl", verb="exec", args=["-it", "web", "--", "sh"]),
            ]
        },
        {"content": "I could not run those."},
    )
    status, data = await ask(api, "devops-llm", "Open a shell in web")
    assert status == 200, data
    broken, foreign, not_allowed = data["steps"]
    assert broken["status"] == "invalid" and "not valid JSON" in broken["output"]
    assert foreign["status"] == "invalid" and "unknown tool 'run_shell'" in foreign["output"]
    assert not_allowed["status"] == "denied" and "tool kubectl refuses" in not_allowed["output"]
    assert "standard input" in not_allowed["output"]  # `sh` with no script: it would read commands
    assert kubectl_calls(kubectl) == []
    replies = [m for m in scripted["k8s-master"].requests()[-1]["body"]["messages"] if m["role"] == "tool"]
    assert len(replies) == 3 and all(m["tool_call_id"] for m in replies)


async def test_busy_model_servers_are_retried(api, scripted):
    scripted["db"].script({"status": 503}, {"content": "fine after a retry"})
    status, data = await ask(api, "db", "hello")
    assert status == 200 and data["answer"] == "fine after a retry", data
    scripted["k8s-master"].script({"status": 429, "retry_after": 1}, {"content": "also fine"})
    status, data = await ask(api, "k8s-master", "hello")
    assert status == 200 and data["answer"] == "also fine", data


async def test_model_server_errors_name_the_host(api, scripted):
    scripted["db"].script({"content": "partial ", "error": "model runner crashed"})
    events = await stream(api, {"instructions": "hi", "provider": "db", "stream": True})
    kind, error = events[-1]
    assert kind == "error" and "model runner crashed" in error["message"] and error["server"] == "db"
    scripted["db"].script({"error": "out of memory"})
    status, data = await ask(api, "db", "hi")
    assert status == 502 and "ollama at db" in data["error"]["message"]


async def test_unknown_model_unknown_name_and_dead_model_server(api, scripted, bed):
    scripted["db"].script(models=["test-model", "llama3:8b"])
    status, data = await ask(api, "db", "hi", model="sqlcoder:7b")
    assert status == 404, data
    assert data["error"]["message"] == "model 'sqlcoder:7b' is not available on db (ollama)"
    assert "llama3:8b" in data["error"]["hint"]
    status, data = await ask(api, "no-such-llm", "hi")
    assert status == 404 and data["error"]["code"] == "unknown_specialist"
    assert "database-llm" in data["error"]["hint"] and "ollama" in data["error"]["hint"]
    status, data = await ask(api, "ollama", "hi", server="k8s-master")  # its model is lmstudio's
    assert (status, data["error"]["code"]) == (400, "invalid_request")
    assert data["error"]["message"].startswith("no model for ollama: pass model, or set llm.model")
    status, data = await ask(api, "ghost-llm", "hi")
    assert status == 502, data
    assert (
        data["error"]["message"]
        == "model server for ghost-llm (ollama at db localhost:11999) is not answering"
    )
    assert "127.0.0.1:11999" in data["error"]["hint"]


async def test_scopes_and_request_validation(api, scripted, app_db):
    status, data = await ask(api, "database-llm", "hi", token="viewer")
    assert status == 403 and "'llm'" in data["error"]["message"]
    # llm alone reaches configured specialists (their tools, their policy)...
    scripted["db"].script({"content": "fine"})
    status, data = await ask(api, "database-llm", "hi", token="analyst")
    assert status == 200 and data["answer"] == "fine", data
    # ...but a bare model gets run_shell and write_file with no policy: that takes exec and files.write
    status, data = await ask(api, "db", "hi", token="analyst")
    assert status == 403 and "'exec'" in data["error"]["message"]
    status, data = await ask(api, "database-llm", "hi", server="code")
    assert status == 400 and "works on server 'db'" in data["error"]["message"]
    status, data = await ask(api, "database-llm", "")
    assert status == 400 and "instructions" in data["error"]["message"]
    # A token scoped to db learns no other server's name from an error.
    status, data = await ask(api, "no-such-llm", "hi", token="dbonly")
    assert status == 404 and "database-llm" in data["error"]["hint"]
    named = data["error"]["hint"].replace(";", ",").replace(":", ",").split(", ")
    assert "db" in named and not {"code", "k8s-master", "code-llm", "devops-llm"} & set(named), named
    status, data = await ask(api, "ollama", "hi", server="nowhere", token="dbonly")
    assert (status, data["error"]["hint"]) == (404, "your servers: db")
    status, data = await ask(api, "ollama", "hi", server="k8s-master", token="dbonly")  # exists: same answer
    assert (status, data["error"]["hint"]) == (404, "your servers: db")
    for hidden in ({"server": "db"}, {}, {"model": "x"}):  # a specialist on code: unknown to it
        status, data = await ask(api, "code-llm", "hi", token="dbonly", **hidden)
        assert (status, data["error"]["code"]) == (404, "unknown_specialist"), data
        assert "'code'" not in data["error"]["message"]
    status, data = await ask(api, "code", "hi", token="dbonly")  # code's own model, likewise
    assert (status, data["error"]["code"]) == (404, "unknown_specialist"), data


async def test_a_provider_on_a_chosen_server_and_a_server_by_name(api, scripted, bed):
    scripted["code"].script(
        {"tool_calls": [call("run_shell", command="uname -n")]}, {"content": "it is code"}
    )
    status, data = await ask(api, "ollama", "which host?", server="code")
    assert status == 200, data
    assert data["server"] == "code" and data["steps"][0]["output"].startswith("exit code 0")
    scripted["db"].script({"content": "db here"})
    status, data = await ask(api, "db", "who are you?")
    assert status == 200 and data["specialist"] == "db" and data["answer"] == "db here"


async def test_dry_run_plans_without_running(api, scripted, bed):
    home = bed_home(bed)
    scripted["code"].script(
        {
            "tool_calls": [
                call("write_file", path=f"{home}/planned.txt", content="x"),
                call("run_shell", command=f"touch {home}/touched"),
            ]
        },
        {"content": "Plan: write planned.txt, then touch."},
    )
    status, data = await ask(api, "code-llm", "make the files", dry_run=True)
    assert status == 200, data
    assert data["dry_run"] and [s["status"] for s in data["steps"]] == ["planned", "planned"]
    assert not (bed.hosts["code"].home / "planned.txt").exists()
    assert not (bed.hosts["code"].home / "touched").exists()
    assert "DRY RUN" in scripted["code"].requests()[0]["body"]["messages"][0]["content"]


async def test_max_steps_stops_the_loop_with_the_transcript(api, scripted):
    loop = {"tool_calls": [call("run_shell", command="true")]}
    scripted["code"].script(loop, loop, loop)
    status, data = await ask(api, "code-llm", "loop", max_steps=2)
    assert status == 200, data
    assert data["status"] == "failed" and data["stop_reason"] == "max_steps" and len(data["steps"]) == 2


async def test_models_and_model_health_through_the_tunnels(api, scripted):
    scripted["db"].script(models=["test-model", "sqlcoder:7b"])
    status, data = await api.get("/llm/models?server=db", TOKENS["alice"])
    assert status == 200, data
    assert data["kind"] == "ollama" and [m["name"] for m in data["models"]] == [
        "test-model:latest",
        "sqlcoder:7b",
    ]
    scripted["k8s-master"].script(models=["devops-specialist"])
    status, data = await api.get("/llm/models?server=k8s-master", TOKENS["alice"])
    assert status == 200 and [m["name"] for m in data["models"]] == ["devops-specialist"], data
    status, data = await api.get("/server/list?check=1", TOKENS["alice"])
    health = {s["name"]: s["model_health"] for s in data["servers"]}
    assert health["db"]["ok"] and health["k8s-master"]["models"] == 1


async def test_one_provider_on_two_servers_keeps_a_client_for_each(api, scripted):
    """db and code both use the bare ``ollama`` provider: asked at once, neither closes the other's
    client (they were cached under the provider's name alone)."""
    scripted["db"].script(models=["test-model"])
    scripted["code"].script(models=["test-model"])
    llm = api.api.llm
    db, code = (llm.resolve("ollama", current=None, server=s, model=None) for s in ("db", "code"))
    first = await llm.client(db)
    assert await llm.client(code) is not first and await llm.client(db) is first
    answers = await asyncio.gather(
        *(api.get(f"/llm/models?server={s}", TOKENS["alice"]) for _ in range(5) for s in ("db", "code"))
    )
    assert [status for status, _ in answers] == [200] * 10, answers


# -- a real model --------------------------------------------------------------------------------


async def test_a_real_model_through_the_tunnel_answers_streams_and_is_audited(api, llama_server, settings):
    """llama_cpp.server with Gemma 3 270M on code's 127.0.0.1:1234, as the lmstudio provider."""
    body = {"provider": "lmstudio", "server": "code", "model": llama_server.model, "max_steps": 1}
    status, data = await ask(api, instructions="Say hello in one short sentence.", wait_seconds=40, **body)
    for _ in range(240):  # a CPU model on a busy 2-core machine may outlast the wait: follow the job
        if status != 202:
            break
        await asyncio.sleep(0.5)
        _, job = await api.get(f"/jobs/{data['job_id']}", TOKENS["alice"])
        if job.get("status") not in ("running", "queued"):
            status, data = (200, job["result"]) if job.get("status") == "succeeded" else (500, job)
    assert status == 200, data
    assert data["provider"] == "lmstudio" and data["model"] == llama_server.model
    assert data["answer"] and data["answer"].strip()  # the model's own words (a base model: not graded)
    assert data["usage"]["prompt_tokens"] > 0 and data["usage"]["completion_tokens"] > 0
    [model_call] = audit_events(settings, "model_call")
    assert model_call["host"] == "code" and model_call["provider"] == "lmstudio"
    assert model_call["completion_tokens"] == data["usage"]["completion_tokens"]

    events = await stream(api, {"instructions": "Count from one to five.", "stream": True, **body})
    deltas = [d["text"] for kind, d in events if kind == "delta"]
    final = events[-1][1]
    assert events[-1][0] == "final" and len(deltas) > 1
    assert "".join(deltas).strip() == (final["answer"] or "").strip()


# -- the command line ----------------------------------------------------------------------------


def gtp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "gtp-remote"
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def cli_env(bed: Bed, settings: Settings, tmp_path: Path) -> dict[str, str]:
    inventory = write_inventory(bed, tmp_path / "hosts")
    return {
        **os.environ,
        "GTP_INVENTORY": str(inventory),
        "GTP_TEMPLATES": str(ROOT / "templates"),
        "GTP_STATE_DIR": str(settings.state_dir),
    }


async def test_cli_ask_shows_the_steps_and_prints_the_answer(scripted, app_db, cli_env, settings):
    scripted["db"].script(
        {"tool_calls": [call("sql", query="SELECT email FROM users WHERE notify = 1 ORDER BY id")]},
        {"content": "ann@example.com and di@example.com"},
    )
    run = await asyncio.to_thread(gtp, "ask", "database-llm", "Who has notifications on?", env=cli_env)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "ann@example.com and di@example.com\n"
    assert "1. sql" in run.stderr and "ok exit 0" in run.stderr
    assert "database-llm on db (ollama:test-model): answer, 1 steps" in run.stderr
    [event] = audit_events(settings, "tool_call")
    assert event["token"].startswith("cli:") and event["tool"] == "sql"


async def test_cli_ask_approves_with_yes_and_refuses_without_a_terminal(scripted, kubectl, cli_env):
    delete = {"tool_calls": [call("kubectl", verb="delete", args=["namespace", "old"])]}
    scripted["k8s-master"].script(delete, {"content": "deleted"})
    run = await asyncio.to_thread(gtp, "ask", "devops-llm", "delete old", "--yes", env=cli_env)
    assert run.returncode == 0, run.stderr
    assert "needs approval" in run.stderr and kubectl_calls(kubectl) == ["delete namespace old"]
    scripted["k8s-master"].script(delete, {"content": "not deleted"})
    run = await asyncio.to_thread(gtp, "ask", "devops-llm", "delete old", "--json", env=cli_env)
    result = json.loads(run.stdout)
    assert result["steps"][0]["status"] == "rejected" and kubectl_calls(kubectl) == ["delete namespace old"]
    run = await asyncio.to_thread(gtp, "ask", "nobody", "hi", env=cli_env)
    assert run.returncode == 2 and "error: no specialist" in run.stderr and "Traceback" not in run.stderr


async def test_the_host_probe_reads_what_uname_and_pwd_would_say(bed_gateway):
    """The prompt's host line comes from /proc through shell builtins: the same text as
    ``uname -n; uname -sr; pwd``, on a bed host and locally."""
    from gtp_remote.config import Server
    from gtp_remote.executors.local import LocalExecutor
    from gtp_remote.llm.service import HOST_PROBE

    local = LocalExecutor(Server.model_validate({"name": "here", "protocol": "local"}))
    executors = [bed_gateway.executor("db"), local]
    for executor in executors:
        probe = await executor.run(HOST_PROBE)
        plain = await executor.run("uname -n; uname -sr; pwd")
        assert probe.ok and probe.stdout == plain.stdout and len(probe.stdout.splitlines()) == 3
    await local.close()
