"""Become: commands run as another user through ``sudo -n``, on the real bed.

The bed's hosts are network namespaces of this machine, so the bed user's sudo rights are this
machine's ``/etc/sudoers.d``: the ``nopasswd`` fixture writes a rule file (checked with
``visudo -cf``) and removes it after; ``no_rule`` makes sure there is none. The tests run as root.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer

from gtp_remote.access import DEFAULT_OPERATIONS, Principal
from gtp_remote.api.routes import create_app
from gtp_remote.api.state import Api
from gtp_remote.config import load_inventory
from gtp_remote.errors import BecomeError, ForbiddenError, PolicyDeniedError
from gtp_remote.executors.base import RunResult
from gtp_remote.gateway import Code, Command, Gateway
from gtp_remote.policy import PolicyConfig
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, Token, _from_file, digest
from tests.conftest import OWNER, Bed

pytestmark = pytest.mark.bed

RULE_FILE = Path("/etc/sudoers.d/gtp-test-become")
BIN = Path(sys.executable).parent
TOKENS = {"root-ok": "token-with-become-0123456789", "plain": "token-without-become-0123456789"}


def _remove_rule() -> None:
    RULE_FILE.unlink(missing_ok=True)


@pytest.fixture
def nopasswd(bed: Bed) -> Iterator[None]:
    """``gtptest ALL=(ALL) NOPASSWD: ALL`` in /etc/sudoers.d for the test, validated first."""
    assert os.geteuid() == 0, "the become tests write /etc/sudoers.d: run them as root"
    staged = RULE_FILE.with_name(".gtp-test-become.tmp")  # sudo skips names with a '.'
    staged.write_text(f"{bed.user} ALL=(ALL) NOPASSWD: ALL\n")
    staged.chmod(0o440)
    check = subprocess.run(["visudo", "-cf", str(staged)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    staged.rename(RULE_FILE)
    yield
    _remove_rule()


@pytest.fixture
def no_rule() -> Iterator[None]:
    _remove_rule()
    yield


def inventory_with(bed: Bed, tmp_path: Path, **db: Any) -> Path:
    """The bed's inventory with ``db``'s settings changed, as a file of its own."""
    files = sorted(bed.inventory.glob("*.y*ml")) if bed.inventory.is_dir() else [bed.inventory]
    doc = yaml.safe_load(files[0].read_text())
    doc["servers"]["db"].update(db)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def gtp(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gtp-remote"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GTP_STATE_DIR": str(state)},
    )


def processes(bed: Bed, marker: str) -> str:
    listed = bed.hosts["db"].sh("ps -eo args").stdout
    return "\n".join(line for line in listed.splitlines() if marker in line)


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_exec_become_runs_as_root(bed: Bed, tmp_path: Path, nopasswd: None):
    run = gtp("-i", str(bed.inventory), "exec", "db", "--become", "--", "id", "-u", state=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "0\n"
    plain = gtp("-i", str(bed.inventory), "exec", "db", "--", "id", "-un", state=tmp_path)
    assert plain.stdout == f"{bed.user}\n"


def test_cli_says_what_to_do_when_sudo_wants_a_password(bed: Bed, tmp_path: Path, no_rule: None):
    run = gtp("-i", str(bed.inventory), "exec", "db", "--become", "--", "id", "-u", state=tmp_path)
    assert run.returncode == 255
    assert run.stdout == ""
    message = " ".join(run.stderr.split())  # rich wraps long lines on a narrow terminal
    assert message.startswith("error: sudo on db wants a password to run commands as root for gtptest")
    assert "add a NOPASSWD sudoers rule for gtptest" in message and "or drop become" in message


# -- the executor, both transports ------------------------------------------------------------------


@pytest.mark.parametrize("persistent", [True, False], ids=["shell", "channel"])
async def test_cwd_env_stdin_and_exit_status_under_become(
    bed: Bed, settings: Settings, nopasswd: None, persistent: bool
):
    inventory = load_inventory(bed.inventory)
    inventory.servers["db"] = bed.server("db", persistent_shell=persistent, env={"FROM_SERVER": "s v"})
    async with Gateway(inventory, settings) as gw:
        executor = gw.executor("db")
        script = 'id -u; pwd; printf "%s|%s\\n" "$FOO" "$FROM_SERVER"; echo oops >&2; exit 7'
        result = await executor.run(script, cwd="/var/log", env={"FOO": "a 'b' $c"}, become=True)
        assert (result.exit_code, result.stdout) == (7, "0\n/var/log\na 'b' $c|s v\n")
        assert result.stderr.endswith("oops\n")  # sudo's own warnings (the bed's hostnames) may precede
        assert "gtp-become-" not in result.stderr  # the start marker is never shown
        home = await executor.run("pwd; echo ~", become=True)
        assert home.stdout == "/root\n/root\n"  # a login as root would start there
        fed = await executor.run("cat; id -un", stdin="fed on stdin\n", become=True)
        assert fed.stdout == "fed on stdin\nroot\n"
        # a command's own stderr that looks like sudo's refusal is the command's, not a refusal
        lookalike = await executor.run("echo 'sudo: a password is required' >&2; exit 1", become=True)
        assert lookalike.exit_code == 1 and lookalike.stderr.endswith("sudo: a password is required\n")


@pytest.mark.parametrize("persistent", [True, False], ids=["shell", "channel"])
async def test_a_timeout_kills_the_command_running_as_root(
    bed: Bed, settings: Settings, nopasswd: None, persistent: bool
):
    marker = f"sleep 7{os.getpid() % 1000}.{int(persistent)}"
    inventory = load_inventory(bed.inventory)
    inventory.servers["db"] = bed.server("db", persistent_shell=persistent)
    async with Gateway(inventory, settings) as gw:
        result = await gw.executor("db").run(f"{marker}; echo survived", timeout=1.5, become=True)
        assert result.timed_out and "survived" not in result.stdout
        for _ in range(30):  # the root-side shell kills its group as soon as sudo is gone
            if not processes(bed, marker):
                break
            await asyncio.sleep(0.1)
        assert processes(bed, marker) == ""


async def test_a_cancelled_command_under_become_dies_on_the_host(
    bed: Bed, settings: Settings, nopasswd: None
):
    marker = f"sleep 8{os.getpid() % 1000}"
    async with Gateway(load_inventory(bed.inventory), settings) as gw:
        task = asyncio.ensure_future(gw.executor("db").run(marker, become=True))
        for _ in range(50):
            if processes(bed, marker):
                break
            await asyncio.sleep(0.1)
        assert "root" in bed.hosts["db"].sh(f"ps -o user= -C sleep -o args= | grep '{marker}'").stdout
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for _ in range(30):
            if not processes(bed, marker):
                break
            await asyncio.sleep(0.1)
        assert processes(bed, marker) == ""


async def test_become_user_other_than_root(bed: Bed, settings: Settings, nopasswd: None):
    inventory = load_inventory(bed.inventory)
    inventory.servers["db"] = bed.server("db", become=True, become_user="nobody")
    async with Gateway(inventory, settings) as gw:
        result = await gw.executor("db").run("id -un; pwd", cwd="/tmp")
        assert result.stdout == "nobody\n/tmp\n"
        # nobody's home does not exist: without a cwd it cannot start where it would log in
        homeless = await gw.executor("db").run("id -un")
        assert homeless.exit_code == 126 and homeless.stdout == ""


async def test_local_server_with_become(settings: Settings, tmp_path: Path):
    from gtp_remote.config import Server
    from tests.conftest import make_inventory

    local = Server.model_validate(
        {"name": "here", "protocol": "local", "become": True, "become_user": "nobody"}
    )
    async with Gateway(make_inventory(local), settings) as gw:
        result = await gw.executor("here").run("id -un; pwd", cwd="/tmp", env={"X": "1"})
        assert result.stdout == "nobody\n/tmp\n"


# -- the inventory's become, and the gateway ---------------------------------------------------------


async def test_server_become_in_the_inventory_runs_every_command_as_root(
    bed: Bed, settings: Settings, tmp_path: Path, nopasswd: None
):
    inventory = load_inventory(inventory_with(bed, tmp_path, become=True))
    assert inventory.servers["db"].become and not inventory.servers["code"].become
    events: list[dict[str, Any]] = []

    async def audit(event: dict[str, Any]) -> None:
        events.append(event)

    async with Gateway(inventory, settings, audit=audit) as gw:
        plan = await gw.plan(OWNER, Command("id -u", server="db"))  # nobody asked: the operator did
        result = await gw.perform(plan)
        assert isinstance(result, RunResult) and result.stdout == "0\n"
        program = await gw.perform(
            await gw.plan(OWNER, Code("import os; print(os.getuid())", "python", server="db"))
        )
        assert program.stdout == "0\n"
        fanned = await gw.perform(await gw.plan(OWNER, Command("id -u", target="db,code")))
        assert [r.stdout for r in fanned.results] == ["0\n", "1001\n"]
    assert (events[0]["become"], events[0]["become_user"]) == (True, "root")
    assert events[1]["become"] is True and events[1]["operation"] == "execute-code"
    assert events[2]["become_users"] == {"db": "root"}


async def test_an_approver_sees_that_it_runs_as_root(bed: Bed, settings: Settings, nopasswd: None):
    inventory = load_inventory(bed.inventory)
    policy = PolicyConfig.model_validate({"commands": {"confirm": ["id *"]}})
    inventory.servers["db"] = bed.server("db", policy=policy)
    shown: list[dict[str, Any]] = []

    async def approver(pending: dict[str, Any]) -> tuple[bool, str | None]:
        shown.append(pending)
        return True, "carol"

    async with Gateway(inventory, settings) as gw:
        plan = await gw.plan(OWNER, Command("id -u", become=True))
        result = await gw.perform(plan, approver=approver)
    assert result.stdout == "0\n"
    assert shown[0]["command"] == "id -u"  # what was written, never the sudo line
    assert (shown[0]["become"], shown[0]["become_user"], shown[0]["runs_as"]) == (
        True,
        "root",
        "root (via sudo)",
    )


async def test_the_policy_judges_the_inner_command(bed: Bed, settings: Settings, nopasswd: None):
    inventory = load_inventory(bed.inventory)
    deny = PolicyConfig.model_validate({"commands": {"deny": ["rm *"]}})
    only_id = PolicyConfig.model_validate({"commands": {"allow": ["id *"]}, "default": "deny"})
    inventory.servers["db"] = bed.server("db", policy=deny)
    inventory.servers["code"] = bed.server("code", policy=only_id, become=True)
    bed.hosts["db"].sh("mkdir -p /tmp/gtp-become-x && touch /tmp/gtp-become-x/kept")
    async with Gateway(inventory, settings) as gw:
        with pytest.raises(PolicyDeniedError) as denied:
            await gw.plan(OWNER, Command("rm -rf /tmp/gtp-become-x", server="db", become=True))
        assert denied.value.decision["rule"] == "rm *"
        assert bed.hosts["db"].sh("ls /tmp/gtp-become-x").stdout == "kept\n"
        # allowed as written: a judge that saw `sudo ...` would refuse it (default deny)
        allowed = await gw.perform(await gw.plan(OWNER, Command("id -u", server="code")))
        assert allowed.stdout == "0\n"
        with pytest.raises(PolicyDeniedError):
            await gw.plan(OWNER, Command("whoami", server="code"))
    bed.hosts["db"].sh("rm -rf /tmp/gtp-become-x")


@pytest.mark.parametrize(
    "command",
    [
        "cat {d}/.ss?/id_rsa",
        "grep -r . {d}",
        "cat {d}/link",
        "cat {d}/s*",
        "head -c 9 {d}/lin?",
        "cat .ssh/*",
    ],
)
async def test_the_host_is_asked_about_paths_as_the_become_user(
    bed: Bed, settings: Settings, nopasswd: None, command: str
):
    """Red-team regression: the path probe ran as the login user, who cannot enter a 0700 folder
    of root's; it saw no link, no glob match and nothing below, so deny rules were passed."""
    secret = "/var/tmp/gtp-become-private"
    bed.hosts["db"].sh(
        f"rm -rf {secret} && mkdir -m 700 {secret} {secret}/.ssh && echo SECRETKEY > {secret}/.ssh/id_rsa"
        f" && echo SECRET > {secret}/secret && ln -s {secret}/secret {secret}/link"
    )
    policy = PolicyConfig.model_validate(
        {
            "commands": {"allow": ["cat *", "grep *", "head *"]},
            "paths": {"allow": ["**"], "deny": ["**/.ssh/**", f"read:{secret}/secret"]},
            "default": "deny",
        }
    )
    inventory = load_inventory(bed.inventory)
    inventory.servers["db"] = bed.server("db", policy=policy)
    try:
        async with Gateway(inventory, settings) as gw:
            line = command.format(d=secret)
            plan = await gw.plan(OWNER, Command(line, server="db", become=True, cwd=secret))
            assert plan.decision.action != "allow", (line, plan.decision)
    except PolicyDeniedError:
        pass
    finally:
        bed.hosts["db"].sh(f"rm -rf {secret}")


async def test_become_needs_its_own_permission(bed: Bed, settings: Settings, nopasswd: None):
    plain = Principal("plain", frozenset({"exec"}), front_end="test")
    async with Gateway(load_inventory(bed.inventory), settings) as gw:
        with pytest.raises(ForbiddenError) as refused:
            await gw.plan(plain, Command("id -u", server="db", become=True))
        assert "lacks the 'become' permission" in refused.value.message
        with pytest.raises(ForbiddenError):
            await gw.plan(plain, Code("print(1)", "python", server="db", become=True))
        # the operator's become is not the caller's asking: exec on the server is enough
        gw.inventory.servers["db"] = bed.server("db", become=True)
        result = await gw.perform(await gw.plan(plain, Command("id -u", server="db")))
        assert result.stdout == "0\n"


def test_a_listed_token_without_operations_gets_every_permission_but_become(tmp_path: Path):
    file = tmp_path / "tokens.yaml"
    tokens = {"t": {"sha256": "a" * 64}, "r": {"sha256": "b" * 64, "operations": ["exec", "become"]}}
    file.write_text(yaml.safe_dump({"tokens": tokens}, sort_keys=False))
    default, explicit = _from_file(file)
    assert default.operations == frozenset(DEFAULT_OPERATIONS) and "become" not in default.operations
    assert explicit.operations == {"exec", "become"}


# -- REST ---------------------------------------------------------------------------------------------


@pytest.fixture
async def rest(bed: Bed, settings: Settings):
    auth = Authenticator(
        [
            Token("root-ok", digest(TOKENS["root-ok"]), operations=frozenset({"exec", "become"})),
            Token("plain", digest(TOKENS["plain"]), operations=frozenset({"exec"})),
        ]
    )
    gw = Gateway(load_inventory(bed.inventory), replace(settings, default_server="db", rate=1000, burst=1000))
    server = TestServer(create_app(Api(gw, auth)), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")

    async def post(body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {TOKENS[token]}"}
        async with session.post(f"{base}/command/execute-shell", json=body, headers=headers) as r:
            return r.status, await r.json()

    async with aiohttp.ClientSession() as session:
        yield post
    await server.close()


async def test_rest_become_runs_as_root_and_is_audited(rest: Any, settings: Settings, nopasswd: None):
    status, data = await rest({"command": "id -u", "become": True}, "root-ok")
    assert (status, data["stdout"], data["status"]) == (200, "0\n", "succeeded")
    status, data = await rest({"command": "id -u"}, "root-ok")
    assert data["stdout"] == "1001\n"
    status, data = await rest({"command": "id -u", "become": True}, "plain")
    error = data["error"]
    assert status == 403 and error["code"] == "forbidden" and "'become' permission" in error["message"]
    events = [json.loads(line) for line in (settings.state_dir / "audit.jsonl").read_text().splitlines()]
    commands = [e for e in events if e["kind"] == "command"]
    assert (commands[0]["become"], commands[0]["become_user"], commands[0]["token"]) == (
        True,
        "root",
        "root-ok",
    )
    assert "become" not in commands[1]


async def test_rest_says_what_to_do_when_sudo_wants_a_password(rest: Any, settings: Settings, no_rule: None):
    status, body = await rest({"command": "id -u", "become": True}, "root-ok")
    data = body["error"]
    assert status == 403 and data["code"] == "become_failed"
    assert data["server"] == "db"
    assert data["message"].startswith("sudo on db wants a password to run commands as root for gtptest")
    assert "NOPASSWD" in data["hint"] and "drop become" in data["hint"]
    events = [json.loads(line) for line in (settings.state_dir / "audit.jsonl").read_text().splitlines()]
    command = next(e for e in events if e["kind"] == "command")
    assert command["outcome"] == "become_failed" and command["become"] is True


async def test_the_errors_name_the_server_user_and_next_step(bed: Bed, settings: Settings, no_rule: None):
    inventory = load_inventory(bed.inventory)
    inventory.servers["db"] = bed.server("db", become=True, become_user="postgres", persistent_shell=False)
    async with Gateway(inventory, settings) as gw:
        with pytest.raises(BecomeError) as failed:
            await gw.executor("db").run("true")
    assert failed.value.server == "db" and failed.value.user == "postgres"
    assert "as postgres" in failed.value.message and "NOPASSWD" in (failed.value.hint or "")
