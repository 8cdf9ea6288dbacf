"""Process-wide settings that are not part of the inventory: where state lives, which ssh config.

Everything comes from the environment so the CLI, the server and the tests agree without flags:

* ``GTP_STATE_DIR``: the state folder (pinned host keys, later the job database and audit log).
  Default ``$XDG_STATE_HOME/gtp-remote``, i.e. ``~/.local/state/gtp-remote``.
* ``GTP_SSH_CONFIG``: the OpenSSH client config to honour. Default ``~/.ssh/config``.

The state folder holds the API token, the job database (commands and their output) and the
audit log, so what gtp-remote creates there is its owner's alone: the folder 0700, files 0600.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    ssh_config: Path | None = None

    @classmethod
    def from_env(cls) -> Settings:
        xdg = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        state = os.environ.get("GTP_STATE_DIR") or os.path.join(xdg, "gtp-remote")
        ssh_config = os.environ.get("GTP_SSH_CONFIG")
        return cls(state_dir=Path(state), ssh_config=Path(ssh_config) if ssh_config else None)

    @property
    def known_hosts(self) -> Path:
        """The project's own known_hosts: keys pinned by ``accept-new`` land here."""
        return self.state_dir / "known_hosts"


def private_dir(path: Path) -> None:
    """Create a folder of the state (and its parents) that only its owner may enter; one made
    before (by an older version, or by hand) is closed too, when it is ours."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            path.chmod(0o700)


def private_file(path: Path) -> None:
    """Create a file of the state that only its owner may read (it may exist already)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        with contextlib.suppress(OSError):  # an existing file may be someone else's: best effort
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
