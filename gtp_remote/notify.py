"""Telling people about jobs: webhooks with Slack-compatible JSON, for an action that awaits
approval and, where asked, for jobs that failed or succeeded.

Delivery never touches the job: each event is posted from a task of its own, retried with
backoff (1, 2, 4, 8 s) on a connection error, a timeout or a 5xx or 429 answer, and given up
after five attempts. Each delivery that finally fails, and each given up, is audited; one that
succeeds is not (the job's own events say what happened). A webhook URL is often a secret
(Slack's is): it can come from an environment variable, and it is never written to the audit
log, only its host.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from gtp_remote.config import WebhookConfig
from gtp_remote.jobs import Job

log = logging.getLogger("gtp_remote.notify")
ATTEMPTS = 5
BACKOFF = 1.0  # seconds before the second attempt, doubling
Audit = Callable[[dict[str, Any]], Awaitable[None]]


class Notifier:
    def __init__(self, webhooks: list[WebhookConfig], base_url: Callable[[], str | None], audit: Audit):
        self.webhooks = webhooks
        self.base_url = base_url
        self.audit = audit
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def job_event(self, job: Job, event: str) -> None:
        """A job changed (``awaiting_approval``, ``failed``, ``succeeded``...): post it to every
        webhook that asked for it, in the background."""
        for hook in self.webhooks:
            if event in hook.events:
                task = asyncio.get_running_loop().create_task(self._deliver(hook, self.payload(job, event)))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def payload(self, job: Job, event: str) -> dict[str, Any]:
        """Slack's incoming-webhook format (``text`` and ``blocks``), and the facts as fields."""
        pending = job.pending or {}
        where = ", ".join(pending.get("servers") or [pending.get("server") or job.server or "?"])
        what = pending.get("command") or pending.get("path") or pending.get("code") or job.operation
        base = self.base_url()
        link = f"{base}/ui/jobs/{job.id}" if base else None  # the console's page of the job
        if event == "awaiting_approval":
            title = f"gtp-remote: {pending.get('principal', job.token)} asks to run this on {where}"
            detail = f"rule {pending.get('rule')!s} ({pending.get('layer')}): {pending.get('reason', '')}"
        else:
            title = f"gtp-remote: job {job.id} ({job.operation} on {job.server}) {event}"
            detail = (job.error or {}).get("message", "") if event == "failed" else ""
        text = f"{title}\n{str(what)[:2000]}\n{detail}".strip() + (f"\n{link}" if link else "")
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": _escape(title)}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "```" + _escape(str(what)[:2000]) + "```"},
            },
        ]
        if detail:
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(detail[:1000])}]}
            )
        if link:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|Open job {job.id}>"}}
            )
        return {
            "text": text,
            "blocks": blocks,
            "event": event,
            "job_id": job.id,
            "server": job.server,
            "token": job.token,
            "operation": job.operation,
            "pending_action": pending or None,
            "link": link,
        }

    async def _deliver(self, hook: WebhookConfig, payload: dict[str, Any]) -> None:
        url = hook.url or os.environ.get(hook.url_env or "", "")
        host = urlsplit(url).hostname or "?"
        problem = "no URL: the variable it names is unset" if not url else ""
        attempts = 0
        for attempt in range(ATTEMPTS if url else 0):
            attempts += 1
            if attempt:
                await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                async with self._client().post(
                    url, json=payload, timeout=aiohttp.ClientTimeout(total=hook.timeout)
                ) as r:
                    if r.status < 300:
                        return
                    problem = f"answered {r.status}"
                    if r.status < 500 and r.status != 429:
                        break  # the receiver refuses it: asking again will not change that
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"[:300]
        log.warning("webhook to %s: %s (job %s, %s)", host, problem, payload["job_id"], payload["event"])
        await self.audit(
            {
                "kind": "notification",
                "outcome": "failed",
                "webhook_host": host,
                "event": payload["event"],
                "job_id": payload["job_id"],
                "error": problem,
                "attempts": attempts,
            }
        )

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, so a command cannot format or link the message."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
