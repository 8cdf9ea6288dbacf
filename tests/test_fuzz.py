"""Stateful fuzzing: schemathesis follows the OpenAPI links from a job's creation to reading and
cancelling it, against a real ``serve`` on a bed host, and finds no server error.

Why stateful as well as tests/test_openapi.py's stateless run: a fuzzer that invents job ids
only ever meets "no job 'x'" (404); the code that reads, cancels and re-cancels a job that
exists, while its command runs on a host, is reached only by carrying the ``job_id`` of one
answer into the next request. The document says how (``links`` on every answer that names a
job), so this test also keeps those links true: a link the server does not honour would send
the state machine into 404s, which it asserts it did not.

Commands are generated text run as the bed's unprivileged test user on ``db``, files confined
below ``fuzz/``; every command and program starts as a job (``wait_seconds`` forced to 0, so its
202 carries a ``job_id`` to follow), and the server's stop kills whatever still runs.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Bed, start_serve

TOKEN = "stateful-fuzz-token-0123456789"
STARTS_JOBS = {"POST /command/execute-shell", "POST /command/execute-code"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SCENARIOS = 400  # about 40 s here
BUDGET = 70.0  # seconds: no new suite starts after this, so the test stays CI-sized


def inventory(bed: Bed, tmp_path: Path) -> Path:
    db = bed.server("db")
    path = tmp_path / "inv.yaml"
    fuzz_dir = f"/home/{bed.user}/fuzz"
    path.write_text(
        "servers:\n  db:\n"
        f"    host: {db.host}\n    username: {db.username}\n    identity_files: [{db.identity_files[0]}]\n"
        f"    known_hosts: {db.known_hosts}\n    root: {fuzz_dir}\n    cwd: {fuzz_dir}\n"
    )
    fuzz = bed.hosts["db"].home / "fuzz"
    fuzz.mkdir(exist_ok=True)
    home = bed.hosts["db"].home.stat()
    os.chown(fuzz, home.st_uid, home.st_gid)
    return path


@pytest.mark.bed
@pytest.mark.timeout(180)
def test_stateful_fuzzing_follows_the_job_links_and_finds_no_server_error(bed: Bed, tmp_path: Path):
    env = {
        **os.environ,
        "GTP_API_TOKEN": TOKEN,
        "GTP_STATE_DIR": str(tmp_path / "state"),
        "GTP_RATE_LIMIT": "100000",
        "GTP_RATE_BURST": "100000",
    }
    server, port = start_serve(["-i", str(inventory(bed, tmp_path))], env)
    calls: Counter[tuple[str, int]] = Counter()
    runs: Counter[str] = Counter()  # scenarios run, and suites restarted after a flaky replay
    chains: Counter[str] = Counter()  # "operation status" of requests that followed a created job_id
    try:
        schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json")

        class JobWorkflow(schema.as_state_machine()):  # type: ignore[misc]
            """The generated state machine, with our token, jobs that start as jobs, and the
            checks of the stateless run (5xx first)."""

            def setup(self) -> None:
                self.jobs: set[str] = set()  # ids this scenario saw created
                runs["scenarios"] += 1

            def get_call_kwargs(self, case: Any) -> dict[str, Any]:
                return {"headers": {"Authorization": f"Bearer {TOKEN}"}, "timeout": 60}

            def before_call(self, case: Any) -> None:
                if case.operation.label in STARTS_JOBS and isinstance(case.body, dict):
                    case.body["wait_seconds"] = 0
                    command = case.body.get("command")
                    if isinstance(command, str) and len(command) % 2 == 0:
                        # Half the commands still run when the links lead to them: a cancel
                        # then kills a live process, not only meets a finished job (409).
                        case.body["command"] = "sleep 2; " + command

            def after_call(self, response: Any, case: Any) -> None:
                super().after_call(response, case)
                calls[(case.operation.label, response.status_code)] += 1
                job = (case.path_parameters or {}).get("job_id")
                if job is not None and job in self.jobs:
                    chains[f"{case.operation.label} {response.status_code}"] += 1
                if case.operation.label in STARTS_JOBS and response.status_code == 202:
                    self.jobs.add(response.json()["job_id"])

            def validate_response(
                self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
            ):
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

        started = time.monotonic()
        while runs["scenarios"] < SCENARIOS and time.monotonic() - started < BUDGET:
            try:
                hypothesis.seed(runs["suites"])(JobWorkflow).run(
                    settings=hypothesis.settings(
                        max_examples=SCENARIOS - runs["scenarios"],
                        stateful_step_count=8,
                        deadline=None,
                        database=None,
                        phases=[Phase.explicit, Phase.generate],
                        suppress_health_check=list(HealthCheck),
                    )
                )
                break
            except hypothesis.errors.FlakyFailure:
                raise  # a check that failed once and not on replay: a finding all the same
            except hypothesis.errors.Flaky:
                # The server answers by the clock (a job still running or done by now, a refused
                # address's 401 or 429), so a replayed prefix can take another path and Hypothesis
                # calls its strategy flaky: go on with a new suite, as schemathesis's runner does.
                runs["suites"] += 1
        took = time.monotonic() - started
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]

    report = "\n".join(f"{label} -> {status}: {n}" for (label, status), n in sorted(calls.items()))
    assert not [k for k in calls if k[1] >= 500], report + "\n--- server log ---\n" + log[-4000:]
    assert "Traceback" not in log, log[-4000:]
    # The links were followed: jobs created with wait_seconds 0 were read and cancelled by id.
    assert calls[("POST /command/execute-shell", 202)] + calls[("POST /command/execute-code", 202)] > 0, (
        report
    )
    assert chains["GET /jobs/{job_id} 200"] > 0, f"{dict(chains)}\n{report}"
    assert chains["POST /jobs/{job_id}/cancel 200"] + chains["POST /jobs/{job_id}/cancel 409"] > 0, (
        f"{dict(chains)}\n{report}"
    )
    assert not chains["GET /jobs/{job_id} 404"], f"a followed job_id was not found: {dict(chains)}"
    print(f"\n{report}\nfollowed: {dict(chains)}\n{dict(runs)} in {took:.1f} s", file=sys.stderr)
