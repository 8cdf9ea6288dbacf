"""The MCP server: the REST operations as tools, the caller's servers and specialists as
resources, and a policy's ``confirm`` asked through the client's elicitation.

Each tool is a REST operation under its snake_case name. Its input schema *is* the REST request
model (``api.models``): the same fields, limits, strictness and refusal of unknown fields; its
output schema is the union of the REST answers, and results carry them as ``structuredContent``
(with the same JSON as text for clients that read only that). The work itself is
``api.operations``, the code the REST handlers run: one policy, one job store, one audit log.

A confirm is asked before anything runs, in a resolver (``mcp.server.mcpserver.resolve``): the
SDK sends it as an elicitation in the 2025 protocol, or as an input request the client answers
on its retry in the 2026 one, so the question must come from the arguments alone. The planning
resolver judges the action; the asking resolver turns a confirm into the question; the tool body
performs *that* plan (resolvers are memoised within a call) with the answer as its approver. A
client without elicitation, or a token without ``approve``, gets a pending job instead, with its
id and how a person approves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from gtp_remote import __version__
from gtp_remote.access import Principal
from gtp_remote.api import models as m
from gtp_remote.api import operations as ops
from gtp_remote.api.delegation import models_view
from gtp_remote.api.errors import status_of
from gtp_remote.api.jobs import cancel_job, visible_job
from gtp_remote.api.models import validate
from gtp_remote.api.servers import servers_view, specialists_view
from gtp_remote.api.state import Api, Meta
from gtp_remote.errors import ConflictError, GtpError
from gtp_remote.gateway import Approver
from gtp_remote.jobs import Job

log = logging.getLogger("gtp_remote.mcp")

#: Who calls: from the request's bearer or OAuth token (HTTP), or GTP_TOKEN (stdio). The context
#: is None where the SDK gives none (a static resource); the credential is then the request's own.
Who = Callable[[Context | None], Principal]
ELICIT_SECONDS = 120.0  # a specialist's step asked mid-call waits this long for an answer
SPENT_SECONDS = 900.0  # longer than the SDK lets a retry state live (600 s)
SPENT_KEPT = 10_000
PROGRESS_EVERY = 2.0  # seconds between progress notifications while a job runs
INPUT_REQUIRED_ERA = "2026-07-28"  # from this protocol on, elicitation rides the call's retry

INSTRUCTIONS = (
    "gtp-remote runs work on the servers of an inventory: shell commands (one server or many at "
    "once), programs, file reads and writes, and delegation to a specialist model that works with "
    "its own tools on its own server. Start with list_servers. Every action passes the owner's "
    "policy: some are refused, some wait for a person to approve them. Long work returns a job_id: "
    "follow it with get_job."
)


# -- arguments of the tools that have no REST body ----------------------------------------------


class ListServers(m.Request):
    check: bool = Field(False, description="Check each server now (slower).")


class ListModels(m.Request):
    server: str | None = m.SERVER_FIELD
    provider: str | None = Field(
        None, max_length=200, description="Provider to ask (default: the server's own)."
    )


class JobRef(m.Request):
    job_id: str = Field(..., min_length=1, max_length=100, description="The job_id a tool returned.")
    wait_seconds: float = Field(
        0, ge=0, le=m.MAX_WAIT, description="Wait up to this long for the job to finish (get_job)."
    )


class JobCancel(m.Request):
    job_id: str = Field(..., min_length=1, max_length=100, description="The job_id a tool returned.")


class Delegate(m.ExecuteLLM):
    """``execute-llm`` without ``stream``: over MCP the steps come as progress notifications."""

    stream: bool = Field(False, exclude=True)


class Confirm(BaseModel):
    """What the person at the client answers to an elicitation: ``true`` and nothing else is yes."""

    model_config = ConfigDict(strict=True)
    approve: bool = Field(description="Run this action now?")


# -- the tools -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hints:
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool

    def annotations(self, title: str) -> ToolAnnotations:
        return ToolAnnotations(
            title=title,
            read_only_hint=self.read_only,
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )


#: A command or program can change anything on its servers and reach out from them.
RUNS = Hints(read_only=False, destructive=True, idempotent=False, open_world=True)
READS = Hints(read_only=True, destructive=False, idempotent=True, open_world=False)
WRITES = Hints(read_only=False, destructive=True, idempotent=False, open_world=False)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    model: type[m.Request]
    outputs: tuple[type[BaseModel], ...]
    hints: Hints


ACCEPTED = m.JobAccepted
GATEWAY_TOOLS = (
    ToolSpec(
        "execute_shell",
        "Run a shell command",
        "Run a shell command on a server, or on many at once with target, an Ansible host pattern "
        "('all', 'web*', 'group:NAME', 'a,b', 'web:!db1', limit to narrow it). Long runs return a job_id "
        "for get_job.",
        m.ExecuteShell,
        (m.ShellResult, m.MultiShellResult, ACCEPTED),
        RUNS,
    ),
    ToolSpec(
        "execute_code",
        "Run a program",
        "Run a Python, bash, sh or Node program on a server (sent on stdin, nothing left behind). "
        "Use for logic a one-line command cannot express.",
        m.ExecuteCode,
        (m.ShellResult, ACCEPTED),
        RUNS,
    ),
    ToolSpec(
        "read_file",
        "Read a file",
        "Read a text file on a server, up to 60000 bytes per call (offset, limit for more).",
        m.FileRead,
        (m.FileContent, ACCEPTED),
        READS,
    ),
    ToolSpec(
        "write_file",
        "Write a file",
        "Create, overwrite (atomically) or append to a file on a server. For a small change to a "
        "large file, prefer patch_file.",
        m.FileWrite,
        (m.FileWritten, ACCEPTED),
        WRITES,
    ),
    ToolSpec(
        "list_files",
        "List a directory",
        "List a directory on a server, optionally recursively (500 entries at most).",
        m.FileList,
        (m.Listing, ACCEPTED),
        READS,
    ),
    ToolSpec(
        "patch_file",
        "Patch a file",
        "Apply a unified diff (diff -u) to a file on a server; refused whole if any hunk does not "
        "match. dry_run checks it only.",
        m.FilePatch,
        (m.PatchResult, ACCEPTED),
        WRITES,
    ),
    ToolSpec(
        "upload_file",
        "Upload a file",
        "Write bytes (base64) to a file on a server, atomically. Larger than 750000 bytes: send "
        "chunks by offset, the final one with the whole file's sha256 (checked on the server).",
        m.FileUpload,
        (m.FileUploaded, ACCEPTED),
        WRITES,
    ),
    ToolSpec(
        "download_file",
        "Download a file",
        "Read any file's bytes (base64), 60000 per call (offset, limit); at eof the answer has the "
        "whole file's sha256, computed on the server.",
        m.FileDownload,
        (m.FileDownloaded, ACCEPTED),
        READS,
    ),
)


def output_schema(outputs: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    """The JSON schema of a tool's structured results: one REST answer model, or any of them."""
    if len(outputs) == 1:
        schema = outputs[0].model_json_schema()
    else:
        union = outputs[0]
        for model in outputs[1:]:
            union = union | model  # type: ignore[assignment]
        schema = TypeAdapter(union).json_schema()
    return {"type": "object", **schema}


class RawArguments(ArgModelBase):
    """A tool's arguments as sent, for the tool to validate with its REST model: the same strict
    checks (unknown fields, wrong JSON types) and the same error naming each field as REST's.
    (The SDK's own validation would drop unknown fields and answer with pydantic's text.)"""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def _arguments(model: type[BaseModel], arguments: dict[str, Any]) -> Any:
    return validate(model, arguments, hint="see this tool's input schema (tools/list)")


def tool_result(status: int, body: dict[str, Any]) -> CallToolResult:
    """An answer as a tool result: structured, and the same JSON as text. An error (a status
    past 399) is a tool error whose text names the code, the message and what to do."""
    text = json.dumps(body, ensure_ascii=False)
    if status >= 400:
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=body)


def error_result(exc: GtpError) -> CallToolResult:
    return tool_result(status_of(exc), {"error": exc.to_dict()})


@dataclass
class Planned:
    """The planning resolver's outcome: the prepared action, or why it cannot run."""

    caller: Principal
    meta: Meta
    prepared: ops.Prepared | None = None
    error: GtpError | None = None


class GatewayTools:
    """Builds the MCP server over ``api``; ``who`` says who calls."""

    def __init__(self, api: Api, who: Who):
        self.api = api
        self.who = who
        self.spent: dict[bytes, float] = {}  # digests of retry states whose answer was used

    def spend(self, ctx: Context) -> None:
        """In the 2026 protocol the person's answer rides the client's retry, in a sealed state
        the client could send again: each is good for one run (REST's approval names one
        pending action, once). The 2025 protocol asks anew each time and carries no state."""
        state = ctx.request_state
        if not state:
            return
        now = time.monotonic()
        if len(self.spent) > SPENT_KEPT:
            self.spent = {k: t for k, t in self.spent.items() if now - t < SPENT_SECONDS}
        key = hashlib.sha256(state.encode()).digest()
        if key in self.spent and now - self.spent[key] < SPENT_SECONDS:
            raise ConflictError(
                "this approval was already used: an answer approves one run",
                hint="call the tool again to be asked again",
            )
        self.spent[key] = now

    # -- who and how -----------------------------------------------------------------------------

    def caller(self, ctx: Context | None) -> Principal:
        """The calling principal, acting through MCP, named with its client; rate limited like REST."""
        principal = self.who(ctx)
        principal = principal.acting_through("mcp", client_name(ctx) if ctx is not None else None)
        self.api.limiter.check(principal.name)
        return principal

    async def audit_call(
        self,
        caller: Principal | None,
        meta: Meta,
        tool: str,
        status: int,
        started: float,
        method: str = "tools/call",
    ) -> None:
        await self.api.record(
            {
                "kind": "request",
                "front_end": "mcp",
                "request_id": meta.request_id,
                "token": caller.name if caller else None,
                "client": meta.client,
                "method": method,
                "path": tool,
                "status": status,
                "duration_ms": round((time.monotonic() - started) * 1000, 3),
            }
        )

    async def answered(
        self,
        tool: str,
        meta: Meta,
        caller: Callable[[], Principal | None],
        work: Callable[[], Awaitable[ops.Answer]],
    ) -> CallToolResult:
        """A tool call's answer as a tool result (a gateway error too), audited once with its
        status, whoever called (``caller()``: known once the call got that far)."""
        started = time.monotonic()
        status = 500
        try:
            outcome = await work()
            status = outcome.status
            return tool_result(outcome.status, outcome.body)
        except GtpError as exc:
            status = status_of(exc)
            return error_result(exc)
        except asyncio.CancelledError:
            status = 499  # the client left or cancelled: any job it started goes on
            raise
        finally:
            await self.audit_call(caller(), meta, tool, status, started)

    async def follow(self, ctx: Context, job: Job, wait: float) -> ops.Answer:
        """Wait up to ``wait`` seconds for a job, telling the client how it goes (progress
        notifications, when it sent a progress token); then its answer, or how to follow it."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        finished = False
        while True:
            left = started + wait - loop.time()
            finished = await self.api.jobs.wait(job, max(0.0, min(PROGRESS_EVERY, left)))
            if finished or left <= PROGRESS_EVERY or job.status == "awaiting_approval":
                break
            tail = job.output_tail.strip().splitlines()
            await ctx.report_progress(
                round(loop.time() - started, 1),
                None,
                f"{job.status}: {tail[-1][:200] if tail else 'working'}",
            )
        return ops.job_answer(job, finished)

    # -- a gateway action ------------------------------------------------------------------------

    def gateway_tool(self, spec: ToolSpec) -> Callable[..., Any]:
        tools = self
        model = spec.model

        async def plan(ctx: Context, arguments: dict[str, Any]) -> Planned:
            meta = Meta(f"mcp-{secrets.token_hex(6)}", client_name(ctx))
            try:
                caller = tools.caller(ctx)
            except GtpError as exc:
                return Planned(Principal("unknown", frozenset()), meta, error=exc)
            planned = Planned(caller, meta)
            try:
                planned.prepared = await ops.prepare(tools.api, caller, _arguments(model, arguments), meta)
            except GtpError as exc:
                planned.error = exc
            return planned

        async def ask(ctx: Context, planned: Annotated[Planned, Resolve(plan)]) -> Elicit[Confirm] | None:
            prepared = planned.prepared
            if prepared is None or not prepared.confirm or not may_elicit(ctx, planned.caller):
                return None
            return Elicit(approval_message(prepared.plan.pending()), Confirm)

        async def run(
            ctx: Context,
            planned: Annotated[Planned, Resolve(plan)],
            answer: Annotated[ElicitationResult[Confirm], Resolve(ask)],
            arguments: dict[str, Any],
        ) -> CallToolResult:
            async def work() -> ops.Answer:
                if planned.error is not None:
                    raise planned.error
                prepared = planned.prepared
                assert prepared is not None
                approver = None
                if prepared.confirm and may_elicit(ctx, planned.caller):  # asked: the person's answer decides
                    tools.spend(ctx)  # an answer carried in a retry's state counts once
                    data = answer.data if isinstance(answer, AcceptedElicitation) else None
                    yes = isinstance(data, Confirm) and data.approve is True
                    by = f"{planned.caller.name} (MCP elicitation, {planned.meta.client or 'client'})"

                    async def approver(pending: dict[str, Any]) -> tuple[bool, str | None]:
                        return yes, by

                outcome = await ops.run(tools.api, prepared, planned.meta, approver=approver)
                if isinstance(outcome, Job):
                    outcome = await tools.follow(ctx, outcome, prepared.wait or 0.0)
                return outcome

            return await tools.answered(spec.name, planned.meta, lambda: planned.caller, work)

        # The SDK keys resolvers by qualified name and reads their annotations: name each tool's
        # own, and give real objects (this module's annotations are postponed strings naming
        # closures, which the SDK could not resolve).
        plan.__qualname__ = f"plan_{spec.name}"
        ask.__qualname__ = f"ask_{spec.name}"
        plan.__annotations__ = {"ctx": Context, "arguments": dict[str, Any], "return": Planned}
        ask.__annotations__ = {
            "ctx": Context,
            "planned": Annotated[Planned, Resolve(plan)],
            "return": Elicit[Confirm] | None,
        }
        run.__annotations__ = {
            "ctx": Context,
            "planned": Annotated[Planned, Resolve(plan)],
            "answer": Annotated[ElicitationResult[Confirm], Resolve(ask)],
            "arguments": dict[str, Any],
            "return": CallToolResult,
        }
        return run

    # -- the tools without a gateway action --------------------------------------------------------

    def plain_tool(
        self,
        name: str,
        model: type[m.Request],
        work: Callable[[Principal, Any, Meta, Context], Awaitable[Any]],
    ) -> Callable[..., Any]:
        """A tool that is not one gateway action (listing, a job, a delegation): ``work`` answers."""
        tools = self

        async def run(ctx: Context, arguments: dict[str, Any]) -> CallToolResult:
            meta = Meta(f"mcp-{secrets.token_hex(6)}", client_name(ctx))
            called: list[Principal] = []

            def caller() -> Principal | None:
                return called[0] if called else None

            async def answer() -> ops.Answer:
                called.append(tools.caller(ctx))
                outcome = await work(called[0], _arguments(model, arguments), meta, ctx)
                return outcome if isinstance(outcome, ops.Answer) else ops.Answer(200, outcome)

            return await tools.answered(name, meta, caller, answer)

        run.__annotations__ = {"ctx": Context, "arguments": dict[str, Any], "return": CallToolResult}
        return run

    async def list_servers(
        self, caller: Principal, body: ListServers, meta: Meta, ctx: Context
    ) -> dict[str, Any]:
        return await servers_view(self.api, caller, body.check)

    async def list_models(
        self, caller: Principal, body: ListModels, meta: Meta, ctx: Context
    ) -> dict[str, Any]:
        return await models_view(self.api, caller, body.server, body.provider)

    async def get_job(self, caller: Principal, body: JobRef, meta: Meta, ctx: Context) -> dict[str, Any]:
        job = await visible_job(self.api, caller, body.job_id)
        if body.wait_seconds and job.task is not None and not job.task.done():
            await self.follow(ctx, job, body.wait_seconds)
        return job.view()

    async def cancel_job(
        self, caller: Principal, body: JobCancel, meta: Meta, ctx: Context
    ) -> dict[str, Any]:
        return (await cancel_job(self.api, caller, body.job_id)).view()

    async def execute_llm(self, caller: Principal, body: Delegate, meta: Meta, ctx: Context) -> ops.Answer:
        """A delegation; a step that needs approval is asked by elicitation while this call is
        open (2025 protocol), else waits in the job for a person, as over REST."""
        call_open = True

        def approver_for(job: Job) -> Approver:
            in_job = self.api.jobs.approver(job)
            if not may_elicit_midway(ctx, caller):
                return in_job
            asking = elicit_approver(ctx, caller, meta)

            async def approver(pending: dict[str, Any]) -> tuple[bool, str | None]:
                if call_open:
                    try:
                        return await asking(pending)
                    except Exception as exc:  # the client could not be asked after all, or did not answer
                        log.info("MCP elicitation failed (%s); the step waits in job %s", exc, job.id)
                return await in_job(pending)

            return approver

        job = await ops.start_delegation(self.api, caller, body, meta, approver_for=approver_for)
        try:
            return await self.follow(ctx, job, body.wait_seconds)
        finally:
            call_open = False

    # -- the server ------------------------------------------------------------------------------

    def build(self, **server_options: Any) -> MCPServer:
        server = MCPServer(
            name="gtp-remote",
            title="gtp-remote",
            version=__version__,
            instructions=INSTRUCTIONS,
            log_level="WARNING",  # the SDK configures logging: not asyncssh's every channel
            **server_options,
        )
        for spec in GATEWAY_TOOLS:
            self._add(server, spec, self.gateway_tool(spec))
        plain = (
            ToolSpec(
                "list_servers",
                "List servers",
                "The servers you may use: names, groups, models, last health. Call this first to "
                "learn the server names the other tools take.",
                ListServers,
                (m.ServerList,),
                Hints(read_only=True, destructive=False, idempotent=True, open_world=False),
            ),
            ToolSpec(
                "execute_llm",
                "Delegate to a specialist",
                "Delegate a task to a specialist model (e.g. database-llm) that works with its own "
                "tools on its own server; returns its answer and steps, or a job_id for get_job.",
                Delegate,
                (m.LLMResult, ACCEPTED),
                RUNS,
            ),
            ToolSpec(
                "list_models",
                "List a server's models",
                "The models a server's model server offers (Ollama or OpenAI-compatible).",
                ListModels,
                (m.LLMModels,),
                Hints(read_only=True, destructive=False, idempotent=True, open_world=False),
            ),
            ToolSpec(
                "get_job",
                "Get a job",
                "A job's status and, once finished, its result. wait_seconds waits for it to finish.",
                JobRef,
                (m.JobView,),
                Hints(read_only=True, destructive=False, idempotent=True, open_world=False),
            ),
            ToolSpec(
                "cancel_job",
                "Cancel a job",
                "Cancel a running job of yours; its process is killed on the server.",
                JobCancel,
                (m.JobView,),
                Hints(read_only=False, destructive=True, idempotent=True, open_world=False),
            ),
        )
        for spec in plain:
            self._add(server, spec, self.plain_tool(spec.name, spec.model, getattr(self, spec.name)))
        self._resources(server)
        return server

    def _add(self, server: MCPServer, spec: ToolSpec, fn: Callable[..., Any]) -> None:
        server.add_tool(
            fn,
            name=spec.name,
            title=spec.title,
            description=spec.description,
            annotations=spec.hints.annotations(spec.title),
            structured_output=False,
        )
        tool = server._tool_manager.get_tool(spec.name)  # the SDK has no public way to set these
        assert tool is not None
        schema = spec.model.model_json_schema()
        if spec.model is Delegate:
            schema["properties"].pop("stream", None)
        tool.parameters = schema
        tool.fn_metadata.arg_model = RawArguments
        tool.fn_metadata.output_schema = output_schema(spec.outputs)

    def _resources(self, server: MCPServer) -> None:
        """The caller's servers and specialists, as a list and one by one. (The SDK gives static
        resources no context: who calls comes from the request's credential, see ``Who``.)"""
        tools = self

        @server.resource(
            "gtp://servers",
            name="servers",
            title="Your servers",
            description="The servers this token may use, with their groups, models and last health.",
            mime_type="application/json",
        )
        async def servers() -> str:
            async with tools.reading("gtp://servers", None) as caller:
                return _json(await servers_view(tools.api, caller, False))

        @server.resource(
            "gtp://servers/{name}",
            name="server",
            title="A server",
            description="One of your servers: address, groups, model, last health.",
            mime_type="application/json",
        )
        async def one_server(name: str, ctx: Context) -> str:
            async with tools.reading(f"gtp://servers/{name}", ctx) as caller:
                name = tools.api.gateway.server_for(caller, name)  # unknown, or not theirs: the same error
                view = await servers_view(tools.api, caller, False)
                return _json(next(row for row in view["servers"] if row["name"] == name))

        @server.resource(
            "gtp://specialists",
            name="specialists",
            title="Specialists",
            description="The specialist models on your servers: their server, model, tools and policy.",
            mime_type="application/json",
        )
        async def specialists() -> str:
            async with tools.reading("gtp://specialists", None) as caller:
                return _json({"specialists": specialists_view(tools.api, caller)})

        @server.resource(
            "gtp://specialists/{name}",
            name="specialist",
            title="A specialist",
            description="One specialist: its server, model, tools and policy.",
            mime_type="application/json",
        )
        async def one_specialist(name: str, ctx: Context) -> str:
            async with tools.reading(f"gtp://specialists/{name}", ctx) as caller:
                shown = specialists_view(tools.api, caller)
                if name not in shown:
                    raise ResourceError(f"no specialist '{name}'; yours: {', '.join(shown) or 'none'}")
                return _json(shown[name])

    @contextlib.asynccontextmanager
    async def reading(self, uri: str, ctx: Context | None) -> AsyncIterator[Principal]:
        """A resource read: who reads, audited like a tool call; a gateway error's message and
        hint reach the client (the SDK shows anything else as a bare internal error)."""
        started = time.monotonic()
        meta = Meta(f"mcp-{secrets.token_hex(6)}", client_name(ctx) if ctx is not None else None)
        caller = None
        status = 500
        try:
            caller = self.caller(ctx)
            yield caller
            status = 200
        except GtpError as exc:
            status = status_of(exc)
            raise ResourceError(
                f"{exc.code}: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
            ) from exc
        except ResourceError:
            status = 404
            raise
        finally:
            await self.audit_call(caller, meta, uri, status, started, method="resources/read")


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


# -- asking a person -----------------------------------------------------------------------------


def client_name(ctx: Context) -> str | None:
    """The client as the audit log names it: the name and version it gave itself (its own
    claim), and over HTTP the address it came from."""
    try:
        info = ctx.session.client_params.client_info  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        info = None
    name = _printable(f"{info.name} {info.version}" if info.version else info.name) if info else None
    try:
        request = ctx.request_context.request
        address = request.client.host if request is not None and request.client else None  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        address = None
    if address:  # the address first: it is ours; the name is whatever the client says it is
        return f"{address} (client: {name or 'unnamed'})"
    return name


def _printable(text: str) -> str:
    """A client's self-chosen name, as the audit log shows it: printable, short."""
    return "".join(c if c.isprintable() else "?" for c in text)[:100]


def may_elicit(ctx: Context, caller: Principal) -> bool:
    """Whether a confirm is asked of the client: it declared elicitation, and the identity that
    would answer may approve. Otherwise the action waits in a job for someone who may."""
    if "approve" not in caller.operations:
        return False
    capabilities = ctx.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


def may_elicit_midway(ctx: Context, caller: Principal) -> bool:
    """A specialist's step is asked in the middle of the call, which only the 2025 protocol
    can do (the 2026 one asks only before a tool runs); otherwise it waits in the job."""
    version = ctx.protocol_version
    if version is None or is_version_at_least(version, INPUT_REQUIRED_ERA):
        return False
    return may_elicit(ctx, caller)


def elicit_approver(
    ctx: Context, caller: Principal, meta: Meta
) -> Callable[..., Awaitable[tuple[bool, str]]]:
    by = f"{caller.name} (MCP elicitation, {meta.client or 'client'})"

    async def approver(pending: dict[str, Any]) -> tuple[bool, str]:
        async with asyncio.timeout(ELICIT_SECONDS):  # unanswered: the caller falls back to the job
            answer = await ctx.elicit(approval_message(pending), Confirm)
        return isinstance(answer, AcceptedElicitation) and answer.data.approve is True, by

    return approver


def approval_message(pending: dict[str, Any]) -> str:
    """The question a person answers: the whole action (what runs, where, the hosts of a
    fan-out), and the rule that asks and why."""
    where = pending.get("servers") or [pending.get("server")]
    lines = [f"Approve this {pending.get('operation')} on {', '.join(map(str, where))}?"]  # names: inventory
    for key, value in pending.items():
        if key in ("id", "operation", "server", "servers"):
            continue
        # JSON, strings too: a newline in a command is shown as \n, so no value can draw lines
        # of its own (a fake "rule:") or push the rest out of sight
        lines.append(f"{key}: {json.dumps(value, ensure_ascii=True)}")  # no raw U+2028, bidi controls
    return "\n".join(lines)
