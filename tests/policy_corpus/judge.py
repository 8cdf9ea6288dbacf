"""Judging a command the way the gateway does: analysed, the host asked about its paths (here,
this machine, or a sandbox laid out like the attack corpus's), then judged by the policy."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from gtp_remote.policy import Decision, Facts, Layers, Policy, hostfacts, shell

NOBODY = 65534


def probe(script: str, cwd: Path | None = None) -> str:
    """Run the engine's host probe (a read-only sh script), as nobody when we are root."""
    argv = ["sh", "-c", script]
    if os.geteuid() == 0:
        argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    return subprocess.run(argv, cwd=cwd or "/", capture_output=True, text=True, timeout=20).stdout


def judge_on_host(policy: Policy, command: str, facts: Facts, cwd: Path | None = None) -> Decision:
    analysis = shell.analyse(command)
    questions = hostfacts.Questions(analysis, facts, Layers([policy]))
    script = questions.script()
    facts = questions.learn(facts, probe(script, cwd) if script is not None else "")
    return policy.judge(analysis, facts)
