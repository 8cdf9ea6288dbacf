"""The HTTP API's composition root and shared state: the governed core, jobs, audit, limits.

:class:`Api` builds what the handlers share: the audit log (handed to the gateway, so every
action it judges and runs is recorded), the job store, the LLM service over the gateway, the rate
limiters, and each token's current server. Handlers parse, call the gateway through
:meth:`Api.run`, and shape the answer to the client's budgets: 45 seconds (long work and actions
waiting for approval answer 202 with a job id) and 100,000 characters (``budget``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gtp_remote.api.errors import STATUS
from gtp_remote.api.ratelimit import RateLimiter
from gtp_remote.audit import AuditLog, AuditWriter
from gtp_remote.gateway import Approver, Gateway
from gtp_remote.jobs import Job, JobManager, JobStore
from gtp_remote.llm.service import LLMService
from gtp_remote.metrics import Metrics
from gtp_remote.notify import Notifier
from gtp_remote.statelock import StateLock
from gtp_remote.tokens import Authenticator

if TYPE_CHECKING:
    from gtp_remote.api.operations import Prepared

Shape = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Meta:
    """Where a request came from, for its jobs and audit events: its id, and the client (an
    address, or an MCP client's name)."""

    request_id: str
    client: str | None

    def context(self, job: Job | None = None) -> dict[str, Any]:
        """What an action's audit event carries from its request."""
        return {"request_id": self.request_id} | ({"job_id": job.id} if job is not None else {})


class Api:
    """The state the handlers share: the core, the callers' choices, jobs, audit."""

    def __init__(self, gateway: Gateway, auth: Authenticator):
        self.gateway = gateway
        self.auth = auth
        self.settings = gateway.settings
        gateway.hidden_env |= auth.env_names()
        state = self.settings.state_dir
        self.state_lock = StateLock(state)
        self.state_lock.acquire()  # before the job store: a second server must not touch its jobs
        self.audit = AuditLog(state / "audit.jsonl", secrets=auth.secrets_for_redaction())
        self.audit_writer = AuditWriter(self.audit)
        gateway.audit = self.record
        gateway.audit_check = self.audit.check_writable
        self.llm = LLMService(gateway)
        self.store = JobStore(state / "jobs.sqlite3")
        self.store.mark_interrupted()
        self.base_url: str | None = self.settings.public_url  # where clients reach us (see create_app)
        self.notifier = Notifier(gateway.inventory.webhooks, lambda: self.base_url, self.record)
        #: Told when a job starts, waits for approval, or ends: the notifier, the console's streams.
        self.job_listeners: list[Callable[[Job, str], None]] = [self.notifier.job_event]
        self.jobs = JobManager(self.store, on_finish=self._audit_job, on_event=self._job_event)
        self.limiter = RateLimiter(self.settings.rate, self.settings.burst)
        # Refused tokens, per client address: past this a client is answered 429 and its refused
        # requests are counted, one audit line per address a second, so nobody without a token
        # can keep the disk busy with fsyncs. (Tokens are long and random: this is not what
        # stops guessing them.)
        self.refused = RateLimiter(2, 20, what="requests with a wrong or missing token from this address")
        self._refused_counts: dict[str, int] = {}
        self._refused_timer: asyncio.TimerHandle | None = None
        self.current: dict[str, str] = {}  # token name -> current server: per caller, never global
        self.health: dict[str, dict[str, Any]] = {}
        self.metrics = Metrics()
        self.metrics.watch(self._live_state)
        self.model_health: dict[str, dict[str, Any]] = {}

    # -- audit ------------------------------------------------------------------------------------

    async def record(self, event: dict[str, Any]) -> None:
        """Append to the audit log; returns once the event is on disk (shared fsyncs, see AuditWriter)."""
        started = time.monotonic()
        await self.audit_writer.record(event)
        self.metrics.audit_seconds.observe(time.monotonic() - started)
        self.metrics.observe(event)

    def _job_event(self, job: Job, event: str) -> None:
        for listener in self.job_listeners:
            listener(job, event)

    def _live_state(self) -> dict[str, Any]:
        """What the metrics read at each scrape: the pools, and the jobs running or waiting."""
        live = self.jobs.live()
        counts: dict[str, int] = {}
        for job in live:
            counts[job.status] = counts.get(job.status, 0) + 1
        since = [job.waiting_since for job in live if job.waiting_since is not None]
        return {
            "pools": self.gateway.pools(),
            "jobs": counts,
            "oldest_waiting": min(since) if since else None,
        }

    def job_audit(self, job: Job) -> Callable[[dict[str, Any]], Awaitable[None]]:
        """How a job's action is audited. When a request is waiting to answer with the outcome,
        the event is only queued: that request's own event, written before its response goes
        out, takes it to disk in the same write and fsync (see AuditWriter.add)."""

        async def audit(event: dict[str, Any]) -> None:
            if job.waiting:
                self.audit_writer.add(event)
                self.metrics.observe(event)
            else:
                await self.record(event)

        return audit

    def count_refused(self, client: str) -> None:
        """Count a refused request over its address's limit: it gets no audit line of its own;
        within a second, one line per address says how many there were."""
        self._refused_counts[client] = self._refused_counts.get(client, 0) + 1
        if self._refused_timer is None:
            self._refused_timer = asyncio.get_running_loop().call_later(1.0, self.flush_refused)

    def flush_refused(self) -> None:
        """Queue the counted refusals' lines (also at shutdown, so none is lost)."""
        if self._refused_timer is not None:
            self._refused_timer.cancel()
            self._refused_timer = None
        counts, self._refused_counts = self._refused_counts, {}
        for client, count in counts.items():
            self.audit_writer.add(
                {"kind": "request", "token": None, "client": client, "status": 429, "refused_count": count}
            )

    async def _audit_job(self, job: Job) -> None:
        """A finished delegation's event (its tool calls are the gateway's own events)."""
        self.metrics.jobs_finished.labels(job.status).inc()
        if job.operation != "execute-llm":
            return
        result = job.result or {}
        event = {
            "kind": "llm",
            "token": job.token,
            "request_id": job.request.get("_request_id"),
            "client": job.request.get("_client"),
            "job_id": job.id,
            "server": result.get("server") or job.server,
            "specialist": job.request.get("provider"),
            "provider": result.get("provider"),
            "model": result.get("model"),
            "instructions": job.request.get("instructions"),
            "steps": len(result.get("steps") or []),
            "usage": result.get("usage"),
            "duration_ms": result.get("duration_ms"),
            "stop_reason": result.get("stop_reason"),
            "outcome": job.status,
            "error": job.error or result.get("error"),
        }
        if job.waiting:
            self.audit_writer.add(event)
        else:
            await self.record(event)

    # -- running actions --------------------------------------------------------------------------

    async def start(self, prepared: Prepared, meta: Meta, *, approver: Approver | None = None) -> Job:
        """Run a prepared action as a job. When it needs approval, ``approver`` decides (an MCP
        client's elicitation), or else the job waits as ``awaiting_approval`` for a person."""
        plan = prepared.plan

        async def work(job: Job) -> dict[str, Any]:
            result = await self.gateway.perform(
                plan,
                approver=approver or self.jobs.approver(job),
                on_output=job.on_output,
                context=meta.context(job),
                audit=self.job_audit(job),
            )
            return prepared.shape(result)

        return await self.jobs.start(
            token=plan.principal.name,
            operation=prepared.job_name,
            server=plan.server if not plan.fan_out else ",".join(plan.servers)[:2000],
            request={**prepared.record, "_request_id": meta.request_id, "_client": meta.client},
            work=work,
        )

    async def shutdown(self) -> None:
        await self.jobs.shutdown()
        await self.notifier.close()
        await self.llm.close()
        await self.gateway.close()
        self.flush_refused()
        await self.audit_writer.close()
        self.store.close()
        self.state_lock.release()


API = web.AppKey("api", Api)


def status_for_code(code: str | None) -> int:
    for cls, status in STATUS:
        if cls.code == code:
            return status
    return 502
