"""Fan-out over the bed: one stopped host never fails the others."""

from __future__ import annotations

import time

import pytest

from gtp_remote.config import load_inventory
from gtp_remote.gateway import Gateway
from gtp_remote.settings import Settings
from tests.conftest import Bed, fan_out

pytestmark = pytest.mark.bed


async def test_fan_out_to_every_host(bed_gateway: Gateway):
    result = await fan_out(bed_gateway, "all", "uname -n")
    assert [(r.server, r.status, r.stdout) for r in result.results] == [
        ("db", "ok", "db\n"),
        ("code", "ok", "code\n"),
        ("k8s-master", "ok", "k8s-master\n"),
    ]
    assert result.summary.model_dump(exclude={"duration_ms"}) == {
        "ok": 3,
        "failed": 0,
        "unreachable": 0,
        "total": 3,
    }


async def test_one_stopped_sshd_is_reported_unreachable_the_others_succeed(bed: Bed, settings: Settings):
    bed.stop("code")
    try:
        async with Gateway(load_inventory(bed.inventory), settings) as gw:
            started = time.monotonic()
            result = await fan_out(gw, "group:bed", "hostname", timeout=5)
            elapsed = time.monotonic() - started
    finally:
        bed.start("code")
    by_name = {r.server: r for r in result.results}
    assert by_name["db"].status == "ok" and by_name["db"].stdout == "db\n"
    assert by_name["k8s-master"].status == "ok"
    assert by_name["code"].status == "unreachable"
    assert by_name["code"].error["code"] == "host_unreachable"
    assert "refused the connection" in by_name["code"].error["message"]
    assert (result.summary.ok, result.summary.unreachable, result.summary.failed) == (2, 1, 0)
    assert elapsed < 5


async def test_failures_and_timeouts_are_per_host(bed_gateway: Gateway):
    result = await fan_out(
        bed_gateway,
        "all",
        'if [ "$(hostname)" = db ]; then exit 3; fi; '
        'if [ "$(hostname)" = code ]; then sleep 30; fi; echo fine',
        timeout=1,
    )
    by_name = {r.server: r for r in result.results}
    assert (by_name["db"].status, by_name["db"].exit_code) == ("failed", 3)
    assert by_name["code"].status == "failed" and by_name["code"].timed_out
    assert by_name["code"].error["code"] == "timeout"
    assert (by_name["k8s-master"].status, by_name["k8s-master"].stdout) == ("ok", "fine\n")


async def test_forks_bound_concurrency(bed_gateway: Gateway):
    started = time.monotonic()
    result = await fan_out(bed_gateway, "all", "sleep 0.4", forks=1)
    assert result.ok and time.monotonic() - started >= 1.2
