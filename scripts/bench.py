"""Benchmarks of gtp-remote side by side with OpenSSH, ControlMaster, Ansible, parallel-ssh, paramiko.

Run by ``scripts/bench`` (which brings up the sshd test bed and installs the peers). Every figure
in docs/benchmarks.md comes from ONE run of this script, on the bed's namespace hosts: the machine
is shared and noisy, so the ratios within a run matter more than absolute times. A peer that cannot
run is reported as such with the reason; no number is ever written by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import pwd
import re
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BED_DIR = Path(os.environ.get("GTP_BED_DIR", "/var/tmp/gtp-bed"))
TOKEN = "bench-token-0123456789"


# -- helpers ---------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


@dataclass
class Result:
    """One peer's numbers in one table, or why it has none."""

    peer: str
    values: dict[str, float | None] = field(default_factory=dict)
    note: str = ""


@dataclass
class Table:
    title: str
    columns: list[str]
    results: list[Result] = field(default_factory=list)
    checks: list[tuple[str, str, bool | None]] = field(default_factory=list)  # target, measured, met
    text: str = ""

    def value(self, peer: str, column: str) -> float | None:
        for r in self.results:
            if r.peer == peer:
                return r.values.get(column)
        return None

    def check(self, target: str, measured: str, met: bool | None) -> None:
        self.checks.append((target, measured, met))

    def markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        if self.text:
            lines += [self.text, ""]
        lines.append("| peer | " + " | ".join(self.columns) + " | note |")
        lines.append("| --- |" + " ---: |" * len(self.columns) + " --- |")
        for r in self.results:
            cells = [
                ms(r.values.get(c)) if isinstance(r.values.get(c), float | None) else str(r.values.get(c))
                for c in self.columns
            ]
            lines.append(f"| {r.peer} | " + " | ".join(cells) + f" | {r.note} |")
        if self.checks:
            lines += ["", "| target | measured | met |", "| --- | --- | --- |"]
            for target, measured, met in self.checks:
                mark = "yes" if met else "no" if met is False else "not measured"
                lines.append(f"| {target} | {measured} | {mark} |")
        return "\n".join(lines) + "\n"


def safe(table: Table, peer: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run one peer's measurement; a failure becomes a row saying why, never a made-up number."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        async def run(*args: Any, **kwargs: Any) -> None:
            try:
                out = fn(*args, **kwargs)
                if asyncio.iscoroutine(out):
                    out = await out
                values, note = out if isinstance(out, tuple) else (out, "")
                table.results.append(Result(peer, values, note))
            except Exception as exc:
                table.results.append(Result(peer, {}, f"could not run: {type(exc).__name__}: {exc}"[:300]))
                print(f"  {peer}: FAILED {exc}", file=sys.stderr)

        return run

    return wrap


@dataclass
class Bed:
    user: str
    key: str
    known_hosts: str
    inventory: Path
    hosts: list[tuple[str, str, str]]  # name, ip, netns

    @classmethod
    def load(cls) -> Bed:
        data = json.loads((BED_DIR / "bed.json").read_text())
        return cls(
            data["user"],
            data["client_key"],
            data["known_hosts"],
            Path(data["inventory"]),
            [(h["name"], h["ip"], h["netns"]) for h in data["hosts"]],
        )

    def ssh_args(self) -> list[str]:
        return [
            "-i",
            self.key,
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-l",
            self.user,
        ]


def cpu_ms(who: int = resource.RUSAGE_SELF) -> float:
    """CPU time (user + system) used so far by this process (or its waited-for children)."""
    usage = resource.getrusage(who)
    return (usage.ru_utime + usage.ru_stime) * 1000


def machine_cpu_ms() -> float:
    """Busy time of the whole machine so far (all cores, every process: /proc/stat, in ticks)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) * 1000 / os.sysconf("SC_CLK_TCK")


def command_cpu_ms(argv: list[str], runs: int) -> float:
    """Mean CPU time (user + system) of one run of a program, fork and exec included, its output
    discarded: what the machine must spend on it whoever starts it."""
    before = cpu_ms(resource.RUSAGE_CHILDREN)
    for _ in range(runs):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return (cpu_ms(resource.RUSAGE_CHILDREN) - before) / runs


def stats(samples: list[float]) -> dict[str, float | None]:
    return {"p50 ms": pct(samples, 50), "p95 ms": pct(samples, 95), "runs": float(len(samples))}


async def timed(n: int, fn: Callable[[], Awaitable[Any]]) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def timed_sync(n: int, fn: Callable[[], Any]) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


class Serve:
    """``gtp-remote serve`` in its own process, on the bed inventory (plus a local server)."""

    def __init__(self, bed: Bed, extra: str = ""):
        self.dir = Path(tempfile.mkdtemp(prefix="gtp-bench-"))
        inventory = self.dir / "hosts"
        inventory.mkdir()
        shutil.copy(bed.inventory, inventory / "bed.yaml")
        (inventory / "local.yaml").write_text("servers:\n  local: {protocol: local}\n" + extra)
        self.port = _free_port()
        env = {
            **os.environ,
            "GTP_API_TOKEN": TOKEN,
            "GTP_STATE_DIR": str(self.dir / "state"),
            "GTP_RATE_LIMIT": "1000000",
            "GTP_RATE_BURST": "1000000",
            "GTP_TEMPLATES": str(ROOT / "templates"),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gtp_remote", "-i", str(inventory), "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def exec_times(argv: list[str], runs: int, warmup: int) -> tuple[dict, str]:
    """p50/p95 of running a program, timed by hyperfine (``-N``: no shell in between); without
    hyperfine, by Python around ``subprocess.run`` (~0.1 ms more per run here), and the note
    says which."""
    binary = shutil.which("hyperfine")
    if binary is None:
        timed_sync(warmup, lambda: subprocess.run(argv, check=True))
        return stats(timed_sync(runs, lambda: subprocess.run(argv, check=True))), (
            "timed by Python's subprocess.run (hyperfine not installed)"
        )
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [
                binary,
                "-N",
                "--style",
                "none",
                "--warmup",
                str(warmup),
                "--runs",
                str(runs),
                "--export-json",
                out.name,
                shlex.join(argv),
            ],
            check=True,
            capture_output=True,
        )
        times = [t * 1000 for t in json.loads(Path(out.name).read_text())["results"][0]["times"]]
    return stats(times), "timed by hyperfine -N"


# -- 1. one command on one host --------------------------------------------------------------------


async def one_command(bed: Bed, runs: int, fresh_runs: int) -> Table:
    import aiohttp
    import asyncssh

    from gtp_remote.config import load_inventory
    from gtp_remote.gateway import Gateway
    from gtp_remote.settings import Settings

    table = Table(f"1. One command (`true`) on one host, {runs} runs", ["p50 ms", "p95 ms", "runs"])
    name, ip, _ = bed.hosts[0]

    @safe(table, "gtp-remote over HTTP (execute-shell, warm)")
    async def http() -> dict:
        serve = Serve(bed)
        try:
            async with aiohttp.ClientSession(headers=HEADERS) as session:
                body = {"command": "true", "server": name}

                async def one() -> None:
                    async with session.post(serve.url + "/command/execute-shell", json=body) as r:
                        assert r.status == 200, await r.text()
                        await r.read()

                await timed(10, one)
                return stats(await timed(runs, one))
        finally:
            serve.close()

    @safe(table, "gtp-remote executor, direct (warm)")
    async def executor() -> dict:
        async with Gateway(load_inventory(bed.inventory), Settings(Path(tempfile.mkdtemp()))) as gw:
            await timed(10, lambda: gw.executor(name).run("true"))
            return stats(await timed(runs, lambda: gw.executor(name).run("true")))

    @safe(table, "gtp-remote executor, a channel per command (`persistent_shell: false`)")
    async def executor_channels() -> tuple[dict, str]:
        inventory = load_inventory(bed.inventory)
        inventory.servers[name] = inventory.servers[name].model_copy(update={"persistent_shell": False})
        async with Gateway(inventory, Settings(Path(tempfile.mkdtemp()))) as gw:
            await timed(10, lambda: gw.executor(name).run("true"))
            return stats(
                await timed(runs, lambda: gw.executor(name).run("true"))
            ), "like for like with conn.run"

    @safe(table, "asyncssh conn.run on an open connection (the floor)")
    async def bare() -> dict:
        async with asyncssh.connect(
            ip, username=bed.user, client_keys=[bed.key], known_hosts=bed.known_hosts
        ) as c:
            await timed(10, lambda: c.run("true"))
            return stats(await timed(runs, lambda: c.run("true")))

    @safe(table, "OpenSSH `ssh host true`, fresh connection")
    def fresh() -> tuple[dict, str]:
        values, how = exec_times(["ssh", *bed.ssh_args(), ip, "true"], fresh_runs, warmup=2)
        return values, f"{fresh_runs} runs; {how}"

    @safe(table, "OpenSSH with ControlMaster")
    def control() -> tuple[dict, str]:
        sock = Path(tempfile.mkdtemp()) / "cm"
        base = ["ssh", *bed.ssh_args(), "-o", f"ControlPath={sock}"]
        subprocess.run([*base, "-o", "ControlMaster=yes", "-o", "ControlPersist=120", "-fN", ip], check=True)
        try:
            return exec_times([*base, ip, "true"], runs, warmup=5)
        finally:
            subprocess.run([*base, "-O", "exit", ip], capture_output=True)

    for step in (http, executor, executor_channels, bare, fresh, control):
        await step()
    h, d, floor = (
        table.value(p, "p50 ms")
        for p in (
            "gtp-remote over HTTP (execute-shell, warm)",
            "gtp-remote executor, a channel per command (`persistent_shell: false`)",
            "asyncssh conn.run on an open connection (the floor)",
        )
    )
    cm = table.value("OpenSSH with ControlMaster", "p50 ms")
    fr = table.value("OpenSSH `ssh host true`, fresh connection", "p50 ms")
    if h and cm:
        table.check(
            "warm execute-shell over HTTP p50 below ControlMaster's", f"{ms(h)} vs {ms(cm)} ms", h < cm
        )
    if h and fr:
        table.check(
            "warm execute-shell over HTTP >= 50x faster than a fresh ssh", f"{fr / h:.1f}x", fr / h >= 50
        )
    if d and floor:
        table.check(
            "executor overhead over bare asyncssh <= 1 ms at p50 (both a channel per command)",
            f"{d - floor:+.2f} ms",
            d - floor <= 1,
        )
    return table


# -- 2. fan-out --------------------------------------------------------------------------------------


SETTLE = 0.3  # seconds of quiet before a "warm" run: the last run's ACKs and teardown are over
WARM_RUNS = 3  # warm runs of each kind per trial
FLOOR_RUNS = 300  # runs of the bare command that time the floor


@dataclass
class Warm:
    """One trial's warm runs: after a pause (idle connections) and back to back."""

    spaced: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    machine: list[float] = field(default_factory=list)
    back_to_back: list[float] = field(default_factory=list)

    def values(self, cold: list[float]) -> dict[str, float | None]:
        return {
            "cold ms": statistics.median(cold),
            "warm ms": statistics.median(self.spaced),
            "back to back ms": statistics.median(self.back_to_back) if self.back_to_back else None,
            "warm client CPU ms": statistics.median(self.cpu),
            "warm machine CPU ms": statistics.median(self.machine),
        }

    def start(self) -> tuple[float, float, float]:
        return time.perf_counter(), cpu_ms(), machine_cpu_ms()

    def stop(self, started: tuple[float, float, float]) -> None:
        wall, cpu, machine = started
        self.spaced.append((time.perf_counter() - wall) * 1000)
        self.cpu.append(cpu_ms() - cpu)
        self.machine.append(machine_cpu_ms() - machine)


async def warm_async(into: Warm, run: Callable[[], Awaitable[Any]]) -> None:
    for _ in range(WARM_RUNS):
        await asyncio.sleep(SETTLE)
        started = into.start()
        await run()
        into.stop(started)
    into.back_to_back += await timed(WARM_RUNS, run)


def check_all(outputs: Iterable[str]) -> None:
    """Every host answered something (a warm run is timed only when it did the work)."""
    assert all(outputs), "a host returned no output"


def warm_sync(into: Warm, run: Callable[[], Any]) -> None:
    for _ in range(WARM_RUNS):
        time.sleep(SETTLE)
        started = into.start()
        run()
        into.stop(started)
    into.back_to_back += timed_sync(WARM_RUNS, run)


async def fan_out(bed: Bed, n: int, trials: int) -> Table:
    from gtp_remote.access import Principal
    from gtp_remote.config import load_inventory
    from gtp_remote.gateway import Command, Gateway
    from gtp_remote.settings import Settings

    owner = Principal.owner("bench")

    hosts = bed.hosts[:n]
    if len(hosts) < n:
        raise SystemExit(
            f"the bed has {len(bed.hosts)} hosts; fan-out to {n} needs scripts/testbed up --hosts {n}"
        )
    ips = [ip for _, ip, _ in hosts]
    names = ",".join(name for name, _, _ in hosts)
    table = Table(
        f"2. Fan-out `uname -a` to {n} hosts (median of {trials})",
        ["cold ms", "warm ms", "back to back ms", "warm client CPU ms", "warm machine CPU ms"],
        text="The bed's hosts are network namespaces on the client's own 2 cores, so wall times "
        "include every host's sshd, shell and `uname` work (with 50 hosts, most of the time). "
        f"*Warm*: connections open and idle for {SETTLE} s before the run; *back to back*: runs "
        "one right after the other (a peer whose sockets lack TCP_NODELAY, as parallel-ssh's do, "
        "can then wait for a delayed ACK). Each trial: one cold run, "
        f"{WARM_RUNS} warm runs, {WARM_RUNS} back to back; medians over all trials. "
        "*Warm client CPU* is what a warm run cost the client process alone (user + system, its "
        "threads and children included): the part that stays on the client when the hosts are "
        "other machines. *Warm machine CPU* is the whole machine's busy time during a warm run "
        "(/proc/stat, in 10 ms ticks): client, sshds, shells and commands of every host. On 2 "
        "cores no run can take less than half of it. The *floor* row is the work every host must "
        "do whatever the client: its login shell running the command, timed here on the same "
        "cores.",
    )
    command = "uname -a"

    @safe(table, "gtp-remote (pooled asyncssh, persistent shells)")
    async def gtp() -> dict:
        cold, warm = [], Warm()
        for _ in range(trials):
            async with Gateway(load_inventory(bed.inventory), Settings(Path(tempfile.mkdtemp()))) as gw:

                async def run() -> None:
                    plan = await gw.plan(owner, Command(command, target=names, forks=n))
                    result = await gw.perform(plan)  # judged (no rules here), then run, as every front end
                    assert result.summary.ok == n, result.summary

                started = time.perf_counter()
                await run()
                cold.append((time.perf_counter() - started) * 1000)
                await warm_async(warm, run)
        return warm.values(cold)

    @safe(table, "asyncssh alone, one connection per host, a channel per command")
    async def bare() -> dict:
        import asyncssh

        async def connect(ip: str) -> asyncssh.SSHClientConnection:
            return await asyncssh.connect(
                ip, username=bed.user, client_keys=[bed.key], known_hosts=bed.known_hosts
            )

        cold, warm = [], Warm()
        for _ in range(trials):
            started = time.perf_counter()
            conns = await asyncio.gather(*(connect(ip) for ip in ips))
            await asyncio.gather(*(c.run(command, check=True) for c in conns))
            cold.append((time.perf_counter() - started) * 1000)
            await warm_async(warm, lambda cs=conns: asyncio.gather(*(c.run(command, check=True) for c in cs)))
            for c in conns:
                c.close()
        return warm.values(cold)

    @safe(table, f"Ansible ad hoc (`ansible all -m command -f {n}`)")
    def ansible() -> tuple[dict, str]:
        work = Path(tempfile.mkdtemp())
        (work / "inv.ini").write_text(
            "".join(
                f"{name} ansible_host={ip} ansible_user={bed.user} ansible_ssh_private_key_file={bed.key}\n"
                for name, ip, _ in hosts
            )
        )
        binary = Path(sys.executable).parent / "ansible"

        def run(control: Path | None) -> tuple[float, float]:
            args = f"-o UserKnownHostsFile={bed.known_hosts} -o StrictHostKeyChecking=yes"
            args += (
                f" -o ControlMaster=auto -o ControlPersist=120 -o ControlPath={control}/%C"
                if control
                else " -o ControlMaster=no"
            )
            env = {
                **os.environ,
                "ANSIBLE_SSH_ARGS": args,
                "ANSIBLE_HOST_KEY_CHECKING": "True",
                "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
                "ANSIBLE_LOCALHOST_WARNING": "False",
            }
            started, cpu = time.perf_counter(), cpu_ms(resource.RUSAGE_CHILDREN)
            done = subprocess.run(
                [
                    str(binary),
                    "all",
                    "-i",
                    str(work / "inv.ini"),
                    "-m",
                    "command",
                    "-a",
                    command,
                    "-f",
                    str(n),
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stdout[-500:] + done.stderr[-500:]
            return (time.perf_counter() - started) * 1000, cpu_ms(resource.RUSAGE_CHILDREN) - cpu

        cold = [run(None)[0] for _ in range(trials)]
        control = Path(tempfile.mkdtemp(prefix="cm", dir="/tmp"))
        run(control)
        warm, machine = [], []
        for _ in range(trials):
            time.sleep(SETTLE)
            busy = machine_cpu_ms()
            warm.append(run(control))
            machine.append(machine_cpu_ms() - busy)
        values = {
            "cold ms": statistics.median(cold),
            "warm ms": statistics.median([w for w, _ in warm]),
            "back to back ms": None,
            "warm client CPU ms": statistics.median([c for _, c in warm]),
            "warm machine CPU ms": statistics.median(machine),
        }
        return values, (
            f"warm: its ControlPersist sockets open (ssh masters' CPU not counted), {trials} runs; "
            "back to back not run (a run takes seconds)"
        )

    @safe(table, "parallel-ssh (ParallelSSHClient)")
    def pssh() -> tuple[dict, str]:
        from pssh.clients import ParallelSSHClient

        cold, warm = [], Warm()
        for _ in range(trials):
            started = time.perf_counter()
            client = ParallelSSHClient(ips, user=bed.user, pkey=bed.key, pool_size=n)

            def run(client: ParallelSSHClient = client) -> None:
                out = client.run_command(command)
                client.join(out)
                assert all(list(o.stdout) for o in out)

            run()
            cold.append((time.perf_counter() - started) * 1000)
            warm_sync(warm, run)
        return warm.values(cold), "does not check host keys; its sockets have no TCP_NODELAY"

    @safe(table, f"paramiko, {n} threads")
    def paramiko_threads() -> dict:
        import paramiko

        def connect(ip: str) -> paramiko.SSHClient:
            client = paramiko.SSHClient()
            client.load_host_keys(bed.known_hosts)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            client.connect(
                ip, username=bed.user, key_filename=bed.key, look_for_keys=False, allow_agent=False
            )
            return client

        def run(client: paramiko.SSHClient) -> str:
            _, stdout, _ = client.exec_command(command)
            return stdout.read().decode()

        cold, warm = [], Warm()
        with ThreadPoolExecutor(n) as pool:
            for _ in range(trials):
                started = time.perf_counter()
                clients = list(pool.map(connect, ips))
                assert all(list(pool.map(run, clients)))
                cold.append((time.perf_counter() - started) * 1000)
                warm_sync(warm, lambda cs=clients: check_all(pool.map(run, cs)))
                for c in clients:
                    c.close()
        return warm.values(cold)

    @safe(table, f"OpenSSH, `xargs -P {n}`")
    def xargs() -> tuple[dict, str]:
        ssh = " ".join(shlex.quote(a) for a in ["ssh", *bed.ssh_args()])
        script = (
            f"printf '%s\\n' {' '.join(ips)} | "
            f"xargs -P {n} -I{{}} {ssh} {{}} {shlex.quote(command)} >/dev/null"
        )
        cold = timed_sync(trials, lambda: subprocess.run(["bash", "-c", script], check=True))
        values = {"cold ms": statistics.median(cold), "warm ms": None, "back to back ms": None}
        return values, "a fresh connection per host each time"

    @safe(table, "floor: the hosts' own work, no ssh, no client")
    def floor() -> tuple[dict, str]:
        shell = pwd.getpwnam(bed.user).pw_shell or "/bin/sh"
        per_command = command_cpu_ms([shell, "-c", command], FLOOR_RUNS)
        cores = os.cpu_count() or 1
        values = {"warm ms": n * per_command / cores, "warm machine CPU ms": n * per_command}
        return values, (
            f"{n} × `{shell} -c '{command}'` (how sshd runs a command), {per_command:.2f} ms of CPU "
            f"each, on {cores} cores: the least any client's warm run can take on this bed"
        )

    for step in (gtp, bare, ansible, pssh, paramiko_threads, xargs, floor):
        await step()
    gtp_name, pssh_name = (
        "gtp-remote (pooled asyncssh, persistent shells)",
        "parallel-ssh (ParallelSSHClient)",
    )
    g_cold, g_warm = (table.value(gtp_name, c) for c in ("cold ms", "warm ms"))
    a_warm = table.value(f"Ansible ad hoc (`ansible all -m command -f {n}`)", "warm ms")
    p_cold, p_warm = (table.value(pssh_name, c) for c in ("cold ms", "warm ms"))
    if n >= 50:
        if g_warm and a_warm:
            table.check("warm >= 20x faster than Ansible", f"{a_warm / g_warm:.0f}x", a_warm / g_warm >= 20)
        if g_warm and p_warm:
            g_b2b, p_b2b = (table.value(peer, "back to back ms") for peer in (gtp_name, pssh_name))
            both = f"{p_warm / g_warm:.1f}x" + (
                f" (back to back: {p_b2b / g_b2b:.1f}x)" if g_b2b and p_b2b else ""
            )
            f_warm = table.value("floor: the hosts' own work, no ssh, no client", "warm ms")
            if f_warm:
                both += f"; 2x means {ms(p_warm / 2)} ms, the floor is {ms(f_warm)} ms"
            table.check("warm >= 2x faster than parallel-ssh", both, p_warm / g_warm >= 2)
        if g_cold and p_cold:
            table.check(
                "cold no slower than parallel-ssh", f"{ms(g_cold)} vs {ms(p_cold)} ms", g_cold <= p_cold
            )
    return table


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
# wrk itself only counts statuses >= 400; this counts every answer but a 200 (a 202 "still
# running" included) and prints the total, so a cell is a number only when all requests ran.
_WRK_COUNT_NOT_200 = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not200 = 0 end
function response(status, headers, body) if status ~= 200 then not200 = not200 + 1 end end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("not200") end
  io.write(string.format("not-200: %d\\n", n))
end
"""


def wrk(url: str, body: dict, concurrency: int, seconds: float) -> dict[str, float]:
    """wrk (C, epoll) posting ``body`` on ``concurrency`` connections: req/s, p50 and p99."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "{HEADERS["Authorization"]}"\n' + _WRK_COUNT_NOT_200
        )
    try:
        done = subprocess.run(
            [
                binary,
                "-t",
                str(min(concurrency, 2)),
                "-c",
                str(concurrency),
                "-d",
                f"{seconds:g}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(script.name)
    out = done.stdout
    bad = re.search(r"^not-200: (\d+)$", out, re.M)
    if bad is None or int(bad[1]) or "Socket errors" in out:
        raise RuntimeError("wrk saw failed requests: " + out[-400:])

    def latency(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return float(m[1]) * _WRK_UNITS[m[2]]

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    assert rate, out
    return {"req/s": float(rate[1]), "p50 ms": latency("50"), "p99 ms": latency("99")}


# -- 3. API throughput -------------------------------------------------------------------------------


async def throughput(bed: Bed, seconds: float, memory_hosts: int) -> Table:
    import aiohttp

    table = Table(
        f"3. API throughput: `execute-shell true`, {seconds:g} s per cell",
        ["req/s", "p50 ms", "p99 ms"],
        text="The load generator is wrk (`wrk -t T -c C --latency`, T = min(C, 2)), on the same 2 "
        "cores as the server (and, for ssh, the bed host's sshd and shell), so these are lower "
        "bounds on what the server alone could do. Every request is checked to succeed.",
    )
    serve = Serve(bed)
    try:
        for server in ("local", bed.hosts[0][0]):
            body = {"command": "true", "server": server}
            url = serve.url + "/command/execute-shell"
            async with aiohttp.ClientSession(headers=HEADERS) as session:
                for _ in range(10):  # the ssh connection and its shells are open before wrk starts
                    async with session.post(url, json=body) as r:
                        assert r.status == 200, await r.text()
            for concurrency in (1, 16, 64):
                row = f"{server} ({'local' if server == 'local' else 'ssh'}), concurrency {concurrency}"
                await safe(table, row)(wrk)(url, body, concurrency, seconds)
        names = [name for name, _, _ in bed.hosts[:memory_hosts]]
        before = serve.rss_mb()
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            body = {"command": "true", "target": ",".join(names)}
            async with session.post(serve.url + "/command/execute-shell", json=body) as r:
                data = await r.json()
                assert data["summary"]["ok"] == len(names), data.get("summary")
        after = serve.rss_mb()
        table.text += (
            f"\n\nServer memory (RSS): {before:.0f} MB before, {after:.0f} MB with {len(names)} "
            f"pooled SSH connections open ({(after - before) / max(len(names), 1) * 1024:.0f} KB each)."
        )
    finally:
        serve.close()
    return table


# -- 4. model traffic --------------------------------------------------------------------------------


async def model_traffic(bed: Bed, runs: int) -> Table:
    import aiohttp
    import openai

    table = Table(
        f"4. Model traffic: llama-cpp-python + Gemma 3 270M on a bed host ({runs} runs)",
        ["first token ms", "tokens/s", "overhead ms"],
    )
    name, ip, netns = bed.hosts[1] if len(bed.hosts) > 1 else bed.hosts[0]
    try:
        from tests.realmodel import MODEL_ALIAS, model_path, server_command
    except ImportError as exc:
        table.results.append(Result("llama-cpp-python", {}, f"could not run: {exc}"))
        return table
    port = 1299
    command = server_command(model_path(), port=port)
    command[command.index("--host") + 1] = "0.0.0.0"  # also reachable directly, to compare with the tunnel
    log = open(tempfile.mktemp(prefix="gtp-bench-llama-"), "wb")  # noqa: SIM115
    process = subprocess.Popen(["ip", "netns", "exec", netns, *command], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(240):
            try:
                socket.create_connection((ip, port), 0.2).close()
                break
            except OSError:
                time.sleep(0.25)
        from gtp_remote.config import load_inventory
        from gtp_remote.gateway import Gateway
        from gtp_remote.settings import Settings

        prompt = [{"role": "user", "content": "Write a short paragraph about the sea."}]

        async def one(client: openai.AsyncOpenAI) -> tuple[float, float] | None:
            started = time.perf_counter()
            first = None
            pieces = 0
            chunks = await client.chat.completions.create(
                model=MODEL_ALIAS, messages=prompt, stream=True, max_tokens=64, temperature=0
            )
            async for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    first = first or time.perf_counter()
                    pieces += 1
            end = time.perf_counter()
            if first is None:
                return None
            return (first - started) * 1000, pieces / (end - first) if end > first else 0.0

        async def both(direct_base: str, tunnel_base: str) -> tuple[tuple[list, list], tuple[list, list]]:
            """Direct and tunnel requests alternate, so the machine's drift hits both alike."""
            out: dict[str, tuple[list[float], list[float]]] = {"d": ([], []), "t": ([], [])}
            async with (
                openai.AsyncOpenAI(base_url=direct_base, api_key="x") as direct_client,
                openai.AsyncOpenAI(base_url=tunnel_base, api_key="x") as tunnel_client,
            ):
                for i in range(runs + 1):
                    for key, client in (("d", direct_client), ("t", tunnel_client)):
                        got = await one(client)
                        if i and got:  # the first round warms the model's cache and the connections
                            out[key][0].append(got[0])
                            out[key][1].append(got[1])
            return out["d"], out["t"]

        async with Gateway(load_inventory(bed.inventory), Settings(Path(tempfile.mkdtemp()))) as gw:
            local_host, local_port = await gw.executor(name).open_tunnel("127.0.0.1", port)
            direct, tunnel = await both(f"http://{ip}:{port}/v1", f"http://{local_host}:{local_port}/v1")
        for peer, (firsts, rates) in (
            ("direct (bed IP)", direct),
            ("through gtp-remote's SSH tunnel", tunnel),
        ):
            table.results.append(
                Result(
                    peer,
                    {
                        "first token ms": statistics.median(firsts),
                        "tokens/s": statistics.median(rates),
                        "overhead ms": None,
                    },
                )
            )
        d_first, t_first = statistics.median(direct[0]), statistics.median(tunnel[0])
        d_rate, t_rate = statistics.median(direct[1]), statistics.median(tunnel[1])
        table.check(
            "tunnel time to first token within 5 ms of direct",
            f"{t_first - d_first:+.1f} ms",
            t_first - d_first <= 5,
        )
        table.check(
            "tunnel token rate >= 97% of direct", f"{t_rate / d_rate * 100:.0f}%", t_rate >= 0.97 * d_rate
        )

        extra = (
            f"  llm-host:\n    host: {ip}\n    username: {bed.user}\n    identity_files: [{bed.key}]\n"
            f"    known_hosts: {bed.known_hosts}\n    llm: {{provider: lmstudio, model: {MODEL_ALIAS}, "
            f"baseUrl: 'http://localhost:{port}'}}\n"
            "llm:\n  providers:\n    lmstudio: {maxTokens: 16}\n"
        )
        serve = Serve(bed, extra=extra)
        try:
            overheads = []
            async with aiohttp.ClientSession(headers=HEADERS) as session:
                for i in range(runs + 1):
                    started = time.perf_counter()
                    async with session.post(
                        serve.url + "/command/execute-llm",
                        json={"instructions": "Say hi.", "provider": "llm-host"},
                    ) as r:
                        data = await r.json()
                    total = (time.perf_counter() - started) * 1000
                    assert r.status == 200 and not data["steps"], data
                    if i:
                        overheads.append(total - data["model_ms"])
            table.results.append(
                Result(
                    "full execute-llm call, no tool calls",
                    {"first token ms": None, "tokens/s": None, "overhead ms": statistics.median(overheads)},
                    "time outside the model: HTTP, job, host facts for the prompt, tunnel",
                )
            )
        finally:
            serve.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    return table


# -- the report --------------------------------------------------------------------------------------


# -- 5. the policy -------------------------------------------------------------------------------------


def policy_judging(runs: int) -> Table:
    """How long the policy takes to judge a command, against bash's own parser on the same text."""
    from gtp_remote.policy import Facts, Policy, PolicyConfig, shell

    table = Table(
        f"5. Policy: judging a command ({runs} runs each, median)",
        ["gtp-remote ms", "bash -n ms", "verdict"],
        text="gtp-remote: the whole judgement in-process (tree-sitter-bash parse, walk, rules), with "
        "its cache cleared each run. bash -n: bash's own parser checking the same text (a process "
        "each: `bash -n -c true` alone takes the first row's time). Large input is judged in a "
        "worker thread by the gateway, so the event loop keeps serving meanwhile.",
    )
    policy = Policy(
        PolicyConfig.model_validate(
            {"commands": {"allow": ["cat *", "ls *", "grep *", "sudo *", "ps *", "awk *", "head *"]}}
        )
    )
    facts = Facts("/home/ops", "/home/ops")
    inputs = {
        "a typical command (62 B)": "ps aux | grep -v grep | grep nginx | awk '{print $2}' | head -n 5",
        "the API's longest command (20,000 characters)": ("grep -rn ERROR /var/log/app | head; " * 600)[
            :20000
        ],
        "1 MB of data (a heredoc)": "cat <<'EOF'\n" + "a line of data\n" * 69_000 + "EOF\n",
        "1 MB of commands (refused: over 100,000 syntax nodes)": "ls -la; " * 130_000,
        "an 80 kB wrapper chain (refused: nested over 48 levels)": "sudo " * 16_000 + "ls",
    }
    for label, text in inputs.items():

        def judge(text: str = text) -> str:
            shell._CACHE.clear()
            return policy.check_command(text, facts).action

        verdict = judge()
        ours = statistics.median(timed_sync(runs, judge))
        theirs = statistics.median(
            timed_sync(max(runs // 4, 2), lambda t=text: subprocess.run(["bash", "-n", "-c", t[:100_000]]))
        )
        note = "" if len(text) <= 100_000 else "bash -n: the first 100 kB (an argument's limit)"
        table.results.append(
            Result(label, {"gtp-remote ms": ours, "bash -n ms": theirs, "verdict": verdict}, note)
        )
    big = table.value("1 MB of data (a heredoc)", "gtp-remote ms")
    table.check("1 MB of data judged in under 100 ms", ms(big), big is not None and big < 100)
    dense = table.value("1 MB of commands (refused: over 100,000 syntax nodes)", "gtp-remote ms")
    table.check(
        "1 MB of densely packed commands judged in under 100 ms",
        f"{ms(dense)} (tree-sitter's parse alone; refused, bounded at 0.5 s)",
        dense is not None and dense < 100,
    )
    chain = table.value("an 80 kB wrapper chain (refused: nested over 48 levels)", "gtp-remote ms")
    table.check(
        "an 80 kB wrapper chain no longer quadratic (was 6.8 s, 1.6 GB)",
        ms(chain),
        chain is not None and chain < 500,
    )
    return table


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )

    def version(cmd: list[str]) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (done.stdout or done.stderr).strip().splitlines()[0].split(" Copyright")[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "not installed"

    def package(name: str) -> str:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as v

        try:
            return v(name)
        except PackageNotFoundError:
            return "not installed"

    rows = [
        ("CPU", f"{os.cpu_count()} cores, {cpu}"),
        ("kernel", platform.release()),
        ("Python", platform.python_version()),
        ("gtp-remote", package("gtp-remote")),
        ("asyncssh", package("asyncssh")),
        ("OpenSSH", version(["ssh", "-V"])),
        ("ansible-core", package("ansible-core")),
        ("parallel-ssh", package("parallel-ssh")),
        ("paramiko", package("paramiko")),
        ("llama-cpp-python", package("llama-cpp-python")),
        ("aiohttp", package("aiohttp")),
        ("wrk", version(["wrk", "-v"])),
        ("hyperfine", version(["hyperfine", "--version"])),
    ]
    return "| | |\n| --- | --- |\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a small run (< 60 s) that checks the scripts work"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    args = parser.parse_args()
    bed = Bed.load()
    quick = args.quick
    started = time.time()
    tables = [await one_command(bed, runs=20 if quick else 200, fresh_runs=5 if quick else 20)]
    for n in (10,) if quick else (10, 50):
        print(f"== fan-out to {n}", file=sys.stderr)
        tables.append(await fan_out(bed, n, trials=1 if quick else 5))
    print("== throughput", file=sys.stderr)
    tables.append(await throughput(bed, seconds=1 if quick else 5, memory_hosts=len(bed.hosts)))
    print("== model traffic", file=sys.stderr)
    tables.append(await model_traffic(bed, runs=2 if quick else 20))
    tables.append(policy_judging(runs=3 if quick else 20))
    took = time.time() - started
    command = "scripts/bench --quick" if quick else "scripts/bench"
    report = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in {took:.0f} s; "
        "every "
        "number below comes from that one run on the sshd test bed (namespace hosts on one machine). "
        "The machine is shared and noisy: compare ratios within the run rather than absolute times."
        + (
            " **This is a --quick run: few samples, for checking the scripts, not for conclusions.**"
            if quick
            else ""
        ),
        "",
        "## Machine",
        "",
        machine(),
        *[t.markdown() for t in tables],
        "## Reproduce",
        "",
        f"`{command}` (as root: it brings up the test bed with {len(bed.hosts)} hosts "
        "and installs the peers).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(report))
    print(f"wrote {args.out} in {took:.0f} s", file=sys.stderr)
    failed = [r.peer for t in tables for r in t.results if r.note.startswith("could not run")]
    return 1 if failed and quick else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
