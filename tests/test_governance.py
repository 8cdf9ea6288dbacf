"""One policy on every action, over real HTTP on the bed's sshd hosts.

For every kind of direct call (a command, a fan-out, a program, a file read, write, listing and
patch): a denial, a confirmation that is approved and then runs, and one that is rejected and
never runs. The rules sit on a token, on servers and on a group; the strictest wins. The bed's
own files are checked from inside each host's namespace, so "never ran" is seen on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gtp_remote.api.routes import create_app
from gtp_remote.api.state import Api
from gtp_remote.config import GroupConfig, load_inventory
from gtp_remote.gateway import Gateway
from gtp_remote.policy import PolicyConfig
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, Token, digest
from tests.conftest import ROOT, Bed
from tests.test_api import Client

pytestmark = pytest.mark.bed

TOKENS = {"agent": "agent-secret-token", "ops": "ops-secret-token", "dbops": "dbops-secret-token"}
SANDBOX = "gov"  # a folder in the bed user's home, made fresh for each test

# db: an owner's allow list, with approvals for writes and a protected folder.
DB_POLICY = {
    "commands": {
        "allow": ["hostname", "cat *", "ls *", "echo *", "uname *", "true"],
        "confirm": ["touch *", "mkdir *"],
        "deny": ["rm *"],
    },
    "paths": {
        "allow": ["read:**", "list:**", f"write:**/{SANDBOX}/**"],
        "confirm": [f"write:**/{SANDBOX}/needs-ok*"],
        "deny": ["**/secret*", f"write:**/{SANDBOX}/protected/**"],
    },
    "code": "confirm",
}
# every host of the bed: nobody shuts one down, and programs need approval.
BED_GROUP = {"commands": {"deny": ["shutdown *", "reboot *"]}, "code": "confirm"}
# the agent's own token: never curl, whatever a server allows.
AGENT_POLICY = {"commands": {"deny": ["curl *"]}}


def make_api(bed: Bed, settings: Settings, auth: Authenticator | None = None) -> Api:
    """The bed with db's rules and the bed group's, for ``auth``'s tokens (by default this
    module's: agent, ops, dbops)."""
    inventory = load_inventory(bed.inventory)
    inventory.servers["db"] = inventory.servers["db"].model_copy(
        update={"policy": PolicyConfig.model_validate(DB_POLICY)}
    )
    inventory.group_settings["bed"] = GroupConfig(policy=PolicyConfig.model_validate(BED_GROUP))
    auth = auth or Authenticator(
        [
            Token(
                "agent",
                digest(TOKENS["agent"]),
                operations=frozenset({"exec", "files.read", "files.write"}),
                policy=PolicyConfig.model_validate(AGENT_POLICY),
            ),
            Token("ops", digest(TOKENS["ops"]), operations=frozenset({"approve"})),
            Token("dbops", digest(TOKENS["dbops"]), servers=("db",), operations=frozenset({"approve"})),
        ]
    )
    return Api(Gateway(inventory, replace(settings, default_server="db", rate=1000, burst=1000)), auth)


@pytest.fixture
async def api(bed: Bed, settings: Settings):
    for host in bed.hosts.values():
        box = f"{host.home}/{SANDBOX}"
        host.sh(
            f"rm -rf {box} && mkdir -p {box}/protected && echo keep > {box}/protected/file && "
            f"echo hunter2 > {box}/secret.txt && chown -R {bed.user} {box}"
        )
    async with serving(make_api(bed, settings)) as client:
        client.tokens = TOKENS  # type: ignore[attr-defined]
        yield client


@contextlib.asynccontextmanager
async def serving(state: Api) -> AsyncIterator[Client]:
    """``state``'s app on a test server, and a client for it (``client.state`` is ``state``)."""
    server = TestServer(create_app(state), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(session, str(server.make_url("")).rstrip("/"))
            client.state = state  # type: ignore[attr-defined]
            yield client
    finally:
        await server.close()


async def call(api: Client, path: str, body: dict, token: str = "agent") -> tuple[int, dict]:
    return await api.post(path, body, token=TOKENS[token])


async def job(api: Client, job_id: str, wanted: str) -> dict:
    for _ in range(150):
        status, data = await api.get(f"/jobs/{job_id}", token=TOKENS["ops"])
        if status == 200 and data["status"] == wanted:
            return data
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never became {wanted}: {data}")


async def decide(api: Client, job_id: str, verdict: str, token: str = "ops") -> tuple[int, dict]:
    """Decide as an approver does: read the action the job waits on, then name it by its id."""
    _, view = await api.get(f"/jobs/{job_id}", token=TOKENS["ops"])
    pending_id = (view.get("pending_action") or {}).get("id", "none")
    return await api.post(f"/jobs/{job_id}/{verdict}", {"pending_id": pending_id}, token=TOKENS[token])


def exists(bed: Bed, host: str, rel: str) -> bool:
    home = bed.hosts[host].home
    return bed.hosts[host].sh(f"test -e {home}/{SANDBOX}/{rel}", check=False).returncode == 0


def content(bed: Bed, host: str, rel: str) -> str:
    return bed.hosts[host].sh(f"cat {bed.hosts[host].home}/{SANDBOX}/{rel}").stdout


def sandbox(bed: Bed, host: str = "db") -> str:
    return f"{bed.hosts[host].home}/{SANDBOX}"


# -- commands ------------------------------------------------------------------------------------------


async def test_a_command_is_denied_confirmed_or_rejected_on_one_server(api: Client, bed: Bed):
    box = sandbox(bed)
    status, data = await call(api, "/command/execute-shell", {"command": f"rm -f {box}/protected/file"})
    assert status == 403 and data["error"]["code"] == "policy_denied", data
    assert data["error"]["policy"]["rule"] == "rm *" and data["error"]["policy"]["layer"] == "server db"
    assert exists(bed, "db", "protected/file")

    status, data = await call(
        api, "/command/execute-shell", {"command": f"touch {box}/made", "wait_seconds": 5}
    )
    assert status == 202 and data["status"] == "awaiting_approval", data
    pending = data["pending_action"]
    assert (pending["server"], pending["rule"], pending["command"]) == ("db", "touch *", f"touch {box}/made")
    assert not exists(bed, "db", "made")
    status, _ = await decide(api, data["job_id"], "approve")
    assert status == 200
    done = await job(api, data["job_id"], "succeeded")
    assert done["approval"]["by"] == "ops" and done["approval"]["decision"] == "approved"
    assert exists(bed, "db", "made")

    status, data = await call(
        api, "/command/execute-shell", {"command": f"touch {box}/never", "wait_seconds": 5}
    )
    assert status == 202
    await decide(api, data["job_id"], "reject")
    rejected = await job(api, data["job_id"], "rejected")
    assert rejected["error"]["code"] == "rejected" and rejected["result"] is None
    await asyncio.sleep(0.3)
    assert not exists(bed, "db", "never")


async def test_layers_the_strictest_wins(api: Client, bed: Bed):
    # the token denies curl even where the server's rules would only ask
    status, data = await call(api, "/command/execute-shell", {"command": "curl -s http://127.0.0.1:9/"})
    assert status == 403 and data["error"]["policy"]["layer"] == "token agent"
    # code has no server rules but is in group bed: shutdown is the group's
    status, data = await call(api, "/command/execute-shell", {"command": "shutdown -h now", "server": "code"})
    assert status == 403 and data["error"]["policy"]["layer"] == "group bed"
    # a computed command name is never allowed by an allow list: it asks
    status, data = await call(
        api, "/command/execute-shell", {"command": "$(echo rm) -f x", "wait_seconds": 5}
    )
    assert status == 202 and data["pending_action"]["rule"] == "dynamic"
    await decide(api, data["job_id"], "reject")
    # an ordinary command on db passes every layer and runs at once
    status, data = await call(api, "/command/execute-shell", {"command": "hostname; uname -s"})
    assert (status, data["stdout"]) == (200, "db\nLinux\n")
    # a request's env that could change what runs needs approval too
    body = {"command": "ls /", "env": {"LD_PRELOAD": "/tmp/x.so"}, "wait_seconds": 5}
    status, data = await call(api, "/command/execute-shell", body)
    assert status == 202 and "LD_PRELOAD" in data["pending_action"]["reason"]
    await decide(api, data["job_id"], "reject")


async def test_a_fan_out_asks_once_for_all_its_hosts(api: Client, bed: Bed):
    status, data = await call(
        api, "/command/execute-shell", {"command": "reboot", "target": "code,k8s-master"}
    )
    assert status == 403 and data["error"]["policy"]["layer"] == "group bed"
    assert "refused by policy on code, k8s-master" in data["error"]["message"]  # the hosts that refused

    command = f"touch ~/{SANDBOX}/fanned"
    status, data = await call(
        api, "/command/execute-shell", {"command": command, "target": "group:bed", "wait_seconds": 5}
    )
    assert status == 202 and data["status"] == "awaiting_approval", data
    pending = data["pending_action"]
    assert pending["servers"] == ["db", "code", "k8s-master"] and pending["servers_needing_approval"] == [
        "db"
    ]
    await decide(api, data["job_id"], "approve")
    done = await job(api, data["job_id"], "succeeded")
    assert done["result"]["summary"]["ok"] == 3
    assert all(exists(bed, host, "fanned") for host in ("db", "code", "k8s-master"))

    command = f"touch ~/{SANDBOX}/not-fanned"
    status, data = await call(
        api, "/command/execute-shell", {"command": command, "target": "all", "wait_seconds": 5}
    )
    assert status == 202
    await decide(api, data["job_id"], "reject")
    await job(api, data["job_id"], "rejected")
    assert not any(exists(bed, host, "not-fanned") for host in ("db", "code", "k8s-master"))


async def test_code_needs_an_explicit_allow(api: Client, bed: Bed):
    code = f"open('{sandbox(bed, 'code')}/from-code', 'w').write('ran')\n"
    status, data = await call(
        api,
        "/command/execute-code",
        {"code": code, "language": "python", "server": "code", "wait_seconds": 5},
    )
    assert status == 202 and data["pending_action"]["language"] == "python", data
    assert data["pending_action"]["code"] == code
    await decide(api, data["job_id"], "approve")
    await job(api, data["job_id"], "succeeded")
    assert content(bed, "code", "from-code") == "ran"

    code = f"open('{sandbox(bed, 'code')}/never-code', 'w').write('ran')\n"
    status, data = await call(
        api,
        "/command/execute-code",
        {"code": code, "language": "python", "server": "code", "wait_seconds": 5},
    )
    await decide(api, data["job_id"], "reject")
    await job(api, data["job_id"], "rejected")
    assert not exists(bed, "code", "never-code")


# -- files ---------------------------------------------------------------------------------------------


async def test_file_writes_are_denied_confirmed_or_rejected(api: Client, bed: Bed):
    box = sandbox(bed)
    status, data = await call(api, "/file/write", {"path": f"{box}/protected/file", "content": "x"})
    assert status == 403 and data["error"]["policy"]["rule"] == f"write:**/{SANDBOX}/protected/**"
    assert content(bed, "db", "protected/file") == "keep\n"

    status, data = await call(api, "/file/write", {"path": f"{box}/needs-ok.txt", "content": "approved"})
    assert status == 202 and data["pending_action"]["path"] == f"{box}/needs-ok.txt", data
    await decide(api, data["job_id"], "approve")
    done = await job(api, data["job_id"], "succeeded")
    assert (
        done["result"]["stat"]["size"] == len("approved") and content(bed, "db", "needs-ok.txt") == "approved"
    )

    status, data = await call(api, "/file/write", {"path": f"{box}/needs-ok-2.txt", "content": "no"})
    await decide(api, data["job_id"], "reject")
    await job(api, data["job_id"], "rejected")
    assert not exists(bed, "db", "needs-ok-2.txt")

    status, data = await call(api, "/file/write", {"path": f"{box}/plain.txt", "content": "fine"})
    assert status == 200 and content(bed, "db", "plain.txt") == "fine"


async def test_file_reads_lists_and_patches_pass_the_policy(api: Client, bed: Bed):
    box = sandbox(bed)
    status, data = await call(api, "/file/read", {"path": f"{box}/secret.txt"})
    assert status == 403 and data["error"]["policy"]["rule"] == "**/secret*"
    assert "hunter2" not in json.dumps(data)
    status, data = await call(api, "/file/list", {"path": box})
    assert status == 200 and {e["path"] for e in data["entries"]} >= {"protected", "secret.txt"}
    status, data = await call(api, "/file/read", {"path": f"{box}/protected/file"})
    assert (status, data["content"]) == (200, "keep\n")

    diff = "--- a/file\n+++ b/file\n@@ -1 +1 @@\n-keep\n+changed\n"
    status, data = await call(api, "/file/patch", {"path": f"{box}/protected/file", "diff": diff})
    assert status == 403 and content(bed, "db", "protected/file") == "keep\n"

    bed.hosts["db"].sh(f"echo keep > {box}/needs-ok-patch && chown {bed.user} {box}/needs-ok-patch")
    patch = "--- a/needs-ok-patch\n+++ b/needs-ok-patch\n@@ -1 +1 @@\n-keep\n+patched\n"
    status, data = await call(api, "/file/patch", {"path": f"{box}/needs-ok-patch", "diff": patch})
    assert status == 202
    await decide(api, data["job_id"], "reject")
    await job(api, data["job_id"], "rejected")
    assert content(bed, "db", "needs-ok-patch") == "keep\n"
    status, data = await call(api, "/file/patch", {"path": f"{box}/needs-ok-patch", "diff": patch})
    await decide(api, data["job_id"], "approve")
    await job(api, data["job_id"], "succeeded")
    assert content(bed, "db", "needs-ok-patch") == "patched\n"

    # a read the token's layer or server wants confirmed waits the same way: here, a symlink on
    # the host that leads to the secret is judged where it leads
    bed.hosts["db"].sh(f"ln -sfn {box}/secret.txt {box}/innocent && chown -h {bed.user} {box}/innocent")
    status, data = await call(api, "/file/read", {"path": f"{box}/innocent"})
    assert status == 403 and "hunter2" not in json.dumps(data)
    status, data = await call(api, "/command/execute-shell", {"command": f"cat {box}/innocent"})
    assert status == 403 and "secret" in data["error"]["message"]


async def test_approvers_are_scoped_and_cannot_be_the_asker(api: Client, bed: Bed):
    box = sandbox(bed, "code")
    bed_code = {
        "code": f"open('{box}/scoped', 'w').write('x')\n",
        "language": "python",
        "server": "code",
        "wait_seconds": 5,
    }
    status, data = await call(api, "/command/execute-code", bed_code)
    assert status == 202
    status, answer = await decide(api, data["job_id"], "approve", token="agent")  # lacks approve
    assert status == 403 and "'approve'" in answer["error"]["message"]
    status, answer = await decide(api, data["job_id"], "approve", token="dbops")  # may not use code
    assert status == 404 and "code" not in answer["error"]["message"] + answer["error"]["hint"]
    assert not exists(bed, "code", "scoped")
    await decide(api, data["job_id"], "reject")


def test_the_cli_passes_the_same_policy(bed: Bed, tmp_path: Path):
    inventory = tmp_path / "hosts"
    inventory.mkdir()
    text = (bed.inventory).read_text()
    (inventory / "bed.yaml").write_text(text)
    (inventory / "groups.yaml").write_text(
        "groups:\n  bed:\n    policy:\n      commands: {deny: ['rm *'], confirm: ['touch *']}\n"
    )
    env = {"GTP_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "gtp_remote", "-i", str(inventory), "exec"]
    home = bed.hosts["db"].home
    denied = subprocess.run([*cli, "db", "--", f"rm -f {home}/x"], capture_output=True, text=True, env=env)
    assert denied.returncode == 3 and "refused by policy" in denied.stderr and "rm *" in denied.stderr
    touch = [*cli, "db", "--", f"touch {home}/cli-made"]
    asked = subprocess.run(touch, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    assert asked.returncode == 3 and "no terminal" in asked.stderr
    assert bed.hosts["db"].sh(f"test -e {home}/cli-made", check=False).returncode != 0
    yes = subprocess.run(
        [*cli, "db", "--yes", "--", f"touch {home}/cli-made"], capture_output=True, text=True, env=env
    )
    assert yes.returncode == 0, yes.stderr
    assert bed.hosts["db"].sh(f"test -e {home}/cli-made && rm {home}/cli-made", check=False).returncode == 0
    audit = [json.loads(line) for line in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    outcomes = [(e["front_end"], e["outcome"], e.get("approved_by")) for e in audit if e["kind"] == "command"]
    assert [o[:2] for o in outcomes] == [("cli", "denied"), ("cli", "rejected"), ("cli", "ok")]
    assert "no terminal" in outcomes[1][2] and outcomes[2][2].endswith("(--yes)")
    assert ROOT.exists()
