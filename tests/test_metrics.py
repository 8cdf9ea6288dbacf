"""GET /metrics on the bed: prometheus-client's own parser reads it, its counters move as
requests are made, a token without the permission is refused, and the Grafana dashboard in
docs/ is a valid dashboard model whose every query names a metric the gateway exports."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest
from grafana_foundation_sdk.models.dashboard import Dashboard
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.test_mcp import SANDBOX, SECRETS, Served, Setup, served, setup  # noqa: F401 - fixtures

pytestmark = pytest.mark.bed


async def families(served: Served) -> set[str]:
    """The names of the metric families /metrics declares (with or without samples yet)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{served.base}/metrics", headers={"Authorization": f"Bearer {SECRETS['boss']}"}) as r,
    ):
        return {family.name for family in text_string_to_metric_families(await r.text())}


async def scrape(served: Served, token: str = "boss") -> dict[tuple[str, tuple], float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{served.base}/metrics", headers={"Authorization": f"Bearer {SECRETS[token]}"}) as r,
    ):
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_parse_and_move(setup: Setup, served: Served, scripted: Any):
    before = await scrape(served)
    status, _ = await served.rest(
        "POST", "/command/execute-shell", "boss", {"command": "hostname", "server": "db"}
    )
    assert status == 200
    status, _ = await served.rest(
        "POST", "/command/execute-shell", "agent", {"command": "curl x", "server": "code"}
    )
    assert status == 403
    status, pending = await served.rest(
        "POST",
        "/command/execute-shell",
        "agent",
        {"command": f"touch {SANDBOX}/m", "server": "db", "wait_seconds": 0},
    )
    assert status == 202 and pending["status"] == "awaiting_approval"
    scripted["db"].script({"content": "fine"})
    status, answer = await served.rest(
        "POST", "/command/execute-llm", "boss", {"instructions": "say fine", "provider": "db"}
    )
    assert status == 200 and answer["answer"] == "fine"
    await asyncio.sleep(1.1)
    after = await scrape(served)

    route = {"route": "/command/execute-shell", "method": "POST"}
    assert (
        value(after, "gtp_http_requests_total", **route, status="200")
        - value(before, "gtp_http_requests_total", **route, status="200")
        == 1
    )
    assert value(after, "gtp_http_requests_total", **route, status="403") >= 1
    assert value(after, "gtp_http_request_duration_seconds_count", **route) >= 3
    assert value(after, "gtp_actions_total", server="db", operation="execute-shell", outcome="ok") >= 1
    assert value(after, "gtp_actions_total", server="code", operation="execute-shell", outcome="denied") >= 1
    assert value(after, "gtp_action_duration_seconds_count", server="db", operation="execute-shell") >= 1
    assert value(after, "gtp_policy_decisions_total", action="deny") >= 1
    assert value(after, "gtp_policy_decisions_total", action="allow") >= 1
    assert value(after, "gtp_pool_connected", server="db") == 1
    assert value(after, "gtp_approvals_waiting") == 1
    assert value(after, "gtp_approval_oldest_age_seconds") >= 1
    assert value(after, "gtp_jobs", state="awaiting_approval") == 1
    assert value(after, "gtp_model_calls_total", provider="ollama", outcome="ok") == 1
    assert value(after, "gtp_model_tokens_total", provider="ollama", kind="completion") > 0
    assert value(after, "gtp_audit_write_duration_seconds_count") > value(
        before, "gtp_audit_write_duration_seconds_count"
    )
    assert value(after, "gtp_jobs_finished_total", status="succeeded") >= 2
    # a job's id never becomes a series: routes are templates
    assert not [k for k in after if k[0] == "gtp_http_requests_total" and re.search(r"[0-9a-f]{16}", str(k))]


async def test_metrics_need_the_permission(served: Served):
    async with aiohttp.ClientSession() as session:
        for token, wanted in (("agent", 403), (None, 401)):
            headers = {"Authorization": f"Bearer {SECRETS[token]}"} if token else {}
            async with session.get(f"{served.base}/metrics", headers=headers) as r:
                assert r.status == wanted


async def test_the_grafana_dashboard_is_a_dashboard_and_uses_our_metrics(served: Served):
    document = json.loads((ROOT / "docs/grafana-dashboard.json").read_text())
    dashboard = Dashboard.from_json(document)
    assert dashboard.title == "gtp-remote" and len(dashboard.panels or []) == len(document["panels"]) >= 10
    exported = await families(served)
    used = set()
    for panel in document["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"\bgtp_[a-z_]+", target["expr"]))
    missing = {m for m in used if re.sub(r"_(bucket|count|sum|total)$", "", m) not in exported}
    assert not missing, f"the dashboard queries metrics the gateway does not export: {missing}"
