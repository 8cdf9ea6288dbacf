"""Benchmarks of gtp-remote side by side with OpenSSH, ControlMaster, Ansible, parallel-ssh, paramiko.

Run by ``scripts/bench`` (which brings up the sshd test bed and installs the peers). Every figure
in docs/benchmarks.md comes from ONE run of this script, on the bed's namespace hosts: the machine
is shared and noisy, so the ratios within a run matter more than absolute times. A peer that cannot
run is reported as such with the reason; no number is ever written by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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
    """``gtp-remote serve`` in its own process, on the bed inventory (plus a local server).

    ``files`` replaces that inventory with other files (name -> YAML text), ``env`` adds to the
    server's environment, and ``log`` keeps its output in a file (the soak reads it for
    tracebacks; other measurements discard it)."""

    def __init__(
        self,
        bed: Bed | None,
        extra: str = "",
        *,
        files: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        log: bool = False,
    ):
        self.dir = Path(tempfile.mkdtemp(prefix="gtp-bench-"))
        inventory = self.dir / "hosts"
        inventory.mkdir()
        if files is None:
            assert bed is not None
            shutil.copy(bed.inventory, inventory / "bed.yaml")
            (inventory / "local.yaml").write_text("servers:\n  local: {protocol: local}\n" + extra)
        for name, text in (files or {}).items():
            (inventory / name).write_text(text)
        self.port = _free_port()
        env = {
            **os.environ,
            "GTP_API_TOKEN": TOKEN,
            "GTP_STATE_DIR": str(self.dir / "state"),
            "GTP_RATE_LIMIT": "1000000",
            "GTP_RATE_BURST": "1000000",
            "GTP_TEMPLATES": str(ROOT / "templates"),
            **(env or {}),
        }
        self.log_path = self.dir / "serve.log" if log else None
        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gtp_remote", "-i", str(inventory), "serve", "--port", str(self.port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        )
        if log:
            out.close()  # the child has its own copy
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

    def open_fds(self) -> int:
        """Files the server process holds open now: sockets, SSH connections, databases, logs."""
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def open_files(self) -> dict[str, int]:
        """The server's open files by kind (sockets together, files by name): what a count is."""
        kinds: dict[str, int] = {}
        folder = Path(f"/proc/{self.process.pid}/fd")
        for fd in folder.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile
            kind = target.split(":", 1)[0] if target.startswith(("socket:", "pipe:")) else Path(target).name
            kinds[kind] = kinds.get(kind, 0) + 1
        return dict(sorted(kinds.items()))

    def close(self) -> str:
        """Stop the server; its log (with ``log=True``), read before its folder goes."""
        self.process.terminate()
        self.process.wait(timeout=30)
        text = self.log_path.read_text(errors="replace") if self.log_path else ""
        shutil.rmtree(self.dir, ignore_errors=True)
        return text


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
    from gtp_remote.policy import Facts, Policy, PolicyConfig, analyse, shell

    table = Table(
        f"5. Policy: judging a command ({runs} runs each, median)",
        ["gtp-remote ms", "bash -n ms", "verdict"],
        text="gtp-remote: the whole judgement as the gateway makes it (`policy.analyse`: refused "
        "before parsing past 5,000 words and operators; a worker process for text with many "
        "operators, killed at 2 s; a thread for long text; then the rules), with its cache cleared "
        "each run. bash -n: bash's own parser checking the same text (a process each: "
        "`bash -n -c true` alone takes the first row's time).",
    )
    policy = Policy(
        PolicyConfig.model_validate(
            {"commands": {"allow": ["cat *", "ls *", "grep *", "sudo *", "ps *", "awk *", "head *"]}}
        )
    )
    facts = Facts("/home/ops", "/home/ops")
    dense = "1 MB of commands (refused before parsing: over 5,000 words)"
    invalid = "5 kB of invalid pipes (a worker process's parse)"
    chain = "an 80 kB wrapper chain (refused before parsing)"
    inputs = {
        "a typical command (62 B)": "ps aux | grep -v grep | grep nginx | awk '{print $2}' | head -n 5",
        "the API's longest command (20,000 characters)": ("grep -rn ERROR /var/log/app | head; " * 600)[
            :20000
        ],
        "1 MB of data (a heredoc)": "cat <<'EOF'\n" + "a line of data\n" * 69_000 + "EOF\n",
        dense: "ls -la; " * 130_000,
        invalid: "a|" * 2_400,
        chain: "sudo " * 16_000 + "ls",
    }
    runs_done = itertools.count()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(analyse("a|" * 300))  # the worker process starts once, not timed
    try:
        for label, text in inputs.items():

            def judge(text: str = text) -> str:
                shell._CACHE.clear()  # and a new comment each run: the worker keeps a cache too
                fresh = f"{text}\n# run {next(runs_done)}"
                return policy.judge(loop.run_until_complete(analyse(fresh)), facts).action

            verdict = judge()
            ours = statistics.median(timed_sync(runs, judge))
            theirs = statistics.median(
                timed_sync(
                    max(runs // 4, 2), lambda t=text: subprocess.run(["bash", "-n", "-c", t[:100_000]])
                )
            )
            note = "" if len(text) <= 100_000 else "bash -n: the first 100 kB (an argument's limit)"
            table.results.append(
                Result(label, {"gtp-remote ms": ours, "bash -n ms": theirs, "verdict": verdict}, note)
            )
    finally:
        loop.close()
    big = table.value("1 MB of data (a heredoc)", "gtp-remote ms")
    table.check("1 MB of data judged in under 100 ms", ms(big), big is not None and big < 100)
    packed = table.value(dense, "gtp-remote ms")
    table.check(
        "1 MB of densely packed commands judged in under 100 ms",
        f"{ms(packed)} (refused before parsing)",
        packed is not None and packed < 100,
    )
    slow = table.value(invalid, "gtp-remote ms")
    table.check(
        "input that stalls the parser judged within the worker's 2 s, off the event loop",
        ms(slow),
        slow is not None and slow < 2500,
    )
    wrapped = table.value(chain, "gtp-remote ms")
    table.check(
        "an 80 kB wrapper chain no longer quadratic (was 6.8 s, 1.6 GB)",
        ms(wrapped),
        wrapped is not None and wrapped < 500,
    )
    return table


# -- 6. soak ---------------------------------------------------------------------------------------
#
# Why a soak: a leak shows only over thousands of requests (a file descriptor per dropped client,
# a job kept in memory, a tunnel per model call), and the mixes that break a server are the ones
# nobody tests one by one: clients leaving mid-body while fan-outs run and jobs are cancelled. So
# one real `serve` process on the bed gets a seeded mix of every kind of request, good and bad,
# paced over the run; its open files and memory are measured at rest after the warm-up and at the
# end (all clients gone, no job running), and every answer is checked against the statuses its
# kind may get. tests/test_soak.py runs the same code, shorter, in scripts/test.

SOAK_SECTION = "## 6. Soak"
SOAK_MODEL = "test-model"
SOAK_ANSWER = "soak answer from the scripted model"
LEFT = 0  # the status recorded for a request whose client left before any answer
FAILED = -1  # the status recorded for a request the client could not complete (a finding)


@dataclass(frozen=True)
class SoakSettings:
    """How long, how hard, and the limits the checks hold the run to."""

    requests: int = 20_000
    seconds: float = 600.0
    concurrency: int = 12
    # The share of requests before the first measurement at rest. Resident memory rises to a
    # plateau (SQLite's page caches of the growing jobs database, 2 MB per connection, and the
    # allocator's high-water marks) within about 5,000 requests here: measured from 10% (2,000)
    # it grew 6% and then stayed within 0.3 MB for the whole second half, which is no leak.
    warmup: float = 0.25
    seed: int = 13
    max_fd_growth: float = 0.05  # at rest, end against after warm-up
    max_rss_growth: float = 0.05
    # Environment for the server's C allocator; none by default (the server as shipped). glibc's
    # per-thread arenas and its moving mmap threshold make resident memory climb by high-water
    # marks for the first thousands of requests; a short run pins them (PINNED_MALLOC) so that
    # what it sees is the server's own growth.
    malloc_env: tuple[tuple[str, str], ...] = ()


#: One malloc arena, and large blocks (over 128 KiB) always mmapped and given back when freed.
PINNED_MALLOC = (("MALLOC_ARENA_MAX", "1"), ("MALLOC_MMAP_THRESHOLD_", "131072"))


#: operation -> (weight in the mix, requests it sends). Each is a ``SoakClient.op_NAME`` method.
SOAK_MIX: dict[str, tuple[float, int]] = {
    "shell": (14, 1),
    "shell_stream": (4, 1),
    "shell_big": (2, 1),
    "fanout": (4, 1),
    "code": (3, 1),
    "files": (3, 8),
    "file_refused": (2, 1),
    "job_cancel": (2, 5),
    "job_poll": (1.5, 4),
    "llm": (1, 1),
    "llm_stream": (1.5, 1),
    "leave_stream": (1, 1),
    "bad_token": (3, 1),
    "scoped": (3, 1),
    "malformed": (4, 1),
    "too_large": (0.4, 1),
    "reads": (4, 1),
    "leave": (4, 1),
}
SOAK_MODEL_OPS = {"llm", "llm_stream", "leave_stream"}  # one chat request to the model each
MODEL_KEEPALIVE = 5.0  # seconds: httpx's default keep-alive, in the gateway's model clients


def soak_plan(settings: SoakSettings) -> list[str]:
    """Every operation twice (so the warm-up meets them all), then a seeded weighted mix long
    enough for the run; computed up front, so the model server can be told how many replies the
    run will need."""
    import random

    rng = random.Random(settings.seed)
    names = list(SOAK_MIX)
    weights = [w for w, _ in SOAK_MIX.values()]
    out = names + names
    sent = 2 * sum(n for _, n in SOAK_MIX.values())
    while sent < settings.requests * 1.5 + 100:
        name = rng.choices(names, weights)[0]
        out.append(name)
        sent += SOAK_MIX[name][1]
    return out


@dataclass
class Point:
    """The server process at one moment: open files and resident memory."""

    label: str
    seconds: float
    requests: int
    fds: int
    rss_mb: float
    files: dict[str, int] = field(default_factory=dict)  # at rest: the open files by kind

    def __str__(self) -> str:
        return f"{self.fds} open fds, {self.rss_mb:.1f} MB RSS after {self.requests} requests"


@dataclass
class SoakResult:
    settings: SoakSettings
    hosts: list[str]
    seconds: float = 0.0
    requests: int = 0
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)  # kind -> status -> count
    expected: dict[str, set[int]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)  # a status outside its kind's set, or a 5xx
    wrong: list[str] = field(default_factory=list)  # an expected status with a wrong answer in it
    points: list[Point] = field(default_factory=list)  # under load
    warm: Point | None = None
    end: Point | None = None
    log_problems: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # jobs still running, remote processes left
    disturbed: list[str] = field(default_factory=list)  # the bed changed under the run (not ours)

    @property
    def fd_growth(self) -> float:
        assert self.warm and self.end
        return self.end.fds / self.warm.fds - 1

    @property
    def rss_growth(self) -> float:
        assert self.warm and self.end
        return self.end.rss_mb / self.warm.rss_mb - 1

    @property
    def server_errors(self) -> int:
        return sum(n for counts in self.statuses.values() for s, n in counts.items() if s >= 500)

    def failures(self) -> list[str]:
        """What breaks the soak's promises; empty when the run is clean."""
        out = [f"the bed was disturbed during the run: {d}" for d in self.disturbed]
        if self.fd_growth > self.settings.max_fd_growth:
            out.append(
                f"open files grew {self.fd_growth:+.1%} at rest ({self.warm.fds} -> {self.end.fds}): "
                f"{self.warm.files} -> {self.end.files}"
            )
        if self.rss_growth > self.settings.max_rss_growth:
            rss = f"{self.warm.rss_mb:.1f} -> {self.end.rss_mb:.1f} MB"
            late = [p.rss_mb for p in self.points if p.requests >= self.requests / 2]
            if late and max(late) - min(late) < 0.01 * self.end.rss_mb:
                rss += (
                    f"; under load in the second half it stayed within {min(late):.1f}-{max(late):.1f} "
                    "MB: a high-water mark reached after the warm-up, not a steady climb"
                )
            out.append(f"RSS grew {self.rss_growth:+.1%} at rest ({rss})")
        out += [f"unexpected: {u}" for u in self.unexpected[:20]]
        out += [f"wrong answer: {w}" for w in self.wrong[:20]]
        out += [f"server log: {line}" for line in self.log_problems[:20]]
        out += [f"left over: {line}" for line in self.leftovers[:20]]
        return out

    def markdown(self, command: str) -> str:
        s = self.settings
        assert self.warm and self.end
        lines = [
            f"{SOAK_SECTION}: {self.requests:,} mixed requests in {self.seconds:.0f} s against one `serve`",
            "",
            f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. One "
            f"`gtp-remote serve` process with {len(self.hosts)} of the bed's hosts "
            f"({', '.join(self.hosts)}) in its inventory, a scripted model server inside `db` "
            "(reached through its SSH tunnel), and a tokens file with a token for everything and "
            "one scoped to `code` alone. "
            f"{s.concurrency} clients send a seeded mix (seed {s.seed}) paced at "
            f"{s.requests / s.seconds:.0f} requests/s: commands (short, streaming their output, "
            "300 kB of output, a fan-out to every host, programs), file write/read/patch/append/"
            "list in a scratch folder that is `code`'s `root` (and paths outside it), jobs "
            "started with `wait_seconds: 0` then polled and cancelled (twice), specialist calls "
            "answered whole and as server-sent events, wrong and missing tokens, the scoped "
            "token on servers and jobs outside its scope, malformed, deeply nested and oversized "
            "bodies, and clients that leave mid-headers, mid-body, before the answer, mid-answer "
            "and mid-stream. Every answer is checked against the statuses its kind may get (a 5xx "
            "never may) and its content where it has one. *At rest*: every client gone, no job "
            f"running, the server's open files steady; measured after the warm-up (the first "
            f"{s.warmup:.0%} of requests, which run every kind at least twice) and at the end.",
            "",
            "| moment | seconds | requests | open fds | RSS MB |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        every = max(1, len(self.points) // 10)
        shown = [self.warm, *self.points[every - 1 :: every], self.end]
        for p in sorted(shown, key=lambda p: (p.seconds, p.label != "under load")):
            lines.append(f"| {p.label} | {p.seconds:.0f} | {p.requests:,} | {p.fds} | {p.rss_mb:.1f} |")
        files = ", ".join(f"{kind} × {n}" for kind, n in self.end.files.items())
        lines += ["", f"Open files at rest at the end: {files}."]
        late = [p.rss_mb for p in self.points if p.requests >= self.requests / 2]
        if late:  # a leak keeps climbing; high-water marks flatten out
            lines[-1] += (
                f" Under load in the second half of the run, RSS stayed between {min(late):.1f} and "
                f"{max(late):.1f} MB."
            )
        if s.malloc_env:
            lines[-1] += " The server ran with " + " ".join(f"`{k}={v}`" for k, v in s.malloc_env) + "."
        lines += ["", "| requests of kind | count | statuses | expected |", "| --- | ---: | --- | --- |"]
        for kind in sorted(self.statuses):
            counts = self.statuses[kind]
            seen = ", ".join(f"{_status(st)} × {n}" for st, n in sorted(counts.items()))
            allowed = ", ".join(_status(st) for st in sorted(self.expected[kind]))
            lines.append(f"| {kind} | {sum(counts.values()):,} | {seen} | {allowed} |")
        checks = [
            (
                f"open files at rest grow at most {s.max_fd_growth:.0%} after warm-up",
                f"{self.warm.fds} -> {self.end.fds} ({self.fd_growth:+.1%})",
                self.fd_growth <= s.max_fd_growth,
            ),
            (
                f"RSS at rest grows at most {s.max_rss_growth:.0%} after warm-up",
                f"{self.warm.rss_mb:.1f} -> {self.end.rss_mb:.1f} MB ({self.rss_growth:+.1%})",
                self.rss_growth <= s.max_rss_growth,
            ),
            ("0 unexpected statuses", str(len(self.unexpected)), not self.unexpected),
            ("0 server errors (5xx)", str(self.server_errors), not self.server_errors),
            ("0 wrong answers", str(len(self.wrong)), not self.wrong),
            (
                "0 tracebacks or errors in the server's log",
                str(len(self.log_problems)),
                not self.log_problems,
            ),
            (
                "no job left running, no cancelled command left on a host",
                str(len(self.leftovers)),
                not self.leftovers,
            ),
            ("the bed's sshds ran undisturbed throughout", str(len(self.disturbed)), not self.disturbed),
        ]
        lines += ["", "| target | measured | met |", "| --- | --- | --- |"]
        lines += [f"| {t} | {m} | {'yes' if ok else 'no'} |" for t, m, ok in checks]
        problems = self.failures()
        if problems:
            lines += ["", "What went wrong (first of each):", ""] + [f"- {p}" for p in problems]
        return "\n".join(lines) + "\n"


def _status(status: int) -> str:
    return {LEFT: "client left", FAILED: "client error"}.get(status, str(status))


class _Pacer:
    """Spreads the requests evenly over the run: request n starts no earlier than n intervals in.
    A pause (the measurement at rest) moves the schedule on, so the run does not burst after it."""

    def __init__(self, requests: int, seconds: float):
        self.interval = seconds / requests
        self.sent = 0
        self.origin = time.monotonic()

    async def slot(self) -> None:
        due = self.origin + self.sent * self.interval
        self.sent += 1
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def paused(self, seconds: float) -> None:
        self.origin += seconds


class _Stop(Exception):
    """A request got a status outside its kind's set (recorded as unexpected): the requests its
    operation would send after it cannot know their answers, so the operation ends there
    instead of recording their consequences as findings of their own."""


class SoakClient:
    """The soak's clients: one seeded schedule of operations, each one to seven requests, shared
    by ``concurrency`` workers; every answer is recorded against the statuses its kind may get."""

    def __init__(self, serve: Serve, hosts: list[str], tokens: dict[str, str], marker: str, s: SoakSettings):
        import random

        self.serve = serve
        self.hosts = hosts
        self.tokens = tokens
        self.marker = marker  # in the sleeps of cancelled jobs, to find any left on a host
        self.settings = s
        self.result = SoakResult(s, hosts)
        self.pacer = _Pacer(s.requests, s.seconds)
        self.started = time.monotonic()
        self.session: Any = None
        self.stop_at = 0
        self.main_jobs: list[str] = []  # job ids of the main token, for the scoped token to miss
        self.hidden = next(h for h in hosts if h != "code")  # a server outside the scoped token's
        self.rngs = [random.Random(s.seed * 1000 + w) for w in range(s.concurrency)]
        self.schedule = iter(soak_plan(s))

    # -- requests ----------------------------------------------------------------------------------

    def headers(self, token: str | None = "main") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}

    def record(self, kind: str, status: int, expect: set[int], detail: str = "") -> None:
        self.result.statuses.setdefault(kind, {}).setdefault(status, 0)
        self.result.statuses[kind][status] += 1
        self.result.expected.setdefault(kind, set()).update(expect)
        if status not in expect or status >= 500:
            self.result.unexpected.append(f"{kind}: {_status(status)} {detail[:300]}")

    def failed(self, kind: str, exc: BaseException) -> None:
        """A request the client could not complete: a finding too (the server dropped us)."""
        self.record(kind, FAILED, set(), f"{type(exc).__name__}: {exc}")

    def check(self, kind: str, ok: bool, detail: Any) -> None:
        if not ok:
            self.result.wrong.append(f"{kind}: {str(detail)[:300]}")

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        expect: set[int],
        *,
        body: Any = None,
        raw: bytes | None = None,
        token: str | None = "main",
    ) -> tuple[int, Any]:
        """One request through the shared keep-alive session; (status, JSON body or None).
        Raises ``_Stop`` (after recording it) when the status is not one of ``expect``."""
        await self.pacer.slot()
        headers = self.headers(token)
        if raw is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self.session.request(
                method, self.serve.url + path, json=body if raw is None else None, data=raw, headers=headers
            ) as r:
                text = await r.text()
                status = r.status
        except Exception as exc:
            self.failed(kind, exc)
            raise _Stop from None
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = text
        self.record(kind, status, expect, text if status not in expect or status >= 500 else "")
        if status not in expect:
            raise _Stop
        return status, data

    # -- operations ----------------------------------------------------------------------------------

    def host(self, w: int) -> str:
        return self.rngs[w].choice(self.hosts)

    async def op_shell(self, w: int) -> None:
        st, data = await self.call(
            "shell",
            "POST",
            "/command/execute-shell",
            {200},
            body={"command": f"echo soak {w}", "server": self.host(w)},
        )
        self.check("shell", st != 200 or data["stdout"] == f"soak {w}\n", data)

    async def op_shell_stream(self, w: int) -> None:
        command = "for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; sleep 0.01; done"
        st, data = await self.call(
            "shell_stream",
            "POST",
            "/command/execute-shell",
            {200},
            body={"command": command, "server": self.host(w)},
        )
        self.check("shell_stream", st != 200 or data["stdout"].count("line") == 10, data)

    async def op_shell_big(self, w: int) -> None:
        command = "head -c 300000 /dev/zero | tr '\\0' x"
        st, data = await self.call(
            "shell_big",
            "POST",
            "/command/execute-shell",
            {200},
            body={"command": command, "server": self.host(w)},
        )
        self.check("shell_big", st != 200 or (data["stdout_bytes"] == 300000 and data["truncated"]), data)

    async def op_fanout(self, w: int) -> None:
        st, data = await self.call(
            "fanout",
            "POST",
            "/command/execute-shell",
            {200},
            body={"command": "uname -n", "target": "group:bed"},
        )
        self.check("fanout", st != 200 or data["summary"]["ok"] == len(self.hosts), data)

    async def op_code(self, w: int) -> None:
        body = {"code": "print(sum(range(1000)))", "language": "python", "server": self.host(w)}
        st, data = await self.call("code", "POST", "/command/execute-code", {200}, body=body)
        self.check("code", st != 200 or data["stdout"] == "499500\n", data)

    async def op_files(self, w: int) -> None:
        """Write, read, patch, read, append, a create that must not overwrite, a patch that must
        not apply, list: on this worker's own files, so the answers are known."""
        rng = self.rngs[w]
        name = f"w{w}-{rng.randrange(4)}.txt"
        first = f"alpha {rng.randrange(10**6)}\nbeta\n"
        files = "/file/"

        async def file(step: str, expect: set[int], body: dict[str, Any]) -> tuple[int, Any]:
            return await self.call(f"file_{step}", "POST", files + step.split("_")[0], expect, body=body)

        base = {"path": name, "server": "code"}
        st, data = await file("write", {200}, {**base, "content": first})
        self.check("file_write", st != 200 or data["stat"]["size"] == len(first), data)
        st, data = await file("read", {200}, base)
        self.check("file_read", st != 200 or data["content"] == first, data)
        diff = f"--- a/{name}\n+++ b/{name}\n@@ -1,2 +1,2 @@\n {first.splitlines()[0]}\n-beta\n+gamma\n"
        st, data = await file("patch", {200}, {**base, "diff": diff})
        self.check("file_patch", st != 200 or data["hunks"] == 1, data)
        st, data = await file("read", {200}, base)
        second = first.replace("beta", "gamma")
        self.check("file_read", st != 200 or data["content"] == second, data)
        st, data = await file("write_append", {200}, {**base, "content": "delta\n", "mode": "append"})
        self.check("file_write_append", st != 200 or data["stat"]["size"] == len(second) + 6, data)
        await file("write_create_existing", {409}, {**base, "content": "x", "mode": "create"})
        await file("patch_stale", {400}, {**base, "diff": diff})  # beta is gone: refused whole
        st, data = await file("list", {200}, {"path": ".", "server": "code"})
        self.check("file_list", st != 200 or name in {e["name"] for e in data["entries"]}, data)

    async def op_file_refused(self, w: int) -> None:
        path, expect = self.rngs[w].choice(
            [("/etc/passwd", 403), ("../../../etc/passwd", 403), (f"missing-{w}.txt", 404)]
        )
        await self.call("file_refused", "POST", "/file/read", {expect}, body={"path": path, "server": "code"})

    async def op_job_cancel(self, w: int) -> None:
        """A long command answered 202, polled, cancelled, cancelled again (409), read back."""
        host = self.host(w)
        body = {"command": f"sleep {self.marker}", "server": host, "wait_seconds": 0}
        st, data = await self.call("job_start", "POST", "/command/execute-shell", {202}, body=body)
        if st != 202:
            return
        job = data["job_id"]
        self.main_jobs = [*self.main_jobs[-20:], job]
        st, data = await self.call("job_get", "GET", f"/jobs/{job}", {200})
        self.check("job_get", st != 200 or data["status"] == "running", data)
        st, data = await self.call("job_cancel", "POST", f"/jobs/{job}/cancel", {200})
        self.check("job_cancel", st != 200 or data["status"] == "cancelled", data)
        await self.call("job_cancel_again", "POST", f"/jobs/{job}/cancel", {409})
        st, data = await self.call("job_get", "GET", f"/jobs/{job}", {200})
        self.check("job_get", st != 200 or data["status"] == "cancelled", data)

    async def op_job_poll(self, w: int) -> None:
        """A program answered 202 and polled until it is done: its result is whole."""
        body = {
            "code": "import time\ntime.sleep(0.3)\nprint('done')",
            "language": "python",
            "server": self.host(w),
            "wait_seconds": 0,
        }
        st, data = await self.call("job_start", "POST", "/command/execute-code", {202}, body=body)
        if st != 202:
            return
        job = data["job_id"]
        for _ in range(100):
            await asyncio.sleep(0.15)
            st, data = await self.call("job_get", "GET", f"/jobs/{job}", {200})
            if st != 200 or data["status"] != "running":
                break
        self.check(
            "job_get",
            st != 200 or (data["status"] == "succeeded" and data["result"]["stdout"] == "done\n"),
            data,
        )

    async def op_llm(self, w: int) -> None:
        body = {"instructions": "Say the soak answer.", "provider": "db"}
        st, data = await self.call("llm", "POST", "/command/execute-llm", {200}, body=body)
        self.check("llm", st != 200 or data["answer"] == SOAK_ANSWER, data)

    async def op_llm_stream(self, w: int) -> None:
        """A specialist's answer as server-sent events, read to the end."""
        await self.pacer.slot()
        body = {"instructions": "Say the soak answer.", "provider": "db", "stream": True}
        events: list[str] = []
        try:
            async with self.session.post(
                self.serve.url + "/command/execute-llm", json=body, headers=self.headers()
            ) as r:
                status = r.status
                async for line in r.content:
                    if line.startswith(b"event: "):
                        events.append(line[7:].strip().decode())
        except Exception as exc:
            return self.failed("llm_stream", exc)
        self.record("llm_stream", status, {200})
        self.check(
            "llm_stream", status != 200 or (events[:1] == ["job"] and events[-1:] == ["final"]), events
        )

    async def op_bad_token(self, w: int) -> None:
        """A wrong, missing or non-bearer token: 401, or 429 once an address has sent 20 of them
        faster than 2 a second (README, audit log)."""
        headers = self.rngs[w].choice(
            [
                {"Authorization": "Bearer not-a-token-of-this-gateway"},
                {},
                {"Authorization": "Basic c29hazpzb2Fr"},
            ]
        )
        await self.pacer.slot()
        try:
            async with self.session.post(
                self.serve.url + "/command/execute-shell", json={"command": "true"}, headers=headers
            ) as r:
                await r.read()
        except Exception as exc:
            return self.failed("bad_token", exc)
        self.record("bad_token", r.status, {401, 429})

    async def op_scoped(self, w: int) -> None:
        """The token scoped to `code`: everything else answers 404, as if it did not exist."""
        rng = self.rngs[w]
        choice = rng.randrange(6)
        if choice == 0:
            st, data = await self.call(
                "scoped_own",
                "POST",
                "/command/execute-shell",
                {200},
                body={"command": "echo mine", "server": "code"},
                token="scoped",
            )
            self.check("scoped_own", st != 200 or data["stdout"] == "mine\n", data)
        elif choice == 1:
            body = {"command": "true", "server": self.hidden}
            await self.call(
                "scoped_hidden", "POST", "/command/execute-shell", {404}, body=body, token="scoped"
            )
        elif choice == 2:
            body = {"command": "true", "target": ",".join(self.hosts)}
            await self.call(
                "scoped_hidden", "POST", "/command/execute-shell", {404}, body=body, token="scoped"
            )
        elif choice == 3:
            body = {"path": "/etc/hostname", "server": self.hidden}
            await self.call("scoped_hidden", "POST", "/file/read", {404}, body=body, token="scoped")
        elif choice == 4:
            path = f"/llm/models?server={self.hidden}"
            await self.call("scoped_hidden", "GET", path, {404}, token="scoped")
        else:
            job = self.main_jobs[-1] if self.main_jobs else "0123456789abcdef"
            await self.call("scoped_hidden", "GET", f"/jobs/{job}", {404}, token="scoped")

    async def op_malformed(self, w: int) -> None:
        bodies = [
            b'{"command": ',
            b"[1, 2, 3]",
            b'{"command": "true", "bogus": 1}',
            b'{"command": 5}',
            b"{}",
            b"\xff\xfe{",
            b'{"a": ' * 20000 + b"1" + b"}" * 20000,  # deeper than the parser's recursion
            b"[" * 60000 + b"]" * 60000,
        ]
        raw = self.rngs[w].choice(bodies)
        await self.call("malformed", "POST", "/command/execute-shell", {400}, raw=raw)

    async def op_too_large(self, w: int) -> None:
        raw = b'{"command": "' + b"x" * (1024 * 1024 + 100) + b'"}'
        await self.call("too_large", "POST", "/command/execute-shell", {413}, raw=raw)

    async def op_reads(self, w: int) -> None:
        method, path, expect, token = self.rngs[w].choice(
            [
                ("GET", "/health", 200, None),
                ("GET", "/server/list", 200, "main"),
                ("GET", "/jobs?limit=20", 200, "main"),
                ("GET", "/jobs/ffffffffffffffff", 404, "main"),
                ("GET", "/no/such/endpoint", 404, "main"),
                ("DELETE", "/jobs", 405, "main"),
                ("GET", "/openapi.json", 200, None),
            ]
        )
        await self.call("reads", method, path, {expect}, token=token)

    async def op_leave(self, w: int) -> None:
        """A client that leaves: mid-headers, mid-body, before its answer, or mid-answer."""
        await self.pacer.slot()
        how = self.rngs[w].choice(["headers", "body", "before_answer", "mid_answer"])
        command = {
            "before_answer": "sleep 0.2; echo gone",
            "mid_answer": "head -c 300000 /dev/zero | tr '\\0' y",
        }.get(how, "echo never")
        body = json.dumps({"command": command, "server": self.host(w)}).encode()
        head = (
            f"POST /command/execute-shell HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self.tokens['main']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sent = {"headers": head[: len(head) // 2], "body": head + body[: len(body) // 2]}.get(
            how, head + body
        )
        status = LEFT
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.serve.port)
            try:
                writer.write(sent)
                await writer.drain()
                if how == "mid_answer":
                    first = await reader.read(256)
                    status = int(first.split(b" ", 2)[1]) if first.startswith(b"HTTP/1.1 ") else FAILED
                else:
                    await asyncio.sleep(0.02)
            finally:
                writer.transport.abort()
        except Exception as exc:
            return self.failed(f"leave_{how}", exc)
        self.record(f"leave_{how}", status, {200} if how == "mid_answer" else {LEFT})

    async def op_leave_stream(self, w: int) -> None:
        """A client that reads a specialist's first events and leaves; the job goes on."""
        import aiohttp

        await self.pacer.slot()
        body = {"instructions": "Say the soak answer.", "provider": "db", "stream": True}
        try:
            async with (
                aiohttp.ClientSession() as own,  # its own connection, dropped mid-stream
                own.post(self.serve.url + "/command/execute-llm", json=body, headers=self.headers()) as r,
            ):
                seen = 0
                async for line in r.content:
                    seen += line.startswith(b"event: ")
                    if seen >= 2:
                        break
                r.close()
        except Exception as exc:
            return self.failed("leave_stream", exc)
        self.record("leave_stream", r.status, {200})

    # -- the run -------------------------------------------------------------------------------------

    async def worker(self, w: int) -> None:
        while self.pacer.sent < self.stop_at:
            name = next(self.schedule, "shell")
            try:
                await getattr(self, "op_" + name)(w)
            except _Stop:
                pass  # recorded where it happened
            except Exception as exc:  # an answer the checks could not read is wrong; the run goes on
                self.result.wrong.append(f"{name}: {type(exc).__name__}: {exc}"[:300])

    async def phase(self, until: int) -> None:
        import aiohttp

        self.stop_at = until
        connector = aiohttp.TCPConnector(limit=self.settings.concurrency * 2)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as self.session:
            await asyncio.gather(*(self.worker(w) for w in range(self.settings.concurrency)))
        self.session = None

    def point(self, label: str) -> Point:
        return Point(
            label,
            time.monotonic() - self.started,
            self.pacer.sent,
            self.serve.open_fds(),
            self.serve.rss_mb(),
        )

    async def sample(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self.result.points.append(self.point("under load"))

    async def at_rest(self, label: str) -> Point:
        """The server at rest: every client gone (their sessions closed), no job running, its
        open files steady for 1.5 s.

        One thing is settled first. The model client's pool (httpx) keeps idle connections to
        the SSH tunnel, two fds each since both ends are in the server, and closes those idle
        past their keep-alive (5 s) only when it is next used: how many remain depends on the
        last burst of model calls. So wait out the keep-alive and make one call, which leaves
        exactly one, at both measurements."""
        import aiohttp

        paused = time.monotonic()
        async with aiohttp.ClientSession() as probe:
            await self._no_job_running(probe)
            await asyncio.sleep(MODEL_KEEPALIVE + 0.5)
            body = {"instructions": "Say the soak answer.", "provider": "db"}
            async with probe.post(
                self.serve.url + "/command/execute-llm", json=body, headers=self.headers()
            ) as r:
                if r.status != 200:
                    self.result.unexpected.append(f"llm at rest: {r.status} {(await r.text())[:300]}")
            await self._no_job_running(probe)
        readings: list[int] = []
        for _ in range(100):
            await asyncio.sleep(0.5)
            readings.append(self.serve.open_fds())
            if len(readings) >= 4 and len(set(readings[-4:])) == 1:
                break
        point = self.point(label)
        point.files = self.serve.open_files()
        self.pacer.paused(time.monotonic() - paused)
        return point

    async def _no_job_running(self, probe: Any) -> None:
        """Until no job runs; one still running after 30 s (every soak job is done in seconds,
        or cancelled) is left over, and the measurement goes on without it."""
        for _ in range(300):
            async with probe.get(self.serve.url + "/jobs?limit=200", headers=self.headers()) as r:
                running = [j["job_id"] for j in (await r.json())["jobs"] if j["status"] == "running"]
            if not running:
                return
            await asyncio.sleep(0.1)
        self.result.leftovers.append(f"jobs still running 30 s into a measurement at rest: {running}")


def _scripted_model(host: dict[str, str], replies: int) -> Any:
    """tests/modelserver.py inside ``host``'s namespace on a free loopback port (reached only
    through the gateway's SSH tunnel), told to give ``replies`` short streamed answers."""
    from tests.conftest import BedHost
    from tests.llmbed import start_scripted

    bed_host = BedHost(host["name"], host["ip"], host["netns"], Path(host["dir"]), Path(host["home"]))
    model = start_scripted(bed_host)
    model.script(*[{"content": SOAK_ANSWER, "chunk": 6, "chunk_delay": 0.01}] * replies, models=[SOAK_MODEL])
    return model


#: The bed's hosts the soak uses. Not k8s-master: the bed is shared, and that is the host the
#: fault tests (tests/test_faults.py) stop and restart; a soak there would measure their outages.
SOAK_HOSTS = ("db", "code")
SCOPED_TOKEN = "[exec, files.read, files.write, llm]"  # no admin: another token's jobs are not its own


async def soak(settings: SoakSettings, *, progress: Callable[[str], None] | None = None) -> SoakResult:
    """The soak: a real ``serve`` on the bed, ``settings.requests`` requests over about
    ``settings.seconds``; returns what was measured (``SoakResult.failures()`` says what broke).

    Needs root and the bed's ``db`` and ``code`` hosts: ``code``'s files are confined to a scratch
    folder made for the run, and ``db`` runs the scripted model server."""
    import contextlib
    import secrets

    import yaml

    say = progress or (lambda text: None)
    layout = json.loads((BED_DIR / "bed.json").read_text())
    by_name = {h["name"]: h for h in layout["hosts"] if h["name"] in SOAK_HOSTS}
    if set(by_name) != set(SOAK_HOSTS):
        found = sorted(h["name"] for h in layout["hosts"])
        raise RuntimeError(f"the soak needs the bed's hosts {', '.join(SOAK_HOSTS)}; the bed has {found}")
    run = secrets.token_hex(4)
    marker = f"30.{int(run, 16) % 10**6:06d}"  # `sleep 30.NNNNNN`: found again on a host if left
    tokens = {"main": "soak-" + secrets.token_hex(16), "scoped": "soak-scoped-" + secrets.token_hex(16)}
    sshds = _sshd_pids(by_name)
    with contextlib.ExitStack() as cleanup:
        home = Path(by_name["code"]["home"])
        scratch = home / f"soak-{run}"
        scratch.mkdir()
        cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        os.chown(scratch, home.stat().st_uid, home.stat().st_gid)
        work = Path(tempfile.mkdtemp(prefix="gtp-soak-"))
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        model = _scripted_model(by_name["db"], sum(op in SOAK_MODEL_OPS for op in soak_plan(settings)) + 20)
        cleanup.callback(lambda: (model.process.kill(), model.process.wait()))
        every = yaml.safe_load(Path(layout["inventory"]).read_text())["servers"]
        servers = {name: every[name] for name in SOAK_HOSTS}
        servers["code"]["root"] = f"/home/{layout['user']}/{scratch.name}"
        servers["db"]["llm"] = {
            "provider": "ollama",
            "model": SOAK_MODEL,
            "baseUrl": f"http://localhost:{model.port}",
        }
        inventory = {"servers": servers, "llm": {"providers": {"ollama": {"timeout": 30}}}}
        (work / "tokens.yaml").write_text(
            "tokens:\n  soak: {env: GTP_SOAK_TOKEN}\n"
            f"  scoped: {{env: GTP_SOAK_SCOPED, servers: [code], operations: {SCOPED_TOKEN}}}\n"
        )
        env = {
            **dict(settings.malloc_env),
            "GTP_TOKENS_FILE": str(work / "tokens.yaml"),
            "GTP_SOAK_TOKEN": tokens["main"],
            "GTP_SOAK_SCOPED": tokens["scoped"],
        }
        serve = Serve(None, files={"bed.yaml": yaml.safe_dump(inventory)}, env=env, log=True)
        log: list[str] = []
        cleanup.callback(lambda: log.append(serve.close()))
        _wait_listening(serve)
        client = SoakClient(serve, list(by_name), tokens, marker, settings)
        result = client.result
        warm_until = max(int(settings.requests * settings.warmup), 2 * sum(n for _, n in SOAK_MIX.values()))
        sampler = asyncio.ensure_future(client.sample(max(settings.seconds / 60, 0.5)))
        try:
            say(f"soak: warm-up, {warm_until} requests")
            await client.phase(warm_until)
            result.warm = await client.at_rest("at rest after warm-up")
            say(f"soak: at rest after warm-up {result.warm}; {settings.requests - warm_until} requests more")
            await client.phase(settings.requests)
            result.end = await client.at_rest("at rest at the end")
            say(f"soak: at rest at the end {result.end}")
        finally:
            sampler.cancel()
        result.seconds = time.monotonic() - client.started
        result.requests = client.pacer.sent
        result.leftovers += await _leftovers(client, marker)
    now = _sshd_pids(by_name)
    result.disturbed = [
        f"sshd on {name} is not the one the run started with ({pid} -> {now.get(name)}): another "
        "process stopped or restarted it; rerun on a quiet bed"
        for name, pid in sshds.items()
        if now.get(name) != pid
    ]
    result.log_problems = [
        line for line in log[0].splitlines() if re.search(r"traceback|error|critical|exception", line, re.I)
    ]
    return result


def _sshd_pids(hosts: dict[str, dict[str, str]]) -> dict[str, str | None]:
    """Each bed host's sshd pid: the bed is shared (tests stop and start its sshds), and a run
    whose hosts were restarted under it measures that, not the gateway."""
    out: dict[str, str | None] = {}
    for name, host in hosts.items():
        try:
            out[name] = (Path(host["dir"]) / "sshd.pid").read_text().strip()
        except OSError:
            out[name] = None
    return out


def _wait_listening(serve: Serve, seconds: float = 120) -> None:
    """Until the server accepts connections; a server that stopped is an error with its log."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", serve.port), 0.5).close()
            return
        except OSError:
            if serve.process.poll() is not None or time.monotonic() > deadline:
                code = serve.process.poll()
                log = serve.log_path.read_text(errors="replace")[-3000:] if serve.log_path else ""
                raise RuntimeError(f"gtp-remote serve is not listening (exit code {code}):\n{log}") from None
            time.sleep(0.1)


async def _leftovers(client: SoakClient, marker: str) -> list[str]:
    """Jobs still running, and cancelled commands still running on a host (found by their marker)."""
    import aiohttp

    url = client.serve.url + "/jobs?limit=200"
    async with aiohttp.ClientSession() as probe, probe.get(url, headers=client.headers()) as r:
        jobs = (await r.json())["jobs"]
    out = [f"job {j['job_id']} still {j['status']}" for j in jobs if j["status"] == "running"]
    found = subprocess.run(["pgrep", "-af", f"sleep {marker}"], capture_output=True, text=True).stdout
    return out + [f"process left: {line}" for line in found.splitlines()]


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
    soaking = parser.add_argument_group("soak", "scripts/bench --soak: only the soak, its section rewritten")
    defaults = SoakSettings()
    soaking.add_argument("--soak", action="store_true", help="run the soak instead of the benchmarks")
    soaking.add_argument(
        "--soak-requests", type=int, default=defaults.requests, help="%(default)s by default"
    )
    soaking.add_argument(
        "--soak-seconds", type=float, default=defaults.seconds, help="the pace: %(default)s s by default"
    )
    soaking.add_argument("--soak-concurrency", type=int, default=defaults.concurrency)
    soaking.add_argument("--soak-seed", type=int, default=defaults.seed)
    soaking.add_argument(
        "--soak-pinned-malloc",
        action="store_true",
        help="run the server with glibc's allocator pinned (one arena, fixed mmap threshold), "
        "to tell its high-water marks from the server's own growth",
    )
    args = parser.parse_args()
    if args.soak:
        return await soak_main(args)
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
    tables.append(await asyncio.to_thread(policy_judging, 3 if quick else 20))  # it runs a loop of its own
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
        *_kept_soak(args.out),
        "## Reproduce",
        "",
        f"`{command}` (as root: it brings up the test bed with {len(bed.hosts)} hosts "
        f"and installs the peers). {SOAK_REPRODUCE}",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(report))
    print(f"wrote {args.out} in {took:.0f} s", file=sys.stderr)
    failed = [r.peer for t in tables for r in t.results if r.note.startswith("could not run")]
    return 1 if failed and quick else 0


SOAK_REPRODUCE = (
    "The soak section comes from its own run, `scripts/bench --soak` (about 10 minutes; "
    "`--soak-requests N --soak-seconds S` for another size), which rewrites only that section; "
    "`scripts/bench` keeps it as it was."
)


def _soak_span(text: str) -> tuple[int, int] | None:
    """Where the soak section is in a report: from its heading to the next one."""
    start = text.find("\n" + SOAK_SECTION)
    if start < 0:
        return None
    end = text.find("\n## ", start + 1)
    return start + 1, end + 1 if end >= 0 else len(text)


def _kept_soak(out: Path) -> list[str]:
    """The soak section of the report being replaced, kept as it was (it has its own run)."""
    text = out.read_text() if out.is_file() else ""
    span = _soak_span(text)
    return [text[span[0] : span[1]]] if span else []


def write_soak(out: Path, section: str) -> None:
    """Put the soak section in the report: in place of the old one, else before Reproduce."""
    text = out.read_text() if out.is_file() else ""
    if not text:
        text = (
            "# Benchmarks\n\nOnly the soak has run into this file so far: `scripts/bench` writes "
            f"the other sections.\n\n## Machine\n\n{machine()}\n## Reproduce\n\n{SOAK_REPRODUCE}\n"
        )
    span = _soak_span(text)
    if span is None:
        at = text.find("\n## Reproduce")
        at = at + 1 if at >= 0 else len(text)
        span = (at, at)
    text = text[: span[0]] + section + "\n" + text[span[1] :]
    if SOAK_REPRODUCE not in text:  # a report from before the soak existed: say how to get it
        text = text.rstrip("\n") + "\n\n" + SOAK_REPRODUCE + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


async def soak_main(args: argparse.Namespace) -> int:
    settings = SoakSettings(
        requests=args.soak_requests,
        seconds=args.soak_seconds,
        concurrency=args.soak_concurrency,
        seed=args.soak_seed,
        malloc_env=PINNED_MALLOC if args.soak_pinned_malloc else (),
    )
    defaults = SoakSettings()
    command = "scripts/bench --soak" + "".join(
        f" --soak-{name} {getattr(settings, name):g}"
        for name in ("requests", "seconds", "concurrency", "seed")
        if getattr(settings, name) != getattr(defaults, name)
    )
    command += " --soak-pinned-malloc" if args.soak_pinned_malloc else ""
    print(f"== soak: {settings.requests} requests over {settings.seconds:g} s", file=sys.stderr)
    result = await soak(settings, progress=lambda text: print(text, file=sys.stderr))
    write_soak(args.out, result.markdown(command))
    print(
        f"wrote the soak section of {args.out}: {result.requests} requests in {result.seconds:.0f} s",
        file=sys.stderr,
    )
    for problem in result.failures():
        print(f"  FAILED {problem}", file=sys.stderr)
    return 1 if result.failures() else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
