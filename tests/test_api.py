"""The HTTP API over real HTTP, acting on real sshd hosts of the bed."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from gtp_remote.api.routes import create_app
from gtp_remote.api.state import Api
from gtp_remote.config import Server, load_inventory
from gtp_remote.gateway import Gateway
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, Token, digest
from tests.conftest import ROOT, Bed, start_serve

pytestmark = pytest.mark.bed

TOKENS = {"alice": "alice-secret-token", "reader": "reader-secret-token", "bob": "bob-secret-token"}


def make_api(bed: Bed, settings: Settings, tmp_path: Path) -> Api:
    inventory = load_inventory(bed.inventory)
    local = Server.model_validate({"name": "local", "protocol": "local", "root": str(tmp_path / "gw")})
    (tmp_path / "gw").mkdir(exist_ok=True)
    inventory.servers["local"] = local
    inventory.sources["local"] = "test"
    auth = Authenticator(
        [
            Token("alice", digest(TOKENS["alice"])),
            Token("reader", digest(TOKENS["reader"]), operations=frozenset({"files.read"})),
            Token(
                "bob", digest(TOKENS["bob"]), servers=("db",), operations=frozenset({"exec", "files.read"})
            ),
        ]
    )
    return Api(Gateway(inventory, replace(settings, default_server="db", rate=1000, burst=1000)), auth)


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str):
        self.session = session
        self.base = base

    async def call(self, method: str, path: str, token: str | None = "alice", **kw) -> tuple[int, dict, dict]:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {TOKENS.get(token, token)}"
        async with self.session.request(method, self.base + path, headers=headers, **kw) as r:
            text = await r.text()
            data = json.loads(text) if text and r.content_type == "application/json" else {"text": text}
            return r.status, data, CIMultiDict(r.headers)

    async def post(self, path: str, body: dict, token: str | None = "alice") -> tuple[int, dict]:
        status, data, _ = await self.call("POST", path, token, json=body)
        return status, data

    async def get(self, path: str, token: str | None = "alice") -> tuple[int, dict]:
        status, data, _ = await self.call("GET", path, token)
        return status, data


@pytest.fixture
async def client(bed: Bed, settings: Settings, tmp_path: Path):
    api = make_api(bed, settings, tmp_path)
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Client(session, str(server.make_url("")).rstrip("/"))
    await server.close()


async def test_execute_shell_on_the_default_and_a_named_server(client: Client):
    status, data = await client.post("/command/execute-shell", {"command": "hostname; echo e >&2; exit 3"})
    assert status == 200
    assert (data["server"], data["stdout"], data["stderr"], data["exit_code"]) == ("db", "db\n", "e\n", 3)
    assert data["job_id"] and data["status"] == "failed"
    status, data = await client.post("/command/execute-shell", {"command": "hostname", "server": "code"})
    assert (status, data["stdout"], data["status"]) == (200, "code\n", "succeeded")


async def test_execute_shell_on_a_target(client: Client):
    status, data = await client.post("/command/execute-shell", {"command": "hostname", "target": "group:bed"})
    assert status == 200
    assert [r["stdout"] for r in data["results"]] == ["db\n", "code\n", "k8s-master\n"]
    assert data["summary"]["ok"] == 3
    body = {"command": 'echo "$GREETING from $(hostname)"', "target": "db,code", "env": {"GREETING": "hi"}}
    status, data = await client.post("/command/execute-shell", body)
    assert [r["stdout"] for r in data["results"]] == ["hi from db\n", "hi from code\n"]


async def test_execute_code_runs_on_the_server_and_leaves_nothing(client: Client, bed: Bed):
    before = sorted(p.name for p in bed.hosts["code"].home.iterdir())
    code = "import socket, sys\nprint(socket.gethostname())\nsys.exit(4)\n"
    status, data = await client.post(
        "/command/execute-code", {"code": code, "language": "python", "server": "code"}
    )
    assert (status, data["stdout"], data["exit_code"]) == (200, "code\n", 4)
    status, data = await client.post(
        "/command/execute-code", {"code": "echo $0; uname -n", "language": "sh", "server": "code"}
    )
    assert data["stdout"].endswith("code\n")
    assert sorted(p.name for p in bed.hosts["code"].home.iterdir()) == before


async def test_file_operations_change_the_hosts_files_not_the_gateways(client: Client, bed: Bed):
    name = f"api-{os.getpid()}.md"
    status, data = await client.post(
        "/file/write", {"path": name, "content": "line one\nline two\n", "server": "code"}
    )
    assert status == 200 and data["stat"]["size"] == 18
    assert (bed.hosts["code"].home / name).read_text() == "line one\nline two\n"
    assert not Path("/home/gtptest", name).exists() and not (bed.hosts["db"].home / name).exists()
    status, data = await client.post("/file/read", {"path": name, "server": "code", "offset": 5, "limit": 3})
    assert (status, data["content"], data["size"], data["eof"]) == (200, "one", 18, False)
    status, data = await client.post("/file/list", {"path": ".", "server": "code"})
    assert name in [e["name"] for e in data["entries"]]
    diff = f"--- a/{name}\n+++ b/{name}\n@@ -1,2 +1,2 @@\n line one\n-line two\n+line 2\n"
    status, data = await client.post(
        "/file/patch", {"path": name, "diff": diff, "server": "code", "dry_run": True}
    )
    assert status == 200 and data["hunks"] == 1
    assert (bed.hosts["code"].home / name).read_text() == "line one\nline two\n"  # dry run changed nothing
    status, data = await client.post("/file/patch", {"path": name, "diff": diff, "server": "code"})
    assert status == 200
    assert (bed.hosts["code"].home / name).read_text() == "line one\nline 2\n"
    status, data = await client.post("/file/patch", {"path": name, "diff": diff, "server": "code"})
    assert status == 400 and data["error"]["code"] == "patch_failed" and "hunk 1" in data["error"]["message"]
    (bed.hosts["code"].home / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    latin = "--- a/latin1.txt\n+++ b/latin1.txt\n@@ -1 +1 @@\n-café\n+cafe\n"
    status, data = await client.post("/file/patch", {"path": "latin1.txt", "diff": latin, "server": "code"})
    assert (status, data["error"]["code"]) == (400, "invalid_request")
    assert "latin1.txt on code is not UTF-8 text (byte 3)" in data["error"]["message"]
    with open(bed.hosts["code"].home / "huge.log", "wb") as f:
        f.truncate(11 * 1024 * 1024)  # sparse: no disk used
    status, data = await client.post("/file/patch", {"path": "huge.log", "diff": latin, "server": "code"})
    assert (status, data["error"]["code"]) == (413, "payload_too_large") and "11534336 bytes" in str(data)
    for left in ("latin1.txt", "huge.log"):
        (bed.hosts["code"].home / left).unlink()
    status, data = await client.post(
        "/file/write", {"path": name, "content": "x", "mode": "create", "server": "code"}
    )
    assert (status, data["error"]["code"]) == (409, "file_exists")
    status, data = await client.post("/file/read", {"path": "absent.txt", "server": "code"})
    assert (status, data["error"]["code"]) == (404, "file_not_found")


async def test_local_file_operations_are_confined(client: Client, tmp_path: Path):
    status, data = await client.post("/file/write", {"path": "note.txt", "content": "hi", "server": "local"})
    assert status == 200 and (tmp_path / "gw" / "note.txt").read_text() == "hi"
    status, data = await client.post("/file/read", {"path": "../../etc/passwd", "server": "local"})
    assert (status, data["error"]["code"]) == (403, "path_not_allowed")


async def test_current_server_is_per_token_and_scopes_hold(client: Client):
    assert (await client.post("/server/set", {"server": "k8s-master"}))[0] == 200
    status, data = await client.post("/command/execute-shell", {"command": "hostname"})
    assert data["stdout"] == "k8s-master\n"
    status, data = await client.post("/command/execute-shell", {"command": "hostname"}, token="bob")
    assert data["stdout"] == "db\n"  # alice's choice did not move bob
    status, listing = await client.get("/server/list", token="bob")
    assert [s["name"] for s in listing["servers"]] == ["db"] and listing["current"] == "db"
    # A server outside the token's scope is as unknown as one that does not exist: no oracle.
    status, data = await client.post("/server/set", {"server": "code"}, token="bob")
    missing_status, missing = await client.post("/server/set", {"server": "nope"}, token="bob")
    assert (status, missing_status) == (404, 404)
    assert data["error"]["message"] == "unknown server 'code'" and data["error"]["hint"] == "your servers: db"
    assert missing["error"]["hint"] == "your servers: db"
    status, data = await client.post("/command/execute-shell", {"command": "id"}, token="reader")
    assert status == 403 and data["error"]["message"] == "token 'reader' lacks the 'exec' permission"
    status, data = await client.post("/file/write", {"path": "x", "content": "y"}, token="bob")
    assert status == 403 and "files.write" in data["error"]["message"]
    status, data = await client.post("/file/read", {"path": "/etc/hostname"}, token="reader")
    assert status == 200


async def test_auth_errors(client: Client):
    status, data, headers = await client.call("GET", "/server/list", token=None)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert data["error"]["code"] == "unauthorized"
    status, data, _ = await client.call("GET", "/server/list", token="wrong")
    assert status == 401 and data["error"]["message"] == "invalid bearer token"
    status, data, _ = await client.call("GET", "/health", token=None)
    assert status == 200 and data["status"] == "ok"


async def test_malformed_requests_get_clear_400s(client: Client):
    status, data, headers = await client.call("POST", "/command/execute-shell", data=b"{not json")
    assert status == 400 and "not valid JSON" in data["error"]["message"] and headers["X-Request-Id"]
    status, data = await client.post("/command/execute-shell", {"command": "x", "bogus": 1})
    assert status == 400 and "bogus: Extra inputs are not permitted" in data["error"]["message"]
    status, data = await client.post("/command/execute-shell", {"command": 5, "wait_seconds": 99})
    assert (
        status == 400 and "command" in data["error"]["message"] and "wait_seconds" in data["error"]["message"]
    )
    status, data = await client.post("/command/execute-shell", {"command": "x", "server": "nope"})
    assert status == 404 and data["error"]["code"] == "unknown_server"
    status, data, _ = await client.call("POST", "/file/write", data=b"x" * (2 * 1024 * 1024))
    assert status == 413
    status, data = await client.get("/jobs/doesnotexist")
    assert status == 404 and data["error"]["code"] == "not_found"
    status, data = await client.get("/no/such/path")
    assert status == 404


async def test_unreachable_server_is_a_502_naming_it(bed: Bed, settings: Settings, tmp_path: Path):
    api = make_api(bed, settings, tmp_path)
    api.gateway.inventory.servers["gone"] = bed.server("db").model_copy(update={"name": "gone", "port": 2222})
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            c = Client(session, str(server.make_url("")).rstrip("/"))
            status, data = await c.post("/command/execute-shell", {"command": "true", "server": "gone"})
    finally:
        await server.close()
    assert status == 502
    assert data["error"]["code"] == "host_unreachable" and data["error"]["server"] == "gone"
    assert data["error"]["job_id"]


async def test_five_megabytes_of_output_stay_under_the_budget(client: Client):
    expected_bytes = len("\n".join(map(str, range(1, 750001)))) + 1 + len("THE-END\n")
    assert expected_bytes > 5_000_000
    async with client.session.post(
        client.base + "/command/execute-shell",
        json={"command": "seq 1 750000; echo THE-END"},
        headers={"Authorization": f"Bearer {TOKENS['alice']}"},
    ) as r:
        status, raw = r.status, await r.text()
    assert status == 200 and len(raw) < 100_000
    data = json.loads(raw)
    assert data["truncated"] and data["stdout_bytes"] == expected_bytes
    assert data["stdout"].startswith("1\n2\n3\n") and data["stdout"].endswith("749999\n750000\nTHE-END\n")
    assert "truncated" in data["stdout"]


async def test_a_60_second_command_answers_202_then_completes_as_a_job(client: Client):
    started = time.monotonic()
    status, data = await client.post(
        "/command/execute-shell", {"command": "echo started; sleep 60; echo finished"}
    )
    assert status == 202 and time.monotonic() - started < 40
    assert data["status"] == "running" and "started" in data["output_tail"]
    job_id = data["job_id"]
    status, listing = await client.get("/jobs")
    assert job_id in [j["job_id"] for j in listing["jobs"]]
    while True:
        status, job = await client.get(f"/jobs/{job_id}")
        if job["status"] != "running":
            break
        await asyncio.sleep(1)
    assert job["status"] == "succeeded" and job["result"]["stdout"] == "started\nfinished\n"
    assert (await client.get(f"/jobs/{job_id}", token="bob"))[0] == 404  # bob cannot see alice's job


async def test_cancel_kills_the_remote_process(client: Client, bed: Bed):
    marker = f"sleep 4{os.getpid() % 1000}"
    status, data = await client.post("/command/execute-shell", {"command": marker, "wait_seconds": 0.5})
    assert status == 202
    assert marker in bed.hosts["db"].sh("ps -eo args").stdout
    status, job = await client.post(f"/jobs/{data['job_id']}/cancel", {})
    assert status == 200 and job["status"] == "cancelled"
    await asyncio.sleep(0.3)
    assert marker not in bed.hosts["db"].sh("ps -eo args").stdout
    status, _ = await client.post(f"/jobs/{data['job_id']}/cancel", {})
    assert status == 409


async def test_jobs_survive_a_restart(bed: Bed, settings: Settings, tmp_path: Path):
    api = make_api(bed, settings, tmp_path)
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        c = Client(session, str(server.make_url("")).rstrip("/"))
        _, done = await c.post("/command/execute-shell", {"command": "echo kept"})
        _, running = await c.post("/command/execute-shell", {"command": "sleep 30", "wait_seconds": 0.2})
    api.store.close()  # the process "dies": no graceful shutdown, the job row still says running
    api.state_lock.release()  # as the kernel drops a dead process's lock
    for task in [j.task for j in api.jobs._live.values()]:
        task.cancel()
    await server.close()
    second = make_api(bed, settings, tmp_path)
    server = TestServer(create_app(second), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            c = Client(session, str(server.make_url("")).rstrip("/"))
            _, job = await c.get(f"/jobs/{done['job_id']}")
            assert job["status"] == "succeeded" and job["result"]["stdout"] == "kept\n"
            _, job = await c.get(f"/jobs/{running['job_id']}")
            assert job["status"] == "interrupted"
    finally:
        await server.close()


async def test_audit_log_records_requests_and_commands_and_verifies(client: Client, settings: Settings):
    await client.post("/command/execute-shell", {"command": "echo password=hunter2 Bearer abcdefghijkl"})
    await client.post("/file/read", {"path": "/etc/hostname"})
    assert (await client.post("/file/read", {"path": "../../etc/shadow", "server": "local"}))[0] == 403
    assert (await client.post("/file/list", {"path": "no-such-dir", "server": "local"}))[0] == 404
    log = settings.state_dir / "audit.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert "request" in kinds and "command" in kinds and "file" in kinds
    command = next(e for e in events if e["kind"] == "command")
    assert command["token"] == "alice" and command["server"] == "db" and command["exit_code"] == 0
    refused = [(e["operation"], e["path"], e["outcome"]) for e in events if e["kind"] == "file"][1:]
    assert refused == [
        ("read", "../../etc/shadow", "path_not_allowed"),
        ("list", "no-such-dir", "file_not_found"),
    ]
    assert "hunter2" not in log.read_text() and "abcdefghijkl" not in log.read_text()
    assert TOKENS["alice"] not in log.read_text()
    cli = [sys.executable, "-m", "gtp_remote", "audit", "verify", str(log)]
    assert subprocess.run(cli, capture_output=True, text=True).returncode == 0
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:1] + lines[2:]))
    failed = subprocess.run(cli, capture_output=True, text=True)
    assert failed.returncode == 1 and "line 2" in failed.stderr


async def test_responses_stay_under_100k_characters_of_json_even_for_nul_bytes(
    client: Client, tmp_path: Path
):
    """A NUL takes 6 characters in JSON: outputs and file reads are measured as sent."""
    url = client.base

    async def raw(path: str, body: dict) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {TOKENS['alice']}"}
        async with client.session.post(url + path, json=body, headers=headers) as r:
            text = await r.text()
            assert len(text) < 100_000, (path, len(text))
            return r.status, json.loads(text)

    command = "head -c 300000 /dev/zero; printf END; head -c 90000 /dev/zero >&2"
    status, data = await raw("/command/execute-shell", {"command": command, "server": "local"})
    counts = (data["truncated"], data["stdout_bytes"], data["stderr_bytes"])
    assert (status, *counts) == (200, True, 300003, 90000)
    assert data["stdout"].startswith("\0") and data["stdout"].endswith("\0END")
    blob = bytes(range(256)) * 200 + "é".encode() * 5000  # 61,200 bytes, mostly escaped
    (tmp_path / "gw" / "blob.bin").write_bytes(blob)
    offset, reads = 0, []
    while True:  # each read says where the next starts: together they cover the file exactly
        status, data = await raw("/file/read", {"path": "blob.bin", "server": "local", "offset": offset})
        piece = blob[offset : offset + data["bytes_read"]]
        assert status == 200 and piece and data["content"] == piece.decode("utf-8", "replace")
        reads.append(data)
        offset += data["bytes_read"]
        if data["eof"]:
            break
    assert offset == len(blob) and len(reads) > 1 and reads[0]["binary"]
    assert not reads[-1]["binary"] and reads[-1]["content"].endswith("é")  # cut between characters


async def test_state_is_private_and_keeps_env_names_not_values(client: Client, settings: Settings):
    """The job database and audit log are their owner's alone; an env value is never stored; the
    code execute-code ran is in the audit log."""
    from gtp_remote.settings import private_dir

    older = settings.state_dir.parent / "older-state"
    older.mkdir(mode=0o755)
    private_dir(older)  # a folder an older version made is closed too
    assert stat.S_IMODE(older.stat().st_mode) == 0o700
    status, data = await client.post(
        "/command/execute-shell", {"command": 'test -n "$PGPASSWORD"', "env": {"PGPASSWORD": "s3cret-Vq7x"}}
    )
    assert (status, data["exit_code"]) == (200, 0)
    status, data = await client.post(
        "/command/execute-code", {"code": "print('ran' + 'here')", "language": "python", "server": "code"}
    )
    assert (status, data["stdout"]) == (200, "ranhere\n")
    state = settings.state_dir
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    stored = sorted(p for p in state.iterdir() if p.name.startswith(("jobs.sqlite3", "audit")))
    assert {p.name for p in stored} >= {"jobs.sqlite3", "jobs.sqlite3-wal", "audit.jsonl"}
    for path in stored:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert b"s3cret-Vq7x" not in path.read_bytes(), path
    events = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    code = next(e for e in events if e.get("operation") == "execute-code")
    assert code["command"] == "python" and code["code"] == "print('ran' + 'here')"


async def test_a_waited_for_command_and_its_request_share_one_fsync(
    bed: Bed, settings: Settings, tmp_path: Path
):
    """Both events are on disk when the answer arrives, written together; a job nobody waits
    for writes its own."""
    api = make_api(bed, settings, tmp_path)
    batches: list[list[str]] = []
    append_many = api.audit.append_many

    def spy(events: list) -> list:
        batches.append([e["kind"] for e in events])
        return append_many(events)

    api.audit.append_many = spy  # type: ignore[method-assign]
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    log = settings.state_dir / "audit.jsonl"
    try:
        async with aiohttp.ClientSession() as session:
            c = Client(session, str(server.make_url("")).rstrip("/"))
            status, data = await c.post("/command/execute-shell", {"command": "echo hi"})
            assert status == 200 and data["stdout"] == "hi\n"
            assert batches == [["command", "request"]]
            kinds = [json.loads(line)["kind"] for line in log.read_text().splitlines()]
            assert kinds == ["command", "request"]
            batches.clear()
            status, data = await c.post("/command/execute-shell", {"command": "sleep 0.5", "wait_seconds": 0})
            assert status == 202
            for _ in range(100):
                await asyncio.sleep(0.05)
                if len(batches) == 2:
                    break
            assert batches == [["request"], ["command"]]
    finally:
        await server.close()


async def test_cors_and_request_id(client: Client):
    status, _, headers = await client.call(
        "OPTIONS",
        "/command/execute-shell",
        token=None,
        headers={"Origin": "https://chatgpt.com", "Access-Control-Request-Method": "POST"},
    )
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://chatgpt.com"
    _, _, headers = await client.call(
        "GET", "/health", token=None, headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in headers
    _, _, headers = await client.call("GET", "/health", token=None, headers={"X-Request-Id": "abc-123"})
    assert headers["X-Request-Id"] == "abc-123"


async def test_rate_limit_answers_429_with_retry_after(bed: Bed, settings: Settings, tmp_path: Path):
    api = make_api(bed, settings, tmp_path)
    api.limiter.rate, api.limiter.burst = 1, 2
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            c = Client(session, str(server.make_url("")).rstrip("/"))
            statuses = [(await c.call("GET", "/server/list"))[0:3:2] for _ in range(3)]
    finally:
        await server.close()
    assert [s for s, _ in statuses] == [200, 200, 429]
    assert int(statuses[2][1]["Retry-After"]) >= 1


async def test_wrong_tokens_are_audited_until_an_address_floods_then_refused(
    client: Client, settings: Settings
):
    """Nobody without a token can make the gateway fsync a line per request without limit."""
    statuses = [(await client.get("/server/list", token=f"guess-{i}"))[0] for i in range(30)]
    assert statuses == [401] * 20 + [429] * 10
    assert (await client.get("/server/list"))[0] == 200  # a valid token from there still works
    log = settings.state_dir / "audit.jsonl"
    for _ in range(100):  # the counts are written within a second or so, one line per address
        await asyncio.sleep(0.1)
        events = [json.loads(line) for line in log.read_text().splitlines()]
        seen = [(e["status"], e.get("refused_count")) for e in events if e["kind"] == "request"]
        if len(seen) > 21:
            break
    # Each refused request is in the log: the flood's as one count.
    assert seen == [(401, None)] * 20 + [(200, None), (429, 10)], seen


def test_graceful_shutdown_kills_running_jobs_and_marks_them(bed: Bed, tmp_path: Path):
    import signal
    import sqlite3

    state = tmp_path / "state"
    env = {**os.environ, "GTP_API_TOKEN": "shutdown-token-1", "GTP_STATE_DIR": str(state)}
    server, port = start_serve(["-i", str(bed.inventory)], env)
    try:
        marker = f"sleep 5{os.getpid() % 1000}"
        body = json.dumps({"command": marker, "server": "code", "wait_seconds": 0.5}).encode()
        run = subprocess.run(
            [
                "curl",
                "-s",
                "-H",
                "Authorization: Bearer shutdown-token-1",
                "-d",
                body,
                f"http://127.0.0.1:{port}/command/execute-shell",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        job_id = json.loads(run.stdout)["job_id"]
        assert marker in bed.hosts["code"].sh("ps -eo args").stdout
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert marker not in bed.hosts["code"].sh("ps -eo args").stdout
    db = sqlite3.connect(state / "jobs.sqlite3")
    (status,) = db.execute("select status from jobs where id=?", (job_id,)).fetchone()
    assert status == "interrupted"


def test_a_second_server_on_the_same_state_folder_refuses_to_start(tmp_path: Path):
    """Two gateways on one state folder corrupted each other's jobs; the second one now stops,
    naming the first, until the first is gone (the kernel drops a dead process's lock)."""
    env = {**os.environ, "GTP_API_TOKEN": "lock-token-12345", "GTP_STATE_DIR": str(tmp_path / "state")}
    env.pop("GTP_TOKENS_FILE", None)
    first, _ = start_serve(["-i", str(ROOT / "hosts")], env)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "gtp_remote", "-i", str(ROOT / "hosts"), "serve", "--port", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert f"another gtp-remote (PID {first.pid}) serves from {tmp_path / 'state'}" in second.stderr
        assert "GTP_STATE_DIR=" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.kill()
        first.wait()
    third, port = start_serve(["-i", str(ROOT / "hosts")], env)
    try:
        with socket.create_connection(("127.0.0.1", port), 5):
            pass  # listening: the lock of the killed one was dropped with it
    finally:
        third.terminate()
        third.wait(timeout=30)


async def test_deep_json_and_a_client_leaving_mid_body_are_not_errors(client: Client, settings: Settings):
    deep = b'{"command": "true", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    status, data, _ = await client.call("POST", "/command/execute-shell", data=deep)
    assert status == 400 and "nests deeper than 400 levels" in data["error"]["message"]
    host, port = client.base.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /command/execute-shell HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-secret-token\r\n"
        b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"command": "tr'
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    for _ in range(50):  # the request's own audit line says 499; nothing ran
        events = [json.loads(line) for line in (settings.state_dir / "audit.jsonl").read_text().splitlines()]
        if any(e.get("status") == 499 for e in events):
            break
        await asyncio.sleep(0.1)
    assert [e["status"] for e in events if e["kind"] == "request"][-1] == 499
    assert not any(e["kind"] == "command" and e.get("command") == "tr" for e in events)


@pytest.mark.parametrize(("files", "held"), [(1024, 1020), (256, 300)])
def test_a_good_client_is_served_while_half_open_connections_fill_the_files(
    tmp_path: Path, files: int, held: int
):
    """Half-sent requests (headers cut off, bodies cut off, nothing sent) held open against a
    server limited to ``files`` open files, more than it could hold: the connection guard closes
    the stalled ones to make room, and a real request is answered at once. Nothing is an error
    in the server's log: neither accepting (once a traceback from asyncio's accept loop, when
    the connections it had accepted and not yet shown to the guard ran the process out of
    files; see ``api.server``) nor the audit log's writes, which need files too."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))  # for the 1000 here
    env = {**os.environ, "GTP_API_TOKEN": "good-token-123456", "GTP_STATE_DIR": str(tmp_path / "state")}
    env.pop("GTP_TOKENS_FILE", None)
    argv = [
        "prlimit",
        f"--nofile={files}:{files}",
        sys.executable,
        "-m",
        "gtp_remote",
        "-i",
        str(ROOT / "hosts"),
    ]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv += ["serve", "--port", str(port)]
    log = tmp_path / "serve.log"  # a file, not a pipe: a server blocked on a full pipe stalls
    with log.open("w") as out:
        server = subprocess.Popen(argv, env=env, stderr=out)
    stalled: list[socket.socket] = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        halves = [
            b"POST /command/execute-shell HTTP/1.1\r\nHost: x\r\nAuthor",
            b'POST /command/execute-shell HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"comm',
            b"",
        ]
        for i in range(held):
            conn = socket.create_connection(("127.0.0.1", port), 5)
            conn.sendall(halves[i % 3])
            stalled.append(conn)
        started = time.monotonic()
        run = subprocess.run(
            ["curl", "-s", "-m", "10", "-H", "Authorization: Bearer good-token-123456",
             "-d", '{"command": "echo served", "server": "local"}',
             f"http://127.0.0.1:{port}/command/execute-shell"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert json.loads(run.stdout)["stdout"] == "served\n", run.stdout
        assert time.monotonic() - started < 5
    finally:
        for conn in stalled:
            conn.close()
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]
    assert not [line for line in text.splitlines() if " ERROR " in line], text[-4000:]
