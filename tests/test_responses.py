"""Response shaping for ChatGPT's 100,000-character limit, with no hosts needed."""

from __future__ import annotations

import json

import pytest

from gtp_remote.budget import RESPONSE_BUDGET, compact_fan_out
from gtp_remote.fanout import FanOutResult, HostResult, Summary


def fan_out_of(n: int, failed_every: int, size: int = 3000) -> FanOutResult:
    rows = [
        HostResult(
            server=f"host-{i:04d}",
            status="failed" if i % failed_every == 0 else "ok",
            exit_code=1 if i % failed_every == 0 else 0,
            stdout="\0" * size + f"out {i}",
            stderr="warning\n" * (size // 60),
            duration_ms=12.5,
            stdout_bytes=3005,
            stderr_bytes=400,
        )
        for i in range(n)
    ]
    failed = sum(r.status == "failed" for r in rows)
    return FanOutResult(
        command="uname -a",
        results=rows,
        summary=Summary(ok=n - failed, failed=failed, unreachable=0, total=n, duration_ms=99.0),
    )


@pytest.mark.parametrize(("n", "failed_every"), [(3, 2), (300, 7), (600, 7), (2000, 1)])
def test_a_fan_out_to_any_number_of_hosts_fits_and_counts_every_host(n: int, failed_every: int):
    result = fan_out_of(n, failed_every)
    body = compact_fan_out(result)
    assert len(json.dumps(body, ensure_ascii=False)) <= RESPONSE_BUDGET - 3_000
    assert body["summary"] == result.summary.model_dump()
    shown = body["results"]
    assert len(shown) + body.get("results_omitted", 0) == n
    if n == 3:  # few hosts: every row whole, outputs' ends kept
        assert "results_omitted" not in body and shown[1]["stdout"].endswith("out 1")
    if n in (300, 600):  # failed hosts keep their rows before any host that succeeded
        failed = [r.server for r in result.results if r.status == "failed"]
        assert [r["server"] for r in shown if r["status"] == "failed"] == failed


@pytest.mark.parametrize("n", [1, 3, 100])
def test_a_few_hosts_with_long_output_keep_their_heads_and_tails(n: int):
    """Long stdout and stderr on every host: shares shrink, outputs are never dropped."""
    body = compact_fan_out(fan_out_of(n, failed_every=2, size=200_000))
    assert len(json.dumps(body, ensure_ascii=False)) <= RESPONSE_BUDGET - 3_000
    assert "results_omitted" not in body and len(body["results"]) == n
    for i, row in enumerate(body["results"]):
        assert not row.get("output_omitted") and row["truncated"]
        assert row["stdout"].endswith(f"out {i}") and row["stderr"].endswith("warning\n")
