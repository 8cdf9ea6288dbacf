"""Every configuration example of the product brief loads as written, and its model can be called.

The brief's servers are named by host name only (``database-server``, ``code-server``,
``k8s-master``): an OpenSSH client config maps those names to bed hosts, as a user's
~/.ssh/config would. Their models are on each host's localhost, reached through SSH tunnels; the
``local`` servers' Ollama is a scripted server on the gateway's own 127.0.0.1:11434.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from gtp_remote.config import load_inventory
from gtp_remote.gateway import Gateway
from gtp_remote.llm.agent import Agent
from gtp_remote.llm.service import LLMService
from gtp_remote.settings import Settings
from tests.conftest import OWNER, ROOT, Bed

pytestmark = pytest.mark.bed
SEEDS = ROOT / "hosts/examples"


@pytest.fixture(scope="module")
def local_ollama():
    """A scripted Ollama on the gateway's own 127.0.0.1:11434, for the brief's ``local`` servers."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 11434)) == 0:
            pytest.fail(
                "127.0.0.1:11434 is taken on this machine: stop the Ollama running there for the tests"
            )
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/modelserver.py"), "--host", "127.0.0.1", "--port", "11434"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and "listening" in process.stdout.readline()

    def script(*replies: dict, models: list[str]) -> None:
        body = json.dumps({"replies": list(replies), "models": models}).encode()
        request = urllib.request.Request("http://127.0.0.1:11434/_script", data=body, method="POST")
        urllib.request.urlopen(request, timeout=10).read()

    yield script
    process.kill()
    process.wait()


@pytest.fixture
def seed_settings(bed: Bed, settings: Settings, tmp_path: Path) -> Settings:
    """An ssh config naming the brief's hosts, and the bed's host keys as known."""
    hosts = {"database-server": "db", "code-server": "code", "k8s-master": "k8s-master"}
    config = tmp_path / "ssh_config"
    config.write_text(
        "".join(
            f"Host {alias}\n  HostName {bed.hosts[name].ip}\n  User {bed.user}\n"
            f"  IdentityFile {bed.client_key}\n"
            for alias, name in hosts.items()
        )
    )
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(bed.known_hosts, settings.known_hosts)
    return Settings(state_dir=settings.state_dir, ssh_config=config)


async def ask(gateway: Gateway, name: str, *, server: str | None = None) -> dict:
    llm = LLMService(gateway)
    try:
        specialist = llm.resolve(name, current=server, server=server)
        return await Agent(llm, specialist, OWNER).run("What host are you on?")
    finally:
        await llm.close()


async def test_every_seed_example_loads_and_its_model_answers(
    scripted, local_ollama, seed_settings, tmp_path
):
    for host in ("db", "code"):
        scripted[host].script({"content": f"{host} answering"}, models=["sqlcoder:7b", "codellama:13b"])
    scripted["k8s-master"].script(
        {"content": "k8s answering"},
        {"content": "default model"},
        models=["devops-specialist", "local-model"],
    )
    local_ollama({"content": "local 1"}, {"content": "local 2"}, models=["sqlcoder:7b", "codellama:13b"])

    async with Gateway(load_inventory(SEEDS / "seed-database-server.json"), seed_settings) as gw:
        result = await ask(gw, "database-server")
        assert (result["model"], result["answer"]) == ("sqlcoder:7b", "db answering")
    async with Gateway(load_inventory(SEEDS / "seed-code-server.json"), seed_settings) as gw:
        result = await ask(gw, "code-server")
        assert (result["model"], result["answer"]) == ("codellama:13b", "code answering")
    assert scripted["db"].requests()[0]["body"]["model"] == "sqlcoder:7b"

    # The multi-server form together with the providers file, both verbatim.
    both = tmp_path / "multi"
    both.mkdir()
    shutil.copy(SEEDS / "seed-multi-llm.json", both)
    shutil.copy(SEEDS / "seed-providers.json", both)
    inventory = load_inventory(both)
    assert inventory.providers["lmstudio"].base_url == "http://localhost:1234"
    async with Gateway(inventory, seed_settings) as gw:
        result = await ask(gw, "devops")  # ssh k8s-master, LM Studio on its localhost:1234
        assert (result["provider"], result["model"], result["answer"]) == (
            "lmstudio",
            "devops-specialist",
            "k8s answering",
        )
        assert scripted["k8s-master"].requests()[0]["path"] == "/v1/chat/completions"
        for local in ("database-ops", "code-ops"):
            result = await ask(gw, local)  # local servers: the gateway's own localhost
            assert result["server"] == local and result["answer"].startswith("local"), result
        result = await ask(gw, "lmstudio", server="devops")  # a provider name on a chosen server
        assert (result["server"], result["model"]) == ("devops", "devops-specialist")
