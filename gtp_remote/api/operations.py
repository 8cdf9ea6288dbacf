"""The operations every front end offers, once: a validated request in, an answer out.

The REST handlers and the MCP tools are two spellings of the same operations. Each takes the
same request model (``api.models``), builds the same gateway action, plans it with the caller's
permissions and policy, and runs it through :meth:`Api.start` or inline, so the rules, the jobs
and the audit log cannot differ between them. What a front end adds is only how it is asked (a
JSON body, a tool call) and how it answers (:class:`Answer`: a status and a JSON body, which REST
sends as is and MCP turns into a tool result).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gtp_remote import gateway as g
from gtp_remote.access import Principal
from gtp_remote.api import models as m
from gtp_remote.api.state import Api, Meta, Shape
from gtp_remote.budget import (
    OUTPUT_BUDGET,
    RESPONSE_BUDGET,
    RUN_OUTPUT_LIMIT,
    clip_llm,
    clip_run,
    compact_fan_out,
    json_size,
)
from gtp_remote.errors import GtpError, InvalidRequestError
from gtp_remote.executors.base import RunResult
from gtp_remote.fanout import FanOutResult
from gtp_remote.gateway import Approver, Plan
from gtp_remote.jobs import Job
from gtp_remote.llm.agent import Agent
from gtp_remote.llm.service import Specialist


def shape_run(result: RunResult) -> dict[str, Any]:
    return clip_run(result.model_dump(exclude={"command"}), OUTPUT_BUDGET) | {"ok": result.ok}


def shape_fan_out(result: FanOutResult) -> dict[str, Any]:
    return compact_fan_out(result)


def shape_model(result: Any) -> dict[str, Any]:
    return result.model_dump()


def shape_download(result: g.Downloaded) -> dict[str, Any]:
    """The piece as base64, cut shorter when the answer would not fit the budget (a long path
    of escaped characters takes room too): ``bytes_read`` and ``eof`` say where to go on."""
    body = result.model_dump()
    room = OUTPUT_BUDGET + (RESPONSE_BUDGET - OUTPUT_BUDGET) // 2 - json_size(body | {"content_base64": ""})
    data = result.data
    if len(data) * 4 // 3 + 4 > room:
        data = data[: max(room, 0) * 3 // 4 // 3 * 3]
        body.update(bytes_read=len(data), eof=False, sha256=None)
    return body | {"content_base64": base64.b64encode(data).decode()}


@dataclass(frozen=True)
class Prepared:
    """A planned gateway action and how its answer is shaped and recorded."""

    plan: Plan
    shape: Shape
    record: dict[str, Any]
    job_name: str
    wait: float | None  # commands run as jobs, answered within this many seconds; None: inline

    @property
    def confirm(self) -> bool:
        return self.plan.decision.action == "confirm"


#: Each gateway request model: its job name, and how the action is built from the body.
GATEWAY_REQUESTS = (
    m.ExecuteShell,
    m.ExecuteCode,
    m.FileRead,
    m.FileWrite,
    m.FileList,
    m.FilePatch,
    m.FileUpload,
    m.FileDownload,
)


def _action(body: Any) -> tuple[g.Action, str]:
    if isinstance(body, m.ExecuteShell):
        action: g.Action = g.Command(
            body.command,
            server=None if body.target else body.server,
            target=body.target,
            limit=body.limit,
            cwd=body.cwd,
            env=body.env,
            timeout=body.timeout,
            output_limit=RUN_OUTPUT_LIMIT,
            become=body.become,
        )
        return action, "execute-shell"
    if isinstance(body, m.ExecuteCode):
        action = g.Code(
            body.code,
            body.language,
            server=body.server,
            timeout=body.timeout,
            output_limit=RUN_OUTPUT_LIMIT,
            become=body.become,
        )
        return action, "execute-code"
    if isinstance(body, m.FileRead):
        return g.FileRead(
            body.path, body.server, body.offset, body.limit, max_json_chars=OUTPUT_BUDGET
        ), "file-read"
    if isinstance(body, m.FileWrite):
        return g.FileWrite(body.path, body.content, body.mode, body.server), "file-write"
    if isinstance(body, m.FileList):
        return g.FileList(body.path, body.server, body.recursive, max_entries=500), "file-list"
    if isinstance(body, m.FilePatch):
        return g.FilePatch(body.path, body.diff, body.dry_run, body.server), "file-patch"
    if isinstance(body, m.FileUpload):
        action = g.FileUpload(
            body.path,
            _base64("content_base64", body.content_base64),
            server=body.server,
            offset=body.offset,
            final=body.final,
            mode=body.mode,
            file_mode=int(body.file_mode, 8) if body.file_mode is not None else None,
            sha256=body.sha256.lower() if body.sha256 is not None else None,
        )
        return action, "file-upload"
    if isinstance(body, m.FileDownload):
        return g.FileDownload(body.path, body.server, body.offset, body.limit, body.sha256), "file-download"
    raise TypeError(f"not a gateway request: {type(body).__name__}")


def _base64(field: str, text: str) -> bytes:
    """Strict base64 (the standard alphabet, padded), or a 400 naming the field."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(
            f"{field}: not valid base64 ({exc})",
            hint="encode the bytes with standard base64: A-Z a-z 0-9 + /, padded with =",
        ) from None


def _record(body: Any, plan: Plan) -> dict[str, Any]:
    """What the job keeps of the request: never an environment variable's value (a secret)."""
    if isinstance(body, m.ExecuteShell):
        return body.model_dump(exclude={"env"}) | {"env": sorted(body.env)}
    if isinstance(body, m.ExecuteCode):
        return {"language": body.language, "code": body.code[:2000], "become": body.become}
    return {"path": body.path, "server": plan.server}


async def prepare(api: Api, caller: Principal, body: Any, meta: Meta) -> Prepared:
    """Plan a gateway request: raises the gateway's errors (unknown server, no permission, a
    policy denial, audited) before anything runs."""
    action, name = _action(body)
    plan = await api.gateway.plan(
        caller, action, current=api.current.get(caller.name), context={"request_id": meta.request_id}
    )
    if isinstance(body, m.ExecuteShell | m.ExecuteCode):
        shape: Shape = shape_fan_out if plan.fan_out else shape_run
        wait: float | None = body.wait_seconds
    else:
        shape, wait = (shape_download if isinstance(body, m.FileDownload) else shape_model), None
    return Prepared(plan, shape, _record(body, plan), name, wait)


@dataclass(frozen=True)
class Answer:
    """An operation's answer: an HTTP status and its JSON body (an ``error`` object past 399)."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status < 400


def job_answer(job: Job, finished: bool) -> Answer:
    """What a job says to whoever started it: its result, its error, or (still going) how to
    follow it and, awaiting approval, how a person decides."""
    from gtp_remote.api.state import status_for_code

    if not finished:
        if job.status == "awaiting_approval":
            return Answer(
                202,
                {
                    "job_id": job.id,
                    "status": "awaiting_approval",
                    "pending_action": job.pending,
                    "output_tail": job.output_tail,
                    "hint": f"a person with another token (with the approve permission) decides: POST "
                    f'/jobs/{job.id}/approve or /reject with {{"pending_id": "<pending_action.id>"}}; '
                    f"then GET /jobs/{job.id} (MCP: get_job) for the result",
                },
            )
        return Answer(
            202,
            {
                "job_id": job.id,
                "status": "running",
                "output_tail": job.output_tail,
                "hint": f"still running; GET /jobs/{job.id} (MCP: get_job) for the result",
            },
        )
    if job.result is not None:
        return Answer(200, {"job_id": job.id, "status": job.status, **job.result})
    error = job.error or {"code": "failed", "message": "the job failed"}
    status = 409 if job.status == "cancelled" else status_for_code(error.get("code"))
    return Answer(status, {"error": {**error, "job_id": job.id}})


async def run(api: Api, prepared: Prepared, meta: Meta, *, approver: Approver | None = None) -> Answer | Job:
    """Run a prepared action: inline (a file operation the policy allows) answers at once;
    anything else becomes a job, returned for the front end to wait on. ``approver`` decides a
    confirm in place of the job's own (an MCP client's elicitation)."""
    if prepared.wait is None and not prepared.confirm:
        result = await api.gateway.perform(prepared.plan, context=meta.context())
        return Answer(200, prepared.shape(result))
    return await api.start(prepared, meta, approver=approver)


# -- delegation --------------------------------------------------------------------------------


def resolve_specialist(api: Api, caller: Principal, body: m.ExecuteLLM) -> Specialist:
    """The specialist an ``execute-llm`` names, as this caller may see it."""
    caller.require("llm")
    gateway = api.gateway
    current = api.current.get(caller.name)
    if body.server:  # a server the caller may not use is as unknown as one that does not exist
        current = gateway.server_for(caller, body.server)
    else:
        with contextlib.suppress(GtpError):
            current = gateway.server_for(caller, None, current=current)
    inventory = gateway.inventory
    specialist = api.llm.resolve(
        body.provider,
        current=current,
        server=body.server,
        model=body.model,
        visible=lambda name: caller.may_use(inventory, name),
    )
    gateway.server_for(caller, specialist.server)
    if not specialist.configured:
        # A server's model or a bare provider gets the built-in tools and no specialist policy:
        # as powerful as execute-shell and file writes, so it needs those permissions too.
        caller.require("exec")
        caller.require("files.write")
    return specialist


async def start_delegation(
    api: Api,
    caller: Principal,
    body: m.ExecuteLLM,
    meta: Meta,
    *,
    approver_for: Callable[[Job], Approver] | None = None,
    stream: bool = False,
) -> Job:
    """Start an ``execute-llm`` job: the specialist's agent loop, its every tool call governed
    by the gateway with the caller's permissions and policy. A step the policy wants confirmed
    asks the approver ``approver_for`` gives for the job (an MCP client's elicitation), or else
    waits in the job for a person."""
    specialist = resolve_specialist(api, caller, body)
    record = {
        "provider": body.provider,
        "instructions": body.instructions[:2000],
        "dry_run": body.dry_run,
        "_request_id": meta.request_id,
        "_client": meta.client,
    }

    async def work(job: Job) -> dict[str, Any]:
        def emit(kind: str, data: dict[str, Any]) -> None:
            if kind == "final":
                data = clip_llm(copy.deepcopy(data))
            job.publish(kind, data)
            line = progress_line(kind, data)
            if line:
                job.tail.add(line.encode())

        agent = Agent(
            api.llm,
            specialist,
            caller,
            emit=emit,
            approver=approver_for(job) if approver_for else api.jobs.approver(job),
            audit=api.record,
            dry_run=body.dry_run,
            max_steps=body.max_steps,
            stream=stream,
            context={"job_id": job.id, "request_id": meta.request_id, "token": caller.name},
        )
        try:
            result = await agent.run(body.instructions)
        except GtpError as exc:
            job.publish("error", exc.to_dict())
            raise
        return clip_llm(result)

    return await api.jobs.start(
        token=caller.name, operation="execute-llm", server=specialist.server, request=record, work=work
    )


def progress_line(kind: str, data: dict[str, Any]) -> str | None:
    """What an execute-llm job shows in ``output_tail`` while it runs."""
    if kind == "tool_call":
        return f"[{data['index']}] {data['tool']} {json.dumps(data['arguments'], ensure_ascii=False)[:300]}\n"
    if kind == "tool_result":
        return f"    -> {data['status']} (exit {data['exit_code']})\n"
    if kind == "awaiting_approval":
        return f"    awaiting approval: {data['reason']}\n"
    if kind == "delta":
        return str(data["text"])
    return None
