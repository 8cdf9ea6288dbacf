"""The README's curl examples, run as written against `gtp-remote serve` on the example inventory."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT, start_serve


def curl_block() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The HTTP API") : readme.index("## Connect a Custom GPT")]
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    return [line.removeprefix("$ ") for line in block.splitlines() if line.startswith("$ ")]


def test_readme_curl_examples_work_as_written(tmp_path: Path):
    env = {
        k: v for k, v in os.environ.items() if k not in ("GTP_API_TOKEN", "GTP_TOKENS_FILE", "GTP_INVENTORY")
    }
    env["GTP_STATE_DIR"] = str(tmp_path / "state")
    server, port = start_serve([], env, cwd=ROOT)
    try:
        outputs = []
        script = "\n".join(curl_block()).replace("8787", str(port))
        steps = script.split("\n")
        assert steps[0].startswith("TOKEN=") and len(steps) == 7
        for i in range(1, len(steps)):
            run = subprocess.run(
                ["bash", "-c", "set -e\n" + steps[0] + "\n" + steps[i]],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert run.returncode == 0, run.stderr
            outputs.append(json.loads(run.stdout))
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]
    health, servers, shell, read, long_job, jobs = outputs
    assert health["status"] == "ok"
    assert "local" in [s["name"] for s in servers["servers"]]
    assert shell["exit_code"] == 0 and shell["stdout"].startswith("Linux")
    assert read["content"] == Path("/etc/hostname").read_text()
    assert long_job["status"] == "running" and long_job["job_id"]
    assert long_job["job_id"] in [j["job_id"] for j in jobs["jobs"]]
    # No token was configured: the first start generated one, printed it once, stored it 0600.
    stored = tmp_path / "state" / "api-token"
    assert f"generated an API token (shown once; stored in {stored}):" in log
    assert stored.read_text().strip() in log and oct(stored.stat().st_mode & 0o777) == "0o600"
    assert "Traceback" not in log
