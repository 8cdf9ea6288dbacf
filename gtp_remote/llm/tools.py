"""The tools a specialist's model may call, run on the specialist's server through the gateway.

Built-in: ``run_shell``, ``read_file``, ``write_file``, ``list_dir``. Declarative CLI tools come from
the inventory's ``tools:`` (``sql``, ``kubectl``...): a jinja2 command template whose every value is
shell-quoted on output, so a model fills in arguments but can never add shell syntax.

A call passes two kinds of gates. The *tool's contract*, checked here: the tool must be one of
the specialist's (the model is shown only those), the arguments must match its JSON schema, a
value may not start with ``-`` (it would be read as an option) unless its schema says
``x-allow-options: true``, a SQL argument must be one read statement (unless the specialist is
``writable``), and the rendered command must be static and match the tool's ``allow`` shapes.
Then *permission*, which is the gateway's, for every front end alike: the principal's, the
server's, its groups' and the specialist's policies (``Gateway.plan``), and approval when one of
them says confirm (``Gateway.perform``). Whatever stops a call goes back to the model as the
tool's result, so it can recover, and into the transcript.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from jsonschema import Draft202012Validator

from gtp_remote.access import Principal
from gtp_remote.errors import ApprovalRejectedError, GtpError, PolicyDeniedError
from gtp_remote.executors.output import clip_text
from gtp_remote.gateway import (
    Approver,
    Command,
    FileList,
    FileRead,
    FileWrite,
    Gateway,
    Listing,
    Plan,
    SpecialistPolicy,
    Written,
)
from gtp_remote.policy import Decision, analyse
from gtp_remote.policy.rules import CommandRule
from gtp_remote.specialists import CliToolConfig

if TYPE_CHECKING:
    from gtp_remote.llm.service import Specialist

BUILTIN_SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "run_shell": (
        "Run a shell command on the server and get its exit code and output.",
        {
            "type": "object",
            "properties": {
                "command": {"type": "string", "minLength": 1, "description": "The shell command."},
                "timeout": {"type": "integer", "minimum": 1, "description": "Seconds (default 60)."},
            },
            "required": ["command"],
            "additionalProperties": False,
        },
    ),
    "read_file": (
        "Read a text file on the server.",
        {
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1},
                "offset": {"type": "integer", "minimum": 0, "description": "Byte offset."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 60000},
            },
            "required": ["path"],
            "additionalProperties": False,
        },
    ),
    "write_file": (
        "Write a text file on the server (replaces it atomically unless mode says otherwise).",
        {
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1},
                "content": {"type": "string"},
                "mode": {"type": "string", "enum": ["overwrite", "create", "append"]},
            },
            "required": ["path", "content"],
            "additionalProperties": False,
        },
    ),
    "list_dir": (
        "List a directory on the server.",
        {
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1, "description": "Default: the working directory."},
                "recursive": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
    ),
}
ALLOW_OPTIONS = "x-allow-options"


def _quote(value: Any) -> str:
    """Every value a template prints is one shell word (a list: one word per item)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join(shlex.quote(str(v)) for v in value)
    return shlex.quote(str(value))


_TEMPLATES = SandboxedEnvironment(undefined=StrictUndefined, finalize=_quote, autoescape=False)
_NOT_RUN = Decision("deny", "not run")


@dataclass
class Prepared:
    """A tool call checked and ready: what will run, and what the policy said."""

    tool: str
    arguments: dict[str, Any]
    decision: Decision
    plan: Plan | None = None
    command: str | None = None  # shell text for run_shell and CLI tools
    path: str | None = None  # resolved path for file tools
    error: str | None = None  # the call cannot run (unknown tool, bad arguments, the tool's contract)
    audited: bool = False  # the gateway wrote its audit event already (it refused it)
    handed_over: bool = False  # the gateway was asked to perform it (and audits its outcome)

    @property
    def runnable(self) -> bool:
        return self.error is None and self.plan is not None and self.decision.action != "deny"


@dataclass
class Outcome:
    ok: bool
    output: str
    exit_code: int | None = None
    duration_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    status: str | None = None  # rejected / denied when the gateway stopped it at run time
    approved_by: str | None = None


class Toolbox:
    """The specialist's tools: their schemas for the model, and running a call of one."""

    def __init__(self, gateway: Gateway, specialist: Specialist, principal: Principal):
        self.gateway = gateway
        self.specialist = specialist
        self.principal = principal
        self.layer = SpecialistPolicy(specialist.name, specialist.config.policy)
        self.cli: dict[str, CliToolConfig] = {
            name: gateway.inventory.tools[name]
            for name in specialist.config.tools
            if name in gateway.inventory.tools
        }

    @property
    def names(self) -> list[str]:
        return list(self.specialist.config.tools)

    def schema(self, name: str) -> tuple[str, dict[str, Any]]:
        if name in self.cli:
            return self.cli[name].description, self.cli[name].parameters
        return BUILTIN_SCHEMAS[name]

    def definitions(self) -> list[dict[str, Any]]:
        """The tools in the wire form both APIs take (``{"type": "function", "function": ...}``)."""
        out = []
        for name in self.names:
            description, parameters = self.schema(name)
            out.append(
                {
                    "type": "function",
                    "function": {"name": name, "description": description, "parameters": parameters},
                }
            )
        return out

    async def prepare(
        self, name: str, arguments: dict[str, Any], argument_error: str | None, context: dict[str, Any]
    ) -> Prepared:
        """Check the call against its tool's contract, then plan it with the gateway (which
        judges it with every policy layer); never raises for the model's mistakes."""
        if name not in self.names:
            return Prepared(
                name,
                arguments,
                Decision("deny", f"'{name}' is not one of this specialist's tools"),
                error=f"unknown tool '{name}'; your tools are: {', '.join(self.names)}",
            )
        if argument_error:
            return Prepared(name, arguments, _NOT_RUN, error=argument_error)
        schema = self.schema(name)[1]
        problems = sorted(Draft202012Validator(schema).iter_errors(arguments), key=str)
        if problems:
            text = "; ".join(
                f"{'.'.join(str(p) for p in e.absolute_path) or 'arguments'}: {e.message}"
                for e in problems[:5]
            )
            return Prepared(name, arguments, _NOT_RUN, error=f"invalid arguments for {name}: {text}")
        limit = self.specialist.config.timeout
        server = self.specialist.server
        if name == "run_shell":
            timeout = min(float(arguments.get("timeout", 60)), limit)
            return await self._plan(
                name, arguments, Command(arguments["command"], server=server, timeout=timeout), context
            )
        if name in self.cli:
            return await self._prepare_cli(name, arguments, context)
        path = arguments.get("path", ".")
        action = {
            "read_file": lambda: FileRead(path, server=server),
            "write_file": lambda: FileWrite(
                path, arguments["content"], arguments.get("mode", "overwrite"), server
            ),
            "list_dir": lambda: FileList(path, server=server, recursive=arguments.get("recursive", False)),
        }[name]()
        return await self._plan(name, arguments, action, context)

    async def _plan(
        self, name: str, arguments: dict[str, Any], action: Any, context: dict[str, Any]
    ) -> Prepared:
        command = action.command if isinstance(action, Command) else None
        try:
            plan = await self.gateway.plan(self.principal, action, specialist=self.layer, context=context)
        except PolicyDeniedError as exc:
            decision = Decision(**exc.decision) if exc.decision else Decision("deny", exc.message)
            return Prepared(name, arguments, decision, command=command, audited=True)
        except GtpError as exc:  # a path outside root, a missing file: the model's to fix
            return Prepared(
                name, arguments, _NOT_RUN, command=command, error=exc.message, audited=exc.audited
            )
        return Prepared(name, arguments, plan.decision, plan, command=command, path=plan.path)

    async def _prepare_cli(self, name: str, arguments: dict[str, Any], context: dict[str, Any]) -> Prepared:
        tool = self.cli[name]
        optioned = _option_values(arguments, tool.parameters)
        if optioned:
            field_name, value = optioned
            return Prepared(
                name,
                arguments,
                _NOT_RUN,
                error=f"{field_name}: {value[:60]!r} starts with '-', which {name} would read as an option",
            )
        # Configured values win: a model cannot set `writable` or `database` by passing them.
        context_vars = {**arguments, **tool.vars, **self.specialist.config.vars}
        if tool.sql is not None and not context_vars.get("writable"):
            from gtp_remote.policy.sql import read_only_problem  # sqlglot: loaded when a SQL tool is used

            problem = read_only_problem(str(arguments.get(tool.sql.argument, "")), tool.sql.dialect)
            if problem:
                reason = f"tool {name} is read-only: {tool.sql.argument}: {problem}"
                return Prepared(name, arguments, Decision("deny", reason, part=tool.sql.argument))
        try:
            command = _TEMPLATES.from_string(tool.command).render(context_vars).strip()
        except Exception as exc:  # a template error or a type error in it: the config's, shown to the model
            return Prepared(name, arguments, _NOT_RUN, error=f"tool {name}: {type(exc).__name__}: {exc}")
        analysis = await analyse(command)  # a model's arguments: never parsed on the event loop
        refused = analysis.error or next((p.dynamic for p in analysis.parts if p.dynamic), None)
        if refused:
            return Prepared(
                name, arguments, Decision("deny", f"tool {name} refuses: {refused}"), command=command
            )
        if tool.allow:
            rules = [CommandRule.compile(p) for p in tool.allow]
            for part in analysis.parts:
                words = [w.value or "" for w in part.words]
                if part.words and not any(
                    r.matches(words, strict=True, joined=" ".join(words)) for r in rules
                ):
                    reason = (
                        f"'{part.text}' is not allowed for tool {name} (allowed: {', '.join(tool.allow)})"
                    )
                    return Prepared(
                        name, arguments, Decision("deny", reason, part=part.text), command=command
                    )
        timeout = min(tool.timeout, self.specialist.config.timeout)
        action = Command(command, server=self.specialist.server, timeout=timeout, config_env=dict(tool.env))
        return await self._plan(name, arguments, action, context)

    async def execute(self, call: Prepared, approver: Approver | None, context: dict[str, Any]) -> Outcome:
        """Run a prepared call through the gateway (which asks ``approver`` when it must)."""
        assert call.plan is not None
        limit = self.specialist.config.max_output_chars
        started = time.monotonic()
        call.handed_over = True
        try:
            result = await self.gateway.perform(call.plan, approver=approver, context=context)
        except ApprovalRejectedError as exc:
            return Outcome(
                ok=False, output=f"not run: {exc.message}", status="rejected", duration_ms=_ms(started)
            )
        except GtpError as exc:
            return Outcome(ok=False, output=f"error: {exc}", duration_ms=_ms(started))
        if call.command is not None:
            text = result.stdout
            if result.stderr:
                text += ("\n" if text else "") + f"[stderr]\n{result.stderr}"
            if result.timed_out:
                text += "\n[killed: it ran out of time]"
            clipped, _ = clip_text(text, limit)
            return Outcome(
                ok=result.ok,
                output=f"exit code {result.exit_code}\n{clipped}",
                exit_code=result.exit_code,
                duration_ms=result.duration_ms,
                details={"timed_out": result.timed_out, "truncated": result.truncated},
            )
        if call.tool == "read_file":
            more = "" if result.eof else f"\n[{result.size - result.offset - result.bytes_read} more bytes]"
            output, details = result.content + more, {"bytes": result.bytes_read}
        elif isinstance(result, Written):
            output, details = (
                f"wrote {result.stat.path} ({result.stat.size} bytes)",
                {"bytes": result.stat.size},
            )
        else:
            assert isinstance(result, Listing)
            lines = [f"{e.type[0]} {e.size:>10} {e.path}" for e in result.entries]
            output = "\n".join(lines) + ("\n[listing truncated]" if result.truncated else "")
            details = {"entries": len(result.entries)}
        clipped, _ = clip_text(output, limit)
        return Outcome(ok=True, output=clipped, duration_ms=_ms(started), details=details)


def _option_values(arguments: dict[str, Any], schema: dict[str, Any]) -> tuple[str, str] | None:
    """The first argument value that starts with ``-`` where the schema does not allow options."""
    properties = schema.get("properties", {})
    for key, value in arguments.items():
        spec = properties.get(key, {})
        allowed = spec.get(ALLOW_OPTIONS) or spec.get("items", {}).get(ALLOW_OPTIONS)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str) and item.startswith("-") and not allowed:
                return key, item
    return None


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
