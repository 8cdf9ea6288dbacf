"""One gateway per state folder.

The job store and the audit log live in the state folder; a second ``serve`` on the same folder
would mark the first one's running jobs ``interrupted`` at its start and answer approvals for
jobs it does not run. The server therefore holds an exclusive ``flock`` on ``gateway.lock`` for
its whole life (the kernel drops it if the process dies, so a crash leaves nothing to clean up),
with its PID inside, and a second start is refused, naming the holder. Two gateways need two
state folders, until there is a store they can share.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from gtp_remote.errors import StateInUseError
from gtp_remote.settings import private_dir


class StateLock:
    def __init__(self, state_dir: Path):
        self.path = state_dir / "gateway.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StateInUseError(
                f"another gtp-remote (PID {holder}) serves from {self.path.parent}",
                hint="stop it first, or give this one a state folder of its own: "
                "GTP_STATE_DIR=/another/folder gtp-remote serve",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor drops the lock
            self._fd = None
