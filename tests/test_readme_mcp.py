"""The README's MCP set-ups, as written: every JSON snippet parses, the Claude Desktop one starts
the stdio server with exactly its command, arguments and environment (on the example inventory)
and the SDK's client lists and calls its tools; the OAuth console commands run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

from tests.conftest import ROOT


def section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Connect an MCP client") : readme.index("## Try it against real hosts")]


def snippets() -> list[dict]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section(), re.S)]


def test_every_json_snippet_parses_and_names_the_endpoints():
    blocks = snippets()
    assert len(blocks) == 3
    desktop, cursor, vscode = blocks
    assert desktop["mcpServers"]["gtp-remote"]["args"][-1] == "mcp"
    assert cursor["mcpServers"]["gtp-remote"]["url"].endswith("/mcp")
    assert vscode["servers"]["gtp-remote"]["type"] == "http"


async def test_the_claude_desktop_set_up_starts_the_stdio_server(tmp_path: Path):
    server = snippets()[0]["mcpServers"]["gtp-remote"]
    command = server["command"].replace("/path/to/gtp-remote", str(ROOT))
    args = [a.replace("/path/to/gtp-remote", str(ROOT)) for a in server["args"]]
    env = {k: v for k, v in os.environ.items() if k not in ("GTP_API_TOKEN", "GTP_TOKENS_FILE", "GTP_TOKEN")}
    env["GTP_STATE_DIR"] = str(tmp_path / "state")  # no tokens file: GTP_TOKEN left out, as the README says
    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(tmp_path))
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"execute_shell", "execute_llm", "get_job"} <= names
        listed = await client.call_tool("list_servers", {})
        assert not listed.is_error and listed.structured_content["servers"]
    assert Path(command).exists()


def test_the_oauth_console_commands_run(tmp_path: Path):
    block = re.search(r"```console\n(.*?)```", section(), re.S).group(1)
    commands = [line.removeprefix("$ ") for line in block.splitlines() if line.startswith("$ ")]
    assert commands == ["gtp-remote oauth list", "gtp-remote oauth revoke GRANT_ID"]
    env = {**os.environ, "GTP_STATE_DIR": str(tmp_path / "state")}
    gtp = [sys.executable, "-m", "gtp_remote"]
    listed = subprocess.run(
        gtp + commands[0].split()[1:], env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and "no OAuth grants" in listed.stdout
    revoked = subprocess.run(
        gtp + commands[1].split()[1:], env=env, capture_output=True, text=True, timeout=60
    )
    assert revoked.returncode == 2 and "no OAuth grant 'GRANT_ID'" in revoked.stderr
