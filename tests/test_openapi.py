"""The OpenAPI document: valid in both versions, within ChatGPT's limits, and true to the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from gtp_remote.api.openapi import build
from tests.conftest import Bed, start_serve

READS = {"readFile", "downloadFile", "listFiles", "listServers", "listJobs", "getJob", "health", "listModels"}


def operations(spec: dict) -> list[dict]:
    return [op for methods in spec["paths"].values() for op in methods.values()]


@pytest.mark.parametrize("version", ["3.1", "3.0"])
def test_spec_validates_and_fits_chatgpt_limits(version: str):
    spec = build("https://gtp.example.net", version)
    validate(spec)
    assert spec["openapi"] == ("3.1.0" if version == "3.1" else "3.0.3")
    assert spec["servers"][0]["url"] == "https://gtp.example.net"
    ops = operations(spec)
    assert 0 < len(ops) <= 30
    ids = [op["operationId"] for op in ops]
    assert len(set(ids)) == len(ids)
    for op in ops:
        assert len(op["summary"]) <= 300
        assert op["x-openai-isConsequential"] is (op["operationId"] not in READS)
    text = json.dumps(spec)
    assert '"type": "null"' not in text if version == "3.0" else True


def test_operation_ids_are_stable():
    ids = {op["operationId"] for op in operations(build())}
    assert ids == {
        "executeShell",
        "executeCode",
        "executeLlm",
        "listModels",
        "readFile",
        "writeFile",
        "listFiles",
        "patchFile",
        "uploadFile",
        "downloadFile",
        "listServers",
        "setServer",
        "listJobs",
        "getJob",
        "cancelJob",
        "approveJob",
        "rejectJob",
        "health",
    }


def test_cli_prints_the_spec(tmp_path: Path):
    env = {**os.environ, "GTP_PUBLIC_URL": "https://x.example"}
    run = subprocess.run(
        [sys.executable, "-m", "gtp_remote", "openapi", "--version", "3.0"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    spec = json.loads(run.stdout)
    assert spec["openapi"] == "3.0.3" and spec["servers"][0]["url"] == "https://x.example"


@pytest.mark.bed
def test_schemathesis_finds_no_server_errors_and_no_schema_violations(bed: Bed, tmp_path: Path):
    # The fuzzed commands run as the unprivileged test user on a bed host, files confined below fuzz/.
    inventory = tmp_path / "inv.yaml"
    db = bed.server("db")
    inventory.write_text(
        "servers:\n  db:\n"
        f"    host: {db.host}\n    username: {db.username}\n    identity_files: [{db.identity_files[0]}]\n"
        f"    known_hosts: {db.known_hosts}\n    root: /home/gtptest/fuzz\n    cwd: /home/gtptest/fuzz\n"
    )
    (bed.hosts["db"].home / "fuzz").mkdir(exist_ok=True)
    os.chown(bed.hosts["db"].home / "fuzz", *(lambda st: (st.st_uid, st.st_gid))(bed.hosts["db"].home.stat()))
    env = {
        **os.environ,
        "GTP_API_TOKEN": "fuzz-token-123456",
        "GTP_STATE_DIR": str(tmp_path / "state"),
        "GTP_RATE_LIMIT": "10000",
        "GTP_RATE_BURST": "10000",
    }
    server, port = start_serve(["-i", str(inventory)], env)
    try:
        st = Path(sys.executable).parent / "schemathesis"
        run = subprocess.run(
            [
                str(st),
                "run",
                f"http://127.0.0.1:{port}/openapi.json",
                "-H",
                "Authorization: Bearer fuzz-token-123456",
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,"
                "content_type_conformance",
                "--max-examples",
                "10",
                "--seed",
                "7",
                "--request-timeout",
                "50",
                "--max-time",
                "100",
                "--phases",
                "examples,coverage,fuzzing",
                "--report-dir",
                str(tmp_path / "report"),
            ],
            capture_output=True,
            text=True,
            timeout=400,
            cwd=tmp_path,
        )
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]
    assert run.returncode == 0, run.stdout[-6000:] + "\n--- server log ---\n" + log[-3000:]
    assert "Traceback" not in log
