"""Jobs from the terminal and over REST, against a real `gtp-remote serve` on the bed: the
listing's filters (status, server, kind), an approver seeing what awaits it, and `gtp-remote
jobs | job | approve | reject` deciding with a reason that lands in the job and the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from tests.conftest import ROOT, Bed, start_serve
from tests.test_mcp import SANDBOX, SECRETS, Setup, on_host, setup  # noqa: F401 - the set-up fixture

pytestmark = pytest.mark.bed


def rest(port: int, method: str, path: str, token: str, body: Any = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {SECRETS[token]}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def cli(port: int, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GTP_TOKEN": SECRETS[token], "GTP_URL": f"http://127.0.0.1:{port}"}
    return subprocess.run(
        [sys.executable, "-m", "gtp_remote", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def wait_for(port: int, job_id: str, status: str) -> dict:
    for _ in range(100):
        _, view = rest(port, "GET", f"/jobs/{job_id}", "boss")
        if view["status"] == status:
            return view
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never became {status}: {view}")


def test_jobs_are_filtered_and_decided_from_the_terminal(setup: Setup, bed: Bed):
    server, port = start_serve(["-i", str(setup.inventory)], {**os.environ, **setup.env})
    try:
        asks = {}
        for name in ("yes", "no"):
            status, data = rest(
                port,
                "POST",
                "/command/execute-shell",
                "agent",
                {"command": f"touch {SANDBOX}/{name}", "server": "db", "wait_seconds": 0},
            )
            assert status == 202 and data["status"] == "awaiting_approval", data
            asks[name] = data["job_id"]
        status, done = rest(
            port, "POST", "/command/execute-shell", "agent", {"command": "hostname", "server": "code"}
        )
        assert status == 200

        # the agent's own listing, filtered
        _, mine = rest(port, "GET", "/jobs?status=awaiting_approval", "agent")
        assert {j["job_id"] for j in mine["jobs"]} == set(asks.values())
        _, on_code = rest(port, "GET", "/jobs?server=code", "agent")
        assert [j["job_id"] for j in on_code["jobs"]] == [done["job_id"]]
        _, shells = rest(port, "GET", "/jobs?kind=execute-shell&status=succeeded", "agent")
        assert [j["job_id"] for j in shells["jobs"]] == [done["job_id"]]
        status, bad = rest(port, "GET", "/jobs?status=sleeping", "agent")
        assert status == 400 and "status" in bad["error"]["message"]
        status, hidden = rest(port, "GET", "/jobs?server=code", "dbonly")
        assert status == 404 and bad["error"]["code"] == "invalid_request"  # code is not dbonly's
        assert "code" not in hidden["error"].get("hint", "")

        # an approver sees what awaits it, from the terminal
        listed = cli(port, "ops", "jobs", "--status", "awaiting_approval", "--json")
        assert listed.returncode == 0, listed.stderr
        assert {j["job_id"] for j in json.loads(listed.stdout)} == set(asks.values())
        table = cli(port, "ops", "jobs", "--status", "awaiting_approval")
        assert asks["yes"] in table.stdout and "touch mcp/yes" in table.stdout

        approved = cli(port, "ops", "approve", asks["yes"], "--reason", "planned change")
        assert approved.returncode == 0, approved.stderr
        assert "approved on db: touch mcp/yes" in approved.stdout
        view = wait_for(port, asks["yes"], "succeeded")
        assert view["approval"] == {**view["approval"], "by": "ops", "reason": "planned change"}
        assert on_host(bed, "db", "yes").exists()

        rejected = cli(port, "ops", "reject", asks["no"], "--reason", "not today")
        assert rejected.returncode == 0, rejected.stderr
        wait_for(port, asks["no"], "rejected")
        assert not on_host(bed, "db", "no").exists()

        shown = cli(port, "agent", "job", asks["no"], "--json")
        assert json.loads(shown.stdout)["approval"]["reason"] == "not today"
        again = cli(port, "ops", "approve", asks["no"])
        assert again.returncode != 0 and "not awaiting approval" in again.stderr
        own = cli(port, "agent", "approve", asks["no"])
        assert own.returncode != 0  # the agent may not approve (no permission, and it asked)
    finally:
        server.terminate()
        server.wait(10)
    audit = [json.loads(line) for line in (setup.state / "audit.jsonl").read_text().splitlines()]
    decisions = [e for e in audit if e.get("kind") == "approval"]
    assert {(e["decision"], e["reason"]) for e in decisions} == {
        ("approved", "planned change"),
        ("rejected", "not today"),
    }


def test_the_jobs_commands_need_a_server_and_say_so(setup: Setup):
    gone = cli(1, "ops", "jobs")
    assert gone.returncode == 255 and "cannot reach gtp-remote at http://127.0.0.1:1" in gone.stderr
    assert "Traceback" not in gone.stderr
