"""Shared fixtures.

Tests marked ``bed`` talk to real OpenSSH sshd hosts of the test bed (``scripts/testbed up``,
which ``scripts/test`` runs). When the bed is missing they FAIL with instructions: a test that
needs real hosts never turns into a silent skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from gtp_remote.access import Principal
from gtp_remote.config import Inventory, Server, load_inventory
from gtp_remote.fanout import FanOutResult
from gtp_remote.gateway import Command, Gateway
from gtp_remote.settings import Settings
from tests.realmodel import llama_server  # noqa: F401 - the real model server, a session fixture

ROOT = Path(__file__).resolve().parent.parent
BED_DIR = Path(os.environ.get("GTP_BED_DIR", "/var/tmp/gtp-bed"))


@dataclass(frozen=True)
class BedHost:
    name: str
    ip: str
    netns: str
    dir: Path
    home: Path

    def sh(self, command: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``command`` as root inside the host's network namespace (the bed's back door)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, "sh", "-c", command],
            capture_output=True,
            text=True,
            check=check,
            timeout=30,
        )

    @property
    def public_key(self) -> str:
        return " ".join((self.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2])


@dataclass(frozen=True)
class Bed:
    dir: Path
    user: str
    client_key: Path
    known_hosts: Path
    inventory: Path
    hosts: dict[str, BedHost]

    def server(self, name: str, **changes: object) -> Server:
        """A bed server from the bed's inventory, with some settings changed."""
        base = load_inventory(self.inventory).servers[name]
        return base.model_copy(update=changes)

    def stop(self, name: str) -> None:
        subprocess.run([str(ROOT / "scripts/testbed"), "stop", name], check=True, env=_bed_env())

    def start(self, name: str) -> None:
        subprocess.run([str(ROOT / "scripts/testbed"), "start", name], check=True, env=_bed_env())


def _bed_env() -> dict[str, str]:
    return {**os.environ, "GTP_BED_DIR": str(BED_DIR)}


@pytest.fixture(scope="session")
def bed() -> Bed:
    layout = BED_DIR / "bed.json"
    if not layout.is_file():
        pytest.fail(
            f"the sshd test bed is not up ({layout} missing): run scripts/test, or "
            "`sudo scripts/testbed up` before pytest",
            pytrace=False,
        )
    data = json.loads(layout.read_text())
    hosts = {
        h["name"]: BedHost(h["name"], h["ip"], h["netns"], Path(h["dir"]), Path(h["home"]))
        for h in data["hosts"]
    }
    return Bed(
        dir=Path(data["dir"]),
        user=data["user"],
        client_key=Path(data["client_key"]),
        known_hosts=Path(data["known_hosts"]),
        inventory=Path(data["inventory"]),
        hosts=hosts,
    )


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh state folder per test, so pinned keys never leak between tests."""
    state = tmp_path / "state"
    monkeypatch.setenv("GTP_STATE_DIR", str(state))
    return Settings(state_dir=state)


def start_serve(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> tuple[subprocess.Popen[str], int]:
    """``gtp-remote [ARGS] serve`` on a free port, as a user starts it; returns once it listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gtp_remote", *args, "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return server, port


OWNER = Principal.owner("test", front_end="test")


async def fan_out(gw: Gateway, target: str, command: str, **options: object) -> FanOutResult:
    """A fan-out through the governed core, as the owner (the CLI's principal)."""
    plan = await gw.plan(OWNER, Command(command, target=target, **options))  # type: ignore[arg-type]
    return await gw.perform(plan)


def make_inventory(*servers: Server) -> Inventory:
    inv = Inventory()
    for s in servers:
        inv.servers[s.name] = s
        inv.sources[s.name] = "test"
    return inv


@pytest.fixture
async def bed_gateway(bed: Bed, settings: Settings):
    """A gateway over the bed's own inventory (db, code, k8s-master)."""
    gw = Gateway(load_inventory(bed.inventory), settings)
    yield gw
    await gw.close()


@pytest.fixture(scope="session")
def scripted(bed: Bed):
    """One scripted model server inside each bed host (tests/llmbed.py), for the whole session."""
    from tests.llmbed import SCRIPTED, start_scripted

    servers = {name: start_scripted(bed.hosts[name], port) for name, port in SCRIPTED.items()}
    yield servers
    for server in servers.values():
        server.process.kill()
        server.process.wait()
