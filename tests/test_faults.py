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
import sqlite3
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

    async def shell(
        self, command: str, *, server: str = HOST, **options: Any
    ) -> tuple[int, dict[str, Any], float]:
        return await self.call(
            "POST", "/command/execute-shell", {"command": command, "server": server, **options}
        )

    async def fan_out(self, command: str, target: str, **options: Any) -> tuple[int, dict[str, Any], float]:
        return await self.call(
            "POST", "/command/execute-shell", {"command": command, "target": target, **options}
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
    machine's init reaps lazily): that one is not running (``testbed start`` knows it too)."""
    pidfile = host(bed).dir / "sshd.pid"
    try:
        pid = int(pidfile.read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return None if state in ("Z", "X") else pid


def start_host(bed: Bed) -> None:
    """``testbed start`` k8s-master: it sees a killed sshd (a zombie, its pid file left) as down."""
    bed.start(HOST)
    assert sshd_pid(bed) is not None, f"testbed start left {HOST} without a running sshd"


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


async def until_running(bed: Bed, pattern: str, what: str, count: int = 1, also: str | None = None) -> None:
    """Wait (5 s at most) until ``count`` processes match ``pattern`` (and one ``also``)."""
    for _ in range(100):
        if len(remote_running(bed, pattern)) >= count and (also is None or remote_running(bed, also)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} never started: {remote_running(bed, pattern)}")


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
    """k8s-master dies under a command: that command fails at once, naming the host; a command
    running on db across the death, and one started while k8s-master is down, are untouched."""
    sleep = unique_sleep(30)
    command = f"{sleep}; echo done"
    other = f"{unique_sleep(2)}; echo db-alive"
    with restored(bed):
        async with serving(tmp_path / "state", inventory) as serve:
            status, data, _ = await serve.shell("echo warm")
            assert status == 200 and data["stdout"] == "warm\n", data
            status, data, _ = await serve.shell("echo warm", server="db")
            assert status == 200 and data["stdout"] == "warm\n", data
            request = asyncio.ensure_future(serve.shell(command, wait_seconds=40))
            on_db = asyncio.ensure_future(serve.shell(other, server="db", timeout=20))
            await until_running(bed, sleep, f"the commands on {HOST} and db", also=other.split(";")[0])
            killed_at = time.monotonic()
            kill_host(bed)
            status, data, _ = await request
            took = time.monotonic() - killed_at
            db_status, db_data, _ = await on_db
            assert db_status == 200, (db_status, db_data)
            assert db_data["exit_code"] == 0 and db_data["stdout"] == "db-alive\n", db_data
            assert status == 502, (status, data)
            error = data["error"]
            assert error["code"] == "connection_lost", error
            assert error["server"] == HOST and HOST in error["message"], error
            assert took < 5, f"the request took {took:.1f}s to fail after the host died"
            events = command_events(serve, command)
            assert [e["outcome"] for e in events] == ["connection_lost"], events
            assert HOST in events[0]["error"]["message"]

            # Down: a clear, prompt "unreachable", not a hang; db meanwhile answers as ever.
            down, on_db = await asyncio.gather(
                serve.shell("echo while-down"), serve.shell("echo db-meanwhile", server="db")
            )
            status, data, took = down
            assert status == 502 and data["error"]["code"] == "host_unreachable", data
            assert took < 10, took
            status, data, took = on_db
            assert status == 200 and data["stdout"] == "db-meanwhile\n", data
            assert took < 2, f"db took {took:.1f}s while {HOST} was down"

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
            await until_running(bed, sleep, f"the command on {HOST}")
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


# -- 2b. the link goes down during a fan-out, and while the connection is idle -----------------------

KEEPALIVE = 2  # the inventory fixture's keepalive for k8s-master, in seconds
KEEPALIVE_COUNT_MAX = 3  # what gtp_remote/executors/ssh.py gives asyncssh


Address = tuple[str, int]


def _address(text: str) -> Address:
    """``0D00CB0A:0016`` (/proc/net/tcp: IPv4 little-endian, port) -> ("10.203.0.13", 22)."""
    ip, port = text.split(":")
    return ".".join(str(int(ip[i : i + 2], 16)) for i in (6, 4, 2, 0)), int(port, 16)


def established(pid: int) -> list[tuple[Address, Address]]:
    """(local, remote) of every established IPv4 TCP connection process ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    out = []
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and fields[9] in inodes:  # 01: ESTABLISHED
            out.append((_address(fields[1]), _address(fields[2])))
    return out


def ssh_connections(pid: int, bed: Bed) -> int:
    """How many established connections process ``pid`` holds to k8s-master's sshd."""
    return sum(remote == (host(bed).ip, 22) for _, remote in established(pid))


async def test_link_down_during_fan_out_fails_that_host_only_and_keepalive_finds_a_dead_idle_link(
    bed: Bed, tmp_path: Path, inventory: Path
) -> None:
    """k8s-master's link goes down mid fan-out: db and code answer ok, k8s-master's row says
    what happened, within the timeout. Then it goes down under an idle pooled connection: the
    keepalives find it dead within (count_max + 1) x keepalive, a command sent onto it fails
    then (not at its own 30 s timeout), and once the link is back the next one reconnects."""
    sleep = unique_sleep(2)
    command = f"{sleep}; echo done"
    limit = 5
    with restored(bed):
        async with serving(tmp_path / "state", inventory) as serve:
            assert serve.process is not None
            status, data, _ = await serve.fan_out("echo warm", "group:bed")
            assert status == 200 and data["summary"]["ok"] == 3, data
            request = asyncio.ensure_future(
                serve.fan_out(command, "group:bed", timeout=limit, wait_seconds=40)
            )
            # running on all three (the hosts share one pid space)
            await until_running(bed, sleep, "the fan-out everywhere", count=3)
            started = time.monotonic()
            link(bed, up=False)
            try:
                status, data, _ = await request
                took = time.monotonic() - started
            finally:
                link(bed, up=True)
            assert status == 200, (status, data)
            rows = {r["server"]: r for r in data["results"]}
            assert set(rows) == {"db", "code", HOST}, data
            for name in ("db", "code"):
                row = rows[name]
                assert row["status"] == "ok" and row["exit_code"] == 0 and row["stdout"] == "done\n", row
            row = rows[HOST]
            # Timed out (what happens with these settings), or lost if the keepalives won the race.
            assert row["status"] == "failed" and row["exit_code"] is None, row
            assert row["error"]["code"] == ("timeout" if row["timed_out"] else "connection_lost"), row
            assert (data["summary"]["ok"], data["summary"]["failed"], data["ok"]) == (2, 1, False), data
            # The timeout, then at most two kill grace periods (shells.py) on the dead link.
            assert took < limit + 2 * 2 + 1, f"the fan-out took {took:.1f}s with a {limit}s timeout"
            events = command_events(serve, command)
            assert [e["outcome"] for e in events] == ["failed"], events

            status, data, _ = await serve.fan_out("echo back", "group:bed", timeout=20)
            assert status == 200 and data["summary"]["ok"] == 3, data

            # The link dies under the idle pooled connection, and a command is sent onto it.
            assert ssh_connections(serve.process.pid, bed) == 1
            bound = (KEEPALIVE_COUNT_MAX + 1) * KEEPALIVE
            started = time.monotonic()
            link(bed, up=False)
            try:
                request = asyncio.ensure_future(serve.shell("echo onto-a-dead-link", timeout=30))
                for _ in range(30 * bound):
                    if not ssh_connections(serve.process.pid, bed):
                        break
                    await asyncio.sleep(0.1)
                noticed = time.monotonic() - started
                status, data, _ = await request
                failed = time.monotonic() - started
            finally:
                link(bed, up=True)
            assert noticed < bound + 1, f"the dead connection was dropped after {noticed:.1f}s, not {bound}s"
            assert status == 502 and data["error"]["code"] == "connection_lost", (status, data)
            assert data["error"]["server"] == HOST, data
            assert failed < bound + 1, f"a command on the dead connection failed after {failed:.1f}s"

            status, data, took = await serve.shell("echo back", timeout=20)
            assert status == 200 and data["stdout"] == "back\n", data
            assert took < 3, f"the first command after the link came back took {took:.1f}s"
            assert ssh_connections(serve.process.pid, bed) == 1
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
        assert serve.process is not None
        pid, api_port = serve.process.pid, int(serve.url.rsplit(":", 1)[1])

        def model_traffic() -> tuple[int, int]:
            """(the gateway's loopback connections other than its API's: its HTTP client to the
            tunnel's local end and that end's accepted side; the host's connections into the model
            server: sshd forwarding the tunnel's channel)."""
            local = [
                (mine, peer)
                for mine, peer in established(pid)
                if peer[0] == "127.0.0.1" and api_port not in (mine[1], peer[1])
            ]
            remote = host(bed).sh(f"ss -tnH state established 'dport = :{stalling_model.port}'")
            return len(local), len(remote.stdout.splitlines())

        seen: list[tuple[int, int]] = []

        async def watch() -> None:
            while True:
                seen.append(await asyncio.to_thread(model_traffic))
                await asyncio.sleep(0.1)

        watcher = asyncio.ensure_future(watch())
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
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        # While the model stalled, its request rode a tunnel channel: both ends were connected.
        assert (2, 1) in seen, f"the model's connection was never seen open: {sorted(set(seen))}"
        # After the timeout the request's channel is closed at both ends: the gateway's client
        # let go of the tunnel, and sshd closed its connection into the model server.
        for _ in range(30):
            if (now := model_traffic()) == (0, 0):
                break
            await asyncio.sleep(0.1)
        assert now == (0, 0), f"(gateway, host) connections still open after the model timed out: {now}"
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

        # The tunnel (kept for the connection's life, by design) carries the next request.
        stalling_model.script({"content": "Forty-two."})
        status, data, _ = await serve.call("POST", "/command/execute-llm", {**body, "stream": False})
        assert status == 200 and data["status"] == "succeeded" and data["answer"] == "Forty-two.", data
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
        await until_running(bed, sleep, f"the job's command on {HOST}")
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


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the disk under ``folder``: to the last byte, then give back ``leave`` bytes."""
    path = folder / f"filler-{secrets.token_hex(4)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
        if leave:
            os.ftruncate(fd, max(os.fstat(fd).st_size - leave, 0))
    finally:
        os.close(fd)
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    assert (free == 0) if not leave else (0 < free < 1 << 20), free
    return path


def stored_status(state: Path, job_id: str) -> str | None:
    """The job's status as the job store has it on disk."""
    with contextlib.closing(sqlite3.connect(state / "jobs.sqlite3", timeout=5)) as db:
        row = db.execute("select status from jobs where id=?", (job_id,)).fetchone()
    return row[0] if row else None


async def test_audit_disk_full_refuses_actions_and_recovers(
    bed: Bed, tmp_path: Path, inventory: Path, small_disk: Path
) -> None:
    """Under 1 MiB free: actions are refused (503) and reads of jobs answered (200). Then full to
    the last byte: a job that ends meanwhile is not lost (the job store cannot save it either),
    and no line of the log is torn. Space comes back: everything works again, no restart."""
    marker = host(bed).home / f"faults-{secrets.token_hex(4)}"
    touch = f"touch {marker.name}"
    async with serving(small_disk / "state", inventory) as serve:
        status, data, _ = await serve.shell("echo before")
        assert status == 200, data
        done_job = data["job_id"]
        # A job still running when the disk fills, which ends once it is full to the last byte.
        late_sleep = unique_sleep(2)
        status, data, _ = await serve.shell(f"{late_sleep}; echo late", wait_seconds=0)
        assert status == 202, data
        late_job = data["job_id"]
        assert serve.verify().returncode == 0
        fillers = [fill(small_disk, leave=256 << 10)]
        try:
            for _ in range(3):
                status, data, _ = await serve.shell(touch)
                assert status == 503, (status, data)
                assert data["error"]["code"] == "audit_unavailable", data
                assert "audit" in data["error"]["message"], data
            status, data, _ = await serve.call(
                "POST", "/file/write", {"server": HOST, "path": marker.name, "content": "x"}
            )
            assert status == 503 and data["error"]["code"] == "audit_unavailable", (status, data)
            # Reads of jobs go on meanwhile: one done before, the list, one still running.
            for _ in range(5):
                status, job, _ = await serve.call("GET", f"/jobs/{done_job}")
                assert status == 200 and job["status"] == "succeeded", (status, job)
                assert job["result"]["stdout"] == "before\n", job
                status, jobs, _ = await serve.call("GET", "/jobs")
                assert status == 200, (status, jobs)
                listed = {j["job_id"]: j["status"] for j in jobs["jobs"]}
                assert listed[done_job] == "succeeded" and listed[late_job] == "running", listed
            assert not marker.exists(), "an action ran that the audit log could not record"

            fillers.append(fill(small_disk))
            assert await gone_within(bed, late_sleep, 5) == [], "the late job's command did not end"
            await asyncio.sleep(0.5)  # its job finishes: the job store refuses the row
            before = (serve.state / "audit.jsonl").read_bytes()
            # A line longer than the room left is written in part, then refused: cut off again.
            with pytest.raises(AuditUnavailableError, match="No space left"):
                AuditLog(serve.state / "audit.jsonl").append({"kind": "filler", "text": "x" * 100_000})
            after = (serve.state / "audit.jsonl").read_bytes()
            assert after == before, "the log was cut or torn"
            assert serve.verify().returncode == 0, serve.verify().stdout
        finally:
            for filler in fillers:
                filler.unlink()
        # Space is back: the finished job the store refused is saved by itself and reads finished
        # (its command's audit line fitted in the log's last page, or the job failed for it).
        for _ in range(50):
            if stored_status(serve.state, late_job) != "running":
                break
            await asyncio.sleep(0.1)
        status, job, _ = await serve.call("GET", f"/jobs/{late_job}")
        assert status == 200 and job["status"] == stored_status(serve.state, late_job), job
        if job["status"] == "succeeded":
            assert job["result"]["stdout"] == "late\n" and job["result"]["exit_code"] == 0, job
        else:
            assert job["status"] == "failed" and job["error"]["code"] == "audit_unavailable", job
        status, data, _ = await serve.shell(touch)
        assert status == 200 and data["exit_code"] == 0, data
        assert marker.exists()
        assert len(command_events(serve, touch)) == 1
        done = serve.verify()
        assert done.returncode == 0, done.stdout + done.stderr
    log = serve.log()
    assert f"cannot save finished job {late_job}" in log, log  # the case above did happen
    assert "Task exception was never retrieved" not in log, log
    marker.unlink(missing_ok=True)


async def test_audit_disk_full_to_the_last_byte_still_answers_reads(
    bed: Bed, tmp_path: Path, inventory: Path, small_disk: Path
) -> None:
    async with serving(small_disk / "state", inventory) as serve:
        status, data, _ = await serve.shell("echo before")
        assert status == 200, data
        filler = fill(small_disk)
        try:
            answers = [(await serve.call("GET", f"/jobs/{data['job_id']}"))[0] for _ in range(20)]
            answers += [(await serve.call("GET", "/jobs"))[0] for _ in range(5)]
        finally:
            filler.unlink()
        assert answers == [200] * 25, answers
