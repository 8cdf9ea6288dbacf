"""The ``gtp-remote`` command line: a thin shell over the gateway.

Expected failures (unknown server, auth, host key, unreachable, bad inventory) print one line
``error: ...`` and exit non-zero; a traceback means a bug. ``exec`` follows ssh's conventions:
the command words are joined with spaces and run by the remote shell, the exit code is the
command's, and 255 means gtp-remote itself could not run it.
"""

from __future__ import annotations

import asyncio
import enum
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from gtp_remote import __version__, completion, hostfiles
from gtp_remote.access import Principal
from gtp_remote.config import Inventory, load_inventory
from gtp_remote.errors import (
    ApprovalRejectedError,
    GtpError,
    InvalidRequestError,
    InventoryError,
    PolicyDeniedError,
    UnknownServerError,
    UnknownSpecialistError,
)
from gtp_remote.executors.base import Output, RunResult
from gtp_remote.fanout import DEFAULT_FORKS, FanOutResult, HostResult
from gtp_remote.filescli import register as register_files_commands
from gtp_remote.gateway import Command, Gateway
from gtp_remote.jobscli import register as register_jobs_commands
from gtp_remote.settings import Settings

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3  # a policy refused the action, or its approval was rejected
EXIT_TIMEOUT = 124
EXIT_TRANSPORT = 255

#: Commands whose last argument is a remote command line, which belongs after ``--``.
COMMAND_LINE_COMMANDS = ("exec",)


class _Commands(TyperGroup):
    """Typer's group, with one hint added: ``exec web uname -a`` fails on ``-a`` (click reads it
    as an option of ``exec``), and the fix, writing ``--`` before the command, is not obvious.

    Typer vendors its own click (``typer._click``): its exceptions are the ones raised here."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer._click.exceptions.NoSuchOption as exc:
            if exc.ctx is not None and exc.ctx.command.name in COMMAND_LINE_COMMANDS:
                name = exc.ctx.command.name
                exc.message += (
                    f"\nhint: write -- before the remote command, so its options are not read as "
                    f"{name}'s: gtp-remote {name} TARGET -- COMMAND {exc.option_name} ..."
                )
            raise


app = typer.Typer(
    name="gtp-remote",
    cls=_Commands,
    help="Run work on the machines that hold the data: commands, files and tunnels over pooled SSH.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
hosts_app = typer.Typer(help="List the inventory's servers, or check them (hosts check).")
app.add_typer(hosts_app, name="hosts")
# Off a terminal (pipes, CI logs) rich would wrap tables at 80 columns: give it room instead.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def _version(value: bool) -> None:
    if value:
        out.print(f"gtp-remote {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--inventory", "-i", help="Inventory folder or file [default: $GTP_INVENTORY, else ./hosts]"
        ),
    ] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    ctx.obj = inventory


def _fail(exc: GtpError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    if isinstance(exc, PolicyDeniedError | ApprovalRejectedError):
        return typer.Exit(EXIT_REFUSED)
    usage = isinstance(
        exc, InventoryError | UnknownServerError | UnknownSpecialistError | InvalidRequestError
    )
    return typer.Exit(EXIT_USAGE if usage else EXIT_TRANSPORT)


_settings: Settings | None = None


def _get_settings() -> Settings:
    """The settings, read from the environment once per process."""
    global _settings
    if _settings is None:
        try:
            _settings = Settings.from_env()
        except GtpError as exc:
            raise _fail(exc) from None
    return _settings


def _inventory(ctx: typer.Context) -> Inventory:
    try:
        inventory = load_inventory(ctx.obj, _get_settings())
    except GtpError as exc:
        raise _fail(exc) from None
    for warning in inventory.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    return inventory


def _owner() -> Principal:
    """Who the CLI acts as: the machine's owner, with the servers' and groups' policies."""
    return Principal.owner(f"cli:{_user()}")


async def _record(event: dict[str, Any]) -> None:
    """The CLI's audit: the same log as the server's (appends take a lock, so both can write)."""
    from gtp_remote.audit import AuditLog

    log = AuditLog(_get_settings().state_dir / "audit.jsonl")
    await asyncio.to_thread(log.append, event)


def _gateway(inv: Inventory) -> Gateway:
    return Gateway(inv, _get_settings(), audit=_record)


def _terminal_approver(yes: bool, who: str):  # type: ignore[no-untyped-def]
    """Ask on the terminal when a policy wants an action confirmed (``--yes`` approves)."""

    async def approve(pending: dict[str, Any]) -> tuple[bool, str | None]:
        where = ", ".join(pending.get("servers") or [pending.get("server") or ""])
        err.print(
            f"[yellow]needs approval[/] on {escape(where)}: {escape(str(pending.get('reason')))}\n"
            f"{escape(_pending_text(pending))}",
            highlight=False,
        )
        if yes:
            return True, f"{who} (--yes)"
        if not sys.stdin.isatty():
            return False, f"{who}: no terminal to ask (use --yes)"
        ok = await asyncio.to_thread(typer.confirm, "   run it?", default=False)
        return ok, who

    return approve


def _pending_text(pending: dict[str, Any]) -> str:
    """All of an action awaiting approval, as the terminal shows it: what runs, and for a write
    or a patch what it writes (a human decides on what they can read, not on a summary)."""
    what = pending.get("command") or pending.get("code") or pending.get("path") or pending.get("operation")
    lines = [f"   {what}"]
    if pending.get("env"):
        lines += [f"   with {name}={value}" for name, value in pending["env"].items()]
    if "content" in pending:
        lines.append(f"   {pending.get('mode', 'overwrite')}, this content:\n{pending['content']}")
    if "diff" in pending:
        lines.append(f"   this diff:\n{pending['diff']}")
    return _visible("\n".join(lines))


def _visible(text: str) -> str:
    """Control characters spelled out: a carriage return or an ANSI sequence in a command would
    otherwise let what the terminal shows differ from what runs."""
    return "".join(c if c in "\n\t" or c.isprintable() else repr(c)[1:-1] for c in text)


def _run(coro: Coroutine[Any, Any, int]) -> None:
    try:
        code = asyncio.run(coro)
    except GtpError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(code)


@hosts_app.callback(invoke_without_command=True)
def hosts(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    pattern: Annotated[
        str | None, typer.Option("--pattern", "-p", help="Only the servers this host pattern selects")
    ] = None,
) -> None:
    """The inventory as a table: name, protocol, address, groups, model."""
    if ctx.invoked_subcommand is not None:
        return
    inv = _inventory(ctx.parent)  # type: ignore[arg-type]
    try:
        servers = inv.resolve(pattern) if pattern is not None else list(inv.servers.values())
    except GtpError as exc:
        raise _fail(exc) from None
    if as_json:
        # Where each server is, always: the defaults left out would hide an unset port or user.
        rows = [
            s.model_dump(mode="json", exclude_defaults=True)
            | {"name": s.name, "host": s.host, "port": s.port, "username": s.username}
            | {"groups": list(s.groups)}
            for s in servers
        ]
        out.print_json(json.dumps(rows))
        return
    table = Table("name", "protocol", "address", "groups", "model", title=None, box=None, header_style="bold")
    for s in servers:
        model = f"{s.llm.provider}:{s.llm.model or 'default'}" if s.llm else ""
        table.add_row(s.name, s.protocol, s.address, ", ".join(s.groups), model)
    out.print(table)


@hosts_app.command("check")
def hosts_check(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            help="An Ansible host pattern: a server, a group, all, web*, a:!b, a:&b, ~regex, group:NAME",
            autocompletion=completion.targets,
        ),
    ] = "all",
    forks: Annotated[int, typer.Option(help="Servers checked at once")] = DEFAULT_FORKS,
    limit: Annotated[
        str | None, typer.Option("--limit", "-l", help="Only the servers this pattern selects too")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Reachability, latency, hostname, OS and host-key status; exit 1 if any server fails."""
    inv = _inventory(ctx.parent.parent)  # type: ignore[union-attr,arg-type]

    async def go() -> int:
        async with _gateway(inv) as gw:
            results = await gw.check(gw.resolve_target(_owner(), target, limit), forks=forks)
        if as_json:
            out.print_json(json.dumps([r.model_dump(mode="json") for r in results]))
        else:
            table = Table(
                "server",
                "status",
                "latency",
                "connect",
                "hostname",
                "os",
                "host key",
                "error",
                box=None,
                header_style="bold",
            )
            for r in results:
                status = "[green]ok[/]" if r.reachable else "[red]FAILED[/]"
                table.add_row(
                    r.server,
                    status,
                    _ms(r.latency_ms),
                    _ms(r.connect_ms),
                    r.hostname or "",
                    r.os or "",
                    r.host_key or "",
                    str(GtpError(r.error["message"], hint=r.error.get("hint"))) if r.error else "",
                )
            out.print(table)
        return 0 if all(r.reachable for r in results) else EXIT_FAILED

    _run(go())


@app.command("exec")
def exec_(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            help="An Ansible host pattern: a server, a group, all, web*, a:!b, a:&b, ~regex, group:NAME",
            autocompletion=completion.targets,
        ),
    ],
    command: Annotated[list[str], typer.Argument(help="The command (after --), run by the remote shell")],
    timeout: Annotated[
        float | None, typer.Option(help="Seconds per host; the command is killed after")
    ] = None,
    forks: Annotated[int, typer.Option(help="Hosts run at once")] = DEFAULT_FORKS,
    cwd: Annotated[str | None, typer.Option(help="Working directory on the host")] = None,
    limit: Annotated[
        str | None, typer.Option("--limit", "-l", help="Only the servers this pattern selects too")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (no streaming)")] = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON line per host, printed as each finishes")
    ] = False,
    tree: Annotated[
        Path | None, typer.Option(help="Write DIR/HOST.out, HOST.err and HOST.json for each host")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve what a policy wants confirmed, without asking")
    ] = False,
    become: Annotated[
        bool, typer.Option("--become", "-b", help="Run as the server's become_user (root) via sudo -n")
    ] = False,
) -> None:
    """Run COMMAND on TARGET. One host: output streams live. Several: progress, then a table.

    The servers' and groups' policies apply as they do to every front end: a denial exits 3, and
    what a policy wants confirmed is asked on the terminal (or approved with --yes).
    """
    inv = _inventory(ctx.parent)  # type: ignore[arg-type]
    line = " ".join(command)
    if as_json and jsonl:
        raise _fail(InvalidRequestError("--json and --jsonl: choose one"))
    try:
        folder = hostfiles.prepare_tree(tree) if tree is not None else None
    except GtpError as exc:
        raise _fail(exc) from None

    tree_errors: list[GtpError] = []  # a file that cannot be written: said at the end, nothing lost

    def finished(result: HostResult) -> None:
        if folder is not None:
            try:
                hostfiles.write_tree(folder, result)
            except GtpError as exc:
                tree_errors.append(exc)
        if jsonl:
            hostfiles.print_line(result)

    def told(code: int) -> int:
        for exc in tree_errors[:3]:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return EXIT_FAILED if tree_errors and code == 0 else code

    async def go() -> int:
        async with _gateway(inv) as gw:
            principal = _owner()
            servers = gw.resolve_target(principal, target, limit)
            # One host streams live; several, or output for scripts, go through the fan-out.
            single = len(servers) == 1 and not (as_json or jsonl or folder)
            action = Command(
                line,
                server=servers[0] if single else None,
                target=None if single else target,
                limit=None if single else limit,
                timeout=timeout,
                cwd=cwd,
                forks=forks,
                become=become,
            )
            plan = await gw.plan(principal, action, context={"client": "cli"})
            approver = _terminal_approver(yes, principal.name)
            if single:
                return await _stream_one(gw, plan, approver, timeout)
            if as_json or jsonl:
                context = {"client": "cli"}
                result = await gw.perform(plan, approver=approver, on_done=finished, context=context)
                if as_json:
                    out.print_json(result.model_dump_json())
                return told(0 if result.ok else EXIT_FAILED)
            result = await _fan_out(gw, plan, approver, len(servers), finished)
            _print_fan_out(result)
            return told(0 if result.ok else EXIT_FAILED)

    _run(go())


async def _stream_one(gw: Gateway, plan: Any, approver: Any, timeout: float | None) -> int:
    def show(event: Output) -> None:
        stream = sys.stdout if event.stream == "stdout" else sys.stderr
        stream.write(event.text)
        stream.flush()

    result: RunResult = await gw.perform(plan, approver=approver, on_output=show, context={"client": "cli"})
    if result.timed_out:
        err.print(f"[bold red]error:[/] {plan.server}: timed out after {timeout:g}s; the command was killed")
        return EXIT_TIMEOUT
    return result.exit_code if result.exit_code is not None else EXIT_FAILED


async def _fan_out(
    gw: Gateway, plan: Any, approver: Any, hosts: int, finished: Callable[[HostResult], None]
) -> FanOutResult:
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    with bar:
        task = bar.add_task(plan.action.command[:40], total=hosts)

        def done(result: HostResult) -> None:
            finished(result)
            bar.advance(task)

        return await gw.perform(plan, approver=approver, on_done=done, context={"client": "cli"})


def _print_fan_out(result: FanOutResult) -> None:
    table = Table("server", "status", "exit", "time", "output", box=None, header_style="bold")
    colours = {"ok": "green", "failed": "red", "unreachable": "yellow"}
    for r in result.results:
        text = r.error["message"] if r.error else (r.stdout + r.stderr).rstrip("\n")
        table.add_row(
            r.server,
            f"[{colours[r.status]}]{r.status}[/]",
            "" if r.exit_code is None else str(r.exit_code),
            _ms(r.duration_ms),
            text,
        )
    out.print(table)
    s = result.summary
    out.print(f"{s.ok} ok, {s.failed} failed, {s.unreachable} unreachable ({_ms(s.duration_ms)})")


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


@app.command()
def ask(
    ctx: typer.Context,
    specialist: Annotated[
        str,
        typer.Argument(
            help="A specialist, a server with a model, or a provider", autocompletion=completion.specialists
        ),
    ],
    instructions: Annotated[str, typer.Argument(help="The task, in plain words")],
    server: Annotated[str | None, typer.Option(help="With a provider name: the server to work on")] = None,
    model: Annotated[str | None, typer.Option(help="Use this model instead of the configured one")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan the tool calls; run nothing")] = False,
    max_steps: Annotated[int | None, typer.Option(help="At most this many model turns")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve actions the policy wants confirmed, without asking")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Delegate a task to a specialist model that uses its tools on its own server.

    Steps are shown as they happen; the answer is printed last (stdout). Actions the policy wants
    confirmed are asked on the terminal (or approved with --yes; refused when there is no terminal).
    Every model call and tool call goes to the audit log, as with the HTTP API.
    """
    from gtp_remote.llm.agent import Agent
    from gtp_remote.llm.service import LLMService

    inv = _inventory(ctx.parent)  # type: ignore[arg-type]
    principal = _owner()
    who = principal.name

    async def record(event: dict[str, Any]) -> None:
        await _record({"token": who, **event})

    def show(kind: str, data: dict[str, Any]) -> None:
        if as_json:
            return
        if kind == "step":
            err.print(f"[dim]-- turn {data['turn']} ({data['model']})[/]", highlight=False)
        elif kind == "delta":
            err.file.write(data["text"])
            err.file.flush()
        elif kind == "tool_call":
            arguments = escape(json.dumps(data["arguments"], ensure_ascii=False)[:300])
            err.print(f"\n[bold]{data['index']}. {escape(data['tool'])}[/] {arguments}", highlight=False)
        elif kind == "tool_result":
            colour = {"ok": "green", "planned": "cyan"}.get(data["status"], "red")
            exit_text = f" exit {data['exit_code']}" if data["exit_code"] is not None else ""
            took = _ms(data["duration_ms"])
            err.print(f"   [{colour}]{data['status']}[/]{exit_text} {took}", highlight=False)
            if data["status"] in ("denied", "invalid", "rejected"):
                err.print(f"   {escape(data['output'][:300])}", highlight=False)

    async def go() -> int:
        async with _gateway(inv) as gw:
            llm = LLMService(gw)
            try:
                chosen = llm.resolve(specialist, current=server, server=server, model=model)
                agent = Agent(
                    llm,
                    chosen,
                    principal,
                    emit=show,
                    approver=_terminal_approver(yes, who),
                    audit=record,
                    dry_run=dry_run,
                    max_steps=max_steps,
                    stream=not as_json,
                    context={"client": "cli"},
                )
                result = await agent.run(instructions)
            finally:
                await llm.close()
        if as_json:
            out.print_json(json.dumps(result))
        else:
            usage = result["usage"]
            err.print(
                f"\n[dim]{chosen.name} on {chosen.server} ({chosen.provider}:{chosen.model}): "
                f"{result['stop_reason']}, {len(result['steps'])} steps, "
                f"{usage['prompt_tokens']}+{usage['completion_tokens']} tokens, "
                f"{_ms(result['duration_ms'])}[/]",
                highlight=False,
            )
            if result["error"]:
                err.print(f"[bold red]error:[/] {escape(result['error']['message'])}", highlight=False)
            sys.stdout.write((result["answer"] or "") + "\n")
        return 0 if result["ok"] else EXIT_FAILED

    _run(go())


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(envvar="GTP_HOST", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="GTP_PORT", help="Port to listen on")] = 8787,
) -> None:
    """Serve the HTTP API (for ChatGPT Custom GPT Actions and any HTTP client)."""
    from gtp_remote.api.routes import create_app
    from gtp_remote.api.server import run
    from gtp_remote.api.state import Api
    from gtp_remote.tokens import Authenticator, load_tokens

    inv = _inventory(ctx)
    settings = _get_settings()
    try:
        tokens = load_tokens(settings, announce=_say)
    except GtpError as exc:
        raise _fail(exc) from None
    _quiet_protocol_errors()
    try:
        api = Api(Gateway(inv, settings), Authenticator(tokens))
    except GtpError as exc:  # another server holds the state folder
        raise _fail(exc) from None
    names = ", ".join(t.name for t in tokens)
    local = host in ("127.0.0.1", "localhost", "::1")
    oauth_note = ""
    if settings.oauth == "builtin" and not settings.public_url and not local:
        oauth_note = "; OAuth for MCP is off until GTP_PUBLIC_URL says where clients reach this server"

    def ready() -> None:
        _say(
            f"gtp-remote {__version__}: {len(inv.servers)} servers; tokens: {names}\n"
            f"state folder: {settings.state_dir}\n"
            f"listening on http://{host}:{port} (OpenAPI: http://{host}:{port}/openapi.json; "
            f"MCP: http://{host}:{port}/mcp{oauth_note})"
        )

    base = f"http://{'[::1]' if host == '::1' else host}:{port}" if local else None
    try:
        app = create_app(api, (host,), base)
    except GtpError as exc:
        raise _fail(exc) from None
    try:
        run(app, host, port, ready=ready)
    except OSError as exc:  # the address is taken, or not ours to bind
        raise _fail(GtpError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")) from None


@app.command()
def mcp(ctx: typer.Context) -> None:
    """Serve MCP on stdin/stdout for a local client (Claude Desktop, Claude Code, Cursor).

    Acts as the token whose value is in GTP_TOKEN (with no tokens file, the generated default
    token). Over HTTP, MCP is served by `serve` at /mcp."""
    from gtp_remote.api.state import Api
    from gtp_remote.mcpapi.stdio import serve as serve_stdio
    from gtp_remote.mcpapi.stdio import stdio_principal
    from gtp_remote.tokens import Authenticator, load_tokens

    inv = _inventory(ctx)
    settings = _get_settings()
    try:
        api = Api(Gateway(inv, settings), Authenticator(load_tokens(settings, announce=_say)))
    except GtpError as exc:  # a bad tokens file, or another server holds the state folder
        raise _fail(exc) from None
    try:
        principal = stdio_principal(api)
    except GtpError as exc:
        asyncio.run(api.shutdown())
        raise _fail(exc) from None
    _say(f"gtp-remote {__version__}: MCP on stdio as token '{principal.name}'; {len(inv.servers)} servers")
    try:
        asyncio.run(serve_stdio(api, principal))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _say(text: str) -> None:
    """Plain text on stderr: never wrapped, so a printed token or URL copies whole."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _quiet_protocol_errors() -> None:
    """A client sending a malformed request is the client's problem: log one line, no traceback,
    and not the line it sent (a malformed ``Authorization`` line would put a token in the log)."""
    import logging

    from aiohttp.http_exceptions import HttpProcessingError
    from aiohttp.web_protocol import RequestPayloadError

    class OneLine(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            exc = record.exc_info[1] if record.exc_info else None
            if isinstance(exc, RequestPayloadError):  # answered 400; aiohttp meets it again draining
                exc = exc.__cause__ if isinstance(exc.__cause__, HttpProcessingError) else None
                if exc is None:
                    record.msg, record.args, record.exc_info = "a request body could not be read", (), None
                    return True
            if isinstance(exc, HttpProcessingError):
                what = (exc.message or "").split("\n", 1)[0].strip(" :")[:120]
                record.msg = f"bad HTTP request refused: {type(exc).__name__}: {what or exc.code}"
                record.args = ()
                record.exc_info = None
                record.levelno, record.levelname = logging.WARNING, "WARNING"
            return True

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.server").addFilter(OneLine())


@app.command()
def check(ctx: typer.Context) -> None:
    """Validate the whole set-up: inventory, tokens, policies, templates. Lists every problem
    (not only the first) and exits 1 if there is an error. Contacts no host (see hosts check)."""
    from gtp_remote.setupcheck import check_setup

    inventory, problems = check_setup(ctx.obj, _get_settings())
    for problem in problems:
        colour = "bold red" if problem.level == "error" else "yellow"
        err.print(f"[{colour}]{problem.level}:[/] {escape(problem.message)}", highlight=False, soft_wrap=True)
    errors = sum(p.level == "error" for p in problems)
    warnings = len(problems) - errors
    if inventory is not None:
        groups = len(inventory.groups())  # group settings without members included
        summary = (
            f"{len(inventory.servers)} servers, {groups} groups, {len(inventory.specialists)} specialists"
        )
    else:
        summary = "the inventory did not load"
    out.print(f"{summary}: {errors} errors, {warnings} warnings", highlight=False)
    if errors:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def token() -> None:
    """Print the API token kept in the state folder (generated on first use, mode 0600).

    Only for the default single-token set-up: with GTP_API_TOKEN or a tokens file the tokens
    are yours and gtp-remote never prints them.
    """
    import os

    from gtp_remote.tokens import stored_token

    settings = _get_settings()
    if (
        os.environ.get("GTP_API_TOKEN")
        or settings.tokens_file
        or (settings.state_dir / "tokens.yaml").is_file()
    ):
        err.print("error: tokens are configured (GTP_API_TOKEN or a tokens file): use those", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    sys.stdout.write(stored_token(settings.state_dir)[0] + "\n")


class OpenApiVersion(enum.StrEnum):
    v31 = "3.1"
    v30 = "3.0"


@app.command()
def openapi(
    version: Annotated[OpenApiVersion, typer.Option(help="The OpenAPI version")] = OpenApiVersion.v31,
    yaml_out: Annotated[bool, typer.Option("--yaml", help="YAML instead of JSON")] = False,
) -> None:
    """Print the OpenAPI document a Custom GPT imports (servers[0].url from GTP_PUBLIC_URL)."""
    from gtp_remote.api.openapi import build

    spec = build(_get_settings().public_url, version.value)
    if yaml_out:
        import yaml

        sys.stdout.write(yaml.safe_dump(spec, sort_keys=False))
    else:
        sys.stdout.write(json.dumps(spec, indent=2) + "\n")


audit_app = typer.Typer(help="The audit log: verify its hash chain, show its tail.")
app.add_typer(audit_app, name="audit")


def _audit_path(path: Path | None) -> Path:
    return path or _get_settings().state_dir / "audit.jsonl"


@audit_app.command("verify")
def audit_verify(
    path: Annotated[
        Path | None, typer.Argument(help="Audit file [default: $GTP_STATE_DIR/audit.jsonl]")
    ] = None,
) -> None:
    """Check that no line was edited, removed or reordered; exit 1 if one was."""
    from gtp_remote.audit import verify

    target = _audit_path(path)
    if not target.is_file():
        what = "is not a file" if target.exists() else "does not exist"
        err.print(f"[bold red]error:[/] {escape(str(target))}: {what}", highlight=False, soft_wrap=True)
        err.print("hint: name the audit file, or set GTP_STATE_DIR to the server's state", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    result = verify(target)
    if result.ok:
        out.print(f"ok: {result.lines} events, hash chain intact ({target})", highlight=False)
        return
    err.print(f"[bold red]tampered:[/] {target}: {result.error}", highlight=False)
    raise typer.Exit(EXIT_FAILED)


@audit_app.command("tail")
def audit_tail(
    path: Annotated[
        Path | None, typer.Argument(help="Audit file [default: $GTP_STATE_DIR/audit.jsonl]")
    ] = None,
    lines: Annotated[int, typer.Option("-n", help="How many events")] = 20,
) -> None:
    """The last events, one JSON object a line."""
    from gtp_remote.audit import tail

    for event in tail(_audit_path(path), lines):
        sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")


register_jobs_commands(app)
register_files_commands(app)

oauth_app = typer.Typer(help="MCP's OAuth grants: which clients act as which token; revoke one.")
app.add_typer(oauth_app, name="oauth")


def _grants():  # type: ignore[no-untyped-def]
    from gtp_remote.mcpapi.oauth import GrantStore

    path = _get_settings().state_dir / "oauth.sqlite3"
    if not path.is_file():
        return None
    return GrantStore(path)


@oauth_app.command("list")
def oauth_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Revoked grants too")] = False,
) -> None:
    """The grants made on the consent page: client, the token it acts as, who approved, when."""
    import datetime

    from rich.table import Table

    store = _grants()
    grants = [g for g in (store.grants() if store else []) if all_ or g.revoked is None]
    if as_json:
        for g in grants:
            sys.stdout.write(json.dumps(g.__dict__, ensure_ascii=False) + "\n")
        return
    if not grants:
        out.print("no OAuth grants" + ("" if all_ else " in force"), highlight=False)
        return

    def when(ts: float | None) -> str:
        return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else ""

    table = Table("grant", "client", "acts as token", "approved by", "granted", "revoked")
    for g in grants:
        client = f"{g.client_name or '?'} ({g.client_id[:12]})"
        table.add_row(g.id, client, g.token_name, g.approved_by, when(g.created), when(g.revoked))
    out.print(table)


@oauth_app.command("revoke")
def oauth_revoke(
    grant: Annotated[str, typer.Argument(help="The grant's id (gtp-remote oauth list)")],
) -> None:
    """Revoke a grant: its access and refresh tokens stop working at once."""
    store = _grants()
    if store is None or store.grant(grant) is None:
        err.print(f"error: no OAuth grant '{grant}' (gtp-remote oauth list shows them)", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    if not store.revoke_grant(grant):
        err.print(f"grant '{grant}' was already revoked", highlight=False)
        return
    asyncio.run(_record({"kind": "oauth", "event": "grant_revoked", "grant": grant, "by": f"cli:{_user()}"}))
    out.print(f"revoked grant {grant}", highlight=False)
