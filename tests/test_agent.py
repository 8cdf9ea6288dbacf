"""The agent loop's own rules, on a ``local`` server with a model that replays a script.

The wire formats are tested against real HTTP in test_llm.py; here the model is a stand-in so the
loop's edge cases (timeouts around approvals, interrupted steps, budgets, tool templates) are
quick to reach. Tools really run, on this machine, through the local executor.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from gtp_remote.config import Server
from gtp_remote.gateway import Gateway
from gtp_remote.llm.agent import Agent
from gtp_remote.llm.providers import Endpoint, ModelClient, ModelReply, ToolCall, Usage
from gtp_remote.llm.service import LLMService
from gtp_remote.settings import Settings
from gtp_remote.specialists import CliToolConfig, SpecialistConfig
from tests.conftest import OWNER, make_inventory


class ScriptedClient(ModelClient):
    def __init__(self, replies: list[ModelReply]):
        super().__init__(Endpoint("s", "ollama", "ollama", "local", "http://x", "x:1"), "m")
        self.replies = replies
        self.seen: list[list[dict[str, Any]]] = []

    async def _chat(self, messages, tools, *, on_delta, temperature) -> ModelReply:  # type: ignore[no-untyped-def]
        self.seen.append(json.loads(json.dumps(messages)))
        return self.replies.pop(0)

    async def list_models(self) -> list[dict[str, Any]]:
        return [{"name": "m"}]


def calls(*pairs: tuple[str, dict]) -> ModelReply:
    return ModelReply("", [ToolCall(f"c{i}", n, a) for i, (n, a) in enumerate(pairs)], Usage(1, 1))


def answer(text: str) -> ModelReply:
    return ModelReply(text, [], Usage(1, 1))


@pytest.fixture
async def gateway(tmp_path: Path, settings: Settings):
    server = Server.model_validate({"name": "local", "protocol": "local", "cwd": str(tmp_path)})
    inventory = make_inventory(server)
    inventory.providers = {}
    inventory.tools["echo"] = CliToolConfig(
        description="echo words",
        parameters={
            "type": "object",
            "properties": {"words": {"type": "array", "items": {"type": "string"}}},
        },
        command="echo {{ prefix }} {{ words }}",
        vars={"prefix": "configured"},
    )
    inventory.tools["broken"] = CliToolConfig(
        description="a template with a type error", command="echo {{ 1 + prefix }}", vars={"prefix": "x"}
    )
    gw = Gateway(inventory, settings)
    yield LLMService(gw)
    await gw.close()


def specialist(llm: LLMService, **config: Any):
    llm.inventory.specialists["s"] = SpecialistConfig(server="local", provider="ollama", model="m", **config)
    return llm.resolve("s", current=None)


async def run(llm: LLMService, client: ScriptedClient, spec, **options: Any) -> tuple[dict, list[dict]]:
    events: list[dict] = []

    async def audit(event: dict) -> None:
        events.append(event)

    async def fake_client(_: Any) -> ScriptedClient:
        return client

    llm.client = fake_client  # type: ignore[method-assign]
    llm.gateway.audit = audit  # the gateway audits the actions it runs, the agent the rest
    result = await Agent(llm, spec, OWNER, audit=audit, **options).run("do it")
    return result, events


async def test_arguments_cannot_override_configured_template_values(gateway):
    spec = specialist(gateway, tools=["echo"])
    client = ScriptedClient([calls(("echo", {"words": ["a;", "$(id)"], "prefix": "evil"})), answer("done")])
    result, _ = await run(gateway, client, spec)
    [step] = result["steps"]
    assert step["details"]["command"] == "echo configured 'a;' '$(id)'"
    assert step["output"] == "exit code 0\nconfigured a; $(id)\n"  # quoted: printed, not run


async def test_a_broken_tool_template_is_a_tool_error_not_a_crash(gateway):
    spec = specialist(gateway, tools=["broken"])
    result, _ = await run(gateway, ScriptedClient([calls(("broken", {})), answer("ok")]), spec)
    assert result["steps"][0]["status"] == "invalid" and "TypeError" in result["steps"][0]["output"]
    assert result["ok"]


async def test_time_waiting_for_approval_does_not_count_against_the_timeout(gateway, tmp_path):
    spec = specialist(gateway, timeout=1.0, policy={"commands": {"confirm": ["touch *"]}})
    client = ScriptedClient([calls(("run_shell", {"command": f"touch {tmp_path}/made"})), answer("made it")])

    async def slow_human(pending: dict) -> tuple[bool, str]:
        await asyncio.sleep(1.5)  # longer than the specialist's whole timeout
        return True, "ops"

    result, _ = await run(gateway, client, spec, approver=slow_human)
    assert result["stop_reason"] == "answer", result
    assert result["steps"][0]["status"] == "ok" and (tmp_path / "made").exists()


async def test_a_step_cut_off_by_the_timeout_is_marked_and_audited(gateway):
    spec = specialist(gateway, timeout=1.0)
    client = ScriptedClient([calls(("run_shell", {"command": "sleep 5"}))])
    result, events = await run(gateway, client, spec)
    assert result["stop_reason"] == "timeout"
    assert result["steps"][0]["status"] == "interrupted"
    [tool] = [e for e in events if e["kind"] == "tool_call"]
    assert tool["outcome"] == "interrupted" and tool["command"] == "sleep 5"


async def test_huge_arguments_and_outputs_stay_bounded(gateway):
    spec = specialist(gateway, max_output_chars=1000)
    big = "x" * 200_000
    client = ScriptedClient([calls(("run_shell", {"command": f"echo {big} | head -c 100000"})), answer("ok")])
    result, events = await run(gateway, client, spec)
    assert len(json.dumps(result)) < 20_000
    assert all(len(json.dumps(e)) < 20_000 for e in events)
    assert len(client.seen[1][-1]["content"]) < 2_000  # what the model was shown


async def test_only_the_specialists_tools_are_offered_and_accepted(gateway):
    spec = specialist(gateway, tools=["read_file"])
    client = ScriptedClient([calls(("run_shell", {"command": "id"})), answer("no")])
    result, _ = await run(gateway, client, spec)
    assert result["steps"][0]["status"] == "invalid" and "unknown tool" in result["steps"][0]["output"]


async def test_the_approver_is_shown_the_whole_tool_call_under_an_id(gateway, tmp_path):
    """A long command is not cut for the approver (padding would hide what runs after it), and
    each call waits under an id of its own."""
    spec = specialist(gateway, policy={"commands": {"confirm": ["touch *"]}})
    command = f"touch {tmp_path}/a " + "b" * 3000 + f" {tmp_path}/end"
    client = ScriptedClient(
        [calls(("run_shell", {"command": command})), calls(("run_shell", {"command": command})), answer("ok")]
    )
    shown: list[dict] = []

    async def human(pending: dict) -> tuple[bool, str]:
        shown.append(pending)
        return False, "ops"

    result, _ = await run(gateway, client, spec, approver=human)
    assert [p["command"] for p in shown] == [command, command]
    assert shown[0]["tool"] == "run_shell" and len(json.dumps(shown[0]["arguments"])) < 9000
    assert shown[0]["id"] != shown[1]["id"] and all(len(p["id"]) >= 20 for p in shown)
    assert [s["status"] for s in result["steps"]] == ["rejected", "rejected"]


async def test_each_tool_call_is_audited_once_whoever_stops_it(gateway, tmp_path):
    """A call the gateway refuses (a rule, a missing file) is audited by the gateway, a call the
    tool's contract refuses by the loop: never both."""
    spec = specialist(gateway, tools=["run_shell", "read_file"], policy={"commands": {"deny": ["rm *"]}})
    client = ScriptedClient(
        [
            calls(("run_shell", {"command": f"rm {tmp_path}/x"})),
            calls(("read_file", {"path": f"{tmp_path}/missing"})),
            calls(("read_file", {"nonsense": 1})),
            answer("ok"),
        ]
    )
    result, events = await run(gateway, client, spec)
    assert [s["status"] for s in result["steps"]] == ["denied", "invalid", "invalid"]
    steps = [e["step"] for e in events if e["kind"] == "tool_call"]
    assert sorted(steps) == [1, 2, 3], events
