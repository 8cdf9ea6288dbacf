"""The policy every action passes: rules for commands and paths, a shell analyser that fails
closed, and the layers (token, server, group, specialist) whose strictest verdict wins.

``config`` is how a policy is written, ``shell`` reads a command line with a real bash grammar,
``programs`` knows which programs run other commands or touch files, ``rules`` matches, and
``engine`` judges. ``sql`` judges SQL for read-only tools.
"""

from gtp_remote.policy import hostfacts, shell
from gtp_remote.policy.config import Action, Operation, PolicyConfig, RuleSet, rule_warnings
from gtp_remote.policy.engine import Decision, Facts, Layers, Policy, analyse, strictest
from gtp_remote.policy.rules import normalise_path

__all__ = [
    "Action",
    "Decision",
    "Facts",
    "Layers",
    "Operation",
    "Policy",
    "PolicyConfig",
    "RuleSet",
    "analyse",
    "hostfacts",
    "normalise_path",
    "rule_warnings",
    "shell",
    "strictest",
]
