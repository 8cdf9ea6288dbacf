"""The gateway: the one governed core every front end calls.

Every action (a command, a fan-out, a program, a file operation, a specialist's tool call) goes
through the same two steps, whichever front end asks (REST, CLI, MCP, the agent loop):

1. :meth:`Gateway.plan` resolves the servers the principal may use (a server outside its scope is
   as unknown as one that does not exist), checks its permission for the operation, and judges
   the action with every policy layer that applies: the principal's (its token), each server's,
   each of the server's groups' and, for a specialist's tool call, the specialist's. The strictest
   verdict wins. A denial is audited and raised as :class:`PolicyDeniedError`.
2. :meth:`Gateway.perform` runs exactly what was planned. A ``confirm`` verdict first asks the
   front end's approver (a job waiting for ``/jobs/{id}/approve``, a terminal prompt, an MCP
   elicitation), showing it the whole action under a random id; a rejection is audited and
   raised. Once approved, the action is checked again on the host (a command judged again, a
   file's path resolved again): what changed while it waited is refused, not run. The action's
   outcome is audited, once, with the decision, the rule, who approved it, the front end and the
   client; so is a wait for approval that was cut off.

The gateway owns the inventory and one executor per server, created on first use and kept for
the life of the process, which is what makes SSH connections pooled. It knows nothing of HTTP or
of models: the LLM side (``llm``) is a client of it, like the front ends, and the composition
roots (the API app, the CLI) build both.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import fnmatch
import hashlib
import os
import posixpath
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from gtp_remote import patch
from gtp_remote.access import Principal
from gtp_remote.budget import APPROVAL_BUDGET, json_size
from gtp_remote.config import Inventory, load_inventory
from gtp_remote.errors import (
    ApprovalRejectedError,
    ChangedWhileWaitingError,
    GtpError,
    InvalidRequestError,
    PayloadTooLargeError,
    PolicyDeniedError,
    UnknownServerError,
)
from gtp_remote.executors.base import CheckResult, DirEntry, Executor, FileStat, Output, RunResult
from gtp_remote.executors.local import LocalExecutor
from gtp_remote.executors.output import DEFAULT_OUTPUT_LIMIT, clip_text, json_chars
from gtp_remote.executors.ssh import ConnectLimits, SSHExecutor
from gtp_remote.fanout import DEFAULT_FORKS, FanOutResult, HostResult, fan_out
from gtp_remote.patterns import Universe, group_hint, select
from gtp_remote.policy import Decision, Facts, Layers, Policy, PolicyConfig, hostfacts, strictest
from gtp_remote.policy import analyse as analyse_command
from gtp_remote.settings import Settings

T = TypeVar("T")

#: How ``run_code`` hands code to each language: on stdin, so nothing is left on the host.
CODE_RUNNERS = {"python": "python3 -", "bash": "bash -s", "sh": "sh -s", "node": "node -"}
Language = Literal["python", "bash", "sh", "node"]
PATCH_MAX_BYTES = 10 * 1024 * 1024  # a patch reads the whole file into memory, and writes it back
JUDGE_OFF_LOOP = 32 * 1024  # characters of words and paths judged in a worker thread beyond
PROBE_TIMEOUT = 10.0  # seconds for the host to answer what a command's paths are

#: Asked when an action needs confirmation: gets the pending action, returns (approved, by whom).
Approver = Callable[[dict[str, Any]], Awaitable[tuple[bool, str | None]]]
Audit = Callable[[dict[str, Any]], Awaitable[None]]


async def _no_audit(event: dict[str, Any]) -> None:
    return None


# -- results ---------------------------------------------------------------------------------------


class FileContent(BaseModel):
    server: str
    path: str
    content: str
    offset: int
    bytes_read: int
    size: int
    eof: bool
    binary: bool


class ListedEntry(DirEntry):
    path: str


class Listing(BaseModel):
    server: str
    path: str
    entries: list[ListedEntry]
    truncated: bool


class PatchResult(BaseModel):
    server: str
    path: str
    hunks: int
    dry_run: bool
    size: int
    preview: str | None = None


class Written(BaseModel):
    server: str
    stat: FileStat


class Uploaded(BaseModel):
    """An upload, or one chunk of it: how much is staged and, once final, the file written."""

    server: str
    path: str
    offset: int
    bytes: int = Field(description="Bytes this request wrote (this chunk, or the whole copy).")
    staged: int = Field(description="Bytes staged so far; the next chunk's offset.")
    final: bool
    sha256: str | None = Field(
        None, description="The final file's SHA-256 as the host computed it after writing it (final only)."
    )
    stat: FileStat | None = Field(None, description="The file written (final only).")


class Downloaded(BaseModel):
    """Bytes of a file from ``offset``; ``data`` is kept out of dumps (front ends encode it)."""

    server: str
    path: str
    offset: int
    bytes_read: int
    size: int
    eof: bool
    sha256: str | None = Field(
        None, description="SHA-256 of the whole file, computed on the host (at eof, or when asked)."
    )
    data: bytes = Field(b"", exclude=True)


# -- actions ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A shell command line on one server, or on every server of a target (a fan-out)."""

    command: str
    server: str | None = None
    target: str | None = None  # an Ansible host pattern (see gtp_remote.patterns)
    limit: str | None = None  # with a target: only its servers this pattern selects too (--limit)
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    forks: int = DEFAULT_FORKS
    #: Environment from the owner's configuration (a CLI tool's ``env``): set, not judged.
    config_env: dict[str, str] = field(default_factory=dict)
    #: Run as the server's ``become_user`` (sudo): needs the ``become`` permission. A server
    #: with ``become`` set runs it so anyway; the policy judges ``command`` as written.
    become: bool = False

    @property
    def environment(self) -> dict[str, str]:
        return {**self.config_env, **self.env}


@dataclass(frozen=True)
class Code:
    """A program handed to an interpreter on stdin (``execute-code``)."""

    code: str
    language: Language
    server: str | None = None
    timeout: float | None = None
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    become: bool = False  # as for Command


@dataclass(frozen=True)
class FileRead:
    path: str
    server: str | None = None
    offset: int = 0
    limit: int = 65536
    max_json_chars: int | None = None


@dataclass(frozen=True)
class FileWrite:
    path: str
    content: str
    mode: Literal["create", "overwrite", "append"] = "overwrite"
    server: str | None = None


#: A local source of an upload's bytes, in pieces (the CLI's copy of a local file).
Chunks = Callable[[], AsyncGenerator[bytes, None]]
UPLOAD_CHUNK = 4 << 20  # an upload from ``chunks`` is staged in pieces of about this


@dataclass(frozen=True)
class FileUpload:
    """Bytes written to a file whole and atomically: one request (``offset`` 0, ``final``), or
    chunks staged beside it by offset and committed by the final one (``sha256`` then required,
    checked on the host). With ``chunks`` the gateway stages a whole local source itself, in
    pieces of :data:`UPLOAD_CHUNK`: one action, one approval, one audit event for the copy."""

    path: str
    data: bytes = b""
    server: str | None = None
    offset: int = 0
    final: bool = True
    mode: Literal["create", "overwrite"] = "overwrite"
    file_mode: int | None = None
    sha256: str | None = None  # of the whole file
    chunks: Chunks | None = None
    size: int | None = None  # with chunks: the source's size, shown to an approver
    on_sent: Callable[[int], None] | None = None  # with chunks: told the bytes of each piece sent

    @property
    def total(self) -> int:
        return self.size if self.chunks is not None and self.size is not None else len(self.data)


@dataclass(frozen=True)
class FileDownload:
    """Bytes of a file from ``offset`` (``limit`` at most), with the whole file's sha256 at eof
    (or ``sha256``: always). With ``sink`` the gateway reads the whole file from ``offset`` in
    pieces of ``limit`` and hands each to it: one action and one audit event for a fetch."""

    path: str
    server: str | None = None
    offset: int = 0
    limit: int = 60000
    sha256: bool = False
    sink: Callable[[bytes], Awaitable[None]] | None = None


@dataclass(frozen=True)
class FileList:
    path: str = "."
    server: str | None = None
    recursive: bool = False
    max_entries: int = 2000


@dataclass(frozen=True)
class FilePatch:
    path: str
    diff: str
    dry_run: bool = False
    server: str | None = None


Action = Command | Code | FileRead | FileWrite | FileList | FilePatch | FileUpload | FileDownload
FileAction = FileRead | FileWrite | FileList | FilePatch | FileUpload | FileDownload
FileUse = Literal["read", "write", "list"]
#: Each file action: its operation, what it does to its path (judged as each, the strictest
#: verdict wins) and the permissions it needs. A patch reads the file it changes (and a hunk
#: that does not match shows what the file holds), so it is a read as well as a write.
_FILE_OPERATIONS: dict[type, tuple[str, tuple[FileUse, ...], tuple[str, ...]]] = {
    FileRead: ("file.read", ("read",), ("files.read",)),
    FileList: ("file.list", ("list",), ("files.read",)),
    FileWrite: ("file.write", ("write",), ("files.write",)),
    FilePatch: ("file.patch", ("write", "read"), ("files.write", "files.read")),
    FileUpload: ("file.upload", ("write",), ("files.write",)),
    FileDownload: ("file.download", ("read",), ("files.read",)),
}


@dataclass(frozen=True)
class SpecialistPolicy:
    """A specialist's layer: its name and rules (its tool calls pass them too)."""

    name: str
    policy: PolicyConfig


@dataclass
class Plan:
    """An action judged and ready to run: what will run where, and the verdict."""

    principal: Principal
    action: Action
    operation: str  # command, fan-out, code, file.read, file.write, file.list, file.patch
    servers: tuple[str, ...]
    decision: Decision
    decisions: dict[str, Decision]  # per server
    path: str | None = None  # file actions: the path the host resolved when it was judged
    specialist: str | None = None
    layer: SpecialistPolicy | None = None  # the specialist's rules, to judge it again after approval
    env_shown: tuple[str, ...] = ()  # variables whose values an approver sees (see Gateway._shown_env)
    #: Servers where it runs as another user (the request's become or the server's), and whom.
    become: dict[str, str] = field(default_factory=dict)

    @property
    def fan_out(self) -> bool:
        return isinstance(self.action, Command) and self.action.target is not None

    @property
    def server(self) -> str:
        return self.servers[0]

    def pending(self) -> dict[str, Any]:
        """What an approver is shown: all of what will run, where, which rule asked, for whom.

        Whole, never cut: padding must not push what matters out of sight, so an action too
        large to show is refused when it is planned (``APPROVAL_BUDGET``). The values of the
        variables that can change what runs are shown; the others only by name, since they are
        often passwords (``env_safe``)."""
        out: dict[str, Any] = {"operation": self.operation, "principal": self.principal.name}
        if self.fan_out:
            out["servers"] = list(self.servers)
            out["servers_needing_approval"] = [s for s, d in self.decisions.items() if d.action == "confirm"]
        else:
            out["server"] = self.server
        out.update(self._what())
        out.update(self.runs_as())
        if self.specialist:
            out["specialist"] = self.specialist
        decision = self.decision
        out.update(rule=decision.rule, layer=decision.layer, reason=decision.reason[:1000])
        if decision.part:
            out["part"] = clip_text(decision.part, 1000)[0]
        others = sorted({k[3] for d in self.decisions.values() for k in d.asks} - {decision.reason})
        if others:  # every other reason it asks: the approval covers them all
            out["also_asks"] = [str(reason)[:300] for reason in others[:20]]
        return out

    def runs_as(self) -> dict[str, Any]:
        """Whom it runs as where that is not the login user: for an approver and the audit log."""
        if not self.become:
            return {}
        users = set(self.become.values())
        out: dict[str, Any] = {"become": True}
        if len(users) == 1 and len(self.become) == len(self.servers):
            out["become_user"] = users.pop()
            out["runs_as"] = f"{out['become_user']} (via sudo)"
        else:
            out["become_users"] = dict(self.become)
            out["runs_as"] = ", ".join(f"{s}: {u} (via sudo)" for s, u in self.become.items())
        return out

    def _what(self) -> dict[str, Any]:
        """The action itself, as an approver needs it to decide: the text that runs, the content
        a write writes and how, the diff a patch applies."""
        action = self.action
        if isinstance(action, Command):
            out: dict[str, Any] = {"command": action.command}
            if action.cwd:
                out["cwd"] = action.cwd
            shown = {n: action.env[n] for n in sorted(action.env) if n in self.env_shown}
            safe = sorted(n for n in action.env if n not in self.env_shown)
            if shown:
                out["env"] = shown
            if safe:
                out["env_safe"] = safe
            return out
        if isinstance(action, Code):
            return {"language": action.language, "code": action.code}
        out = {"path": self.path or action.path}
        if isinstance(action, FileWrite):
            out.update(mode=action.mode, content=action.content)
        elif isinstance(action, FilePatch):
            out.update(diff=action.diff, dry_run=action.dry_run)
        elif isinstance(action, FileRead):
            out.update(offset=action.offset, limit=action.limit)
        elif isinstance(action, FileList):
            out["recursive"] = action.recursive
        elif isinstance(action, FileUpload):  # what is written, by size and digest: not the bytes
            out.update(mode=action.mode, offset=action.offset, final=action.final)
            whole = action.chunks is not None or (action.offset == 0 and action.final)
            if whole:
                out["size"] = action.total
            else:  # one chunk of several: its bytes only, and the earlier ones were not shown here
                out["chunk_bytes"] = len(action.data)
                out["note"] = f"one chunk at offset {action.offset}; the file's other chunks are not shown"
            if action.chunks is None:
                out["chunk_sha256"] = hashlib.sha256(action.data).hexdigest()
                text = _readable(action.data) if whole else None
                if text is not None:  # a person decides on what they can read, as for a write
                    out["content"] = text
            if action.sha256:
                out["sha256"] = action.sha256
            if action.file_mode is not None:
                out["file_mode"] = f"{action.file_mode:04o}"
        elif isinstance(action, FileDownload):
            out.update(offset=action.offset, limit=None if action.sink else action.limit)
        return out


def _readable(data: bytes) -> str | None:
    """An upload's bytes as text an approver can read: UTF-8 without control characters other
    than tabs and newlines, and short enough to show whole; else None (shown by digest)."""
    if len(data) > APPROVAL_BUDGET // 2:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if json_size(text) > APPROVAL_BUDGET // 2:
        return None
    return text if all(c.isprintable() or c in "\t\n" for c in text) else None


class Gateway:
    def __init__(self, inventory: Inventory, settings: Settings | None = None, *, audit: Audit | None = None):
        self.inventory = inventory
        self.settings = settings or Settings.from_env()
        self.audit: Audit = audit or _no_audit
        #: Raises when an action's audit event could not be written (a full disk): checked
        #: before anything is judged on a host or run, so nothing runs unrecorded (fail closed).
        self.audit_check: Callable[[], None] | None = None
        self._executors: dict[str, Executor] = {}
        self._limits = ConnectLimits()
        self._homes: dict[str, str | None] = {}
        #: Variables of the gateway's own environment that hold secrets (model API keys here,
        #: the API's tokens added by the API): local commands never see them (nor any GTP_*).
        self.hidden_env: set[str] = {p.api_key_env for p in inventory.providers.values() if p.api_key_env}

    @classmethod
    def from_path(
        cls, path: str | os.PathLike[str] | None = None, settings: Settings | None = None
    ) -> Gateway:
        return cls(load_inventory(path, settings), settings)

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def pools(self) -> dict[str, dict[str, Any]]:
        """Each SSH server's pooled connection as it is now: up or not, channels, reconnects."""
        out = {}
        for name, executor in self._executors.items():
            if isinstance(executor, SSHExecutor):
                busy, idle = executor.channels()
                out[name] = {
                    "connected": executor.connected,
                    "busy": busy,
                    "idle": idle,
                    "reconnects": executor.reconnects,
                }
        return out

    def executor(self, name: str) -> Executor:
        """The server's executor; raises ``UnknownServerError`` for a name not in the inventory."""
        existing = self._executors.get(name)
        if existing is not None:
            return existing
        server = self.inventory.get(name)
        executor: Executor
        if server.protocol == "local":
            executor = LocalExecutor(server, hidden_env=self.hidden_env)
        else:
            jump = None
            if server.jump and server.jump in self.inventory.servers:
                jump_executor = self.executor(server.jump)
                assert isinstance(jump_executor, SSHExecutor)
                jump = jump_executor
            executor = SSHExecutor(server, self.settings, self._limits, jump=jump)
        self._executors[name] = executor
        return executor

    # -- what a principal may see ---------------------------------------------------------------

    def visible(self, principal: Principal) -> list[str]:
        return [n for n in self.inventory.servers if principal.may_use(self.inventory, n)]

    def _unknown(self, principal: Principal, what: str) -> UnknownServerError:
        """The same answer for a server that does not exist and one the principal may not use."""
        visible = self.visible(principal)
        close = difflib.get_close_matches(what, visible, n=1)
        shown = ", ".join(visible) or "none"
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"your servers: {shown}"
        hint = group_hint(what, self.universe(principal)) or hint
        return UnknownServerError(f"unknown server '{what}'", hint=hint)

    def server_for(self, principal: Principal, requested: str | None, *, current: str | None = None) -> str:
        """The server an action acts on: the one requested, else the principal's current one,
        else the settings' default (if the principal may use it), else its first."""
        name = requested or current
        if name is None:
            preferred = self.settings.default_server
            visible = self.visible(principal)
            if preferred and preferred in visible:
                return preferred
            if not visible:
                raise UnknownServerError(
                    f"'{principal.name}' may use no server of this inventory",
                    hint="its token's servers name none that exist",
                )
            return visible[0]
        if not principal.may_use(self.inventory, name):
            raise self._unknown(principal, name)
        return name

    def universe(self, principal: Principal) -> Universe:
        """The servers and groups ``principal`` may see, as host patterns see them: a group
        with none of its servers in scope is not there at all (its name is not the caller's to
        learn); the owner sees groups that have no server yet too."""
        visible = set(self.visible(principal))
        ordered = [n for n in self.inventory.ordered() if n in visible]  # what all[0] counts
        return Universe.of(ordered, self.inventory.groups(), hide_empty=principal.servers is not None)

    def resolve_target(self, principal: Principal, target: str, limit: str | None = None) -> list[str]:
        """The principal's servers an Ansible host pattern selects (``web*:!web3``,
        ``group:NAME``, ``all``, a comma list; see ``gtp_remote.patterns``), within ``limit``
        (Ansible's ``--limit``) if given. ``all``, globs and groups mean "those of mine", and a
        name outside its scope is as unknown as one that does not exist."""
        return select(target, self.universe(principal), limit=limit)

    # -- judging --------------------------------------------------------------------------------

    def layers(self, principal: Principal, server: str, specialist: SpecialistPolicy | None = None) -> Layers:
        """Every policy that applies to an action of ``principal`` on ``server``."""
        policies = []
        if principal.policy is not None:
            policies.append(Policy(principal.policy, f"token {principal.name}"))
        policies += [Policy(config, whose) for whose, config in self.inventory.policies(server)]
        if specialist is not None:
            policies.append(Policy(specialist.policy, f"specialist {specialist.name}"))
        return Layers(policies)

    def _become(self, servers: tuple[str, ...], requested: bool) -> dict[str, str]:
        """Each server where the action runs as another user, and whom (``executors/become.py``)."""
        out = {}
        for name in servers:
            who = self.executor(name).become_as(requested)
            if who is not None:
                out[name] = who.user
        return out

    async def home(self, server: str, become: bool = False) -> str | None:
        """The home directory of the user commands run as, asked once (``~`` and ``$HOME`` in
        commands): under become, the become user's, where its commands start."""
        who = self.executor(server).become_as(become)
        key = f"{server}\0{who.user}" if who is not None else server
        if key not in self._homes:
            try:
                result = await self.executor(server).run('printf "%s" "$HOME"', timeout=15, become=become)
                home = result.stdout if result.ok and result.stdout.startswith("/") else None
            except GtpError:
                return None  # not cached: the host may be back next time
            self._homes[key] = home
        return self._homes[key]

    async def plan(
        self,
        principal: Principal,
        action: Action,
        *,
        current: str | None = None,
        specialist: SpecialistPolicy | None = None,
        context: dict[str, Any] | None = None,
    ) -> Plan:
        """Resolve, check permissions and judge ``action`` (see the module docstring)."""
        if self.audit_check is not None:
            self.audit_check()
        if isinstance(action, Command | Code):
            principal.require("exec")
            if action.become:  # exec as root is more than exec: its own permission
                principal.require("become")
        if isinstance(action, Command):
            if action.limit is not None and action.target is None:
                raise InvalidRequestError("limit narrows a target: give target too", hint="e.g. target 'all'")
            if action.target is not None:
                servers = tuple(self.resolve_target(principal, action.target, action.limit))
                operation = "fan-out"
            else:
                servers = (self.server_for(principal, action.server, current=current),)
                operation = "command"
            decisions = await self._judge_command(principal, servers, action, specialist)
            plan = Plan(principal, action, operation, servers, _combine(decisions), decisions)
            plan.env_shown = self._shown_env(principal, servers, specialist, action.env)
        elif isinstance(action, Code):
            if action.language not in CODE_RUNNERS:
                raise InvalidRequestError(
                    f"language must be one of {', '.join(CODE_RUNNERS)}, got {action.language!r}"
                )
            server = self.server_for(principal, action.server, current=current)
            decision = self.layers(principal, server, specialist).check_code(
                action.language, CODE_RUNNERS[action.language]
            )
            plan = Plan(principal, action, "code", (server,), decision, {server: decision})
        else:
            operation, uses, permissions = _FILE_OPERATIONS[type(action)]
            for permission in permissions:
                principal.require(permission)
            server = self.server_for(principal, action.server, current=current)
            try:
                if action.path.endswith("/") and not isinstance(action, FileList):
                    raise InvalidRequestError(  # the kernel says ENOTDIR to a file named so
                        f"{action.path} ends with '/', which names a folder, not a file",
                        server=server,
                        hint="name the file without a trailing '/'; list a folder with /file/list",
                    )
                path = await self.executor(server).confine(action.path, must_exist="write" not in uses)
            except GtpError as exc:  # a path refused or missing is worth seeing in the log too
                unjudged = Decision("deny", "not judged: the path could not be resolved")
                failed = Plan(principal, action, operation, (server,), unjudged, {server: unjudged})
                await self._record(failed, exc.code, context, error=exc.message, judged=False)
                exc.audited = True
                raise
            layers = self.layers(principal, server, specialist)
            written = [action.path] if action.path.startswith("/") and action.path != path else []
            # as resolved, and as written too (an absolute path): every use of each, the strictest
            verdicts = [layers.check_path(p, use) for use in uses for p in (path, *written)]
            decision = strictest(verdicts, Decision("allow", "no policy applies"))
            plan = Plan(principal, action, operation, (server,), decision, {server: decision}, path=path)
        plan.specialist = specialist.name if specialist else None
        plan.layer = specialist
        if isinstance(action, Command | Code):
            plan.become = self._become(plan.servers, action.become)
        if plan.decision.action == "deny":
            await self._record(plan, "denied", context, error=None)
            raise self._denied(plan)
        if plan.decision.action == "confirm":
            await self._showable(plan, context)
        return plan

    async def _showable(self, plan: Plan, context: dict[str, Any] | None) -> None:
        """Refuse an action that needs approval but is too large to show an approver whole:
        one cut to fit would let padding hide what runs after it."""
        size = json_size(plan.pending())
        if size <= APPROVAL_BUDGET:
            return
        error = PayloadTooLargeError(
            f"this needs approval ({plan.decision.reason[:300]}), and at {size} characters it is too "
            f"large to show an approver whole (at most {APPROVAL_BUDGET})",
            server=plan.server if not plan.fan_out else None,
            hint="send it in smaller pieces an approver can read: a shorter command or program, "
            "several smaller writes or patches",
        )
        await self._record(plan, error.code, context, error=error.message)
        error.audited = True
        raise error

    def _shown_env(
        self,
        principal: Principal,
        servers: tuple[str, ...],
        specialist: SpecialistPolicy | None,
        env: dict[str, str],
    ) -> tuple[str, ...]:
        """The request's variables whose values an approver is shown: those some policy does
        not count safe, since they can change what runs (LD_PRELOAD, PATH) and are often why it
        waits. The others are shown by name only: their values are often passwords."""
        if not env:
            return ()
        policies = [p for s in servers for p in self.layers(principal, s, specialist).policies]

        def unsafe(name: str) -> bool:
            return any(not any(fnmatch.fnmatchcase(name, g) for g in p.config.safe_env) for p in policies)

        return tuple(sorted(n for n in env if unsafe(n)))

    async def _judge_command(
        self,
        principal: Principal,
        servers: tuple[str, ...],
        action: Command,
        specialist: SpecialistPolicy | None,
    ) -> dict[str, Decision]:
        layers = {s: self.layers(principal, s, specialist) for s in servers}
        if not any(ls.active for ls in layers.values()):
            return {s: Decision("allow", "no policy applies") for s in servers}
        analysis = await analyse_command(action.command)

        async def judge(server: str) -> Decision:
            those = layers[server]
            if not those.active:
                return Decision("allow", "no policy applies")
            cwd = action.cwd or self.inventory.servers[server].cwd
            needs_home = those.needs_home(analysis) or those.has_path_rules or _has_relative_paths(analysis)
            if not cwd and (action.become or self.inventory.servers[server].become):
                cwd = "~"  # under become a command starts in the become user's home
            relative = bool(cwd and not cwd.startswith("/"))
            home = await self.home(server, action.become) if needs_home or relative else None
            facts = Facts(home=home, cwd=_base(cwd, home))
            if analysis.error is None and those.asks_host(analysis):
                facts = await self._probe(server, analysis, facts, those, action.become)
            if analysis.size > JUDGE_OFF_LOOP:  # matching long paths against every rule takes a while
                return await asyncio.to_thread(those.judge_command, analysis, facts, action.env)
            return those.judge_command(analysis, facts, action.env)

        decisions = await asyncio.gather(*(judge(s) for s in servers))
        return dict(zip(servers, decisions, strict=True))

    async def _probe(
        self, server: str, analysis: Any, facts: Facts, layers: Layers, become: bool = False
    ) -> Facts:
        """Ask the host what the command's paths are (links followed, folders that hold what a
        rule covers): see ``policy.hostfacts``. Without an answer the judge assumes the worst.

        The question is asked as the user the command will run as (``become`` included): a
        login user who cannot enter a 0700 folder would see no link, no glob match and nothing
        below it, and the judge would miss what the command, run as root, reaches."""
        questions = hostfacts.Questions(analysis, facts, layers)
        script = questions.script()
        if script is None:
            return questions.learn(facts, "")
        try:
            result = await self.executor(server).run(script, timeout=PROBE_TIMEOUT, become=become)
        except GtpError:
            return questions.learn(facts, None)
        return questions.learn(facts, result.stdout if result.exit_code == 0 else None)

    def _denied(self, plan: Plan) -> PolicyDeniedError:
        where = f" on {plan.server}" if not plan.fan_out else ""
        if plan.fan_out:
            refused = [s for s, d in plan.decisions.items() if d.action == "deny"]
            where = f" on {', '.join(refused[:10])}{'…' if len(refused) > 10 else ''}"
        return PolicyDeniedError(
            f"refused by policy{where}: {plan.decision.reason}",
            server=plan.server if not plan.fan_out else None,
            hint="the rule is the owner's; ask them, or do it another way",
            decision=plan.decision.to_dict(),
        )

    # -- running --------------------------------------------------------------------------------

    async def perform(
        self,
        plan: Plan,
        *,
        approver: Approver | None = None,
        on_output: Callable[[Output], None] | None = None,
        on_done: Callable[[HostResult], None] | None = None,
        context: dict[str, Any] | None = None,
        audit: Audit | None = None,
    ) -> Any:
        """Run a planned action (asking ``approver`` first when the verdict is confirm) and
        audit its outcome. Returns a RunResult, FanOutResult, FileContent, Written, Listing or
        PatchResult."""
        if plan.decision.action == "deny":
            raise self._denied(plan)
        approval: dict[str, Any] = {}
        if plan.decision.action == "confirm":
            approval = await self._approval(plan, approver, context, audit)
        if self.audit_check is not None:  # again: an approval can take hours, the disk fill up
            self.audit_check()
        started = time.monotonic()
        result: Any = None
        outcome = "error"
        error: dict[str, Any] | None = None
        try:
            if approval:
                await self._judged_again(plan)
            result = await self._execute(plan, on_output, on_done)
            outcome = _outcome(result)
            return result
        except GtpError as exc:
            outcome, error = exc.code, exc.to_dict()
            if isinstance(exc, ChangedWhileWaitingError):
                outcome = "changed_while_waiting"
            raise
        except asyncio.CancelledError:
            outcome = "interrupted"  # a cancel, a timeout around it, or the server stopping
            raise
        finally:
            details = _details(result)
            details["duration_ms"] = details.get("duration_ms") or round(
                (time.monotonic() - started) * 1000, 3
            )
            # to its end, a cancel meanwhile absorbed: what ran is recorded, and answered as it ran
            await _to_the_end(
                self._record(plan, outcome, context, audit=audit, error=error, **approval, **details)
            )

    async def _approval(
        self, plan: Plan, approver: Approver | None, context: dict[str, Any] | None, audit: Audit | None
    ) -> dict[str, Any]:
        """Ask ``approver`` about a confirm; returns who approved and the id of what they were
        shown (an approval names it, so it cannot pass to another action of the same job).
        Every way this ends without running is audited here, once: nobody to ask, a rejection,
        and a wait cut off (the job cancelled, the server stopping)."""
        if approver is None:
            await self._record(plan, "rejected", context, audit=audit, error="no approver")
            raise ApprovalRejectedError(
                f"needs approval ({plan.decision.reason}), and nobody can be asked here",
                server=plan.server,
                hint="run it where an approver can answer (a terminal, or the API's jobs)",
            )
        pending = {"id": secrets.token_urlsafe(16), **plan.pending()}
        asked = {"pending_id": pending["id"]}
        try:
            approved, approved_by = await approver(pending)
        except BaseException as exc:
            cut = isinstance(exc, asyncio.CancelledError)
            why = "the wait for approval was cut off (cancelled, or the server stopped)"
            outcome, error = ("interrupted", why) if cut else ("error", f"{type(exc).__name__}: {exc}")
            await asyncio.shield(self._record(plan, outcome, context, audit=audit, error=error, **asked))
            raise
        if not approved:
            await self._record(plan, "rejected", context, audit=audit, approved_by=approved_by, **asked)
            raise ApprovalRejectedError(
                f"not run: {approved_by or 'an approver'} rejected it",
                server=plan.server if not plan.fan_out else None,
                hint="ask the approver why, or do it another way",
            )
        return {"approved_by": approved_by, **asked}

    async def _judged_again(self, plan: Plan) -> None:
        """After an approval, judge a command again with fresh host facts: what its paths are
        may have changed while a human took their time (a link swapped in), and the approval was
        for the verdict they were shown. A verdict now deny, or a confirm for another rule,
        reason or part, refuses it; one now allow lets it run. A file action's path is checked
        again by ``_same_path``; a program is judged by its language alone, which cannot change."""
        action = plan.action
        if not isinstance(action, Command):
            return
        fresh = await self._judge_command(plan.principal, plan.servers, action, plan.layer)
        for server in plan.servers:
            then, now = plan.decisions[server], fresh[server]
            if now.action == "allow" or (now == then and now.asks <= then.asks):
                continue  # nothing asks now that was not shown to the approver
            raise ChangedWhileWaitingError(
                f"not run on {server}: it changed while it waited for approval; judged again it is "
                f"{now.action} ({now.reason[:500]}), not what was approved ({then.reason[:300]})",
                server=server,
                hint="something on the host changed what the command would touch; look, then ask again",
                decision=now.to_dict(),
            )

    async def _execute(
        self,
        plan: Plan,
        on_output: Callable[[Output], None] | None,
        on_done: Callable[[HostResult], None] | None,
    ) -> Any:
        action = plan.action
        if isinstance(action, Command):
            if plan.fan_out:
                servers = [self.inventory.servers[s] for s in plan.servers]
                return await fan_out(
                    servers,
                    self.executor,
                    action.command,
                    forks=action.forks,
                    timeout=action.timeout,
                    cwd=action.cwd,
                    output_limit=action.output_limit,
                    env=action.environment,
                    become=action.become,
                    on_done=on_done,
                )
            return await self._stream(
                plan.server,
                action.command,
                on_output,
                timeout=action.timeout,
                cwd=action.cwd,
                env=action.environment,
                output_limit=action.output_limit,
                become=action.become,
            )
        if isinstance(action, Code):
            return await self._stream(
                plan.server,
                CODE_RUNNERS[action.language],
                on_output,
                timeout=action.timeout,
                stdin=action.code,
                output_limit=action.output_limit,
                become=action.become,
            )
        path = await self._same_path(plan)
        if isinstance(action, FileRead):
            return await self._read(plan.server, path, action)
        if isinstance(action, FileWrite):
            stat = await _to_the_end(
                self.executor(plan.server).write_file(path, action.content, mode=action.mode, expect=path)
            )
            return Written(server=plan.server, stat=stat)
        if isinstance(action, FileList):
            return await self._list(plan.server, path, action)
        if isinstance(action, FileUpload):
            return await _to_the_end(self._upload(plan, path, action))
        if isinstance(action, FileDownload):
            return await self._download(plan.server, path, action)
        assert isinstance(action, FilePatch)
        return await _to_the_end(self._patch(plan.server, path, action))

    async def _same_path(self, plan: Plan) -> str:
        """The path judged, checked again now: what a host resolves may change while an approval
        is pending (a link swapped in), and the approval was for the path judged."""
        action = plan.action
        assert not isinstance(action, Command | Code)
        must_exist = not isinstance(action, FileWrite | FileUpload)
        path = await self.executor(plan.server).confine(action.path, must_exist=must_exist)
        if plan.path is not None and path != plan.path:
            raise ChangedWhileWaitingError(
                f"{action.path} on {plan.server} now resolves to {path}, "
                f"not {plan.path} as when it was judged: it changed while it waited",
                server=plan.server,
                hint="something changed the path meanwhile; ask again",
            )
        return path

    async def _stream(
        self, server: str, command: str, on_output: Callable[[Output], None] | None, **options: Any
    ) -> RunResult:
        async for event in self.executor(server).stream(command, **options):
            if isinstance(event, Output):
                if on_output is not None:
                    on_output(event)
            else:
                return event
        raise AssertionError("stream ended without a result")

    async def _read(self, server: str, path: str, action: FileRead) -> FileContent:
        """Up to ``limit`` bytes from ``offset``; with ``max_json_chars``, fewer when the content
        would take more inside JSON (binary bytes escape to 6 characters each): ``bytes_read``
        and ``eof`` then say where the next read starts, so nothing is skipped."""
        stat, data = await self.executor(server).read_file_stat(  # the object judged, or refused
            path, offset=action.offset, limit=action.limit, expect=path
        )
        text, binary = _decode(data)
        if action.max_json_chars is not None and json_chars(text) > action.max_json_chars:
            data = data[: _fitting_bytes(data, binary, action.max_json_chars)]
            text, binary = _decode(data)
        return FileContent(
            server=server,
            path=stat.path,
            content=text,
            offset=action.offset,
            bytes_read=len(data),
            size=stat.size,
            eof=action.offset + len(data) >= stat.size,
            binary=binary,
        )

    async def _upload(self, plan: Plan, path: str, action: FileUpload) -> Uploaded:
        """One write, one chunk staged, or a whole local source staged chunk by chunk."""
        executor = self.executor(plan.server)
        # the staging file's name: who uploads, to where (a resumed upload finds its bytes); the
        # server too, for hosts that share a folder (NFS homes) and get the same copy at once
        key = f"{plan.principal.name}\0{plan.server}\0{path}"
        staging = hashlib.sha256(key.encode()).hexdigest()[:32]
        common = {"mode": action.mode, "expect": path, "file_mode": action.file_mode, "sha256": action.sha256}
        out = {"server": plan.server, "path": path, "offset": action.offset}
        if action.chunks is None:
            if action.offset == 0 and action.final:
                stat = await executor.write_file(path, action.data, **common)  # type: ignore[arg-type]
                staged = stat.size
            else:
                if action.final and action.sha256 is None:
                    raise InvalidRequestError(
                        f"the final chunk of an upload of {action.path} in several chunks needs sha256",
                        server=plan.server,
                        hint="send the SHA-256 (hex) of the whole file with the final chunk",
                    )
                if not action.final:
                    common["sha256"] = None  # checked when the upload is committed
                staged, stat = await executor.stage_file(
                    path, action.data, offset=action.offset, final=action.final, staging=staging, **common
                )
            sha = stat.sha256 if stat else None
            return Uploaded(
                **out, bytes=len(action.data), staged=staged, final=action.final, sha256=sha, stat=stat
            )
        offset = 0
        stat = None
        async with contextlib.aclosing(action.chunks()) as pieces:  # the source closed, whatever happens
            piece = await anext(pieces, None)
            while stat is None:
                following = await anext(pieces, None) if piece is not None else None
                data = piece or b""
                if offset == 0 and following is None:  # one piece: one write through a temp file
                    stat = await executor.write_file(path, data, **common)  # type: ignore[arg-type]
                else:
                    last = following is None
                    _, stat = await executor.stage_file(
                        path,
                        data,
                        offset=offset,
                        final=last,
                        staging=staging,
                        **{**common, "sha256": action.sha256 if last else None},  # type: ignore[arg-type]
                    )
                offset += len(data)
                if action.on_sent is not None:
                    action.on_sent(len(data))
                piece = following
        return Uploaded(**out, bytes=offset, staged=stat.size, final=True, sha256=stat.sha256, stat=stat)

    async def _download(self, server: str, path: str, action: FileDownload) -> Downloaded:
        """Up to ``limit`` bytes from ``offset`` and, at eof (or asked), the whole file's sha256;
        with a ``sink``, every piece from ``offset`` to the end, each handed to it."""
        executor = self.executor(server)
        # Hashing reads the whole file on the host: at eof it is answered unasked only to a
        # download that read from the start (or streams to the end); a piece asked for at the end
        # of a large file would otherwise cost a full read each time. Later pieces ask for it.
        wanted: Literal["always", "eof"] | None = "always" if action.sha256 else "eof"
        if not action.sha256 and action.sink is None and action.offset > 0:
            wanted = None
        offset, total, end = action.offset, 0, None
        while True:
            stat, data = await executor.read_file_stat(
                path, offset=offset, limit=action.limit, expect=path, sha256=wanted
            )
            # a file growing while it is fetched (a log) ends where it was at the first read; its
            # sha256 is then not answered, and the fetch says the file changed
            end = stat.size if end is None else end
            eof = offset + len(data) >= min(stat.size, end) or not data
            if action.sink is None:
                return Downloaded(
                    server=server,
                    path=stat.path,
                    offset=offset,
                    bytes_read=len(data),
                    size=stat.size,
                    eof=eof,
                    sha256=stat.sha256 if eof or action.sha256 else None,
                    data=data,
                )
            await action.sink(data)
            offset += len(data)
            total += len(data)
            if eof:
                return Downloaded(
                    server=server,
                    path=stat.path,
                    offset=action.offset,
                    bytes_read=total,
                    size=stat.size,
                    eof=True,
                    sha256=stat.sha256,
                )

    async def _list(self, server: str, base: str, action: FileList) -> Listing:
        executor = self.executor(server)
        out: list[ListedEntry] = []
        pending = [""]
        truncated = False
        while pending and not truncated:
            rel = pending.pop(0)
            where = posixpath.join(base, rel) if rel else base  # not "//x" when listing /
            for entry in await executor.list_dir(where, limit=action.max_entries + 1, expect=where):
                if len(out) >= action.max_entries:
                    truncated = True
                    break
                child = f"{rel}/{entry.name}" if rel else entry.name
                out.append(ListedEntry(path=child, **entry.model_dump()))
                if action.recursive and entry.type == "dir":
                    pending.append(child)
        return Listing(server=server, path=base, entries=out, truncated=truncated)

    async def _patch(self, server: str, path: str, action: FilePatch) -> PatchResult:
        executor = self.executor(server)
        size = (await executor.stat(path, expect=path)).size
        if size > PATCH_MAX_BYTES:
            raise PayloadTooLargeError(
                f"{path} on {server} is {size} bytes; patches apply to files of at most {PATCH_MAX_BYTES}",
                server=server,
                hint="edit a file this large with a command (sed, a script) instead",
            )
        read, data = await executor.read_file_stat(path, limit=PATCH_MAX_BYTES + 1, expect=path)
        if len(data) > PATCH_MAX_BYTES:
            raise PayloadTooLargeError(
                f"{path} on {server} grew past {PATCH_MAX_BYTES} bytes while being patched",
                server=server,
                hint="edit a file this large with a command (sed, a script) instead",
            )
        try:
            original = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequestError(
                f"{path} on {server} is not UTF-8 text (byte {exc.start}): a diff cannot be applied to it",
                server=server,
                hint="patch text files only; rewrite a binary file with /file/write or a command",
            ) from None
        patched, hunks = patch.apply(original, action.diff, path)
        if action.dry_run:
            return PatchResult(
                server=server,
                path=path,
                hunks=hunks,
                dry_run=True,
                size=len(patched.encode()),
                preview=patched[:2000],
            )
        # written only if the file is still the one read: a writer racing the patch is not lost
        stat = await executor.write_file(path, patched, expect=path, if_version=read.version)
        return PatchResult(server=server, path=stat.path, hunks=hunks, dry_run=False, size=stat.size)

    async def _record(
        self,
        plan: Plan,
        outcome: str,
        context: dict[str, Any] | None,
        *,
        audit: Audit | None = None,
        approved_by: str | None = None,
        error: Any = None,
        judged: bool = True,
        **details: Any,
    ) -> None:
        """The action's one audit event."""
        action = plan.action
        principal = plan.principal
        event: dict[str, Any] = {
            "kind": "file" if plan.operation.startswith("file.") else "command",
            "token": principal.name,
            "front_end": principal.front_end,
            "client": principal.client,
            "operation": _OPERATION_NAMES.get(plan.operation, plan.operation),
        }
        if plan.fan_out:
            event["server"] = getattr(action, "target", None)
            if isinstance(action, Command) and action.limit is not None:
                event["limit"] = action.limit
            event["servers"] = list(plan.servers)
        else:
            event["server"] = plan.server
        if isinstance(action, Command):
            event.update(_audited_text("command", action.command))
            if action.env:
                event["env"] = sorted(action.env)  # names only: values are often passwords
        elif isinstance(action, Code):
            event["command"] = action.language
            event.update(_audited_text("code", action.code))
        else:
            event["path"] = plan.path or action.path
            if isinstance(action, FileWrite):
                event["operation"] = f"write:{action.mode}"
                event["bytes"] = len(action.content.encode())
            elif isinstance(action, FileUpload):
                event["operation"] = f"upload:{action.mode}"
                event.update(offset=action.offset, final=action.final, bytes=action.total)
                if action.file_mode is not None:
                    event["file_mode"] = f"{action.file_mode:04o}"
                if action.sha256:
                    event["sha256_expected"] = action.sha256
            elif isinstance(action, FilePatch):
                event["dry_run"] = action.dry_run
        if plan.become:
            event.update({k: v for k, v in plan.runs_as().items() if k != "runs_as"})
        if plan.specialist:
            event["specialist"] = plan.specialist
        decision = plan.decision
        if judged:
            event["policy"] = {"action": decision.action, "rule": decision.rule, "layer": decision.layer}
            if decision.action != "allow" or decision.rule:
                event["policy"]["reason"] = decision.reason[:1000]
        if approved_by is not None:
            event["approved_by"] = approved_by
        event.update({k: v for k, v in details.items() if v is not None})
        event.update(context or {})
        event["outcome"] = outcome
        if error is not None:
            event["error"] = error
        await (audit or self.audit)(event)

    # -- unjudged work: reachability, tunnels, the owner's configured commands ---------------------

    async def check(self, servers: list[str], *, forks: int = DEFAULT_FORKS) -> list[CheckResult]:
        """Reachability of ``servers`` (resolved by the caller): connects, runs nothing of anyone's."""
        gate = asyncio.Semaphore(forks)

        async def one(name: str) -> CheckResult:
            async with gate:
                return await self.executor(name).check()

        return list(await asyncio.gather(*(one(s) for s in servers)))

    async def open_tunnel(self, server: str, host: str, port: int) -> tuple[str, int]:
        """A local address reaching ``host:port`` as seen from ``server`` (a model on its localhost)."""
        return await self.executor(server).open_tunnel(host, port)

    async def run_configured(
        self, server: str, command: str, *, timeout: float, why: str, audit: bool = True
    ) -> RunResult:
        """Run a command the inventory's owner configured (a specialist's facts): not model
        output, so not judged; audited unless it is the gateway's own fixed probe (``audit``)."""
        result = await self.executor(server).run(command, timeout=timeout)
        if not audit:
            return result
        await self.audit(
            {
                "kind": "command",
                "token": None,
                "front_end": "inventory",
                "server": server,
                "operation": why,
                "command": command,
                "exit_code": result.exit_code,
                "duration_ms": result.duration_ms,
                "outcome": "ok" if result.ok else "failed",
            }
        )
        return result

    async def close(self) -> None:
        """Close every connection (and with them their tunnels and SFTP sessions)."""
        executors, self._executors = list(self._executors.values()), {}
        await asyncio.gather(*(e.close() for e in executors), return_exceptions=True)


_OPERATION_NAMES = {
    "command": "execute-shell",
    "fan-out": "execute-shell",
    "code": "execute-code",
    "file.read": "read",
    "file.list": "list",
    "file.write": "write",
    "file.patch": "patch",
    "file.upload": "upload",
    "file.download": "download",
}


def _base(cwd: str | None, home: str | None) -> str | None:
    """The folder a command starts in, as the policy judges paths from it: ``~/app`` and a
    relative ``app`` are below the login directory, which is the user's home."""
    if not cwd:
        return home
    if cwd == "~" or cwd.startswith("~/"):
        return home.rstrip("/") + cwd[1:] if home else None
    if not cwd.startswith("/"):
        return posixpath.join(home, cwd) if home else None
    return cwd


def _has_relative_paths(analysis: Any) -> bool:
    return any(u.path is not None and not u.path.startswith(("/", "\x00")) for u in analysis.paths)


AUDIT_TEXT = 4000  # characters of a command or program kept in its audit event (head and tail)


def _audited_text(key: str, text: str) -> dict[str, Any]:
    """A command for the audit log: whole when short; else its head and tail, its length and
    its SHA-256, so a long one is still identified exactly without filling the log."""
    if len(text) <= AUDIT_TEXT:
        return {key: text}
    return {
        key: clip_text(text, AUDIT_TEXT)[0],
        f"{key}_chars": len(text),
        f"{key}_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
    }


def _combine(decisions: dict[str, Decision]) -> Decision:
    return strictest(decisions.values(), Decision("allow", "no policy applies"))


def _outcome(result: Any) -> str:
    if isinstance(result, RunResult):
        return "ok" if result.ok else ("timeout" if result.timed_out else "failed")
    if isinstance(result, FanOutResult):
        return "ok" if result.ok else "failed"
    return "ok"


def _details(result: Any) -> dict[str, Any]:
    if isinstance(result, RunResult):
        return {
            "exit_code": result.exit_code,
            "duration_ms": result.duration_ms,
            "bytes": result.stdout_bytes + result.stderr_bytes,
        }
    if isinstance(result, FanOutResult):
        return {"summary": result.summary.model_dump(), "duration_ms": result.summary.duration_ms}
    if isinstance(result, FileContent):
        return {"bytes": result.bytes_read}
    if isinstance(result, Listing):
        return {"entries": len(result.entries)}
    if isinstance(result, PatchResult):
        return {"hunks": result.hunks}
    if isinstance(result, Uploaded):
        return {"bytes": result.bytes, "staged": result.staged, "sha256": result.sha256}
    if isinstance(result, Downloaded):
        return {"bytes": result.bytes_read, "size": result.size, "sha256": result.sha256}
    return {}


def _decode(data: bytes) -> tuple[str, bool]:
    """The text of file bytes, and whether they were binary (not UTF-8)."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), True


def _fitting_bytes(data: bytes, binary: bool, max_json_chars: int) -> int:
    """The longest prefix of ``data`` whose text fits ``max_json_chars`` inside JSON; text is cut
    on a character boundary so that it stays UTF-8."""
    lo, hi = 0, len(data)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if json_chars(data[:mid].decode("utf-8", "replace")) <= max_json_chars:
            lo = mid
        else:
            hi = mid - 1
    while not binary and 0 < lo < len(data) and data[lo] & 0xC0 == 0x80:  # inside a character
        lo -= 1
    return lo


async def _to_the_end(operation: Awaitable[T]) -> T:
    """Run a change to a file to its end even when the job is cancelled meanwhile, and answer
    what it did: once the write is on its way (to the host's helper, or a thread) cancelling the
    coroutine would not stop it, and a job reported ``cancelled`` would hide a file written."""
    task = asyncio.ensure_future(operation)
    absorbed = 0
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            absorbed += 1
    current = asyncio.current_task()
    for _ in range(absorbed if current is not None else 0):
        current.uncancel()  # type: ignore[union-attr]
    return task.result()
