"""Fault injection: no silent wrong result when a host, a link, a model or the disk fails.

Each test breaks one real part under a real ``gtp-remote serve`` process (started as a user
starts it, talking to the bed's real sshd hosts) and checks what the caller sees: a prompt,
typed error naming what failed (never a hang, a 500 or an "ok"), an audit line for it, and a
gateway that works again once the part is back. Faults are injected only into k8s-master
(other test sessions use db and code at the same time), and every test puts k8s-master back
in a ``finally``: its sshd running, its link up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gtp_remote.audit import AuditLog
from gtp_remote.errors import AuditUnavailableError
from tests.conftest import ROOT, Bed, BedHost, start_serve
from tests.llmbed import ScriptedModel

pytestmark = pytest.mark.bed

HOST = "k8s-master"  # the only host these tests break
TOKEN = "faults-" + secrets.token_hex(16)


# -- the gateway under test --------------------------------------------------------------------------


class Serve:
    """One ``gtp-remote serve`` process and an HTTP client for it."""

    def __init__(self, state: Path, inventory: Path):
        self.state = state
        self.inventory = inventory
        self.env = {
            **os.environ,
            "GTP_STATE_DIR": str(state),
            "GTP_INVENTORY": str(inventory),
            "GTP_API_TOKEN": TOKEN,
            "GTP_RATE_LIMIT": "1000",
            "GTP_RATE_BURST": "1000",
        }
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> None:
        self.process, port = start_serve([], self.env, cwd=ROOT)
        self.url = f"http://127.0.0.1:{port}"
        assert self.process.poll() is None, self.log()

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as when the machine or the OOM killer stops it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        if self.process is None or self.process.poll() is None or self.process.stdout is None:
            return ""
        return self.process.stdout.read()

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float = 60
    ) -> tuple[int, dict[str, Any], float]:
        """(status, JSON answer, seconds taken)."""
        started = time.monotonic()
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.request(
                method, self.url + path, json=body, headers={"Authorization": f"Bearer {TOKEN}"}
            ) as response,
        ):
            data = await response.json(content_type=None)
            return response.status, data, time.monotonic() - started

    async def shell(self, command: str, **options: Any) -> tuple[int, dict[str, Any], float]:
        return await self.call(
            "POST", "/command/execute-shell", {"command": command, "server": HOST, **options}
        )

    def audit(self) -> list[dict[str, Any]]:
        path = self.state / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def verify(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gtp_remote", "audit", "verify", str(self.state / "audit.jsonl")],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )


@contextlib.asynccontextmanager
async def serving(state: Path, inventory: Path) -> AsyncIterator[Serve]:
    serve = Serve(state, inventory)
    serve.start()
    try:
        yield serve
    finally:
        serve.stop()


def command_events(serve: Serve, command: str) -> list[dict[str, Any]]:
    return [e for e in serve.audit() if e.get("kind") == "command" and e.get("command") == command]


# -- breaking k8s-master, and putting it back ----------------------------------------------------------


def host(bed: Bed) -> BedHost:
    return bed.hosts[HOST]


def sshd_pid(bed: Bed) -> int | None:
    """The host's listening sshd, if it runs. A killed one can stay a zombie for a while (this
    machine's init reaps lazily), which ``kill -0`` and so ``testbed start`` take for running."""
    pidfile = host(bed).dir / "sshd.pid"
    try:
        pid = int(pidfile.read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if state in ("Z", "X") else pid


def start_host(bed: Bed) -> None:
    """``testbed start`` k8s-master, first removing a pid file left by a killed sshd."""
    if sshd_pid(bed) is None:
        (host(bed).dir / "sshd.pid").unlink(missing_ok=True)
    bed.start(HOST)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def kill_host(bed: Bed) -> None:
    """The host dies: its sshd, every session's sshd and every process they started, SIGKILLed."""
    pid = sshd_pid(bed)
    assert pid is not None, f"sshd on {HOST} is not running"
    for p in descendants(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def link(bed: Bed, up: bool) -> None:
    host(bed).sh(f"ip link set eth0 {'up' if up else 'down'}")


@contextlib.contextmanager
def restored(bed: Bed) -> Iterator[None]:
    """Whatever the test did to k8s-master, it is whole again afterwards: link up, sshd running."""
    try:
        yield
    finally:
        link(bed, up=True)
        if sshd_pid(bed) is None:
            start_host(bed)


def unique_sleep(seconds: int) -> str:
    """A ``sleep`` whose command line no other test's process has (the hosts share a pid space)."""
    return f"sleep {seconds}.{secrets.randbelow(10**6):06d}"


def remote_running(bed: Bed, pattern: str) -> list[str]:
    """Processes on the host whose command line matches ``pattern`` (the bed's hosts share a pid
    space with the gateway's machine, so this sees what runs "on" k8s-master)."""
    done = host(bed).sh(f"pgrep -af -- {pattern!r}", check=False)
    return [line for line in done.stdout.splitlines() if "pgrep" not in line]


async def gone_within(bed: Bed, pattern: str, seconds: float) -> list[str]:
    """What still runs matching ``pattern`` after waiting up to ``seconds`` for it to end."""
    deadline = time.monotonic() + seconds
    left = remote_running(bed, pattern)
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        left = remote_running(bed, pattern)
    return left


@pytest.fixture
def inventory(bed: Bed, tmp_path: Path) -> Path:
    """The bed's hosts; k8s-master with short keepalives so a dead link is noticed in seconds."""
    doc = yaml.safe_load(bed.inventory.read_text())
    doc["servers"][HOST]["keepalive"] = 2
    doc["servers"][HOST]["connect_timeout"] = 3
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# -- 1. the host dies mid-command ----------------------------------------------------------------------


async def test_host_dying_mid_command_fails_clearly_and_the_pool_reconnects(
    bed: Bed, tmp_path: Path, inventory: Path
) -> None:
    sleep = unique_sleep(30)
    command = f"{sleep}; echo done"
    with restored(bed):
        async with serving(tmp_path / "state", inventory) as serve:
            status, data, _ = await serve.shell("echo warm")
            assert status == 200 and data["stdout"] == "warm\n", data
            request = asyncio.ensure_future(serve.shell(command, wait_seconds=40))
            for _ in range(100):  # the command is running on the host
                if remote_running(bed, sleep):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"the command never started on {HOST}")
            killed_at = time.monotonic()
            kill_host(bed)
            status, data, _ = await request
            took = time.monotonic() - killed_at
            assert status == 502, (status, data)
            error = data["error"]
            assert error["code"] == "connection_lost", error
            assert error["server"] == HOST and HOST in error["message"], error
            assert took < 5, f"the request took {took:.1f}s to fail after the host died"
            events = command_events(serve, command)
            assert [e["outcome"] for e in events] == ["connection_lost"], events
            assert HOST in events[0]["error"]["message"]

            # Down: a clear, prompt "unreachable", not a hang.
            status, data, took = await serve.shell("echo while-down")
            assert status == 502 and data["error"]["code"] == "host_unreachable", data
            assert took < 10, took

            start_host(bed)
            status, data, _ = await serve.shell("echo back")
            assert status == 200 and data["stdout"] == "back\n" and data["exit_code"] == 0, data
        assert serve.verify().returncode == 0


# -- 2. the link goes down mid-command -----------------------------------------------------------------


async def test_link_down_mid_command_times_out_and_recovers(
    bed: Bed, tmp_path: Path, inventory: Path
) -> None:
    sleep = unique_sleep(30)
    command = f"{sleep}; echo done"
    with restored(bed):
        async with serving(tmp_path / "state", inventory) as serve:
            status, data, _ = await serve.shell("echo warm")
            assert status == 200, data
            request = asyncio.ensure_future(serve.shell(command, timeout=3, wait_seconds=40))
            for _ in range(100):
                if remote_running(bed, sleep):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"the command never started on {HOST}")
            started = time.monotonic()
            link(bed, up=False)
            try:
                status, data, _ = await request
                took = time.monotonic() - started
            finally:
                link(bed, up=True)
            assert took < 3 + 5, f"the request took {took:.1f}s with a 3s timeout"
            if status == 200:
                assert data["timed_out"] is True and data["exit_code"] is None, data
            else:
                assert status in (502, 504), (status, data)
                assert data["error"]["code"] in ("timeout", "connection_lost"), data
                assert data["error"]["server"] == HOST, data
            events = command_events(serve, command)
            assert len(events) == 1 and events[0]["outcome"] != "ok", events

            status, data, took = await serve.shell("echo back", timeout=20)
            assert status == 200 and data["stdout"] == "back\n", data
            assert took < 10, f"the first command after the link came back took {took:.1f}s"
            left = await gone_within(bed, sleep, 5)
            assert not left, f"the timed-out command still runs on {HOST}: {left}"
        assert serve.verify().returncode == 0


# -- 3. the model stalls mid-stream --------------------------------------------------------------------


def netns_python(bed: Bed) -> list[str]:
    return ["ip", "netns", "exec", host(bed).netns, sys.executable]


@pytest.fixture
def stalling_model(bed: Bed) -> Iterator[ScriptedModel]:
    """tests/modelserver.py inside k8s-master on a free 127.0.0.1 port (reached only through the
    SSH tunnel), apart from the session's scripted servers so no other test's script is touched."""
    process = subprocess.Popen(
        [*netns_python(bed), str(ROOT / "tests/modelserver.py"), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on 127.0.0.1:" in line, line
        yield ScriptedModel(host(bed), int(line.rsplit(":", 1)[1]), process)
    finally:
        process.kill()
        process.wait(10)


@pytest.mark.parametrize(
    ("provider", "pace"),
    [("lmstudio", "stall"), ("ollama", "stall"), ("lmstudio", "trickle")],
)
async def test_model_stalling_mid_stream_times_out_within_its_limit(
    bed: Bed, tmp_path: Path, stalling_model: ScriptedModel, provider: str, pace: str
) -> None:
    """A model that stops mid-answer (or trickles a token just faster than the timeout, so no
    single read ever times out) ends with a model_timeout within the provider's timeout."""
    limit = 3
    doc = yaml.safe_load(bed.inventory.read_text())
    doc["servers"][HOST]["llm"] = {
        "provider": provider,
        "model": "test-model",
        "baseUrl": f"http://127.0.0.1:{stalling_model.port}",
    }
    doc["llm"] = {"providers": {provider: {"timeout": limit}}}
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(doc, sort_keys=False))
    # Ollama's first line carries tokens, OpenAI's is the role alone: then a chunk every
    # chunk_delay seconds (two minutes: a stall; two seconds: a trickle of 40 s in all).
    delay = 120 if pace == "stall" else limit - 1
    stalling_model.script(
        {"content": "The answer is forty-two, because it is.", "chunk": 2, "chunk_delay": delay}
    )
    body = {"instructions": "what is the answer?", "provider": HOST, "stream": True}
    async with serving(tmp_path / "state", inventory) as serve:
        events: list[tuple[str, dict[str, Any]]] = []
        started = time.monotonic()
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
            session.post(
                serve.url + "/command/execute-llm", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
            ) as response,
        ):
            assert response.status == 200, await response.text()
            kind = ""
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if kind in ("final", "error"):
                        break
        took = time.monotonic() - started
        kinds = [k for k, _ in events]
        if provider == "ollama" or pace == "trickle":
            assert "delta" in kinds, events  # the model did start answering
        assert kinds[-1] == "error", events
        error = events[-1][1]
        assert error["code"] == "model_timeout", error
        assert error["server"] == HOST and f"within {limit}s" in error["message"], error
        assert took < limit + 3, f"execute-llm took {took:.1f}s with a {limit}s model timeout"

        job_id = events[0][1]["job_id"]
        status, job, _ = await serve.call("GET", f"/jobs/{job_id}")
        assert status == 200 and job["status"] == "failed", job
        assert job["error"]["code"] == "model_timeout", job
        calls = [e for e in serve.audit() if e.get("kind") == "model_call" and e.get("job_id") == job_id]
        assert [e["outcome"] for e in calls] == ["model_timeout"], calls
        llm = [e for e in serve.audit() if e.get("kind") == "llm" and e.get("job_id") == job_id]
        assert len(llm) == 1 and llm[0]["outcome"] == "failed", llm
        assert llm[0]["error"]["code"] == "model_timeout", llm
    assert serve.verify().returncode == 0


# -- 4. the gateway is SIGKILLed with a job running -----------------------------------------------------


async def test_gateway_killed_leaves_the_job_interrupted_and_nothing_running(
    bed: Bed, tmp_path: Path, inventory: Path
) -> None:
    sleep = unique_sleep(300)
    serve = Serve(tmp_path / "state", inventory)
    serve.start()
    try:
        status, data, _ = await serve.shell(sleep, timeout=600, wait_seconds=0)
        assert status == 202 and data["status"] == "running", data
        job_id = data["job_id"]
        for _ in range(100):
            if remote_running(bed, sleep):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the job's command never started on {HOST}")
        serve.kill()
        left = await gone_within(bed, sleep, 5)
        assert not left, f"the job's command still runs on {HOST} 5s after the gateway died: {left}"

        serve.start()  # the same state folder
        status, job, _ = await serve.call("GET", f"/jobs/{job_id}")
        assert status == 200 and job["status"] == "interrupted", job
        assert job["error"]["code"] == "interrupted", job
        status, data, _ = await serve.shell("echo after")
        assert status == 200 and data["stdout"] == "after\n", data
    finally:
        serve.stop()
        host(bed).sh(f"pkill -f -- {sleep!r}", check=False)


# -- 5. the audit log's disk fills up ------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: the state folder (audit log, job store) on a disk that can fill up."""
    folder = tmp_path / "small"
    folder.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "gtp-faults", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the disk under ``folder`` to the last byte."""
    path = folder / "filler"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    assert os.statvfs(folder).f_bavail == 0
    return path


async def test_audit_disk_full_refuses_actions_and_recovers(
    bed: Bed, tmp_path: Path, inventory: Path, small_disk: Path
) -> None:
    marker = host(bed).home / f"faults-{secrets.token_hex(4)}"
    touch = f"touch {marker.name}"
    async with serving(small_disk / "state", inventory) as serve:
        status, data, _ = await serve.shell("echo before")
        assert status == 200, data
        assert serve.verify().returncode == 0
        filler = fill(small_disk)
        try:
            before = (serve.state / "audit.jsonl").read_bytes()
            for _ in range(3):
                status, data, _ = await serve.shell(touch)
                assert status == 503, (status, data)
                assert data["error"]["code"] == "audit_unavailable", data
                assert "audit" in data["error"]["message"], data
            status, data, _ = await serve.call(
                "POST", "/file/write", {"server": HOST, "path": marker.name, "content": "x"}
            )
            assert status == 503 and data["error"]["code"] == "audit_unavailable", (status, data)
            assert not marker.exists(), "an action ran that the audit log could not record"
            # A line longer than the room left is written in part, then refused: cut off again.
            with pytest.raises(AuditUnavailableError, match="No space left"):
                AuditLog(serve.state / "audit.jsonl").append({"kind": "filler", "text": "x" * 100_000})
            after = (serve.state / "audit.jsonl").read_bytes()
            assert after.startswith(before) and after.endswith(b"\n"), "the log was cut or torn"
            assert serve.verify().returncode == 0, serve.verify().stdout
        finally:
            filler.unlink()
        status, data, _ = await serve.shell(touch)
        assert status == 200 and data["exit_code"] == 0, data
        assert marker.exists()
        assert len(command_events(serve, touch)) == 1
        done = serve.verify()
        assert done.returncode == 0, done.stdout + done.stderr
    marker.unlink(missing_ok=True)
