"""Prometheus metrics, with prometheus-client: what the gateway did and what it holds now.

What it did comes from the one stream every action already passes through, the audit events
(:meth:`Metrics.observe`): actions by server, operation and outcome with their durations, policy
verdicts, model calls with their latency and tokens, finished jobs. HTTP requests are counted by
route template (never the raw path: job ids would make a series each) in a middleware, and audit
writes are timed where they are written. What it holds now (pooled connections, channels,
reconnects, jobs running or waiting, the oldest approval's age) is read when Prometheus scrapes,
by a collector over the live state, so nothing has to be kept in step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
SLOW = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "gtp_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "gtp_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=FAST,
            registry=r,
        )
        self.actions = Counter(
            "gtp_actions",
            "Governed actions by server, operation and outcome (ok, failed, denied, rejected...)",
            ["server", "operation", "outcome"],
            registry=r,
        )
        self.action_seconds = Histogram(
            "gtp_action_duration_seconds",
            "How long an action ran on its server",
            ["server", "operation"],
            buckets=SLOW,
            registry=r,
        )
        self.decisions = Counter("gtp_policy_decisions", "Policy verdicts by action", ["action"], registry=r)
        self.model_calls = Counter(
            "gtp_model_calls", "Model calls by provider and outcome", ["provider", "outcome"], registry=r
        )
        self.model_seconds = Histogram(
            "gtp_model_call_duration_seconds", "Model call latency", ["provider"], buckets=SLOW, registry=r
        )
        self.model_tokens = Counter(
            "gtp_model_tokens",
            "Tokens by provider and kind (prompt, completion)",
            ["provider", "kind"],
            registry=r,
        )
        self.jobs_finished = Counter(
            "gtp_jobs_finished", "Finished jobs by final status", ["status"], registry=r
        )
        self.audit_seconds = Histogram(
            "gtp_audit_write_duration_seconds",
            "Time to write an audit event to disk",
            buckets=FAST,
            registry=r,
        )

    def watch(self, live: Callable[[], dict[str, Any]]) -> None:
        """Read the live state (``live()``: see :class:`_Live`) at every scrape."""
        self.registry.register(_Live(live))

    def observe(self, event: dict[str, Any]) -> None:
        """Count an audit event: an action's outcome, its policy verdict, a model call."""
        kind = event.get("kind")
        if kind in ("command", "file"):
            server = "fan-out" if event.get("servers") else str(event.get("server") or "")
            operation = str(event.get("operation") or kind)
            self.actions.labels(server, operation, str(event.get("outcome"))).inc()
            if isinstance(event.get("duration_ms"), int | float):
                self.action_seconds.labels(server, operation).observe(event["duration_ms"] / 1000)
            policy = event.get("policy")
            if isinstance(policy, dict) and policy.get("action"):
                self.decisions.labels(str(policy["action"])).inc()
        elif kind == "model_call":
            provider = str(event.get("provider_kind") or event.get("provider") or "")
            self.model_calls.labels(provider, str(event.get("outcome"))).inc()
            if isinstance(event.get("duration_ms"), int | float):
                self.model_seconds.labels(provider).observe(event["duration_ms"] / 1000)
            for part in ("prompt", "completion"):
                if isinstance(event.get(f"{part}_tokens"), int):
                    self.model_tokens.labels(provider, part).inc(event[f"{part}_tokens"])

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Live(Collector):
    """Gauges read from the gateway as it is now."""

    def __init__(self, live: Callable[[], dict[str, Any]]):
        self.live = live

    def collect(self) -> Iterator[Metric]:
        state = self.live()
        connected = GaugeMetricFamily(
            "gtp_pool_connected", "1 when the server's pooled connection is up", labels=["server"]
        )
        channels = GaugeMetricFamily(
            "gtp_pool_channels", "Session channels on the pooled connection", labels=["server", "state"]
        )
        reconnects = CounterMetricFamily(
            "gtp_pool_reconnects", "Connections opened after the first", labels=["server"]
        )
        for server, pool in sorted(state["pools"].items()):
            connected.add_metric([server], 1 if pool["connected"] else 0)
            channels.add_metric([server, "busy"], pool["busy"])
            channels.add_metric([server, "idle"], pool["idle"])
            reconnects.add_metric([server], pool["reconnects"])
        jobs = GaugeMetricFamily("gtp_jobs", "Jobs in progress by state", labels=["state"])
        for status in ("running", "awaiting_approval"):
            jobs.add_metric([status], state["jobs"].get(status, 0))
        waiting = GaugeMetricFamily("gtp_approvals_waiting", "Actions waiting for a person to approve them")
        waiting.add_metric([], state["jobs"].get("awaiting_approval", 0))
        oldest = GaugeMetricFamily(
            "gtp_approval_oldest_age_seconds", "How long the oldest action waiting for approval has waited"
        )
        oldest.add_metric([], time.time() - state["oldest_waiting"] if state["oldest_waiting"] else 0)
        yield from (connected, channels, reconnects, jobs, waiting, oldest)
