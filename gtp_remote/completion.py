"""Shell completion of what the inventory names: servers, groups and specialists.

Typer does the shell side (``gtp-remote --install-completion`` for bash, zsh, fish and
PowerShell); these functions answer its questions. A completion runs on every Tab press, so it
must be quick and silent: it reads the inventory the command line names (``-i``), else the
default one, prints nothing, and answers nothing when the inventory cannot be read, rather than
an error in the middle of the user's prompt.

A target is an Ansible-style pattern (``web:&prod:!db1``), so only its last part is completed,
and the parts before it are kept: ``web:&pr<Tab>`` offers ``web:&prod``.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from gtp_remote.config import Inventory, load_inventory
from gtp_remote.settings import Settings

#: Where one part of a pattern ends and the next begins, with the operator it starts with.
_LAST_PART = re.compile(r"^(?P<head>.*[,:][&!]?|[&!]?)(?P<tail>[^,:]*)$")


def _inventory(ctx: Any) -> Inventory | None:
    root = ctx.find_root() if ctx is not None else None
    path = root.params.get("inventory") if root is not None else None
    with contextlib.suppress(Exception):  # an unreadable inventory completes nothing, quietly
        return load_inventory(Path(path) if path else None, Settings.from_env())
    return None


def targets(ctx: Any, incomplete: str) -> list[str]:
    """Servers, groups (bare, as patterns name them, and as ``group:NAME``) and ``all``."""
    inventory = _inventory(ctx)
    if inventory is None:
        return []
    match = _LAST_PART.match(incomplete)
    head, tail = (match["head"], match["tail"]) if match else ("", incomplete)
    groups = sorted(inventory.groups())  # group settings without members included
    if head.endswith("group:"):
        words = groups
    else:
        words = ["all", *inventory.servers, *groups, *(f"group:{g}" for g in groups)]
    return [head + w for w in dict.fromkeys(words) if w.startswith(tail)]


def specialists(ctx: Any, incomplete: str) -> list[str]:
    """What ``ask`` takes: specialists, then servers that have a model."""
    inventory = _inventory(ctx)
    if inventory is None:
        return []
    names = [*inventory.specialists, *(n for n, s in inventory.servers.items() if s.llm is not None)]
    return [n for n in dict.fromkeys(names) if n.startswith(incomplete)]
