"""Shell completion, run in the real shells: bash's and zsh's completion functions, as
``gtp-remote --show-completion`` prints them, are loaded and called the way the shell calls them
on Tab, and what they offer is checked: the inventory's servers and groups."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GTP = str(Path(sys.executable).parent / "gtp-remote")

INVENTORY = """
servers:
  web01: {host: 10.0.0.1, groups: [web, prod]}
  web02: {host: 10.0.0.2, groups: [web]}
  db01: {host: 10.0.0.3, groups: [data, prod]}
specialists:
  sql: {server: db01, provider: ollama}
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yaml"
    path.write_text(INVENTORY)
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    bindir = str(Path(GTP).parent)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "GTP_STATE_DIR": str(tmp_path / "state")}


def _shell(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: scripts/test installs it"
    return path


def _bash(tmp_path: Path, words: list[str], cword: int) -> list[str]:
    """Load the bash script and call its function as bash does on Tab: COMP_WORDS and COMP_CWORD."""
    script = f"""
eval "$(gtp-remote --show-completion)"
COMP_WORDS=({" ".join(f"'{w}'" for w in words)}); COMP_CWORD={cword}
_gtp_remote_completion gtp-remote
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    shown = subprocess.run([_shell("bash"), "-c", script], capture_output=True, text=True, env=_env(tmp_path))
    assert shown.returncode == 0, shown.stderr
    return [line for line in shown.stdout.splitlines() if line]


def _zsh(tmp_path: Path, line: str) -> str:
    """Load the zsh script under compinit and call its function with ``words``/``CURRENT`` as
    zsh's completion system sets them; ``_arguments`` prints what it was given."""
    script = f"""
autoload -U compinit && compinit -u -D
eval "$(gtp-remote --show-completion; true)"
_arguments() {{ print -r -- "$@" }}
words=({line}); CURRENT=${{#words}}
_gtp_remote_completion
"""
    shown = subprocess.run(
        [_shell("zsh"), "-f", "-c", script],
        capture_output=True,
        text=True,
        env=_env(tmp_path) | {"SHELL": "zsh"},
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def test_bash_script_is_bash_and_completes_servers_and_groups(tmp_path: Path, inventory: Path) -> None:
    words = ["gtp-remote", "-i", str(inventory), "exec", ""]
    offered = _bash(tmp_path, words, 4)
    assert {"all", "web01", "web02", "db01", "web", "prod", "data", "group:web"} <= set(offered)
    assert set(_bash(tmp_path, [*words[:4], "we"], 4)) == {"web01", "web02", "web"}
    assert set(_bash(tmp_path, ["gtp-remote", "-i", str(inventory), "hosts", "check", "d"], 5)) == {
        "db01",
        "data",
    }
    assert set(_bash(tmp_path, ["gtp-remote", "-i", str(inventory), "ask", ""], 4)) == {"sql"}
    assert "exec" in _bash(tmp_path, ["gtp-remote", "ex"], 1)


def test_zsh_completes_the_last_part_of_a_pattern(tmp_path: Path, inventory: Path) -> None:
    offered = _zsh(tmp_path, f"gtp-remote -i {inventory} exec 'web:&pr'")
    assert "web\\\\:&prod" in offered, offered
    offered = _zsh(tmp_path, f"gtp-remote -i {inventory} exec 'group:'")
    assert "group\\\\:web" in offered and "group\\\\:prod" in offered and "web01" not in offered, offered
    offered = _zsh(tmp_path, f"gtp-remote -i {inventory} exec 'all:!db'")
    assert "all\\\\:!db01" in offered, offered


def test_an_unreadable_inventory_completes_nothing_and_prints_no_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("servers: [oops\n")
    offered = _bash(tmp_path, ["gtp-remote", "-i", str(broken), "exec", ""], 4)
    assert offered == []
