"""The command line, run as a user runs it: the installed console script, real hosts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Bed

BIN = Path(sys.executable).parent


def gtp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gtp-remote"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def readme_bed_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Try it against real hosts") :]
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    return "\n".join(line.removeprefix("$ ") for line in block.splitlines())


@pytest.mark.bed
def test_readme_commands_work_as_written(bed: Bed, tmp_path: Path):
    script = readme_bed_block()
    assert "gtp-remote hosts check" in script and "gtp-remote exec" in script
    traced = "set -euo pipefail\n" + script.replace("/var/tmp/gtp-bed", str(bed.dir))
    run = subprocess.run(
        ["bash", "-c", traced],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GTP_STATE_DIR": str(tmp_path), "GTP_BED_DIR": str(bed.dir)},
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for name in ("db", "code", "k8s-master"):
        assert f"Linux {name}" in out  # exec all -- uname -sn
    assert "db\ngtptest\n" in out  # exec db streams the command's own output
    assert "3 ok, 0 failed, 0 unreachable" in out
    assert '"status": "ok"' in out  # --json


@pytest.mark.bed
def test_hosts_check_fails_when_a_host_is_down(bed: Bed, tmp_path: Path):
    bed.stop("k8s-master")
    try:
        result = gtp("-i", str(bed.inventory), "hosts", "check", env={"GTP_STATE_DIR": str(tmp_path)})
    finally:
        bed.start("k8s-master")
    assert result.returncode == 1
    assert "k8s-master (10.203.0.13:22) refused the connection" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.bed
def test_exec_exit_codes_and_json(bed: Bed, tmp_path: Path):
    env = {"GTP_STATE_DIR": str(tmp_path), "GTP_INVENTORY": str(bed.inventory)}
    one = gtp("exec", "db", "--", "echo out; echo err >&2; exit 5", env=env)
    assert (one.returncode, one.stdout, one.stderr) == (5, "out\n", "err\n")
    slow = gtp("exec", "db", "--timeout", "1", "--", "sleep 20", env=env)
    assert slow.returncode == 124 and "timed out after 1s" in slow.stderr
    many = gtp("exec", "all", "--json", "--", 'test "$(hostname)" != code', env=env)
    assert many.returncode == 1
    data = json.loads(many.stdout)
    assert [r["status"] for r in data["results"]] == ["ok", "failed", "ok"]
    assert data["summary"]["failed"] == 1


def test_expected_failures_are_one_line_errors(tmp_path: Path):
    (tmp_path / "inv.yaml").write_text("servers:\n  db: {host: x, port: abc}\n")
    bad = gtp("-i", str(tmp_path), "hosts")
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        == f'error: {tmp_path}/inv.yaml: servers.db.port: must be an integer 1-65535, got "abc"'
    )
    unknown = gtp("-i", str(ROOT / "hosts"), "exec", "nope", "--", "true")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: unknown server 'nope'; your servers: local"
    (tmp_path / "inv.yaml").write_text("servers:\n  far: {host: 10.203.0.254, connect_timeout: 1}\n")
    far = gtp("-i", str(tmp_path), "exec", "far", "--", "true", env={"GTP_STATE_DIR": str(tmp_path)})
    assert far.returncode == 255
    assert far.stderr.strip().startswith("error: far (10.203.0.254:22) did not answer within 1s")


def test_hosts_table_and_local_exec():
    table = gtp("-i", str(ROOT / "hosts" / "examples"), "hosts")
    assert table.returncode == 0
    assert re.search(r"devops\s+ssh\s+k8s-master\s+lmstudio:devops-specialist", table.stdout)
    run = gtp("-i", str(ROOT / "hosts"), "exec", "local", "--", "echo hi from local")
    assert (run.returncode, run.stdout) == (0, "hi from local\n")
