"""Host key checking: ``strict`` (default) and ``accept-new``, never a prompt, never silent.

asyncssh matches the presented key against the known_hosts we give it (the user's, or the
server's own file, plus the project's pin file). Only when that fails does it ask the client's
``validate_host_public_key``; that is where the policy lives: an unknown host under
``accept-new`` is trusted and its key pinned once the login succeeds; anything else is refused,
and we keep what is needed to say why (the host and both fingerprints).
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

from gtp_remote.errors import HostKeyError
from gtp_remote.settings import private_dir


class HostKeyVerifier:
    """Decides on one connection attempt's host key and explains a refusal."""

    def __init__(self, server: str, policy: str, files: list[Path], pin_file: Path):
        self.server = server
        self.policy = policy
        self.pin_file = pin_file
        readable = [str(f) for f in files if f.is_file()]
        try:
            self.known = asyncssh.read_known_hosts(readable) if readable else asyncssh.import_known_hosts("")
        except (ValueError, OSError) as exc:
            raise self._unreadable(readable, exc) from None
        self.status = "trusted"
        self.error: HostKeyError | None = None
        self._pending_pin: str | None = None

    def _unreadable(self, files: list[str], exc: Exception) -> HostKeyError:
        """Which file could not be read, and why: no host key can be checked without it."""
        culprit = ", ".join(files)
        for file in files:
            try:
                asyncssh.read_known_hosts(file)
            except (ValueError, OSError):
                culprit = file
                break
        reason = getattr(exc, "strerror", None) or str(exc)
        return HostKeyError(
            f"cannot check the host key of {self.server}: known_hosts file {culprit}: {reason}",
            server=self.server,
            hint="fix or remove that line (ssh-keygen -R HOST -f FILE rewrites the file)",
        )

    def validate(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """Called by asyncssh only for a key that known_hosts does not already trust."""
        where = f"{host}:{port}"
        presented = key.get_fingerprint()
        trusted = self.known.match(host, addr, port if port != 22 else None)[0]
        if trusted:
            expected = ", ".join(sorted({k.get_fingerprint() for k in trusted}))
            self.error = HostKeyError(
                f"host key mismatch for {self.server} ({where}): it presented {presented}, "
                f"known_hosts has {expected}",
                server=self.server,
                hint="if the host was reinstalled remove the old key (ssh-keygen -R); "
                "otherwise treat this as an attack",
            )
            return False
        if self.policy == "accept-new":
            pattern = host if port == 22 else f"[{host}]:{port}"
            self._pending_pin = f"{pattern} {key.export_public_key().decode().strip()}\n"
            self.status = "pinned"
            return True
        self.error = HostKeyError(
            f"host key of {self.server} ({where}) is not known: it presented {presented}",
            server=self.server,
            hint="add it to known_hosts (ssh-keyscan) or set host_key_policy: accept-new",
        )
        return False

    def commit(self) -> None:
        """Pin the key accepted on first use; done only after the login succeeded."""
        if self._pending_pin is None:
            return
        private_dir(self.pin_file.parent)
        fd = os.open(self.pin_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(self._pending_pin)
        self._pending_pin = None
