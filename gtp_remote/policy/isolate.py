"""Judging a command in a worker process that is killed at a deadline.

Why a process and not a thread: on some invalid input (runs of ``|``, ``)``, ``<``...)
tree-sitter's error recovery at the end of the text runs for seconds without calling back and
without releasing the GIL, so neither the parse deadline nor a worker thread keeps the event
loop serving: 32 kB stalled the whole gateway for 39 s. A process can be killed, and has its own
GIL and a memory limit.

Why written here rather than with ``multiprocessing``: its ``spawn`` and ``forkserver`` children
import the parent's ``__main__`` again (a CLI entry point, a test runner), and ``fork`` from the
gateway would copy a process whose other threads (asyncssh, executors) may hold locks. Workers
are plain ``python -m gtp_remote.policy.isolate`` processes, kept warm and reused; each request
is a length-prefixed text on stdin, each answer a length-prefixed pickle of the Analysis on
stdout. A worker that misses the deadline is killed and replaced. Only commands whose operators
could make a parse slow come here (see ``engine.analyse``); nearly every command is judged in the
gateway's own process, as before.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time

from gtp_remote.policy.shell import Analysis

SECONDS = 2.0  # a worker not done by then is killed (its own deadlines stop a normal parse at 1 s)
START_SECONDS = 15.0  # for a new worker to be ready (imports), not counted in SECONDS
MEMORY = 2 << 30  # address space a worker may use
WORKERS = 2  # at once; more requests wait (in worker threads, never on the event loop)
_HEADER = struct.Struct("!Q")


class _Worker:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gtp_remote.policy.isolate"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        with contextlib.suppress(OSError):  # no limit is no reason not to judge
            resource.prlimit(self.process.pid, resource.RLIMIT_AS, (MEMORY, MEMORY))
        self.ready = False

    def ask(self, text: str) -> Analysis | None:
        """The worker's analysis, or None when it missed its deadline or died (then it is
        killed: never reused, since it may still be parsing)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        data = text.encode("utf-8", "surrogatepass")
        try:
            self.process.stdin.write(_HEADER.pack(len(data)) + data)
            self.process.stdin.flush()
            wait = START_SECONDS if not self.ready else 0.0
            answer = _read(self.process.stdout.fileno(), time.monotonic() + SECONDS + wait)
        except OSError:
            answer = None
        if answer is None:
            self.kill()
            return None
        self.ready = True
        return pickle.loads(answer)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()


def _read(fd: int, deadline: float) -> bytes | None:
    """One length-prefixed answer from ``fd``, or None at the deadline or end of file."""
    chunks: list[bytes] = []
    need, header = _HEADER.size, True
    while need:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, min(need, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        need -= len(chunk)
        if not need and header:
            (need,) = _HEADER.unpack(b"".join(chunks))
            chunks, header = [], False
    return b"".join(chunks)


_idle: list[_Worker] = []
_lock = threading.Lock()
_slots = threading.BoundedSemaphore(WORKERS)


def analyse(text: str) -> Analysis:
    """``shell.analyse(text)`` in a worker process; an analysis with an ``error`` when the worker
    takes longer than :data:`SECONDS`, runs out of memory or dies. Blocks: call it in a thread."""
    with _slots:
        with _lock:
            worker = _idle.pop() if _idle else None
        worker = worker or _Worker()
        result = worker.ask(text)
        if result is None:
            return Analysis(error=f"it took over {SECONDS:g}s to analyse; split it into smaller commands")
        with _lock:
            _idle.append(worker)
        return result


def _serve() -> None:
    """The worker: requests on stdin, answers on stdout, until stdin closes."""
    from gtp_remote.policy import shell

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while header := stdin.read(_HEADER.size):
        (size,) = _HEADER.unpack(header)
        text = stdin.read(size).decode("utf-8", "surrogatepass")
        try:
            result = shell.analyse(text)
        except MemoryError:
            result = Analysis(error=f"analysing it needed over {MEMORY >> 30} GiB; split it")
        answer = pickle.dumps(result)
        stdout.write(_HEADER.pack(len(answer)) + answer)
        stdout.flush()


if __name__ == "__main__":
    _serve()
