"""File operations over SFTP, by name: the fallback where a host cannot run the helper.

Used for an ssh server with ``files: sftp``, and with ``files: auto`` on a host without python3
when the server has no ``root``. It answers the same operations as ``confined.py`` with the same
replies, but SFTP names every file by path and the server looks each name up again: the check
(realpath, lstat, each link target judged by its text) and the use are separate lookups, so a
process on the host that can change files under the path can race them (swap a folder for a
symlink in between) and make a call act outside ``root``, or on another file than the one whose
real path was reported. The README's section on roots says so; ``files: auto`` never uses this
for a server with a root.

What a checksum verifies here: SFTP cannot run anything on the host, so the sha256 a write
answers (and checks against an expected one before the rename) is computed on the gateway from
the temp file read back over SFTP after it was written and closed: the bytes the host's disk
gives back, not the ones we sent. A read's sha256 is likewise the whole file read over SFTP and
hashed here. The rename happens only after that check, as in ``confined.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import secrets
import stat as stat_mod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncssh

from gtp_remote.config import Server
from gtp_remote.executors.confined import (
    CHUNK,
    LIST_MAX,
    MAX_HOPS,
    READ_MAX,
    FsError,
    OffsetError,
    check_commit_args,
    file_type,
    staging_name,
)

SftpFor = Callable[[str], AbstractAsyncContextManager[asyncssh.SFTPClient]]


def _version(attrs: asyncssh.SFTPAttrs) -> str:
    """SFTP has no inode numbers: size and mtime (seconds) are what a conditional write compares."""
    return f"sftp:{attrs.size or 0}:{attrs.mtime or 0}"


def _stat_reply(path: str, attrs: asyncssh.SFTPAttrs) -> dict[str, Any]:
    perms = attrs.permissions or 0
    return {
        "path": path,
        "type": file_type(perms),
        "size": attrs.size or 0,
        "mode": stat_mod.S_IMODE(perms),
        "mtime": float(attrs.mtime or 0),
        "version": _version(attrs),
    }


class SftpFiles:
    """``confined.py``'s operations, done by name over the connection's SFTP client."""

    def __init__(self, server: Server, sftp_for: SftpFor):
        self.server = server
        self._sftp = sftp_for  # the connection's SFTP client, for one operation on a path

    async def call(self, request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        path = request["path"]
        try:
            return await self._dispatch(request, payload)
        except FsError as exc:
            return exc.reply(), b""
        except asyncssh.SFTPError as exc:
            kind = {
                asyncssh.SFTPNoSuchFile: "missing",
                asyncssh.SFTPPermissionDenied: "permission",
                asyncssh.SFTPFileAlreadyExists: "exists",
            }.get(type(exc), "io")
            return FsError(kind, str(exc.reason), path).reply(), b""

    async def _dispatch(self, request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        op, path, expect = request["op"], request["path"], request.get("expect")
        if op == "resolve":
            return {"real": await self.confine(path, must_exist=request.get("must_exist", True))}, b""
        if op in ("write", "stage"):
            check_commit_args(request, path)
            real = await self.confine(path, must_exist=False)
            _check_expected(real, expect, path)
            if op == "stage":
                return await self._stage(path, real, payload, request), b""
            return await self._write(path, real, payload, request.get("mode", "overwrite"), request), b""
        real = await self.confine(path)
        _check_expected(real, expect, path)
        async with self._sftp(real) as sftp:
            if op == "stat":
                return {"stat": _stat_reply(real, await sftp.stat(real))}, b""
            if op == "list":
                return await self._list(sftp, real, path, request.get("limit")), b""
            if op == "read":
                return await self._read(sftp, real, path, request)
        raise FsError("invalid", f"unknown operation {op!r}", path)

    async def _read(
        self, sftp: asyncssh.SFTPClient, real: str, path: str, request: dict[str, Any]
    ) -> tuple[dict[str, Any], bytes]:
        offset, limit = int(request.get("offset") or 0), request.get("limit")
        attrs = await sftp.stat(real)
        _require_file(attrs, path)  # a pipe would block every file operation on the connection
        if limit is None and (attrs.size or 0) - offset > READ_MAX:
            raise FsError(
                "too_large", f"is {attrs.size} bytes, more than one read returns ({READ_MAX})", path
            )
        size = READ_MAX if limit is None else int(limit)
        async with sftp.open(real, "rb") as f:
            data = await f.read(size, offset)
            reply = {"stat": _stat_reply(real, attrs)}
            wanted = request.get("sha256")
            if wanted == "always" or (wanted == "eof" and offset + size >= (attrs.size or 0)):
                reply["sha256"] = await _digest(f)
        return reply, data

    async def _list(
        self, sftp: asyncssh.SFTPClient, real: str, path: str, limit: int | None
    ) -> dict[str, Any]:
        entries: list[list[Any]] = []
        async for n in sftp.scandir(real):
            name = n.filename if isinstance(n.filename, str) else n.filename.decode(errors="surrogateescape")
            if name in (".", ".."):
                continue
            if len(entries) >= (LIST_MAX if limit is None else limit):
                if limit is None:
                    raise FsError("too_large", f"holds more than {LIST_MAX} entries", path)
                break
            attrs = n.attrs
            entries.append(
                [name, file_type(attrs.permissions or 0), attrs.size or 0, float(attrs.mtime or 0)]
            )
        return {"real": real, "entries": entries}

    async def _write(
        self, path: str, real: str, data: bytes, mode: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        async with self._sftp(real) as sftp:
            existing = None
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                existing = await sftp.stat(real)
            wanted = request.get("if_version")
            if wanted is not None and (existing is None or _version(existing) != wanted):
                raise FsError("version", "changed since it was read", path)
            if mode == "append":
                if request.get("sha256") is not None or request.get("file_mode") is not None:
                    raise FsError(
                        "invalid", "sha256 and file_mode apply to create and overwrite, not append", path
                    )
                if existing is not None:
                    _require_file(existing, path)
                async with sftp.open(real, "ab") as f:
                    await f.write(data)
                return {"stat": _stat_reply(real, await sftp.stat(real))}
            if existing is not None and stat_mod.S_ISDIR(existing.permissions or 0):
                raise FsError("is_dir", "is a directory", path)
            if existing is not None and mode == "create":
                raise FsError("exists", "file exists (mode 'create' never overwrites)", path)
            directory, name = posixpath.split(real)
            tmp = posixpath.join(directory, f".{name[:40]}.{secrets.token_hex(4)}.gtp-tmp")
            try:
                async with sftp.open(tmp, "wb") as f:
                    await f.write(data)
                sha = await self._commit(sftp, tmp, real, existing, mode, path, request)
            except BaseException:
                with contextlib.suppress(Exception):
                    await sftp.remove(tmp)
                raise
            return {"stat": _stat_reply(real, await sftp.stat(real)), "sha256": sha}

    async def _commit(
        self,
        sftp: asyncssh.SFTPClient,
        tmp: str,
        real: str,
        existing: asyncssh.SFTPAttrs | None,
        mode: str,
        path: str,
        request: dict[str, Any],
    ) -> str:
        """``confined.commit`` by name: the mode set, the temp file read back and hashed (see
        the module's docstring), checked against ``sha256``, then renamed (or linked) in place.
        The caller removes ``tmp`` on any error."""
        wanted = request.get("file_mode")
        if wanted is None:
            perms = existing.permissions if existing is not None else None
            wanted = perms & 0o777 if perms and stat_mod.S_ISREG(perms) else 0o644  # no setuid kept
        await sftp.chmod(tmp, wanted)
        async with sftp.open(tmp, "rb") as f:
            sha = await _digest(f)
        expected = request.get("sha256")
        if expected is not None and sha != expected:
            raise FsError("checksum", f"arrived with sha256 {sha}, not {expected}: not written", path)
        if mode == "create":
            try:  # a hard link fails if the name appeared meanwhile
                await sftp.link(tmp, real)
            except asyncssh.SFTPFailure:
                raise FsError("exists", "file exists (mode 'create' never overwrites)", path) from None
            await sftp.remove(tmp)
        else:
            await sftp.posix_rename(tmp, real)
        return sha

    async def _stage(self, path: str, real: str, data: bytes, request: dict[str, Any]) -> dict[str, Any]:
        """``confined.op_stage`` by name: a chunk at ``offset`` of the staging file beside the
        name (0600), the final one committed by ``_commit``."""
        mode, offset, final = request.get("mode", "overwrite"), request.get("offset", 0), request.get("final")
        if mode not in ("create", "overwrite"):
            raise FsError("invalid", "mode must be create or overwrite", path)
        if type(offset) is not int or offset < 0:
            raise FsError("invalid", "offset must be an integer >= 0", path)
        directory, name = posixpath.split(real)
        staged = posixpath.join(directory, staging_name(name, request.get("staging"), path))
        async with self._sftp(real) as sftp:
            existing = None
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                existing = await sftp.stat(real)
            if existing is not None and stat_mod.S_ISDIR(existing.permissions or 0):
                raise FsError("is_dir", "is a directory", path)
            if existing is not None and mode == "create":
                raise FsError("exists", "file exists (mode 'create' never overwrites)", path)
            if offset == 0:
                with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                    await sftp.remove(staged)
                flags = "xb"
            else:
                try:
                    here = await sftp.lstat(staged)
                except asyncssh.SFTPNoSuchFile:
                    raise OffsetError(0, path) from None
                if not stat_mod.S_ISREG(here.permissions or 0):
                    raise FsError("not_regular", "its staging file is not a regular file", path)
                if (here.size or 0) != offset:
                    raise OffsetError(here.size or 0, path)
                flags = "r+b"
            attrs = asyncssh.SFTPAttrs(permissions=0o600)
            async with sftp.open(staged, flags, attrs) as f:
                await f.write(data, offset)
            size = (await sftp.stat(staged)).size or 0
            if not final:
                return {"staged": size}
            try:
                sha = await self._commit(sftp, staged, real, existing, mode, path, request)
            except BaseException:
                with contextlib.suppress(Exception):
                    await sftp.remove(staged)
                raise
            return {"stat": _stat_reply(real, await sftp.stat(real)), "sha256": sha, "staged": size}

    # -- confinement by name --------------------------------------------------------------------

    async def confine(self, path: str, *, must_exist: bool = True) -> str:
        """Resolve ``path`` on the server by name and refuse it if it leaves ``root``: first by
        the text alone, so nothing about the world outside root is revealed; then each link
        followed by hand, likewise before looking; then on the resolved path."""
        root = self.server.root
        base = root or self.server.cwd
        full = path if posixpath.isabs(path) or base is None else posixpath.join(base, path)
        if root is None:
            return await self._resolve(full, must_exist)
        if posixpath.isabs(full) == posixpath.isabs(root):
            _refuse_outside(path, posixpath.normpath(full), posixpath.normpath(root))
        real_root = await self._resolve(root, True)

        def inside(hop: str) -> None:
            hop = posixpath.normpath(hop)
            for top in (posixpath.normpath(root), real_root):  # root as written, or resolved
                if hop == top or hop.startswith(top.rstrip("/") + "/"):
                    return
            _refuse_outside(path, hop, real_root)

        real = await self._resolve(full, must_exist, inside)
        _refuse_outside(path, real, real_root)
        return real

    async def _resolve(
        self, path: str, must_exist: bool, inside: Callable[[str], None] | None = None, hops: int = 0
    ) -> str:
        """Canonical path; when the last component may not exist yet, resolve its parent, and
        follow a last component that is a link to nothing by hand (writing through it would
        create its target, which must be checked, not the link's name)."""
        if must_exist:
            return await self._realpath(path)
        parent, leaf = posixpath.split(path.rstrip("/") or "/")
        if leaf in ("", ".", ".."):
            return await self._realpath(path)
        try:
            return await self._realpath(path)
        except (FsError, asyncssh.SFTPError):
            real_parent = await self._realpath(parent or ".")
        candidate = posixpath.join(real_parent, leaf)
        target = await self._readlink(candidate)
        if target is None:
            return candidate
        if hops >= MAX_HOPS:
            raise FsError("loop", "too many levels of symbolic links", path)
        hop = posixpath.join(real_parent, target)
        if inside is not None:
            inside(hop)
        return await self._resolve(hop, False, inside, hops + 1)

    async def _realpath(self, path: str) -> str:
        path = path[2:] if path.startswith("~/") else ("." if path == "~" else path)
        async with self._sftp(path) as sftp:
            real = await sftp.realpath(path)
            await sftp.stat(real)  # OpenSSH resolves paths that do not exist; we want an error
            return real

    async def _readlink(self, path: str) -> str | None:
        async with self._sftp(path) as sftp:
            try:
                target = await sftp.readlink(path)
            except asyncssh.SFTPError:  # not a link, or not there
                return None
        return target if isinstance(target, str) else target.decode()


async def _digest(f: asyncssh.SFTPClientFile) -> str:
    """The sha256 of a whole file open over SFTP, read in pieces."""
    h = hashlib.sha256()
    position = 0
    while data := await f.read(CHUNK, position):
        h.update(data)
        position += len(data)
    return h.hexdigest()


def _refuse_outside(path: str, resolved: str, root: str) -> None:
    if resolved == root or resolved.startswith(root.rstrip("/") + "/"):
        return
    raise FsError("outside", "leads outside its root", path)


def _check_expected(real: str, expect: str | None, path: str) -> None:
    if expect is not None and real != expect:
        raise FsError("changed", f"now resolves to {real}, not {expect}", path)


def _require_file(attrs: asyncssh.SFTPAttrs, path: str) -> None:
    perms = attrs.permissions or 0
    if stat_mod.S_ISDIR(perms):
        raise FsError("is_dir", "is a directory", path)
    if not stat_mod.S_ISREG(perms):
        raise FsError("not_regular", "is not a regular file", path)
