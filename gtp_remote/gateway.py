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
from typing import Literal

from pydantic import BaseModel

from gtp_remote import patch
from gtp_remote.config import Inventory, load_inventory
from gtp_remote.errors import InvalidRequestError, PayloadTooLargeError
from gtp_remote.executors.base import CheckResult, DirEntry, Executor, FileStat, Output, RunResult
from gtp_remote.executors.local import LocalExecutor
from gtp_remote.executors.output import DEFAULT_OUTPUT_LIMIT, json_chars
from gtp_remote.executors.ssh import ConnectLimits, SSHExecutor
from gtp_remote.fanout import DEFAULT_FORKS, FanOutResult, HostResult, fan_out
from gtp_remote.settings import Settings

#: How ``run_code`` hands code to each language: on stdin, so nothing is left on the host.
CODE_RUNNERS = {"python": "python3 -", "bash": "bash -s", "sh": "sh -s", "node": "node -"}
Language = Literal["python", "bash", "sh", "node"]
PATCH_MAX_BYTES = 10 * 1024 * 1024  # a patch reads the whole file into memory, and writes it back


class FileContent(BaseModel):
    server: str
    path: str
    content: str
    offset: int
    bytes_read: int
    size: int
    eof: bool
    binary: bool


class ListedEntry(DirEntry):
    path: str


class Listing(BaseModel):
    server: str
    path: str
    entries: list[ListedEntry]
    truncated: bool


class PatchResult(BaseModel):
    server: str
    path: str
    hunks: int
    dry_run: bool
    size: int
    preview: str | None = None


class Gateway:
    def __init__(self, inventory: Inventory, settings: Settings | None = None):
        self.inventory = inventory
        self.settings = settings or Settings.from_env()
        self._executors: dict[str, Executor] = {}
        self._limits = ConnectLimits()
        #: Variables of the gateway's own environment that hold secrets (model API keys here,
        #: the API's tokens added by the API): local commands never see them (nor any GTP_*).
        self.hidden_env: set[str] = {p.api_key_env for p in inventory.providers.values() if p.api_key_env}
        from gtp_remote.llm.service import LLMService  # the LLM side needs the gateway, not vice versa

        self.llm = LLMService(self)

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
            executor = LocalExecutor(server, hidden_env=self.hidden_env)
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

    async def run_code(
        self, server: str, code: str, language: Language, *, timeout: float | None = None, on_output=None
    ) -> RunResult:
        """Run a snippet with the language's interpreter ON the server, fed through stdin."""
        if language not in CODE_RUNNERS:
            raise InvalidRequestError(f"language must be one of {', '.join(CODE_RUNNERS)}, got {language!r}")
        return await self.run_streaming(
            server, CODE_RUNNERS[language], timeout=timeout, stdin=code, on_output=on_output
        )

    async def run_streaming(self, server: str, command: str, *, on_output=None, **options) -> RunResult:  # type: ignore[no-untyped-def]
        """``run``, reporting output pieces to ``on_output`` as they arrive (for job tails)."""
        async for event in self.executor(server).stream(command, **options):
            if isinstance(event, Output):
                if on_output is not None:
                    on_output(event)
            else:
                return event
        raise AssertionError("stream ended without a result")

    # -- files ------------------------------------------------------------------------------------

    async def read_file(
        self,
        server: str,
        path: str,
        *,
        offset: int = 0,
        limit: int = 65536,
        max_json_chars: int | None = None,
    ) -> FileContent:
        """Up to ``limit`` bytes from ``offset``; with ``max_json_chars``, fewer when the content
        would take more inside JSON (binary bytes escape to 6 characters each): ``bytes_read``
        and ``eof`` then say where the next read starts, so nothing is skipped."""
        stat, data = await self.executor(server).read_file_stat(path, offset=offset, limit=limit)
        text, binary = _decode(data)
        if max_json_chars is not None and json_chars(text) > max_json_chars:
            data = data[: _fitting_bytes(data, binary, max_json_chars)]
            text, binary = _decode(data)
        return FileContent(
            server=server,
            path=stat.path,
            content=text,
            offset=offset,
            bytes_read=len(data),
            size=stat.size,
            eof=offset + len(data) >= stat.size,
            binary=binary,
        )

    async def write_file(
        self,
        server: str,
        path: str,
        content: str,
        *,
        mode: Literal["create", "overwrite", "append"] = "overwrite",
    ) -> FileStat:
        return await self.executor(server).write_file(path, content, mode=mode)

    async def list_dir(
        self, server: str, path: str = ".", *, recursive: bool = False, max_entries: int = 2000
    ) -> Listing:
        executor = self.executor(server)
        base = await executor.confine(path)
        out: list[ListedEntry] = []
        pending = [""]
        truncated = False
        while pending and not truncated:
            rel = pending.pop(0)
            for entry in await executor.list_dir(f"{base}/{rel}" if rel else base):
                if len(out) >= max_entries:
                    truncated = True
                    break
                child = f"{rel}/{entry.name}" if rel else entry.name
                out.append(ListedEntry(path=child, **entry.model_dump()))
                if recursive and entry.type == "dir":
                    pending.append(child)
        return Listing(server=server, path=base, entries=out, truncated=truncated)

    async def patch_file(self, server: str, path: str, diff: str, *, dry_run: bool = False) -> PatchResult:
        executor = self.executor(server)
        size = (await executor.stat(path)).size
        if size > PATCH_MAX_BYTES:
            raise PayloadTooLargeError(
                f"{path} on {server} is {size} bytes; patches apply to files of at most {PATCH_MAX_BYTES}",
                server=server,
                hint="edit a file this large with a command (sed, a script) instead",
            )
        data = await executor.read_file(path)
        try:
            original = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequestError(
                f"{path} on {server} is not UTF-8 text (byte {exc.start}): a diff cannot be applied to it",
                server=server,
                hint="patch text files only; rewrite a binary file with /file/write or a command",
            ) from None
        patched, hunks = patch.apply(original, diff)
        if dry_run:
            stat_size = len(patched.encode())
            return PatchResult(
                server=server, path=path, hunks=hunks, dry_run=True, size=stat_size, preview=patched[:2000]
            )
        stat = await executor.write_file(path, patched)
        return PatchResult(server=server, path=stat.path, hunks=hunks, dry_run=False, size=stat.size)

    async def fan_out(
        self,
        target: str,
        command: str,
        *,
        forks: int = DEFAULT_FORKS,
        timeout: float | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        env: dict[str, str] | None = None,
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
            env=env,
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
        await self.llm.close()
        executors, self._executors = list(self._executors.values()), {}
        await asyncio.gather(*(e.close() for e in executors), return_exceptions=True)


def _decode(data: bytes) -> tuple[str, bool]:
    """The text of file bytes, and whether they were binary (not UTF-8)."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), True


def _fitting_bytes(data: bytes, binary: bool, max_json_chars: int) -> int:
    """The longest prefix of ``data`` whose text fits ``max_json_chars`` inside JSON; text is cut
    on a character boundary so that it stays UTF-8."""
    lo, hi = 0, len(data)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if json_chars(data[:mid].decode("utf-8", "replace")) <= max_json_chars:
            lo = mid
        else:
            hi = mid - 1
    while not binary and 0 < lo < len(data) and data[lo] & 0xC0 == 0x80:  # inside a character
        lo -= 1
    return lo
