"""The gateway: the one core service behind the CLI (and the HTTP API and agents later).

It owns the inventory and one executor per server, created on first use and kept for the
life of the process, which is what makes SSH connections pooled rather than per command.
Front ends parse their input, call a method here, and shape the output; none of them builds an
executor or talks to a transport itself.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from gtp_remote.config import Inventory, load_inventory
from gtp_remote.executors.base import CheckResult, Executor, RunResult
from gtp_remote.executors.local import LocalExecutor
from gtp_remote.executors.output import DEFAULT_OUTPUT_LIMIT
from gtp_remote.executors.ssh import ConnectLimits, SSHExecutor
from gtp_remote.fanout import DEFAULT_FORKS, FanOutResult, HostResult, fan_out
from gtp_remote.settings import Settings


class Gateway:
    def __init__(self, inventory: Inventory, settings: Settings | None = None):
        self.inventory = inventory
        self.settings = settings or Settings.from_env()
        self._executors: dict[str, Executor] = {}
        self._limits = ConnectLimits()

    @classmethod
    def from_path(
        cls, path: str | os.PathLike[str] | None = None, settings: Settings | None = None
    ) -> Gateway:
        return cls(load_inventory(path), settings)

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def executor(self, name: str) -> Executor:
        """The server's executor; raises ``UnknownServerError`` for a name not in the inventory."""
        existing = self._executors.get(name)
        if existing is not None:
            return existing
        server = self.inventory.get(name)
        executor: Executor
        if server.protocol == "local":
            executor = LocalExecutor(server)
        else:
            jump = None
            if server.jump and server.jump in self.inventory.servers:
                jump_executor = self.executor(server.jump)
                assert isinstance(jump_executor, SSHExecutor)
                jump = jump_executor
            executor = SSHExecutor(server, self.settings, self._limits, jump=jump)
        self._executors[name] = executor
        return executor

    async def run(
        self,
        server: str,
        command: str,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | str | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ) -> RunResult:
        return await self.executor(server).run(
            command, timeout=timeout, cwd=cwd, env=env, stdin=stdin, output_limit=output_limit
        )

    async def fan_out(
        self,
        target: str,
        command: str,
        *,
        forks: int = DEFAULT_FORKS,
        timeout: float | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        on_done: Callable[[HostResult], None] | None = None,
    ) -> FanOutResult:
        servers = self.inventory.resolve(target)
        return await fan_out(
            servers,
            self.executor,
            command,
            forks=forks,
            timeout=timeout,
            output_limit=output_limit,
            on_done=on_done,
        )

    async def check(self, target: str = "all", *, forks: int = DEFAULT_FORKS) -> list[CheckResult]:
        servers = self.inventory.resolve(target)
        gate = asyncio.Semaphore(forks)

        async def one(name: str) -> CheckResult:
            async with gate:
                return await self.executor(name).check()

        return list(await asyncio.gather(*(one(s.name) for s in servers)))

    async def close(self) -> None:
        """Close every connection (and with them their tunnels and SFTP sessions)."""
        executors, self._executors = list(self._executors.values()), {}
        await asyncio.gather(*(e.close() for e in executors), return_exceptions=True)
