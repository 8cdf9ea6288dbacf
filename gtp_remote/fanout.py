"""Fan-out: one command on many servers at once, each host's fate its own.

Concurrency is bounded (``forks``) so a 500-host inventory does not open 500 handshakes at
once; every host gets the same timeout; a host that fails or cannot be reached is recorded in
its own result and never disturbs the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from gtp_remote.config import Server
from gtp_remote.errors import GtpError
from gtp_remote.executors.base import Executor
from gtp_remote.executors.output import DEFAULT_OUTPUT_LIMIT

Status = Literal["ok", "failed", "unreachable"]
DEFAULT_FORKS = 50


class HostResult(BaseModel):
    server: str
    status: Status
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration_ms: float
    timed_out: bool = False
    truncated: bool = False
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    error: dict[str, str] | None = None


class Summary(BaseModel):
    ok: int
    failed: int
    unreachable: int
    total: int
    duration_ms: float


class FanOutResult(BaseModel):
    command: str
    results: list[HostResult]
    summary: Summary

    @property
    def ok(self) -> bool:
        return self.summary.ok == self.summary.total


async def fan_out(
    servers: list[Server],
    executor_for: Callable[[str], Executor],
    command: str,
    *,
    forks: int = DEFAULT_FORKS,
    timeout: float | None = None,
    cwd: str | None = None,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
    env: dict[str, str] | None = None,
    become: bool = False,
    on_done: Callable[[HostResult], None] | None = None,
) -> FanOutResult:
    """Run ``command`` on every server; results come back in the order of ``servers``."""
    started = time.monotonic()
    gate = asyncio.Semaphore(max(forks, 1))

    async def one(server: Server) -> HostResult:
        async with gate:
            t0 = time.monotonic()
            try:
                r = await executor_for(server.name).run(
                    command, timeout=timeout, cwd=cwd, env=env, output_limit=output_limit, become=become
                )
            except GtpError as exc:
                result = HostResult(
                    server=server.name,
                    status="unreachable" if exc.kind == "unreachable" else "failed",
                    duration_ms=round((time.monotonic() - t0) * 1000, 3),
                    error=exc.to_dict(),
                )
            else:
                result = HostResult(
                    server=server.name,
                    status="ok" if r.ok else "failed",
                    exit_code=r.exit_code,
                    stdout=r.stdout,
                    stderr=r.stderr,
                    duration_ms=r.duration_ms,
                    timed_out=r.timed_out,
                    truncated=r.truncated,
                    stdout_bytes=r.stdout_bytes,
                    stderr_bytes=r.stderr_bytes,
                    error={"code": "timeout", "message": f"timed out after {timeout:g}s; killed"}
                    if r.timed_out and timeout is not None
                    else None,
                )
        if on_done is not None:
            on_done(result)
        return result

    results = list(await asyncio.gather(*(one(s) for s in servers)))
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "failed", "unreachable")}
    return FanOutResult(
        command=command,
        results=results,
        summary=Summary(
            **counts, total=len(results), duration_ms=round((time.monotonic() - started) * 1000, 3)
        ),
    )
