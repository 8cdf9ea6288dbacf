"""The tools a specialist's model may call, run on the specialist's server through its executor.

Built-in: ``run_shell``, ``read_file``, ``write_file``, ``list_dir``. Declarative CLI tools come from
the inventory's ``tools:`` (``sql``, ``kubectl``...): a jinja2 command template whose every value is
shell-quoted on output, so a model fills in arguments but can never add shell syntax.

Each call goes through three gates before anything runs: the tool must be one of the specialist's
(the model is shown only those), the arguments must match the tool's JSON schema, and the policy
must allow it. Whatever stops a call is returned to the model as the tool's result, so it can
recover, and recorded in the transcript.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from jsonschema import Draft202012Validator

from gtp_remote.errors import GtpError
from gtp_remote.executors.output import clip_text
from gtp_remote.llm.spec import CliToolConfig
from gtp_remote.policy import Decision, Policy, PolicyParseError, split_command

if TYPE_CHECKING:
    from gtp_remote.gateway import Gateway
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


@dataclass
class Prepared:
    """A tool call checked and ready: what will run, and what the policy said."""

    tool: str
    arguments: dict[str, Any]
    decision: Decision
    command: str | None = None  # shell text for run_shell and CLI tools
    path: str | None = None  # resolved path for file tools
    error: str | None = None  # the call cannot run (unknown tool, bad arguments)
    timeout: float = 60.0

    @property
    def runnable(self) -> bool:
        return self.error is None and self.decision.action != "deny"


@dataclass
class Outcome:
    ok: bool
    output: str
    exit_code: int | None = None
    duration_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


class Toolbox:
    """The specialist's tools: their schemas for the model, and running a call of one."""

    def __init__(self, gateway: Gateway, specialist: Specialist):
        self.gateway = gateway
        self.specialist = specialist
        self.policy = Policy(specialist.config.policy)
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

    async def prepare(self, name: str, arguments: dict[str, Any], argument_error: str | None) -> Prepared:
        """Validate a call and ask the policy; never raises for the model's mistakes."""
        refused = Decision("deny", "not run")
        if name not in self.names:
            return Prepared(
                name,
                arguments,
                Decision("deny", f"'{name}' is not one of this specialist's tools"),
                error=f"unknown tool '{name}'; your tools are: {', '.join(self.names)}",
            )
        if argument_error:
            return Prepared(name, arguments, refused, error=argument_error)
        problems = sorted(Draft202012Validator(self.schema(name)[1]).iter_errors(arguments), key=str)
        if problems:
            text = "; ".join(
                f"{'.'.join(str(p) for p in e.absolute_path) or 'arguments'}: {e.message}"
                for e in problems[:5]
            )
            return Prepared(name, arguments, refused, error=f"invalid arguments for {name}: {text}")
        limit = self.specialist.config.timeout
        if name == "run_shell":
            command = arguments["command"]
            timeout = min(float(arguments.get("timeout", 60)), limit)
            return Prepared(
                name, arguments, self.policy.check_command(command), command=command, timeout=timeout
            )
        if name in self.cli:
            return self._prepare_cli(name, arguments)
        operation = {"read_file": "read", "write_file": "write", "list_dir": "list"}[name]
        try:
            path = await self.gateway.executor(self.specialist.server).confine(
                arguments.get("path", "."), must_exist=operation != "write"
            )
        except GtpError as exc:
            return Prepared(name, arguments, refused, error=exc.message)
        return Prepared(name, arguments, self.policy.check_path(path, operation), path=path)

    def _prepare_cli(self, name: str, arguments: dict[str, Any]) -> Prepared:
        tool = self.cli[name]
        # Configured values win: a model cannot set `writable` or `database` by passing them.
        context = {**arguments, **tool.vars, **self.specialist.config.vars}
        try:
            command = _TEMPLATES.from_string(tool.command).render(context).strip()
        except Exception as exc:  # a template error or a type error in it: the config's, shown to the model
            return Prepared(
                name,
                arguments,
                Decision("deny", "not run"),
                error=f"tool {name}: {type(exc).__name__}: {exc}",
            )
        if tool.allow:
            try:
                parts = split_command(command)
            except PolicyParseError as exc:
                return Prepared(name, arguments, Decision("deny", f"cannot judge the command: {exc}"))
            for part in parts:
                if not any(fnmatchcase(part, pattern) for pattern in tool.allow):
                    reason = f"'{part}' is not allowed for tool {name} (allowed: {', '.join(tool.allow)})"
                    return Prepared(name, arguments, Decision("deny", reason, part=part), command=command)
        timeout = min(tool.timeout, self.specialist.config.timeout)
        return Prepared(name, arguments, self.policy.check_command(command), command=command, timeout=timeout)

    async def execute(self, call: Prepared) -> Outcome:
        """Run a prepared, allowed (or approved) call on the specialist's server."""
        server = self.specialist.server
        limit = self.specialist.config.max_output_chars
        started = time.monotonic()
        try:
            if call.command is not None:
                result = await self.gateway.run(server, call.command, timeout=call.timeout)
                text = result.stdout
                if result.stderr:
                    text += ("\n" if text else "") + f"[stderr]\n{result.stderr}"
                if result.timed_out:
                    text += f"\n[killed after {call.timeout:g}s]"
                clipped, _ = clip_text(text, limit)
                return Outcome(
                    ok=result.ok,
                    output=f"exit code {result.exit_code}\n{clipped}",
                    exit_code=result.exit_code,
                    duration_ms=result.duration_ms,
                    details={"timed_out": result.timed_out, "truncated": result.truncated},
                )
            assert call.path is not None
            if call.tool == "read_file":
                content = await self.gateway.read_file(
                    server,
                    call.path,
                    offset=call.arguments.get("offset", 0),
                    limit=min(call.arguments.get("limit", limit), limit),
                )
                more = (
                    ""
                    if content.eof
                    else f"\n[{content.size - content.offset - content.bytes_read} more bytes]"
                )
                output = content.content + more
                details = {"bytes": content.bytes_read}
            elif call.tool == "write_file":
                stat = await self.gateway.write_file(
                    server, call.path, call.arguments["content"], mode=call.arguments.get("mode", "overwrite")
                )
                output = f"wrote {stat.path} ({stat.size} bytes)"
                details = {"bytes": stat.size}
            else:
                listing = await self.gateway.list_dir(
                    server, call.path, recursive=call.arguments.get("recursive", False), max_entries=500
                )
                lines = [f"{e.type[0]} {e.size:>10} {e.path}" for e in listing.entries]
                output = "\n".join(lines) + ("\n[listing truncated]" if listing.truncated else "")
                details = {"entries": len(listing.entries)}
        except GtpError as exc:
            return Outcome(ok=False, output=f"error: {exc}", duration_ms=_ms(started))
        clipped, _ = clip_text(output, limit)
        return Outcome(ok=True, output=clipped, duration_ms=_ms(started), details=details)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
