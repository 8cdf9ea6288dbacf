"""Jobs: every run is one, so no result is ever lost to a client's time budget.

ChatGPT gives an action 45 seconds and never polls by itself. A request therefore waits for its
job only up to ``wait_seconds``; if the work is not done it answers with the job id and the tail
of the output so far, and the caller asks for the job later. Jobs live in SQLite in the state
folder: after a restart finished jobs are still readable, and a job that was running when the
process died is marked ``interrupted`` (its process was killed with the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gtp_remote.errors import (
    ApprovalStaleError,
    ConflictError,
    GtpError,
    InvalidRequestError,
    NotFoundError,
    SelfApprovalError,
)
from gtp_remote.executors.base import Output
from gtp_remote.executors.output import OutputBuffer
from gtp_remote.settings import private_file

log = logging.getLogger("gtp_remote.jobs")

Status = Literal[
    "running", "awaiting_approval", "succeeded", "failed", "rejected", "cancelled", "interrupted"
]
FINISHED = ("succeeded", "failed", "rejected", "cancelled", "interrupted")
STATUSES = ("running", "awaiting_approval", *FINISHED)  # every status a job can have
TAIL_BYTES = 4000

SCHEMA = """
create table if not exists jobs (
    id text primary key,
    token text not null,
    operation text not null,
    server text,
    status text not null,
    request text not null,
    result text,
    error text,
    output_tail text not null default '',
    created_at real not null,
    finished_at real,
    pending text,
    approval text
);
create index if not exists jobs_token on jobs (token, created_at);
"""


@dataclass
class Job:
    id: str
    token: str
    operation: str
    server: str | None
    request: dict[str, Any]
    status: Status = "running"
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    tail: OutputBuffer = field(default_factory=lambda: OutputBuffer(TAIL_BYTES))
    task: asyncio.Task[None] | None = None
    saved_tail: str = ""
    pending: dict[str, Any] | None = None  # the action waiting for approval
    approval: dict[str, Any] | None = None  # the last decision on it: approved or rejected, by, at
    decision: asyncio.Future[tuple[bool, str | None]] | None = None
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    listeners: list[asyncio.Queue[tuple[str, dict[str, Any]]]] = field(default_factory=list)
    waiting: int = 0  # requests inside JobManager.wait, ready to answer with the outcome
    waiting_since: float | None = None  # when it began to wait for approval (for the metrics)

    @property
    def output_tail(self) -> str:
        text = self.tail.text() if self.tail.total else self.saved_tail
        return text[-TAIL_BYTES:]

    def on_output(self, event: Output) -> None:
        self.tail.add(event.text.encode())

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Hand an event to whoever follows the job live (an SSE response)."""
        for queue in self.listeners:
            queue.put_nowait((kind, data))

    def view(self) -> dict[str, Any]:
        """The job as the API shows it."""
        return {
            "job_id": self.id,
            "status": self.status,
            "operation": self.operation,
            "server": self.server,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at) if self.finished_at else None,
            "output_tail": self.output_tail if self.status in ("running", "awaiting_approval") else None,
            "pending_action": self.pending if self.status == "awaiting_approval" else None,
            "approval": self.approval,
            "result": self.result,
            "error": self.error,
        }


#: What of an action waiting for approval is kept on disk: what it is and why it waits. Not the
#: values of its environment, a write's content, a patch's diff or a specialist's arguments:
#: they are often secrets (a password in PGPASSWORD, a key written to a file). The live job
#: shows them to those who may see it; a stored job never waits again (after a restart it is
#: interrupted), so nothing needs them back. A whitelist: a field added later is not kept until
#: someone decides it may be.
_STORED_PENDING = (
    "id",
    "operation",
    "principal",
    "server",
    "servers",
    "servers_needing_approval",
    "command",
    "cwd",
    "language",
    "code",
    "path",
    "mode",
    "dry_run",
    "offset",
    "limit",
    "recursive",
    "specialist",
    "step",
    "tool",
    "rule",
    "layer",
    "part",
    "reason",
    "also_asks",
)


@dataclass(frozen=True)
class JobFilter:
    """Which jobs a listing shows: by status, a server (one of a fan-out's too), token, kind."""

    status: str | None = None
    server: str | None = None
    token: str | None = None
    kind: str | None = None  # the operation: execute-shell, execute-llm, file-write...


def storable(pending: dict[str, Any]) -> dict[str, Any]:
    """``pending`` as it may be stored: environment names without values, and a write's
    content or a patch's diff as its length and SHA-256 (see ``_STORED_PENDING``)."""
    out = {k: pending[k] for k in _STORED_PENDING if k in pending}
    names = sorted({*(pending.get("env") or {}), *(pending.get("env_safe") or [])})
    if names:
        out["env"] = names
    for key in ("content", "diff"):
        text = pending.get(key)
        if isinstance(text, str):
            out[f"{key}_chars"] = len(text)
            out[f"{key}_sha256"] = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return out


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


CHECKPOINT_EVERY = 200  # row writes between two WAL checkpoints
SAVE_RETRY_SECONDS = 1.0  # a finished job the store refused (disk full) is saved again this often


class JobStore:
    """SQLite persistence.

    A row write runs inline, on the event loop: in WAL mode with synchronous=normal it appends
    to the WAL without an fsync (~30 us), where handing it to a worker thread cost ~0.3 ms of
    CPU per write in thread wake-ups and GIL hand-offs (server CPU per warm execute-shell 3.0 ->
    2.4 ms). The one slow part of a write, the checkpoint that copies the WAL into the database
    and fsyncs, is taken off the writer (``wal_autocheckpoint=0``) and run every
    ``CHECKPOINT_EVERY`` writes in a worker thread on a second connection, which also serves
    the reads. A power cut may lose the last job updates, never corrupt the database.
    """

    def __init__(self, path: Path):
        private_file(path)  # SQLite gives its -wal and -shm files the database's mode
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("pragma synchronous=normal")
        self._db.execute("pragma wal_autocheckpoint=0")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("pragma table_info(jobs)")}
        if "pending" not in columns:  # a state folder from before approvals existed
            self._db.execute("alter table jobs add column pending text")
        if "approval" not in columns:  # ... or before the approver's name was kept
            self._db.execute("alter table jobs add column approval text")
        self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = asyncio.Lock()  # the reader connection: one worker thread at a time
        self._writes = 0
        self._checkpointing: asyncio.Task[None] | None = None

    def mark_interrupted(self) -> int:
        """At start: whatever was running belonged to a process that is gone."""
        cur = self._db.execute(
            "update jobs set status='interrupted', finished_at=?, "
            "error=json_object('code','interrupted','message','the server restarted while the job ran') "
            "where status in ('running', 'awaiting_approval')",
            (time.time(),),
        )
        return cur.rowcount

    def save(self, job: Job) -> None:
        """Persist the job as it is now (inline: see the class docstring)."""
        row = (
            job.id,
            job.token,
            job.operation,
            job.server,
            job.status,
            json.dumps(job.request),
            json.dumps(job.result) if job.result is not None else None,
            json.dumps(job.error) if job.error is not None else None,
            job.output_tail,
            job.created_at,
            job.finished_at,
            json.dumps(storable(job.pending)) if job.pending is not None else None,
            json.dumps(job.approval) if job.approval is not None else None,
        )
        self._db.execute(
            "insert or replace into jobs (id, token, operation, server, status, request, result, error, "
            "output_tail, created_at, finished_at, pending, approval) values (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            row,
        )
        self._writes += 1
        if self._writes >= CHECKPOINT_EVERY and self._checkpointing is None:
            self._writes = 0
            with contextlib.suppress(RuntimeError):  # no running loop (a synchronous caller)
                self._checkpointing = asyncio.ensure_future(self._checkpoint())

    async def _checkpoint(self) -> None:
        try:
            async with self._lock:
                await asyncio.to_thread(self._reader.execute, "pragma wal_checkpoint(passive)")
        except sqlite3.Error as exc:  # the WAL just grows until the next one: say so, carry on
            log.warning("job store: WAL checkpoint failed: %s", exc)
        finally:
            self._checkpointing = None

    async def load(self, job_id: str) -> Job | None:
        async with self._lock:
            rows = await asyncio.to_thread(
                lambda: self._reader.execute(f"select {_COLUMNS} from jobs where id=?", (job_id,)).fetchall()
            )
        return _job(rows[0]) if rows else None

    async def recent(self, token: str | None, limit: int, filters: JobFilter | None = None) -> list[Job]:
        """The newest jobs of ``token`` (None: every token's) that match ``filters``."""
        clauses, args = [], []
        if token:
            clauses.append("token=?")
            args.append(token)
        if filters is not None:
            for column, value in (
                ("status", filters.status),
                ("operation", filters.kind),
                ("token", filters.token),
            ):
                if value:
                    clauses.append(f"{column}=?")
                    args.append(value)
            if filters.server:  # a fan-out's server column lists its hosts, comma-separated
                clauses.append("instr(',' || coalesce(server, '') || ',', ',' || ? || ',') > 0")
                args.append(filters.server)
        where = f"where {' and '.join(clauses)}" if clauses else ""
        query = f"select {_COLUMNS} from jobs {where} order by created_at desc limit ?"
        args.append(limit)
        async with self._lock:
            rows = await asyncio.to_thread(lambda: self._reader.execute(query, args).fetchall())
        return [_job(r) for r in rows]

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # leave a short WAL behind, all in the database
            self._db.execute("pragma wal_checkpoint(truncate)")
        self._reader.close()
        self._db.close()


_COLUMNS = (
    "id, token, operation, server, status, request, result, error, output_tail, created_at, finished_at, "
    "pending, approval"
)


def _job(row: tuple) -> Job:
    (
        job_id,
        token,
        operation,
        server,
        status,
        request,
        result,
        error,
        tail,
        created,
        finished,
        pending,
        approval,
    ) = row
    return Job(
        id=job_id,
        token=token,
        operation=operation,
        server=server,
        request=json.loads(request),
        status=status,
        result=json.loads(result) if result else None,
        error=json.loads(error) if error else None,
        created_at=created,
        finished_at=finished,
        saved_tail=tail or "",
        pending=json.loads(pending) if pending else None,
        approval=json.loads(approval) if approval else None,
    )


Work = Callable[[Job], Awaitable[dict[str, Any]]]


class JobManager:
    """Starts jobs, lets requests wait on them for a while, cancels them, remembers them."""

    def __init__(
        self,
        store: JobStore,
        on_finish: Callable[[Job], Awaitable[None]] | None = None,
        on_event: Callable[[Job, str], None] | None = None,
    ):
        self.store = store
        self._live: dict[str, Job] = {}
        self._on_finish = on_finish
        self._on_event = on_event  # told when a job starts to wait for approval, and when it ends
        self._unsaved: dict[str, Job] = {}  # finished, but the store refused the row (disk full)
        self._retrying: asyncio.Task[None] | None = None

    async def start(
        self, *, token: str, operation: str, server: str | None, request: dict[str, Any], work: Work
    ) -> Job:
        job = Job(id=secrets.token_hex(8), token=token, operation=operation, server=server, request=request)
        self.store.save(job)
        self._live[job.id] = job
        job.task = asyncio.ensure_future(self._run(job, work))
        if self._on_event is not None:
            self._on_event(job, "running")
        return job

    async def _run(self, job: Job, work: Work) -> None:
        try:
            job.result = await work(job)
            job.status = "failed" if job.result.get("ok") is False else "succeeded"
        except asyncio.CancelledError:
            job.status = job.status if job.status == "interrupted" else "cancelled"
            job.error = job.error or {"code": "cancelled", "message": "the job was cancelled"}
        except GtpError as exc:
            job.status, job.error = ("rejected" if exc.code == "rejected" else "failed"), exc.to_dict()
        except Exception as exc:
            job.status = "failed"
            job.error = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
        finally:
            job.finished_at = time.time()
            await asyncio.shield(self._finish(job))

    async def _finish(self, job: Job) -> None:
        saved = False
        try:
            saved = self._save_finished(job)
            if self._on_event is not None:
                self._on_event(job, job.status)
            if self._on_finish is not None:
                await self._on_finish(job)
        finally:
            if saved:
                self._live.pop(job.id, None)

    def _save_finished(self, job: Job) -> bool:
        """Save a finished job; if the store refuses (its disk is full), keep the job live, where
        GET /jobs finds it, and save it once writes succeed again. Dropping it would leave its row
        saying "running" until a restart called it interrupted, its result lost."""
        try:
            self.store.save(job)
            return True
        except sqlite3.Error as exc:
            log.warning("job store: cannot save finished job %s (%s); kept in memory, retrying", job.id, exc)
            self._unsaved[job.id] = job
            if self._retrying is None or self._retrying.done():
                self._retrying = asyncio.ensure_future(self._retry_saves())
            return False

    async def _retry_saves(self) -> None:
        while self._unsaved:
            await asyncio.sleep(SAVE_RETRY_SECONDS)
            self._save_unsaved()

    def _save_unsaved(self) -> None:
        for job_id, job in list(self._unsaved.items()):
            try:
                self.store.save(job)
            except sqlite3.Error:
                return
            del self._unsaved[job_id]
            if self._live.get(job_id) is job:
                del self._live[job_id]

    async def wait(self, job: Job, seconds: float) -> bool:
        """Wait up to ``seconds`` for the job to finish or to pause for approval; True if finished."""
        assert job.task is not None
        pause = asyncio.ensure_future(job.paused.wait())
        job.waiting += 1
        try:
            await asyncio.wait({job.task, pause}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            job.waiting -= 1
            pause.cancel()
        return job.task.done()

    def approver(self, job: Job):  # type: ignore[no-untyped-def]
        """The agent's way to ask a human: the job pauses as ``awaiting_approval`` until decided."""

        async def ask(pending: dict[str, Any]) -> tuple[bool, str | None]:
            job.decision = asyncio.get_running_loop().create_future()
            job.status, job.pending = "awaiting_approval", pending
            job.waiting_since = time.time()
            self.store.save(job)
            if self._on_event is not None:
                self._on_event(job, "awaiting_approval")
            job.paused.set()
            try:
                return await job.decision
            finally:
                job.paused.clear()
                job.pending, job.decision, job.waiting_since = None, None, None
                if job.status == "awaiting_approval":  # not when shutdown() marked it interrupted
                    job.status = "running"
                    self.store.save(job)

        return ask

    def check_decider(self, job: Job, by: str, approve: bool) -> None:
        """Whether ``by`` may decide on ``job`` now, before it says on which action.

        The asker may not approve its own action: the human in the loop would be the asker
        itself (a token with every permission, or a model holding one). It may reject it: that
        only stops something. The terminal's approver (the CLI) is a human and not asked here."""
        if approve and hmac.compare_digest(by.encode(), job.token.encode()):
            raise SelfApprovalError(
                f"'{by}' asked for this action itself, so it may not approve it",
                hint="a second person decides: another token with the approve permission "
                "(or run it from the CLI, which asks at its terminal)",
            )
        if job.status != "awaiting_approval" or job.decision is None or job.decision.done():
            raise ConflictError(
                f"job '{job.id}' is {job.status}, not awaiting approval",
                hint="GET /jobs/{id} shows its status and pending_action",
            )

    async def decide(
        self,
        job_id: str,
        token: str | None,
        approve: bool,
        by: str,
        pending_id: str | None,
        reason: str | None = None,
    ) -> Job:
        """Approve or reject the action a job waits on, named by the ``id`` of the pending action
        the approver was shown: a job may ask again (a specialist's next tool call) between the
        moment someone read it and the moment they decide, and a decision applies only to what
        they saw."""
        job = await self.get(job_id, token)
        self.check_decider(job, by, approve)
        if not pending_id:
            raise InvalidRequestError(
                "pending_id: required: the id of the pending_action you decide on",
                hint="GET /jobs/{id} shows the pending_action and its id",
            )
        current = job.pending or {}
        if not hmac.compare_digest(pending_id.encode(), str(current.get("id", "")).encode()):
            raise ApprovalStaleError(
                f"job '{job.id}' no longer waits on action '{pending_id[:64]}': it waits on another now",
                pending_action=current,
                hint="read the pending_action in this answer; decide on it with its id",
            )
        assert job.decision is not None
        job.decision.set_result((approve, by))
        job.approval = {
            "decision": "approved" if approve else "rejected",
            "by": by,
            "at": _iso(time.time()),
            "pending_id": pending_id,
        } | ({"reason": reason} if reason else {})
        await asyncio.sleep(0)  # let the job take the decision before answering
        return job

    async def get(self, job_id: str, token: str | None) -> Job:
        """The job, if ``token`` may see it (None: any token's)."""
        job = self._live.get(job_id) or await self.store.load(job_id)
        if job is None or (token is not None and job.token != token):
            raise NotFoundError(f"no job '{job_id}'", hint="GET /jobs lists your jobs")
        return job

    def live(self) -> list[Job]:
        """The jobs running or waiting now."""
        return list(self._live.values())

    async def list(self, token: str | None, limit: int = 50, filters: JobFilter | None = None) -> list[Job]:
        stored = await self.store.recent(token, limit, filters)
        return [self._live.get(j.id, j) for j in stored]

    async def cancel(self, job_id: str, token: str | None) -> Job:
        job = await self.get(job_id, token)
        if job.status in FINISHED or job.task is None or job.task.done():
            raise ConflictError(
                f"job '{job_id}' is already {job.status}", hint="only running jobs can be cancelled"
            )
        job.task.cancel()
        await asyncio.wait({job.task})
        return job

    async def shutdown(self) -> None:
        """Graceful stop: kill what runs (remote processes included) and record it as interrupted."""
        jobs = list(self._live.values())
        for job in jobs:
            if job.finished_at is not None:  # finishing: it saves and audits its own outcome
                continue
            job.status = "interrupted"
            job.error = {"code": "interrupted", "message": "the server shut down while the job ran"}
            if job.task is not None:
                job.task.cancel()
        await asyncio.gather(*(j.task for j in jobs if j.task), return_exceptions=True)
        if self._retrying is not None:
            self._retrying.cancel()
        self._save_unsaved()  # a last try: a job still unsaved reads "interrupted" after a restart
