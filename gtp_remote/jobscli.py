"""The jobs of a running server, from the terminal: ``jobs``, ``job``, ``approve``, ``reject``.

These talk to ``gtp-remote serve`` over its HTTP API (``--url``, default ``$GTP_URL`` or
http://127.0.0.1:8787) with the token in ``GTP_TOKEN`` (with no tokens configured, the state
folder's generated token), so an approver decides with the same permissions, scoping and audit
as any other client: the server is the one place jobs live. Tables by default, ``--json`` for
scripts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gtp_remote.settings import Settings

out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
DEFAULT_URL = "http://127.0.0.1:8787"

Url = Annotated[str, typer.Option("--url", envvar="GTP_URL", help="The server's URL")]
Json = Annotated[bool, typer.Option("--json", help="JSON instead of a table")]


class RemoteError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _token() -> str:
    token = os.environ.get("GTP_TOKEN", "").strip()
    if token:
        return token
    settings = Settings.from_env()
    stored = settings.state_dir / "api-token"
    if not (os.environ.get("GTP_API_TOKEN") or settings.tokens_file) and stored.is_file():
        return stored.read_text().strip()
    if os.environ.get("GTP_API_TOKEN"):
        return os.environ["GTP_API_TOKEN"]
    raise RemoteError("set GTP_TOKEN to your token (the server's tokens decide what you may see and do)", 2)


async def _call(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {_token()}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
            session.request(method, url.rstrip("/") + path, json=body, headers=headers) as r,
        ):
            data = await r.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise RemoteError(f"cannot reach gtp-remote at {url}: {exc or type(exc).__name__}", 255) from None
    if r.status >= 400:
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, dict) else {"code": r.status, "message": str(data)[:300]}
        hint = f" ({error['hint']})" if error.get("hint") else ""
        raise RemoteError(f"{error.get('code')}: {error.get('message')}{hint}", 3 if r.status == 403 else 1)
    return data


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except RemoteError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.code) from None


def _what(job: dict[str, Any]) -> str:
    pending = job.get("pending_action") or {}
    text = pending.get("command") or pending.get("path") or pending.get("code") or ""
    return " ".join(str(text).split())[:80]


def register(app: typer.Typer) -> None:
    """Add the jobs commands to the CLI."""

    @app.command("jobs")
    def jobs(
        url: Url = DEFAULT_URL,
        status: Annotated[str | None, typer.Option(help="running, awaiting_approval, succeeded...")] = None,
        server: Annotated[str | None, typer.Option(help="Only jobs on this server")] = None,
        kind: Annotated[str | None, typer.Option(help="execute-shell, execute-llm, file-write...")] = None,
        limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
        as_json: Json = False,
    ) -> None:
        """A running server's jobs you may see, newest first (with approve: those awaiting you)."""
        query = {"limit": str(limit)} | {
            k: v for k, v in (("status", status), ("server", server), ("kind", kind)) if v
        }
        data = _run(_call(url, "GET", "/jobs?" + "&".join(f"{k}={v}" for k, v in query.items())))
        if as_json:
            sys.stdout.write(json.dumps(data["jobs"], ensure_ascii=False) + "\n")
            return
        if not data["jobs"]:
            out.print("no jobs", highlight=False)
            return
        table = Table(
            "job", "status", "kind", "server", "created", "waiting on", box=None, header_style="bold"
        )
        for job in data["jobs"]:
            table.add_row(
                job["job_id"],
                job["status"],
                job["operation"],
                job["server"] or "",
                job["created_at"],
                _what(job),
            )
        out.print(table)

    @app.command("job")
    def job(job_id: str, url: Url = DEFAULT_URL, as_json: Json = False) -> None:
        """One job: its status, the action it waits on, its result."""
        data = _run(_call(url, "GET", f"/jobs/{job_id}"))
        if as_json:
            sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
            return
        out.print(f"[bold]{data['job_id']}[/] {data['operation']} on {data['server']}: {data['status']}")
        if data.get("pending_action"):
            out.print("waits for approval of:", highlight=False)
            out.print_json(json.dumps(data["pending_action"]))
        if data.get("approval"):
            out.print(f"decision: {json.dumps(data['approval'])}", highlight=False)
        if data.get("result") is not None:
            out.print_json(json.dumps(data["result"]))
        if data.get("error"):
            out.print(f"[red]error:[/] {escape(json.dumps(data['error']))}", highlight=False)

    def decide(job_id: str, url: str, verdict: str, reason: str | None, as_json: bool) -> None:
        """Decide on the action the job waits on now, naming it by its id: if the job moved on
        to another action in between, the server refuses (approval_stale) rather than apply it."""

        async def go() -> tuple[dict[str, Any], dict[str, Any]]:
            view = await _call(url, "GET", f"/jobs/{job_id}")
            pending = view.get("pending_action")
            if not pending:
                raise RemoteError(f"job '{job_id}' is {view['status']}, not awaiting approval", 1)
            body = {"pending_id": pending["id"]} | ({"reason": reason} if reason else {})
            return view, await _call(url, "POST", f"/jobs/{job_id}/{verdict}", body)

        view, data = _run(go())
        if as_json:
            sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
            return
        pending = view["pending_action"]
        where = ", ".join(pending.get("servers") or [pending.get("server") or "?"])
        out.print(
            f"{verdict[:-1] if verdict.endswith('e') else verdict}ed on {where}: {_what(view)}",
            highlight=False,
        )
        out.print(f"job {data['job_id']} is now {data['status']}", highlight=False)

    @app.command("approve")
    def approve(
        job_id: str,
        url: Url = DEFAULT_URL,
        reason: Annotated[str | None, typer.Option(help="Why, for the record")] = None,
        as_json: Json = False,
    ) -> None:
        """Approve the action a job waits on (a token with approve that did not ask for it)."""
        decide(job_id, url, "approve", reason, as_json)

    @app.command("reject")
    def reject(
        job_id: str,
        url: Url = DEFAULT_URL,
        reason: Annotated[str | None, typer.Option(help="Why, for the record")] = None,
        as_json: Json = False,
    ) -> None:
        """Reject the action a job waits on: it never runs."""
        decide(job_id, url, "reject", reason, as_json)
