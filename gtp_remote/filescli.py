"""``gtp-remote copy`` and ``fetch``: files to and from many servers at once, binary-safe.

Both are gateway actions like every other front end's (``FileUpload``, ``FileDownload``), one per
host: the path is confined below the server's ``root`` and judged by the policy as a write (copy)
or a read (fetch) of that path, each host's transfer is one audit event with its bytes and
sha256, and what a policy wants confirmed is asked once on the terminal for the whole fan-out
(``--yes`` approves). Hosts run in parallel, ``--forks`` at a time; one host's failure never
stops the others, and the exit status is 1 if any failed.

How a file travels: in pieces of ``UPLOAD_CHUNK`` (4 MiB), never the whole file in memory.

* copy: the local file's sha256 is computed first; the pieces are staged beside DEST on each
  host (a hidden 0600 file) and the last one commits it: the host hashes the staged file from
  disk, renames it over DEST only if that hash is the local one, and answers it. A file of one
  piece is written through a temp file the same way. The mode is SRC's unless ``--mode``.
  DEST ending in ``/``, or naming a directory on that host, means DEST/basename(SRC) (whether it
  is a directory is asked of each host, by a confined stat, before the copy is judged).
* fetch: DIR/HOST/PATH (PATH's leading ``/`` dropped, ``..`` refused, so nothing lands outside
  DIR/HOST) is written as a temp file beside it and renamed into place only when the sha256 of
  what arrived is the one the host computed of its file at the end of the read: a file that
  changed while it was read is reported, not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import posixpath
import stat
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from gtp_remote import completion
from gtp_remote.access import Principal
from gtp_remote.errors import GtpError, InvalidRequestError, LocalWriteError
from gtp_remote.fanout import DEFAULT_FORKS
from gtp_remote.gateway import UPLOAD_CHUNK, FileDownload, FileUpload, Gateway, Plan

out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
BAR_ABOVE = 1 << 20  # files larger than this get a progress bar (bytes)

Target = Annotated[
    str,
    typer.Argument(
        help="An Ansible-style pattern: web, group:web, web:!db, all...", autocompletion=completion.targets
    ),
]
Forks = Annotated[int, typer.Option(help="Hosts at once")]
Limit = Annotated[str | None, typer.Option("--limit", "-l", help="Only the servers this pattern selects too")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Approve what a policy wants confirmed, without asking")
]


@dataclass
class Row:
    """One host's transfer, as the table and ``--json`` show it."""

    server: str
    path: str
    status: str = "failed"  # ok, failed, unreachable
    bytes: int = 0
    sha256: str | None = None
    duration_ms: float = 0.0
    error: dict[str, Any] | None = None

    def fail(self, exc: GtpError) -> None:
        self.status = "unreachable" if exc.kind == "unreachable" else "failed"
        self.error = exc.to_dict()


def register(app: typer.Typer) -> None:
    """Add ``copy`` and ``fetch`` to the ``gtp-remote`` app."""
    app.command("copy")(copy)
    app.command("fetch")(fetch)


# -- copy ------------------------------------------------------------------------------------------


def copy(
    ctx: typer.Context,
    target: Target,
    src: Annotated[Path, typer.Argument(help="The local file to copy")],
    dest: Annotated[str, typer.Argument(help="Where on each host; ending in / (or a directory): in it")],
    mode: Annotated[str | None, typer.Option("--mode", help="Permission bits in octal, e.g. 0644")] = None,
    forks: Forks = DEFAULT_FORKS,
    limit: Limit = None,
    yes: Yes = False,
    as_json: Json = False,
) -> None:
    """Copy the local file SRC to DEST on every host of TARGET: atomic, binary-safe, its sha256
    checked on each host before it replaces DEST; SRC's mode unless --mode. Exit 1 if any host
    failed."""
    from gtp_remote import cli

    inv = cli._inventory(ctx.parent)  # type: ignore[arg-type]
    try:
        size, src_mode = _source(src)
        file_mode = _octal(mode) if mode is not None else src_mode
    except GtpError as exc:
        raise cli._fail(exc) from None

    async def go() -> int:
        try:
            sha = await asyncio.to_thread(_sha256_of, src)
        except OSError as exc:  # removed or changed since it was checked
            raise InvalidRequestError(
                f"{src}: {exc.strerror or exc}", hint="name a file you can read"
            ) from None
        async with cli._gateway(inv) as gw:
            principal = cli._owner()
            servers = gw.resolve_target(principal, target, limit)
            gate = asyncio.Semaphore(max(forks, 1))  # --forks hosts at a time, this look too

            async def dest_on(server: str) -> str:
                async with gate:
                    return await _dest_on(gw, server, dest, src.name)

            paths = await asyncio.gather(*(dest_on(s) for s in servers))
            rows = {s: Row(s, p) for s, p in zip(servers, paths, strict=True)}
            bar = _bar() if size > BAR_ABOVE and not as_json else None
            task = (
                bar.add_task(f"{src.name} -> {len(servers)} hosts", total=size * len(servers))
                if bar
                else None
            )

            def action(server: str) -> FileUpload:
                return FileUpload(
                    rows[server].path,
                    server=server,
                    file_mode=file_mode,
                    sha256=sha,
                    chunks=lambda: _pieces(src),
                    size=size,
                    on_sent=(lambda n: bar.advance(task, n)) if bar and task is not None else None,
                )

            async def done(row: Row, result: Any) -> None:
                row.status, row.bytes, row.sha256 = "ok", result.bytes, result.sha256

            extra = {"size": size, "sha256": sha, "file_mode": f"{file_mode:04o}"}
            with bar or contextlib.nullcontext():
                await _fan(gw, principal, rows, action, done, forks, yes, extra)
        _report(list(rows.values()), as_json, "copied")
        return 0 if all(r.status == "ok" for r in rows.values()) else 1

    cli._run(go())


def _source(src: Path) -> tuple[int, int]:
    """SRC's size and permission bits; refused unless it is a regular file we can read."""
    try:
        st = src.stat()
    except OSError as exc:
        raise InvalidRequestError(
            f"{src}: {exc.strerror or exc}", hint="name a local file that exists"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidRequestError(f"{src} is not a regular file", hint="copy one file at a time")
    if not os.access(src, os.R_OK):
        raise InvalidRequestError(f"{src}: permission denied", hint="copy a file you can read")
    return st.st_size, st.st_mode & 0o777  # never setuid, setgid or sticky on the hosts


def _octal(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise InvalidRequestError(
            f"--mode {text!r} is not permission bits in octal (setuid, setgid and sticky are never set)",
            hint="e.g. --mode 0644",
        )
    return value


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while data := f.read(UPLOAD_CHUNK):
            h.update(data)
    return h.hexdigest()


async def _pieces(path: Path) -> AsyncGenerator[bytes, None]:
    """The file in pieces of UPLOAD_CHUNK, each read in a thread (a slow disk never blocks)."""
    with path.open("rb") as f:
        while data := await asyncio.to_thread(f.read, UPLOAD_CHUNK):
            yield data


async def _dest_on(gw: Gateway, server: str, dest: str, name: str) -> str:
    """DEST on ``server``: in it when it ends in ``/`` or is a directory there."""
    if dest.endswith("/"):
        return dest + name
    with contextlib.suppress(GtpError):  # missing, unreachable...: the copy itself will say
        if (await gw.executor(server).stat(dest)).type == "dir":
            return posixpath.join(dest, name)
    return dest


# -- fetch -----------------------------------------------------------------------------------------


def fetch(
    ctx: typer.Context,
    target: Target,
    path: Annotated[str, typer.Argument(help="The file on each host")],
    dir: Annotated[Path, typer.Argument(help="Local folder: each host's copy goes to DIR/HOST/PATH")],
    forks: Forks = DEFAULT_FORKS,
    limit: Limit = None,
    yes: Yes = False,
    as_json: Json = False,
) -> None:
    """Fetch PATH from every host of TARGET into DIR/HOST/PATH: binary-safe, written atomically,
    kept only if its sha256 is the one the host computed. Exit 1 if any host failed."""
    from gtp_remote import cli

    inv = cli._inventory(ctx.parent)  # type: ignore[arg-type]
    try:
        rel = _local_part(path)
    except GtpError as exc:
        raise cli._fail(exc) from None

    async def go() -> int:
        async with cli._gateway(inv) as gw:
            principal = cli._owner()
            servers = gw.resolve_target(principal, target, limit)
            rows = {s: Row(s, str(dir / _host_dir(s) / rel)) for s in servers}
            sinks: dict[str, _LocalFile] = {}

            def action(server: str) -> FileDownload:
                sink = sinks[server] = _LocalFile(Path(rows[server].path))
                return FileDownload(path, server=server, limit=UPLOAD_CHUNK, sink=sink.write)

            async def done(row: Row, result: Any) -> None:
                row.bytes, row.sha256 = result.bytes_read, result.sha256
                await sinks[row.server].commit(row.server, result.sha256)
                row.status = "ok"

            try:
                await _fan(gw, principal, rows, action, done, forks, yes, {})
            finally:
                for sink in sinks.values():
                    sink.discard()
        _report(list(rows.values()), as_json, "fetched")
        return 0 if all(r.status == "ok" for r in rows.values()) else 1

    cli._run(go())


def _local_part(path: str) -> Path:
    """PATH below DIR/HOST: its leading ``/`` dropped; ``..`` refused, so nothing lands outside."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or "\x00" in path:
        raise InvalidRequestError(
            f"PATH {path!r} must name a file without '..' (it is kept as DIR/HOST/PATH)",
            hint="name the file by a path without '..', e.g. /etc/hosts",
        )
    return Path(*parts)


def _host_dir(server: str) -> str:
    if server in (".", "..") or "/" in server or "\x00" in server:
        raise InvalidRequestError(f"server name {server!r} cannot name a folder", server=server)
    return server


class _LocalFile:
    """Where one host's file arrives: a temp file beside DIR/HOST/PATH, hashed as it is written,
    renamed into place by ``commit`` only when its sha256 is the host's."""

    def __init__(self, final: Path):
        self.final = final
        self.hash = hashlib.sha256()
        self.tmp: Path | None = None
        self.fd: int | None = None

    async def write(self, data: bytes) -> None:
        try:
            if self.fd is None:
                await asyncio.to_thread(self.final.parent.mkdir, parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(
                    prefix=f".{self.final.name[:40]}.", suffix=".gtp-fetch", dir=self.final.parent
                )
                self.fd, self.tmp = fd, Path(name)
            self.hash.update(data)
            view = memoryview(data)
            while view:
                view = view[await asyncio.to_thread(os.write, self.fd, view) :]
        except OSError as exc:  # a full disk, a file where a folder should be: this host's row fails
            raise LocalWriteError(
                f"cannot write {self.final}: {exc.strerror or exc}", hint="free space, or choose another DIR"
            ) from None

    async def commit(self, server: str, sha256: str | None) -> None:
        if self.fd is None:  # an empty file: no piece arrived
            await self.write(b"")
        got = self.hash.hexdigest()
        if sha256 != got:
            theirs = (
                f"the host's file {sha256}" if sha256 else "the host gave none (the file grew as it was read)"
            )
            raise InvalidRequestError(
                f"{server}: what arrived has sha256 {got}, {theirs}: not kept",
                server=server,
                hint="the file changed on the host while it was read; fetch it again",
            )
        assert self.fd is not None and self.tmp is not None
        # Kept 0600 (mkstemp's): the host's file may be a secret, and its mode is not carried.
        try:
            await asyncio.to_thread(os.fsync, self.fd)
            os.close(self.fd)
            self.fd = None
            os.replace(self.tmp, self.final)
        except OSError as exc:
            raise LocalWriteError(f"cannot write {self.final}: {exc.strerror or exc}") from None
        self.tmp = None

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                self.tmp.unlink()
            self.tmp = None


# -- both: one action per host, one question for all -----------------------------------------------


async def _fan(
    gw: Gateway,
    principal: Principal,
    rows: dict[str, Row],
    action: Callable[[str], Any],
    done: Callable[[Row, Any], Awaitable[None]],
    forks: int,
    yes: bool,
    shown: dict[str, Any],
) -> None:
    """Plan each host's action (a refusal fails that host only), ask once for every host whose
    verdict is confirm, then perform them ``forks`` at a time."""
    from gtp_remote import cli

    context = {"client": "cli"}

    async def plan(server: str) -> Plan | None:
        try:
            return await gw.plan(principal, action(server), context=context)
        except GtpError as exc:
            rows[server].fail(exc)
            return None

    plans = {s: p for s, p in zip(rows, await asyncio.gather(*(plan(s) for s in rows)), strict=True) if p}
    asking = [p for p in plans.values() if p.decision.action == "confirm"]
    answer: tuple[bool, str | None] = (False, None)
    if asking:
        first = asking[0]
        paths = sorted({str(p.path) for p in asking})
        pending = {
            "operation": first.operation,
            "servers": [p.server for p in asking],
            # the terminal shows the path line: what is written goes there, by size and digest
            "path": ", ".join(paths) + "".join(f"\n   {k}: {v}" for k, v in shown.items()),
            **shown,
            "rule": first.decision.rule,
            "reason": first.decision.reason,
        }
        answer = await cli._terminal_approver(yes, principal.name)(pending)

    async def approver(pending: dict[str, Any]) -> tuple[bool, str | None]:
        return answer  # asked once above, for every host that asks

    gate = asyncio.Semaphore(max(forks, 1))

    async def one(server: str, plan: Plan) -> None:
        row = rows[server]
        async with gate:
            started = time.monotonic()
            try:
                await done(row, await gw.perform(plan, approver=approver, context=context))
            except GtpError as exc:
                row.fail(exc)
            row.duration_ms = round((time.monotonic() - started) * 1000, 3)

    await asyncio.gather(*(one(s, p) for s, p in plans.items()))


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _report(rows: list[Row], as_json: bool, verb: str) -> None:
    from gtp_remote import cli

    if as_json:
        out.print_json(json.dumps([r.__dict__ for r in rows]))
        return
    table = Table("server", "status", "bytes", "sha256", "time", "path", box=None, header_style="bold")
    colours = {"ok": "green", "failed": "red", "unreachable": "yellow"}
    for r in rows:
        what = str(GtpError(r.error["message"], hint=r.error.get("hint"))) if r.error else r.path
        table.add_row(
            r.server,
            f"[{colours[r.status]}]{r.status}[/]",
            str(r.bytes) if r.status == "ok" else "",
            (r.sha256 or "")[:12],
            cli._ms(r.duration_ms),
            escape(what),
        )
    out.print(table)
    ok = sum(r.status == "ok" for r in rows)
    unreachable = sum(r.status == "unreachable" for r in rows)
    failed = len(rows) - ok - unreachable
    out.print(f"{verb} on {ok} of {len(rows)} hosts, {failed} failed, {unreachable} unreachable")
