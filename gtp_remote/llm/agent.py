"""The agent loop: a specialist's model calls its tools on its own server until it can answer.

Each turn calls the model with the specialist's tools; each tool call is prepared (known tool,
valid arguments, policy decision), run on the server through its executor, and its result is
returned to the model. Mistakes and refusals go back to the model as tool results so it can
recover; everything is kept in the transcript (``steps``) and the audit log.

The loop stops at a final answer, at ``max_steps`` model turns, or at the specialist's timeout
(time spent waiting for a human's approval does not count against it). A failure of the model
server after work was done ends the run with the transcript so far, so nothing that ran is lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from gtp_remote.access import Principal
from gtp_remote.budget import json_size
from gtp_remote.errors import GtpError
from gtp_remote.executors.output import clip_text
from gtp_remote.gateway import Approver, Audit
from gtp_remote.llm.providers import ModelReply, ToolCall, Usage
from gtp_remote.llm.service import LLMService, Specialist, describe
from gtp_remote.llm.tools import Prepared, Toolbox

Emit = Callable[[str, dict[str, Any]], None]

RESULT_OUTPUT_BUDGET = 60_000  # all step outputs of one result together
ANSWER_LIMIT = 20_000
ARGUMENT_LIMIT = 2_000
PENDING_ARGUMENTS = 8_000  # of a tool call's arguments shown beside the action awaiting approval
DRY_RUN_NOTE = (
    "\n\nDRY RUN: nothing you call will run. Call the tools you would use, in order, as if they "
    "worked, then answer with the plan."
)


@dataclass
class Step:
    """One tool call in the transcript."""

    index: int
    tool: str
    arguments: dict[str, Any]
    status: str  # running, then ok | failed | denied | rejected | invalid | planned | interrupted
    policy: dict[str, Any]
    exit_code: int | None = None
    output: str = ""
    duration_ms: float = 0.0
    approved_by: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def view(self, output_limit: int) -> dict[str, Any]:
        """The step with every string bounded: arguments, commands and reasons can be huge too."""
        data = clip_strings(asdict(self), ARGUMENT_LIMIT)
        data["output"] = clip_text(self.output, output_limit)[0]
        return data


def clip_json_value(value: dict[str, Any], limit: int) -> dict[str, Any]:
    """``value`` with its strings clipped so that the whole takes at most ``limit`` characters of
    JSON (each string at most ARGUMENT_LIMIT, less when there are many)."""
    each = ARGUMENT_LIMIT
    clipped = clip_strings(value, each)
    while json_size(clipped) > limit and each > 50:
        each //= 2
        clipped = clip_strings(value, each)
    if json_size(clipped) > limit:  # thousands of keys: say how much there was instead
        return {"omitted": f"{json_size(value)} characters of arguments, too many to show"}
    return clipped


def clip_strings(value: Any, limit: int) -> Any:
    """``value`` with every string in it (nested in dicts and lists) clipped to ``limit``."""
    if isinstance(value, str):
        return clip_text(value, limit)[0]
    if isinstance(value, dict):
        return {k: clip_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [clip_strings(v, limit) for v in value]
    return value


async def _no_audit(event: dict[str, Any]) -> None:
    return None


class Agent:
    def __init__(
        self,
        service: LLMService,
        specialist: Specialist,
        principal: Principal,
        *,
        emit: Emit | None = None,
        approver: Approver | None = None,
        audit: Audit | None = None,
        dry_run: bool = False,
        max_steps: int | None = None,
        stream: bool = False,
        context: dict[str, Any] | None = None,
    ):
        self.service = service
        self.specialist = specialist
        self.toolbox = Toolbox(service.gateway, specialist, principal)
        self.emit = emit or (lambda kind, data: None)
        self.approver = approver
        self.audit = audit or _no_audit
        self.dry_run = dry_run
        self.max_steps = min(max_steps or specialist.config.max_steps, specialist.config.max_steps)
        self.stream = stream
        self.context = context or {}
        self.steps: list[Step] = []
        self.usage = Usage()
        self.model_calls = 0
        self.model_ms = 0.0  # time spent waiting for the model, to tell it from the gateway's own

    async def run(self, instructions: str) -> dict[str, Any]:
        started = time.monotonic()
        client = await self.service.client(self.specialist)
        system = await self.service.system_prompt(self.specialist, self.toolbox)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system + (DRY_RUN_NOTE if self.dry_run else "")},
            {"role": "user", "content": instructions},
        ]
        answer: str | None = None
        stop, error = "max_steps", None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(loop.time() + self.specialist.config.timeout) as budget:
                for turn in range(1, self.max_steps + 1):
                    self.emit("step", {"turn": turn, "model": self.specialist.model})
                    reply = await self._call_model(client, messages)
                    answer = reply.content or answer
                    if not reply.tool_calls:
                        stop = "answer"
                        break
                    messages.append(
                        {
                            "role": "assistant",
                            "content": reply.content,
                            "tool_calls": [c.to_message() for c in reply.tool_calls],
                        }
                    )
                    for call in reply.tool_calls:
                        step = await self._tool(call, budget)
                        messages.append(
                            {
                                "role": "tool",
                                "tool_call_id": call.id,
                                "name": call.name,
                                "content": step.output or "(no output)",
                            }
                        )
        except TimeoutError:
            stop = "timeout"
        except GtpError as exc:
            if self.model_calls == 0 and not self.steps:
                raise  # nothing happened: the caller gets the error itself (404 model, 502 server...)
            stop, error = "error", exc.to_dict()
        result = self._result(answer, stop, error, started)
        self.emit("final", result)
        return result

    async def _call_model(self, client: Any, messages: list[dict[str, Any]]) -> ModelReply:
        on_delta = (lambda text: self.emit("delta", {"text": text})) if self.stream else None
        event: dict[str, Any] = {
            "kind": "model_call",
            **describe(self.specialist),
            "provider_kind": client.endpoint.kind,
            "host": client.endpoint.server,
        }
        try:
            reply = await client.chat(
                messages,
                self.toolbox.definitions(),
                on_delta=on_delta,
                temperature=self.specialist.config.temperature,
            )
        except GtpError as exc:
            await self.audit({**event, **self.context, "outcome": exc.code, "error": exc.message})
            raise
        self.model_calls += 1
        self.model_ms += reply.duration_ms
        self.usage.add(reply.usage)
        await self.audit(
            {
                **event,
                **self.context,
                "prompt_tokens": reply.usage.prompt_tokens if reply.usage else None,
                "completion_tokens": reply.usage.completion_tokens if reply.usage else None,
                "duration_ms": reply.duration_ms,
                "tool_calls": len(reply.tool_calls),
                "recovered_text_calls": reply.recovered_text_calls,
                "outcome": "ok",
            }
        )
        return reply

    async def _tool(self, call: ToolCall, budget: asyncio.Timeout) -> Step:
        index = len(self.steps) + 1
        context = self._context(index, call.name, call.arguments)
        prepared = await self.toolbox.prepare(call.name, call.arguments, call.error, context)
        step = Step(
            index=index,
            tool=call.name,
            arguments=call.arguments,
            status="running",
            policy=prepared.decision.to_dict(),
        )
        if prepared.command is not None:
            step.details["command"] = prepared.command
        if prepared.path is not None:
            step.details["path"] = prepared.path
        self.steps.append(step)
        self.emit(
            "tool_call",
            clip_strings(
                {"index": step.index, "tool": call.name, "arguments": call.arguments, "policy": step.policy},
                ARGUMENT_LIMIT,
            ),
        )
        try:
            await self._decide_and_run(step, prepared, budget, context)
        finally:
            if step.status == "running":  # cut off by the timeout or a cancel: say so
                step.status = "interrupted"
                step.output = step.output or "interrupted (timeout or cancel) before it finished"
            if not (prepared.handed_over or prepared.audited):
                # The gateway audits what it ran and what it refused; the rest is audited here.
                await asyncio.shield(self._audit_tool(step, prepared))
        self.emit("tool_result", step.view(self.specialist.config.max_output_chars))
        return step

    def _context(self, index: int, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """What the gateway's audit event of a tool call carries besides the action itself."""
        return {
            "kind": "tool_call",
            **describe(self.specialist),
            **self.context,
            "step": index,
            "tool": tool,
            "arguments": clip_strings(arguments, ARGUMENT_LIMIT),
        }

    async def _decide_and_run(
        self, step: Step, prepared: Prepared, budget: asyncio.Timeout, context: dict[str, Any]
    ) -> None:
        """Run the call if it may run (the gateway asks for approval when a policy wants it)."""
        if prepared.error is not None:
            step.status, step.output = "invalid", f"error: {prepared.error}"
            return
        if prepared.decision.action == "deny" or prepared.plan is None:
            step.status, step.output = "denied", f"refused by policy: {prepared.decision.reason}"
            return
        if self.dry_run:
            step.status = "planned"
            step.output = f"dry run: not executed (policy would {prepared.decision.action} it)"
            return

        async def approve(pending: dict[str, Any]) -> tuple[bool, str | None]:
            approved, by = await self._approved(step, prepared, pending, budget)
            step.approved_by = by
            return approved, by

        outcome = await self.toolbox.execute(prepared, approve if self.approver else None, context)
        step.exit_code, step.output, step.duration_ms = outcome.exit_code, outcome.output, outcome.duration_ms
        step.details.update(outcome.details)
        if outcome.status == "rejected":
            step.status = "rejected"
            step.output = f"not run: an operator rejected it ({step.approved_by or 'no approver available'})"
        else:
            step.status = "ok" if outcome.ok else "failed"

    async def _audit_tool(self, step: Step, prepared: Prepared) -> None:
        view = step.view(ARGUMENT_LIMIT)
        await self.audit(
            {
                "kind": "tool_call",
                **describe(self.specialist),
                **self.context,
                "step": step.index,
                "tool": step.tool,
                "arguments": view["arguments"],
                "command": view["details"].get("command"),
                "path": prepared.path,
                "policy": view["policy"],
                "approved_by": step.approved_by,
                "exit_code": step.exit_code,
                "duration_ms": step.duration_ms,
                "outcome": step.status,
            }
        )

    async def _approved(
        self, step: Step, prepared: Prepared, action: dict[str, Any], budget: asyncio.Timeout
    ) -> tuple[bool, str | None]:
        assert self.approver is not None
        # The gateway's ``action`` is what runs, whole (its command, content, path, id): it is
        # not clipped. The model's arguments are context, bounded like every argument shown.
        pending = {
            "step": step.index,
            "tool": prepared.tool,
            "arguments": clip_json_value(step.arguments, PENDING_ARGUMENTS),
            **action,
        }
        self.emit("awaiting_approval", pending)
        loop = asyncio.get_running_loop()
        when = budget.when()
        remaining = when - loop.time() if when is not None else None
        budget.reschedule(None)  # a human's thinking time is not the specialist's
        try:
            return await self.approver(pending)
        finally:
            if remaining is not None:
                budget.reschedule(loop.time() + max(remaining, 0))

    def _result(
        self, answer: str | None, stop: str, error: dict[str, Any] | None, started: float
    ) -> dict[str, Any]:
        per_step = max(RESULT_OUTPUT_BUDGET // max(len(self.steps), 1), 200)
        per_step = min(per_step, self.specialist.config.max_output_chars)
        return {
            **describe(self.specialist),
            "ok": stop == "answer",
            "stop_reason": stop,
            "dry_run": self.dry_run,
            "answer": clip_text(answer, ANSWER_LIMIT)[0] if answer else answer,
            "steps": [s.view(per_step) for s in self.steps],
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
            },
            "model_calls": self.model_calls,
            "model_ms": round(self.model_ms, 3),
            "duration_ms": round((time.monotonic() - started) * 1000, 3),
            "error": error,
        }
