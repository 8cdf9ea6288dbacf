"""Process-wide settings that are not part of the inventory, read from the environment once.

:meth:`Settings.from_env` is the one place that reads them; the composition roots (the CLI, the
server) call it once and hand the object down. Secrets are not settings: a token or an API key
is read from its environment variable where it is used, and never stored here.

* ``GTP_STATE_DIR``: the state folder (token, pinned host keys, jobs, audit log). Default
  ``$XDG_STATE_HOME/gtp-remote``, i.e. ``~/.local/state/gtp-remote``.
* ``GTP_SSH_CONFIG``: the OpenSSH client config to honour. Default ``~/.ssh/config``.
* ``GTP_INVENTORY``: the inventory folder or file. Default ``./hosts`` when it exists, else
  ``$XDG_CONFIG_HOME/gtp-remote/hosts`` (``~/.config/gtp-remote/hosts``): a project's own
  inventory wins, and an operator's lives outside any checkout.
* ``GTP_TEMPLATES``: extra prompt-template folders (``os.pathsep``-separated).
* ``GTP_TOKENS_FILE``: the tokens file. Default ``tokens.yaml`` in the state folder.
* ``GTP_CORS_ORIGINS``, ``GTP_RATE_LIMIT``, ``GTP_RATE_BURST``, ``GTP_PUBLIC_URL``,
  ``GTP_DEFAULT_SERVER``: the HTTP API's (see the README).
* ``GTP_OAUTH`` (``builtin``, ``external``, ``off``), ``GTP_OAUTH_ACCESS_TTL``,
  ``GTP_OAUTH_ISSUER``, ``GTP_OAUTH_JWKS_URL``, ``GTP_OAUTH_CLAIM``, ``GTP_ALLOWED_HOSTS``:
  MCP's (see the README's MCP section).

The state folder holds the API token, the job database (commands and their output) and the
audit log, so what gtp-remote creates there is its owner's alone: the folder 0700, files 0600.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gtp_remote.errors import InventoryError

DEFAULT_ORIGINS = ("https://chat.openai.com", "https://chatgpt.com")


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    ssh_config: Path | None = None
    inventory: Path | None = None
    #: Where the inventory is looked for when neither --inventory nor GTP_INVENTORY names one.
    config_inventory: Path = Path(os.path.expanduser("~/.config/gtp-remote/hosts"))
    templates: tuple[Path, ...] = ()
    tokens_file: Path | None = None
    cors_origins: tuple[str, ...] = DEFAULT_ORIGINS
    rate: float = 20.0
    burst: int = 60
    public_url: str | None = None
    default_server: str | None = None
    #: MCP's OAuth: ``builtin`` (the gateway is its own authorization server), ``external`` (an
    #: IdP's JWTs, see ``oauth_issuer``), or ``off`` (bearer tokens only).
    oauth: str = "builtin"
    oauth_access_ttl: float = 900.0
    oauth_issuer: str | None = None  # external: the IdP's issuer URL
    oauth_jwks_url: str | None = None  # external: its JWKS (default: from its metadata)
    oauth_claim: str = "gtp_token"  # external: the claim naming the gateway token to act as
    allowed_hosts: tuple[str, ...] = ()  # Host headers MCP accepts besides localhost and the public URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        xdg = env.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        state = env.get("GTP_STATE_DIR") or os.path.join(xdg, "gtp-remote")
        xdg_config = env.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        origins = env.get("GTP_CORS_ORIGINS")
        try:
            rate = float(env.get("GTP_RATE_LIMIT", "20"))
            burst = int(env.get("GTP_RATE_BURST", "60"))
        except ValueError:
            raise InventoryError(
                "GTP_RATE_LIMIT must be a number and GTP_RATE_BURST an integer",
                hint="unset them for the defaults (20 requests a second, bursts of 60)",
            ) from None
        oauth = env.get("GTP_OAUTH", "external" if env.get("GTP_OAUTH_ISSUER") else "builtin")
        if oauth not in ("builtin", "external", "off"):
            raise InventoryError(f"GTP_OAUTH is {oauth!r}", hint="use builtin, external or off")
        if oauth == "external" and not env.get("GTP_OAUTH_ISSUER"):
            raise InventoryError("GTP_OAUTH=external needs GTP_OAUTH_ISSUER", hint="the IdP's issuer URL")
        try:
            access_ttl = float(env.get("GTP_OAUTH_ACCESS_TTL", "900"))
        except ValueError:
            access_ttl = -1
        if not 1 <= access_ttl <= 86400:
            raise InventoryError(
                "GTP_OAUTH_ACCESS_TTL must be seconds from 1 to 86400", hint="unset it for 900 (15 minutes)"
            )
        return cls(
            state_dir=Path(state),
            ssh_config=_path(env.get("GTP_SSH_CONFIG")),
            inventory=_path(env.get("GTP_INVENTORY")),
            config_inventory=Path(xdg_config) / "gtp-remote" / "hosts",
            templates=tuple(Path(p) for p in env.get("GTP_TEMPLATES", "").split(os.pathsep) if p),
            tokens_file=_path(env.get("GTP_TOKENS_FILE")),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip())
            if origins
            else DEFAULT_ORIGINS,
            rate=rate,
            burst=burst,
            public_url=env.get("GTP_PUBLIC_URL") or None,
            default_server=env.get("GTP_DEFAULT_SERVER") or None,
            oauth=oauth,
            oauth_access_ttl=access_ttl,
            oauth_issuer=env.get("GTP_OAUTH_ISSUER") or None,
            oauth_jwks_url=env.get("GTP_OAUTH_JWKS_URL") or None,
            oauth_claim=env.get("GTP_OAUTH_CLAIM") or "gtp_token",
            allowed_hosts=tuple(h.strip() for h in env.get("GTP_ALLOWED_HOSTS", "").split(",") if h.strip()),
        )

    def inventory_path(self) -> Path:
        """The inventory to load when no ``--inventory`` is given: ``GTP_INVENTORY``, else
        ``./hosts`` if it exists, else the user's config folder's ``hosts`` if that exists, else
        ``./hosts`` (whose absence the loader reports, naming both places)."""
        if self.inventory is not None:
            return self.inventory
        local = Path("hosts")
        if not local.exists() and self.config_inventory.exists():
            return self.config_inventory
        return local

    @property
    def known_hosts(self) -> Path:
        """The project's own known_hosts: keys pinned by ``accept-new`` land here."""
        return self.state_dir / "known_hosts"


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


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
