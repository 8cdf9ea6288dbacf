"""Scripted model servers inside bed hosts, and an API over an inventory of specialists.

Each scripted server (tests/modelserver.py) runs INSIDE a bed host's network namespace, bound to
127.0.0.1: from the gateway it is reachable only through the SSH tunnel, like an Ollama or LM
Studio bound to localhost on a real server. Tests script it through its control endpoints
(``/_script``, ``/_requests``), reached the same way a root operator would: from inside the host.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT, Bed, BedHost

#: host -> port of its scripted model server. k8s-master speaks as LM Studio does (:1234).
SCRIPTED = {"db": 11434, "code": 11434, "k8s-master": 1234}

_CONTROL = """
import json, sys, urllib.request
method, url = sys.argv[1], sys.argv[2]
data = sys.stdin.read().encode() or None
req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req, timeout=10).read().decode())
"""


@dataclass
class ScriptedModel:
    host: BedHost
    port: int
    process: subprocess.Popen[str]

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        done = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.host.netns,
                sys.executable,
                "-c",
                _CONTROL,
                method,
                f"http://127.0.0.1:{self.port}{path}",
            ],
            input=json.dumps(body) if body is not None else "",
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert done.returncode == 0, f"control {path} on {self.host.name}: {done.stderr}"
        return json.loads(done.stdout)

    def script(self, *replies: dict[str, Any], models: list[str] | None = None) -> None:
        """The replies the next chat requests get, in order."""
        self._control("POST", "/_script", {"replies": list(replies), "models": models or ["test-model"]})

    def requests(self) -> list[dict[str, Any]]:
        return self._control("GET", "/_requests")["requests"]


def start_scripted(host: BedHost, port: int = 0) -> ScriptedModel:
    """tests/modelserver.py inside ``host``'s namespace on its loopback (``port`` 0: a free one),
    reached only through the gateway's SSH tunnel."""
    process = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            host.netns,
            sys.executable,
            str(ROOT / "tests/modelserver.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening" not in line:
        process.kill()
        raise RuntimeError(
            f"scripted model server on {host.name}:{port} did not start: {line}{process.stdout.read()}"
        )
    return ScriptedModel(host, port or int(line.rsplit(":", 1)[1]), process)  # 0: the one it took


def write_inventory(bed: Bed, folder: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """The bed's servers with models on them, and the shipped specialists moved onto them."""
    base = yaml.safe_load(bed.inventory.read_text())
    servers = base["servers"]
    servers["db"]["llm"] = {"provider": "ollama", "model": "test-model", "baseUrl": "http://localhost:11434"}
    servers["code"]["llm"] = {
        "provider": "ollama",
        "model": "test-model",
        "baseUrl": "http://127.0.0.1:11434",
    }
    servers["k8s-master"]["llm"] = {"provider": "lmstudio", "model": "test-model"}
    servers["k8s-master"]["env"] = {"PATH": f"{bed_home(bed)}/bin:/usr/local/bin:/usr/bin:/bin"}
    shipped = yaml.safe_load((ROOT / "hosts/specialists.yaml").read_text())
    specialists = shipped["specialists"]
    placement = {"database-llm": "db", "code-llm": "code", "devops-llm": "k8s-master", "docs-llm": "code"}
    for name, server in placement.items():
        spec = specialists[name]
        spec["server"] = server
        spec.pop("provider", None)  # use the server's own model
        spec.pop("model", None)
    specialists["ghost-llm"] = {"server": "db", "baseUrl": "http://localhost:11999", "tools": ["list_dir"]}
    home = bed_home(bed)
    specialists["database-llm"]["vars"] = {"database": f"{home}/app.db"}
    specialists["database-llm"]["facts"] = {"schema": f"sqlite3 -readonly {home}/app.db .schema"}
    doc = {
        "servers": servers,
        "llm": {
            "providers": {
                "ollama": {"timeout": 20},
                "lmstudio": {"baseUrl": "http://localhost:1234", "timeout": 150, "maxTokens": 48},
            }
        },
        "specialists": specialists,
        "tools": shipped["tools"],
        **(extra or {}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def bed_home(bed: Bed) -> str:
    return f"/home/{bed.user}"
