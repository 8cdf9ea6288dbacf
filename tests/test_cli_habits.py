"""What an ops team expects of a command line, run as they run it (the installed console
script, real hosts): per-host output files and JSON lines for scripts, the `--` hint, where the
inventory is found by default, and clear errors for a wrong OpenAPI version or a missing audit
file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Bed

BIN = Path(sys.executable).parent


def gtp(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "gtp-remote"), *args],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.bed
def test_tree_writes_each_hosts_out_err_and_json(bed: Bed, tmp_path: Path) -> None:
    tree = tmp_path / "runs" / "first"
    script = "hostname; echo to-err-$(hostname) >&2; [ $(hostname) = db ] && exit 3; exit 0"
    run = gtp(
        "-i",
        str(bed.inventory),
        "exec",
        "all",
        "--tree",
        str(tree),
        "--",
        script,
        env={"GTP_STATE_DIR": str(tmp_path / "state")},
    )
    assert run.returncode == 1, run.stderr  # db failed
    names = sorted(p.name for p in tree.iterdir())
    assert names == sorted(f"{h}.{ext}" for h in bed.hosts for ext in ("out", "err", "json"))
    for host in bed.hosts:
        assert (tree / f"{host}.out").read_text() == f"{host}\n"
        assert (tree / f"{host}.err").read_text() == f"to-err-{host}\n"
        result = json.loads((tree / f"{host}.json").read_text())
        assert result["server"] == host
        assert result["exit_code"] == (3 if host == "db" else 0)
        assert result["status"] == ("failed" if host == "db" else "ok")
    # A second run into another folder diffs cleanly against the first, as ansible --tree users do.
    again = tmp_path / "runs" / "second"
    gtp(
        "-i",
        str(bed.inventory),
        "exec",
        "all",
        "--tree",
        str(again),
        "--",
        script,
        env={"GTP_STATE_DIR": str(tmp_path / "state")},
    )
    diff = subprocess.run(
        ["diff", "-r", "-x", "*.json", str(tree), str(again)], capture_output=True, text=True
    )
    assert diff.returncode == 0, diff.stdout


@pytest.mark.bed
def test_tree_with_one_host_and_an_unreachable_one(bed: Bed, tmp_path: Path) -> None:
    tree = tmp_path / "one"
    run = gtp(
        "-i",
        str(bed.inventory),
        "exec",
        "code",
        "--tree",
        str(tree),
        "--",
        "printf abc",
        env={"GTP_STATE_DIR": str(tmp_path / "state")},
    )
    assert run.returncode == 0, run.stderr
    assert (tree / "code.out").read_text() == "abc"
    bed.stop("k8s-master")
    try:
        down = tmp_path / "down"
        run = gtp(
            "-i",
            str(bed.inventory),
            "exec",
            "all",
            "--tree",
            str(down),
            "--",
            "true",
            env={"GTP_STATE_DIR": str(tmp_path / "state")},
        )
    finally:
        bed.start("k8s-master")
    assert run.returncode == 1
    result = json.loads((down / "k8s-master.json").read_text())
    assert result["status"] == "unreachable" and result["error"]["message"]
    assert json.loads((down / "db.json").read_text())["status"] == "ok"


@pytest.mark.bed
def test_jsonl_prints_a_line_per_host_as_each_finishes(bed: Bed, tmp_path: Path) -> None:
    # db answers at once, the others after a second: db's line must come first.
    script = "[ $(hostname) = db ] || sleep 1; hostname"
    proc = subprocess.Popen(
        [str(BIN / "gtp-remote"), "-i", str(bed.inventory), "exec", "all", "--jsonl", "--", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GTP_STATE_DIR": str(tmp_path / "state")},
    )
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert first["server"] == "db" and first["stdout"] == "db\n"
    assert proc.poll() is None  # the others are still running: the line was not held back
    rest = [json.loads(line) for line in proc.stdout]
    assert proc.wait(timeout=60) == 0
    assert {r["server"] for r in rest} == set(bed.hosts) - {"db"}
    assert all(r["status"] == "ok" for r in rest)


def test_tree_on_a_file_and_json_with_jsonl_are_clear_errors(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yaml"
    inv.write_text("servers:\n  here: {protocol: local}\n")
    afile = tmp_path / "file"
    afile.write_text("")
    run = gtp("-i", str(inv), "exec", "here", "--tree", str(afile), "--", "true")
    assert run.returncode == 2 and "exists and is not a folder" in run.stderr
    run = gtp("-i", str(inv), "exec", "here", "--json", "--jsonl", "--", "true")
    assert run.returncode == 2 and "choose one" in run.stderr


def test_a_command_without_double_dash_gets_a_hint(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yaml"
    inv.write_text("servers:\n  here: {protocol: local}\n")
    run = gtp("-i", str(inv), "exec", "here", "uname", "-a")
    assert run.returncode == 2
    assert "No such option: -a" in run.stderr
    assert "write -- before the remote command" in " ".join(run.stderr.split())
    assert "Traceback" not in run.stderr
    ok = gtp("-i", str(inv), "exec", "here", "--", "uname", "-a", env={"GTP_STATE_DIR": str(tmp_path / "s")})
    assert ok.returncode == 0 and ok.stdout.startswith("Linux")


def test_default_inventory_is_hosts_here_else_the_config_folder(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = tmp_path / "config"
    (config / "gtp-remote" / "hosts").mkdir(parents=True)
    (config / "gtp-remote" / "hosts" / "mine.yaml").write_text("servers:\n  from-config: {protocol: local}\n")
    env = {"XDG_CONFIG_HOME": str(config), "GTP_INVENTORY": "", "GTP_STATE_DIR": str(tmp_path / "s")}
    listed = gtp("hosts", "--json", cwd=work, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [h["name"] for h in json.loads(listed.stdout)] == ["from-config"]
    (work / "hosts").mkdir()
    (work / "hosts" / "here.yaml").write_text("servers:\n  from-here: {protocol: local}\n")
    listed = gtp("hosts", "--json", cwd=work, env=env)
    assert [h["name"] for h in json.loads(listed.stdout)] == ["from-here"]
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = gtp("hosts", cwd=empty, env=env | {"XDG_CONFIG_HOME": str(tmp_path / "none")})
    assert missing.returncode == 2
    assert "hosts: inventory not found" in missing.stderr and str(tmp_path / "none") in missing.stderr


def test_openapi_rejects_an_unknown_version() -> None:
    run = gtp("openapi", "--version", "3.2")
    assert run.returncode == 2 and "3.2" in run.stderr and run.stdout == ""
    assert json.loads(gtp("openapi", "--version", "3.0").stdout)["openapi"].startswith("3.0")
    assert json.loads(gtp("openapi").stdout)["openapi"].startswith("3.1")


def test_audit_verify_of_a_missing_file_is_an_error(tmp_path: Path) -> None:
    run = gtp("audit", "verify", str(tmp_path / "nope.jsonl"))
    assert run.returncode == 2
    assert "does not exist" in run.stderr and "ok:" not in run.stdout
    run = gtp("audit", "verify", env={"GTP_STATE_DIR": str(tmp_path / "fresh")})
    assert run.returncode == 2 and "audit.jsonl: does not exist" in run.stderr


@pytest.mark.bed
def test_a_tree_file_that_cannot_be_written_is_an_error_and_loses_nothing(bed: Bed, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "db.out").mkdir(parents=True)  # a folder where db's file goes
    run = gtp(
        "-i",
        str(bed.inventory),
        "exec",
        "all",
        "--tree",
        str(tree),
        "--",
        "hostname",
        env={"GTP_STATE_DIR": str(tmp_path / "state")},
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "cannot write" in run.stderr and "db.out" in run.stderr
    assert "3 ok, 0 failed" in run.stdout  # every host's result still shown
    assert (tree / "code.out").read_text() == "code\n" and (tree / "k8s-master.json").is_file()
    assert not [p for p in tree.iterdir() if p.name.endswith(".tmp")]
