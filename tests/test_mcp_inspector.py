"""An independent MCP client: the MCP Inspector's CLI (npm, installed by scripts/test) lists and
calls the tools over Streamable HTTP, SSE and stdio, and finds no tool-schema portability
problem (``--strict``)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Bed
from tests.test_mcp import SECRETS, Served, Setup, served, setup  # noqa: F401 - fixtures

pytestmark = pytest.mark.bed

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
INSPECTOR = (
    Path(os.environ.get("GTP_INSPECTOR_DIR") or CACHE / "gtp-remote/inspector")
    / "node_modules/.bin/mcp-inspector"
)


async def inspector(*args: str) -> tuple[int, dict, str]:
    if not INSPECTOR.exists():
        pytest.fail(f"the MCP Inspector is missing ({INSPECTOR}): scripts/test installs it", pytrace=False)
    process = await asyncio.create_subprocess_exec(
        str(INSPECTOR), "--cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, json.loads(out or b"{}"), err.decode()


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_the_inspector_lists_and_calls_the_tools_over_http(transport: str, served: Served):
    url = f"{served.base}/{'mcp' if transport == 'http' else 'sse'}"
    auth = ["--header", f"Authorization: Bearer {SECRETS['boss']}"]
    code, listed, err = await inspector(
        url, "--transport", transport, *auth, "--method", "tools/list", "--strict"
    )
    assert code == 0, err
    assert "execute_shell" in {t["name"] for t in listed["tools"]}
    code, called, err = await inspector(
        url,
        "--transport",
        transport,
        *auth,
        "--method",
        "tools/call",
        "--tool-name",
        "execute_shell",
        "--tool-arg",
        "command=hostname",
        "--tool-arg",
        "server=db",
    )
    assert code == 0, err
    assert called["isError"] is False and called["structuredContent"]["stdout"] == "db\n"
    code, denied, err = await inspector(
        url, "--transport", transport, "--header", "Authorization: Bearer wrong", "--method", "tools/list"
    )
    assert code != 0 or "error" in denied  # a wrong token gets nothing


async def test_the_inspector_over_stdio(setup: Setup, bed: Bed):
    env = [
        f"{k}={v}"
        for k, v in {**setup.env, "GTP_TOKEN": SECRETS["agent"], "PATH": os.environ["PATH"]}.items()
    ]
    command = [sys.executable, "-m", "gtp_remote", "-i", str(setup.inventory), "mcp"]
    flags = [x for pair in zip(["-e"] * len(env), env, strict=True) for x in pair]
    code, listed, err = await inspector(*flags, "--cwd", str(ROOT), *command, "--method", "tools/list")
    assert code == 0, err
    assert len(listed["tools"]) == 13  # the REST operations, upload and download included
    code, called, err = await inspector(
        *flags,
        "--cwd",
        str(ROOT),
        *command,
        "--method",
        "tools/call",
        "--tool-name",
        "execute_shell",
        "--tool-arg",
        "command=curl http://x",
        "--tool-arg",
        "server=code",
    )
    assert code == 5 and "returned isError:true" in err, err  # the inspector's exit for a tool error
    assert called["isError"] is True  # the agent token's policy: never curl
    assert json.loads(called["content"][0]["text"])["error"]["policy"]["rule"] == "curl *"
