"""Per-host results for scripts: ``exec --tree DIR`` files and ``exec --jsonl`` lines.

``--tree`` follows ``ansible --tree``: one set of files per host, named by the host, so two runs
can be compared with ``diff -r``: ``HOST.out`` (stdout), ``HOST.err`` (stderr) and ``HOST.json``
(the whole result: status, exit code, times, byte counts, ``truncated`` when the output went over
the per-host limit and only its head and tail were kept, the error of an unreachable host).
Each file is written to a temporary name and renamed, so a reader never sees half of one, and
as each host finishes, so a long fan-out leaves the finished hosts' files behind if interrupted.

``--jsonl`` prints one JSON object a line, per host, the moment it finishes: a script reads
results as they come instead of waiting for the slowest host.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TextIO

from gtp_remote.errors import InvalidRequestError, LocalWriteError
from gtp_remote.fanout import HostResult


def prepare_tree(path: Path) -> Path:
    """Create the tree's folder (and its parents); refuse a path that is not a folder."""
    if path.exists() and not path.is_dir():
        raise InvalidRequestError(f"--tree {path}: exists and is not a folder", hint="name a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidRequestError(f"--tree {path}: cannot create it: {exc.strerror or exc}") from None
    return path


def write_tree(folder: Path, result: HostResult) -> None:
    """``HOST.out``, ``HOST.err`` and ``HOST.json`` for one host (server names hold no ``/``)."""
    files = {
        f"{result.server}.out": result.stdout,
        f"{result.server}.err": result.stderr,
        f"{result.server}.json": result.model_dump_json(indent=2) + "\n",
    }
    for name, text in files.items():
        final = folder / name
        temp = folder / f".{name}.{os.getpid()}.tmp"
        try:
            temp.write_text(text, encoding="utf-8", errors="surrogateescape")
            temp.replace(final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise LocalWriteError(
                f"--tree: cannot write {final}: {exc.strerror or exc}",
                hint="free space, or choose another DIR",
            ) from None


def print_line(result: HostResult, stream: TextIO = sys.stdout) -> None:
    """One host's result as one JSON line, flushed at once."""
    stream.write(result.model_dump_json() + "\n")
    stream.flush()
