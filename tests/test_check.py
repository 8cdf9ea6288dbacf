"""``gtp-remote check``: the whole set-up validated in one command, every problem listed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def gtp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GTP_")}
    return subprocess.run(
        [str(BIN / "gtp-remote"), *args], capture_output=True, text=True, timeout=60, env=clean | env
    )


def test_a_good_setup_passes(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    (hosts / "a.yaml").write_text(
        "servers:\n  web1: {host: 10.0.0.1, groups: [web]}\n  here: {protocol: local}\n"
        "specialists:\n  sh: {server: here, provider: ollama, tools: [run_shell]}\n"
    )
    state = tmp_path / "state"
    state.mkdir()
    (state / "tokens.yaml").write_text("tokens:\n  ci: {env: CI_TOKEN, servers: [group:web]}\n")
    run = gtp("-i", str(hosts), "check", env={"GTP_STATE_DIR": str(state), "CI_TOKEN": "x" * 32})
    assert run.returncode == 0, run.stderr
    assert "2 servers, 1 groups, 1 specialists: 0 errors, 0 warnings" in run.stdout


def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    (hosts).mkdir()
    (hosts / "one.yaml").write_text(
        "servers:\n"
        "  db: {host: 10.0.0.5, port: abc}\n"  # error 1
        "  web: {host: 10.0.0.6, max_sesions: 4}\n"  # error 2 (same file, another server)
        "  ok: {host: 10.0.0.7}\n"
    )
    (hosts / "two.yaml").write_text(
        "servers:\n  cache: {host: 10.0.0.8, host_key_policy: never}\n"  # error 3 (another file)
        "specialists:\n  sql: {server: nowhere, provider: ollama}\n"  # error 4 (a reference)
    )
    (hosts / "three.yaml").write_text("servers: [oops\n")  # error 5 (not YAML)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "broken.j2").write_text("line one\n{% if x %}never closed\n")
    (hosts / "four.yaml").write_text(
        "specialists:\n  ops: {server: ok, provider: ollama, template: broken.j2}\n"  # error 6
        "groups:\n  web: {policy: {commands: {allow: ['git diff*']}}}\n"  # a warning: a glob inside a word
    )
    state = tmp_path / "state"
    state.mkdir()
    (state / "tokens.yaml").write_text(
        "tokens:\n"
        "  a: {env: NOT_SET_ANYWHERE}\n"  # error 7
        "  b: {sha256: nothex, operations: [exec]}\n"  # error 8
        "  c: {env: C_TOKEN, operations: [exec, fly]}\n"  # error 9
    )
    run = gtp("-i", str(hosts), "check", env={"GTP_STATE_DIR": str(state), "C_TOKEN": "y" * 32})
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    text = run.stderr
    for expected in [
        "one.yaml: servers.db.port",
        "one.yaml: servers.web.max_sesions",
        "two.yaml: servers.cache.host_key_policy",
        "specialists.sql.server",
        "three.yaml",
        "broken.j2:2",
        "tokens.a.env: environment variable NOT_SET_ANYWHERE is not set",
        "tokens.b.sha256",
        "tokens.c",
    ]:
        assert expected in text, f"{expected!r} not reported:\n{text}"
    assert len(errors) >= 9, text
    assert "warning:" in text and "groups.web.policy" in text
    assert f"{len(errors)} errors" in run.stdout
    assert "Traceback" not in text


def test_a_missing_inventory_is_one_clear_error(tmp_path: Path) -> None:
    run = gtp("-i", str(tmp_path / "nope"), "check", env={"GTP_STATE_DIR": str(tmp_path / "s")})
    assert run.returncode == 1
    assert "inventory not found" in run.stderr and "the inventory did not load" in run.stdout
