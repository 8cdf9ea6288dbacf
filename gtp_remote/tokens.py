"""The tokens callers present, and the principals they stand for.

Tokens come from, in order: a tokens file (``GTP_TOKENS_FILE``, else ``tokens.yaml`` in the state
folder) with named tokens, their scopes and policies; else ``GTP_API_TOKEN``; else a token
generated on first start, stored with mode 0600 in the state folder and printed once. A tokens
file never holds a token itself: each entry names the environment variable that holds it, or its
SHA-256 digest. The HTTP API, MCP and anything else that takes a token share this module.

Presented tokens are hashed and compared against every known digest with ``hmac.compare_digest``
and without stopping at the first match, so timing reveals neither the token nor which one matched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gtp_remote.access import DEFAULT_OPERATIONS, OPERATIONS, Principal
from gtp_remote.errors import InventoryError, UnauthorizedError
from gtp_remote.policy import PolicyConfig, rule_warnings
from gtp_remote.settings import Settings, private_dir


class _TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    env: str | None = Field(None, description="environment variable holding the token")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the token")
    servers: list[str] | None = Field(None, description="server names or group:NAME; all when absent")
    operations: list[str] = Field(
        list(DEFAULT_OPERATIONS), description=f"any of {', '.join(OPERATIONS)}; all but become when absent"
    )
    policy: PolicyConfig | None = Field(None, description="rules every action of this token passes")

    @model_validator(mode="after")
    def _one_source(self) -> _TokenEntry:
        if (self.env is None) == (self.sha256 is None):
            raise ValueError("give exactly one of env (a variable name) or sha256 (the token's digest)")
        unknown = set(self.operations) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown operations {sorted(unknown)}; known: {', '.join(OPERATIONS)}")
        return self


class _TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: dict[str, _TokenEntry]


@dataclass(frozen=True)
class Token:
    """A token the gateway accepts: its digest and the principal it stands for."""

    name: str
    digest: bytes = field(repr=False)
    servers: tuple[str, ...] | None = None
    operations: frozenset[str] = frozenset(OPERATIONS)
    env: str | None = None  # the environment variable that holds it, when it comes from one
    policy: PolicyConfig | None = None

    def principal(self, front_end: str = "rest", client: str | None = None) -> Principal:
        return Principal(self.name, self.operations, self.servers, self.policy, front_end, client)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Authenticator:
    def __init__(self, tokens: list[Token]):
        if not tokens:
            raise ValueError("at least one token is needed")
        self.tokens = tokens

    def authenticate(self, header: str | None) -> Token:
        """The token in an ``Authorization: Bearer`` header."""
        scheme, _, presented = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise UnauthorizedError(
                "missing bearer token", hint="send the header 'Authorization: Bearer <token>'"
            )
        return self.identify(presented.strip())

    def identify(self, presented: str) -> Token:
        """The token whose value is ``presented`` (constant work whichever matches, if any)."""
        try:
            wanted = digest(presented)
        except UnicodeEncodeError:  # bytes that were not UTF-8 in the header: no token's value
            wanted = b""  # still compared with every token, as any wrong value is
        found = None
        for token in self.tokens:  # no early exit
            if hmac.compare_digest(wanted, token.digest):
                found = token
        if found is None:
            raise UnauthorizedError("invalid bearer token", hint="check the token configured in the client")
        return found

    def named(self, name: str) -> Token:
        """The token called ``name``: what a session opened with it (MCP), or an OAuth grant made
        for it, acts as. Looked up again on each use, so a token removed from the file is gone."""
        for token in self.tokens:
            if token.name == name:
                return token
        raise UnauthorizedError(f"token '{name}' no longer exists", hint="sign in again with a current token")

    def env_names(self) -> set[str]:
        """The environment variables that hold tokens: never passed on to a local command."""
        return {t.env for t in self.tokens if t.env}

    def secrets_for_redaction(self) -> list[str]:
        """Token values we know in clear (from the environment), so the audit log can blank them."""
        return [v for v in (os.environ.get(name) for name in sorted(self.env_names())) if v]


def load_tokens(settings: Settings, *, announce=print) -> list[Token]:  # type: ignore[no-untyped-def]
    """The tokens this gateway accepts (see the module docstring for the order)."""
    state_dir = settings.state_dir
    named = settings.tokens_file
    path = named or state_dir / "tokens.yaml"
    if path.is_file():
        tokens = _from_file(path)
        for token in tokens:  # a rule that probably does not say what its author meant
            for warning in rule_warnings(token.policy) if token.policy else ():
                announce(f"warning: {path}: tokens.{token.name}.policy.{warning}")
        return tokens
    # A tokens file that was meant to be there must not fall back to a token with every
    # permission: one named but missing, or a dangling link or a folder in its place.
    if named or path.exists() or path.is_symlink():
        raise InventoryError(
            f"{'GTP_TOKENS_FILE names ' if named else ''}{path}, which is not a readable file",
            hint="fix the path or the link; without a tokens file, remove it (and unset GTP_TOKENS_FILE)"
            " to use GTP_API_TOKEN or the generated token",
        )
    if os.environ.get("GTP_API_TOKEN"):
        return [Token("default", digest(os.environ["GTP_API_TOKEN"]), env="GTP_API_TOKEN")]
    value, created = stored_token(state_dir)
    if created:
        announce(f"generated an API token (shown once; stored in {state_dir / 'api-token'}):\n  {value}")
    return [Token("default", digest(value))]


def stored_token(state_dir: Path) -> tuple[str, bool]:
    """The token kept in the state folder (mode 0600), generated on first use; (value, created)."""
    stored = state_dir / "api-token"
    if stored.is_file():
        return stored.read_text().strip(), False
    private_dir(state_dir)
    value = secrets.token_urlsafe(32)
    fd = os.open(stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value, True


def _from_file(path: Path) -> list[Token]:
    try:
        parsed = _TokensFile.model_validate(yaml.safe_load(path.read_text()) or {})
    except (ValidationError, yaml.YAMLError) as exc:
        raise InventoryError(f"{path}: invalid tokens file: {exc}") from None
    tokens = []
    for name, entry in parsed.tokens.items():
        if entry.env is not None:
            value = os.environ.get(entry.env)
            if not value:
                raise InventoryError(
                    f"{path}: tokens.{name}.env: environment variable {entry.env} is not set"
                )
            token_digest = digest(value)
        else:
            token_digest = bytes.fromhex(entry.sha256 or "")
        servers = tuple(entry.servers) if entry.servers is not None else None
        tokens.append(
            Token(name, token_digest, servers, frozenset(entry.operations), entry.env, entry.policy)
        )
    if not tokens:
        raise InventoryError(f"{path}: defines no tokens")
    return tokens
