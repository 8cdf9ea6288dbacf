"""``gtp-remote check``: the whole set-up validated at once, every problem listed.

A server refuses to start on the first bad setting, which is right for a server and slow for the
person fixing a set-up: fix one line, restart, meet the next. This walks everything a server
would read (the inventory's files, the tokens file, every policy, prompt and tool templates) and
reports all it finds, errors and warnings, each naming its file and field, without contacting
any host (``gtp-remote hosts check`` does that).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from gtp_remote.config import Inventory, load_inventory
from gtp_remote.errors import GtpError
from gtp_remote.policy import rule_warnings
from gtp_remote.settings import Settings


@dataclass(frozen=True)
class Problem:
    level: Literal["error", "warning"]
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


def check_setup(path: Path | None, settings: Settings) -> tuple[Inventory | None, list[Problem]]:
    """Every problem of the set-up; the inventory too when it loaded."""
    problems: list[Problem] = []
    inventory: Inventory | None = None
    collected: list[str] = []
    try:
        inventory = load_inventory(path, settings, problems=collected)
    except GtpError as exc:
        collected.append(str(exc))
    problems += [Problem("error", line) for text in collected for line in _lines(text)]
    if inventory is not None:
        problems += [Problem("warning", w) for w in inventory.warnings]
        problems += _templates(inventory)
    problems += _tokens(settings, inventory)
    return inventory, problems


def _lines(text: str) -> list[str]:
    """An error may list several fields, one a line; a hint stays with its line."""
    lines = text.splitlines()
    out: list[str] = []
    for line in lines:
        if out and (line.startswith("hint:") or line.startswith(" ")):
            out[-1] += f" ({line.strip()})"
        else:
            out.append(line)
    return out


def _templates(inventory: Inventory) -> list[Problem]:
    """Prompt templates and CLI tools' command templates must compile (jinja2 syntax)."""
    problems = []
    env = SandboxedEnvironment(autoescape=False)
    for name, spec in inventory.specialists.items():
        if not spec.template:
            continue
        where = f"{inventory.sources.get(f'specialists.{name}', 'inventory')}: specialists.{name}.template"
        found = next(
            (d / spec.template for d in inventory.template_dirs if (d / spec.template).is_file()), None
        )
        if found is None:
            continue  # the loader reported it
        try:
            env.parse(found.read_text(encoding="utf-8"), filename=str(found))
        except TemplateSyntaxError as exc:
            problems.append(Problem("error", f"{where}: {found}:{exc.lineno}: {exc.message}"))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem("error", f"{where}: {found}: cannot read: {exc}"))
    for name, tool in inventory.tools.items():
        try:
            env.parse(tool.command)
        except TemplateSyntaxError as exc:
            problems.append(Problem("error", f"tools.{name}.command: line {exc.lineno}: {exc.message}"))
    return problems


def _tokens(settings: Settings, inventory: Inventory | None) -> list[Problem]:
    """Each token of the tokens file on its own, so one bad entry does not hide the next."""
    from gtp_remote.tokens import _TokenEntry

    named = settings.tokens_file
    path = named or settings.state_dir / "tokens.yaml"
    if not path.is_file():
        if named or path.exists() or path.is_symlink():
            return [Problem("error", f"{path}: the tokens file is not a readable file")]
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return [Problem("error", f"{path}: cannot read the tokens file: {exc}")]
    if not isinstance(doc, dict) or set(doc) - {"tokens"} or not isinstance(doc.get("tokens"), dict):
        return [Problem("error", f"{path}: must be a mapping with one key, tokens: {{NAME: {{...}}}}")]
    if not doc["tokens"]:
        return [Problem("error", f"{path}: defines no tokens")]
    problems = []
    for name, body in doc["tokens"].items():
        where = f"{path}: tokens.{name}"
        try:
            entry = _TokenEntry.model_validate(body)
        except ValidationError as exc:
            problems += [
                Problem("error", f"{where}.{_loc(e)}: {e['msg'].removeprefix('Value error, ')}")
                for e in exc.errors()
            ]
            continue
        if entry.env is not None and not os.environ.get(entry.env):
            problems.append(Problem("error", f"{where}.env: environment variable {entry.env} is not set"))
        if entry.policy is not None:
            problems += [Problem("warning", f"{where}.policy.{w}") for w in rule_warnings(entry.policy)]
        if inventory is not None and entry.servers is not None:
            problems += _token_servers(where, entry.servers, inventory)
    return problems


def _token_servers(where: str, servers: list[str], inventory: Inventory) -> list[Problem]:
    groups = inventory.groups()  # group settings without members included
    problems = []
    for name in servers:
        group = name.removeprefix("group:") if name.startswith("group:") else None
        if (group is not None and group not in groups) or (group is None and name not in inventory.servers):
            kind = "group" if group is not None else "server"
            problems.append(
                Problem(
                    "warning", f"{where}.servers: no {kind} {name!r} in the inventory (it gives no access)"
                )
            )
    return problems


def _loc(error: Any) -> str:
    return ".".join(str(p) for p in error["loc"]) or "(entry)"
