"""How a policy is written: the same shape wherever it appears.

A policy can sit on a token (``tokens.NAME.policy`` in the tokens file), on a server or a group
(``servers.NAME.policy``, ``groups.NAME.policy`` in the inventory) and on a specialist
(``specialists.NAME.policy``). Every one has this shape::

    commands: {allow: [...], confirm: [...], deny: [...]}   # rules for shell commands
    paths:    {allow: [...], confirm: [...], deny: [...]}   # rules for files (read:, write:, list:)
    default: allow | confirm | deny      # when no rule matches
    dynamic: confirm | deny              # what cannot be judged from its text (never allow)
    code: allow | confirm | deny         # execute-code (default: the dynamic action)
    safe_env: [LANG, "LC_*", ...]        # variables a command may set (NAME=value) and stay static

Command rules are matched word by word: ``git diff *`` is git, then diff, then any words, so it
does not also match ``git difftool``; a word is a shell glob, and ``*`` alone stands for any
number of words. ``re:`` + a regular expression matches the words joined by single spaces.
Path rules are globs (``*`` stays inside a folder, ``**`` crosses folders), optionally prefixed
``read:``, ``write:`` or ``list:``.

A broken rule is an error when the inventory loads; a rule that is legal but probably not what
its author meant (a glob that ends inside a word, like ``git diff*``) is a warning.
"""

from __future__ import annotations

import re
import shlex
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from gtp_remote.schema import INVENTORY_CONFIG

Action = Literal["allow", "deny", "confirm"]
Operation = Literal["read", "write", "list"]
OPERATIONS: tuple[Operation, ...] = ("read", "write", "list")

#: Variables a command may set (``LANG=C sort``, ``env TZ=UTC date``) without becoming dynamic:
#: they change formatting, never which program runs or which code it loads.
DEFAULT_SAFE_ENV = ("LANG", "LANGUAGE", "LC_*", "TZ", "TERM", "COLUMNS", "LINES", "NO_COLOR")


def split_rule(pattern: str) -> list[str]:
    """A command rule's words, split as the shell would split them (quotes group words)."""
    return shlex.split(pattern)


class RuleSet(BaseModel):
    """Patterns per action. See the module docstring for how they match."""

    model_config = INVENTORY_CONFIG

    allow: list[str] = []
    deny: list[str] = []
    confirm: list[str] = []

    @field_validator("allow", "deny", "confirm")
    @classmethod
    def _valid_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            operation, sep, rest = pattern.partition(":")
            body = rest if sep and operation in OPERATIONS else pattern
            if not body.strip():
                raise ValueError(f"empty pattern {pattern!r}")
            if body.startswith("re:"):
                try:
                    re.compile(body[3:])
                except re.error as error:
                    raise ValueError(f"bad regular expression in {pattern!r}: {error}") from None
        return patterns


class PolicyConfig(BaseModel):
    """One layer's rules; ``default`` applies when no rule matches."""

    model_config = INVENTORY_CONFIG

    commands: RuleSet = RuleSet()
    paths: RuleSet = RuleSet()
    default: Action | None = None
    dynamic: Literal["confirm", "deny"] = Field(
        "confirm", description="for what cannot be judged from its text; never allow"
    )
    code: Action | None = Field(None, description="execute-code; default: the dynamic action")
    safe_env: list[str] = Field(
        list(DEFAULT_SAFE_ENV), description="variables a command may set and stay static (globs)"
    )

    @field_validator("commands")
    @classmethod
    def _words(cls, rules: RuleSet) -> RuleSet:
        for pattern in (*rules.allow, *rules.deny, *rules.confirm):
            if not pattern.startswith("re:"):
                try:
                    split_rule(pattern)
                except ValueError as error:
                    raise ValueError(f"cannot split {pattern!r} into words: {error}") from None
        return rules

    @field_validator("safe_env")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.fullmatch(r"[A-Za-z_*?][A-Za-z0-9_*?]*", name):
                raise ValueError(f"not a variable name or glob: {name!r}")
        return names

    @property
    def has_rules(self) -> bool:
        return any(getattr(r, a) for r in (self.commands, self.paths) for a in ("allow", "deny", "confirm"))

    @property
    def active(self) -> bool:
        """A layer with no rule and nothing set explicitly abstains: it allows everything."""
        explicit = self.model_fields_set & {"default", "dynamic", "code", "safe_env"}
        return self.has_rules or bool(explicit)


def rule_warnings(config: PolicyConfig) -> list[str]:
    """Rules that are legal but probably wrong: a glob that ends inside a word (``git diff*``
    also matches ``git difftool``), or a whole-line glob that hides a subcommand."""
    out = []
    for action in ("allow", "confirm"):
        for pattern in getattr(config.commands, action):
            if pattern.startswith("re:"):
                continue
            words = split_rule(pattern)
            if len(words) > 1 and words[-1] != "*" and words[-1].endswith("*"):
                stem = words[-1].rstrip("*")
                out.append(
                    f"commands.{action}: '{pattern}' ends its glob inside a word, so it matches any "
                    f"word starting with '{stem}' (not only '{stem}' with arguments); "
                    f"write '{' '.join([*words[:-1], stem, '*'])}' for that"
                )
    return out
