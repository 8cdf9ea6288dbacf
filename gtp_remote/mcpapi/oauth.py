"""OAuth 2.1 for MCP clients that cannot send a bearer token (ChatGPT's apps): the gateway as its
own authorization server.

The protocol is the SDK's (``mcp.server.auth``: RFC 8414 metadata, ``/authorize`` with PKCE S256
only, ``/token``, dynamic client registration per RFC 7591, ``/revoke``); this module is the
provider behind it, and the one step the SDK leaves to a server: the consent page. There an
operator signs in with a gateway token that holds ``admin`` and chooses which named token's
permissions and policy the client gets: their own, or one that can do no more than theirs. That
choice is a *grant*; every access token carries one, and acts as its named token, looked up on
each use and checked to be the same token (a token removed from the tokens file, or replaced by
a new one under its name, ends its grants). Registrations are bounded in size and number, and may
redirect only to https, loopback http or an app's own scheme; a used code that comes back
revokes its grant.

Access tokens are opaque random strings, short-lived (15 minutes by default); refresh tokens
rotate on every use, and one used twice revokes its whole grant (a stolen copy was used). Only
their SHA-256 digests are stored, with clients and grants, in ``oauth.sqlite3`` in the state
folder, so ``gtp-remote oauth list|revoke`` can read and revoke from the terminal while the
server runs. Every registration, consent, issue, refresh and revocation is audited. Tokens are
bound to this gateway's MCP resource URL (RFC 8707) and are never sent anywhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from gtp_remote.errors import UnauthorizedError
from gtp_remote.settings import private_file
from gtp_remote.tokens import Authenticator, Token

ACCESS_TTL = 900  # seconds an access token lives
REFRESH_TTL = 30 * 86400  # seconds a refresh token lives (each use gives a new one)
CODE_TTL = 300  # seconds an authorization code, or a consent page left open, lives
CONSENT_PATH = "/oauth/consent"
MAX_CLIENTS = 10_000  # registered clients kept at once
UNUSED_CLIENT_SECONDS = 3600  # a registered client that got no grant within an hour is forgotten
MAX_PENDING = 1_000  # consent pages open at once
PENDING_PER_CLIENT = 10  # ...of which one client may hold
MAX_METADATA = 8192  # bytes of a client's registration
MAX_NAME = 200  # characters of its name

Audit = Callable[[dict[str, Any]], Awaitable[None]]

_SCHEMA = """
create table if not exists clients (client_id text primary key, info text not null, created real not null);
create table if not exists grants (
    id text primary key, client_id text not null, token_name text not null, resource text not null,
    scopes text not null, approved_by text not null, created real not null, revoked real,
    fingerprint text not null
);
create table if not exists tokens (
    digest blob primary key, kind text not null, grant_id text not null, expires real not null, used real
);
create index if not exists tokens_expires on tokens (expires);
"""


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Grant:
    id: str
    client_id: str
    token_name: str
    resource: str
    scopes: list[str]
    approved_by: str
    created: float
    revoked: float | None
    fingerprint: str = ""  # of the named token's secret: a new token under the old name is not it
    client_name: str | None = None


class GrantStore:
    """Clients, grants and token digests in SQLite (see the module docstring). Small, indexed
    queries, run inline like the job store's."""

    def __init__(self, path: Path):
        self.path = path
        new = not path.exists()
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if new:
            private_file(path)
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # clients
    def client(self, client_id: str) -> OAuthClientInformationFull | None:
        row = self.db.execute("select info from clients where client_id = ?", (client_id,)).fetchone()
        return OAuthClientInformationFull.model_validate_json(row[0]) if row else None

    def client_count(self) -> int:
        return int(self.db.execute("select count(*) from clients").fetchone()[0])

    def forget_unused_clients(self, before: float) -> None:
        self.db.execute(
            "delete from clients where created < ? and client_id not in (select client_id from grants)",
            (before,),
        )

    def forget_oldest_unused_client(self) -> None:
        self.db.execute(
            "delete from clients where client_id = (select client_id from clients where client_id not in "
            "(select client_id from grants) order by created limit 1)"
        )

    def add_client(self, info: OAuthClientInformationFull) -> None:
        self.db.execute(
            "insert into clients values (?, ?, ?)", (info.client_id, info.model_dump_json(), time.time())
        )

    # grants
    def add_grant(self, grant: Grant) -> None:
        self.db.execute(
            "insert into grants values (?, ?, ?, ?, ?, ?, ?, null, ?)",
            (
                grant.id,
                grant.client_id,
                grant.token_name,
                grant.resource,
                json.dumps(grant.scopes),
                grant.approved_by,
                grant.created,
                grant.fingerprint,
            ),
        )

    def grant(self, grant_id: str) -> Grant | None:
        row = self.db.execute("select * from grants where id = ?", (grant_id,)).fetchone()
        return _grant(row) if row else None

    def grants(self) -> list[Grant]:
        rows = self.db.execute(
            "select g.*, c.info from grants g left join clients c on c.client_id = g.client_id "
            "order by g.created"
        ).fetchall()
        out = []
        for row in rows:
            info = json.loads(row[9]) if row[9] else {}
            out.append(_grant(row[:9], info.get("client_name")))
        return out

    def revoke_grant(self, grant_id: str) -> bool:
        done = self.db.execute(
            "update grants set revoked = ? where id = ? and revoked is null", (time.time(), grant_id)
        )
        return done.rowcount > 0

    # tokens
    def issue(self, grant_id: str, kind: str, ttl: float) -> tuple[str, float]:
        value = secrets.token_urlsafe(32)
        expires = time.time() + ttl
        self.db.execute(
            "insert into tokens values (?, ?, ?, ?, null)", (digest(value), kind, grant_id, expires)
        )
        return value, expires

    def find(self, value: str, kind: str) -> tuple[Grant, float, float | None] | None:
        """The live grant a token of ``kind`` belongs to, its expiry and when it was used."""
        row = self.db.execute(
            "select grant_id, expires, used from tokens where digest = ? and kind = ?", (digest(value), kind)
        ).fetchone()
        if row is None:
            return None
        grant = self.grant(row[0])
        if grant is None or grant.revoked is not None:
            return None
        return grant, row[1], row[2]

    def use(self, value: str) -> bool:
        """Mark a refresh token used; False if it already was (a second use)."""
        done = self.db.execute(
            "update tokens set used = ? where digest = ? and used is null", (time.time(), digest(value))
        )
        return done.rowcount > 0

    def forget_expired(self) -> None:
        self.db.execute("delete from tokens where expires < ?", (time.time() - 86400,))


def _grant(row: tuple, client_name: str | None = None) -> Grant:
    return Grant(
        row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7], row[8], client_name
    )


def fingerprint(token: Token) -> str:
    """Which token a grant was made for, beyond its name (a hash of its digest)."""
    return hashlib.sha256(b"gtp-oauth-grant:" + token.digest).hexdigest()


@dataclass
class Pending:
    """An authorization request waiting at the consent page."""

    client: OAuthClientInformationFull
    params: AuthorizationParams
    expires: float
    admin: str | None = None  # the operator who signed in on its first step
    browser: str | None = None  # the consent page's cookie in the browser that opened it
    step: str = field(default_factory=lambda: secrets.token_urlsafe(16))


class GatewayOAuth:
    """The SDK's ``OAuthAuthorizationServerProvider``, with grants of named gateway tokens."""

    def __init__(
        self,
        store: GrantStore,
        auth: Authenticator,
        issuer: str,
        resource: str,
        audit: Audit,
        access_ttl: float = ACCESS_TTL,
    ):
        self.store = store
        self.auth = auth
        self.issuer = issuer.rstrip("/")
        self.resource = resource
        self.audit = audit
        self.access_ttl = access_ttl
        self.pending: dict[str, Pending] = {}
        self.codes: dict[str, tuple[AuthorizationCode, str]] = {}  # code -> (code, grant id)
        self.spent_codes: dict[str, str] = {}  # used code -> its grant id (a replay revokes it)

    # -- clients ---------------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.store.client(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        """Registration is open (RFC 7591: ChatGPT registers itself), so it is bounded: a client
        that never got a grant is forgotten after a day, and there are at most MAX_CLIENTS."""
        check_metadata(client_info)
        self.store.forget_unused_clients(time.time() - UNUSED_CLIENT_SECONDS)
        if self.store.client_count() >= MAX_CLIENTS:
            self.store.forget_oldest_unused_client()
        if self.store.client_count() >= MAX_CLIENTS:
            raise RegistrationError("invalid_client_metadata", "too many clients are registered; try later")
        self.store.add_client(client_info)
        await self.audit(
            {
                "kind": "oauth",
                "event": "client_registered",
                "client_id": client_info.client_id,
                "client_name": (client_info.client_name or "")[:MAX_NAME],
                "redirect_uris": [str(u) for u in client_info.redirect_uris or ()],
            }
        )

    # -- authorization: the consent page decides -------------------------------------------------

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        resource = (params.resource or self.resource).rstrip("/")
        if resource != self.resource:
            raise AuthorizeError("invalid_target", f"this server issues tokens for {self.resource} only")
        self._sweep()
        mine = [k for k, p in self.pending.items() if p.client.client_id == client.client_id]
        if len(mine) >= PENDING_PER_CLIENT:  # the oldest of its own goes, nobody else's
            del self.pending[mine[0]]
        if len(self.pending) >= MAX_PENDING:
            raise AuthorizeError(
                "temporarily_unavailable", "too many sign-ins are waiting; try again shortly"
            )
        request_id = secrets.token_urlsafe(24)
        self.pending[request_id] = Pending(client, params, time.time() + CODE_TTL)
        return f"{self.issuer}{CONSENT_PATH}?{urlencode({'request': request_id})}"

    def waiting(self, request_id: str) -> Pending | None:
        pending = self.pending.get(request_id)
        if pending is None or pending.expires < time.time():
            self.pending.pop(request_id, None)
            return None
        return pending

    def sign_in(self, pending: Pending, presented: str) -> str:
        """The operator's token must hold ``admin``; returns its name (raises otherwise)."""
        token = self.auth.identify(presented)
        if "admin" not in token.operations:
            raise UnauthorizedError(f"token '{token.name}' lacks the admin permission")
        pending.admin = token.name
        pending.step = secrets.token_urlsafe(16)  # the next step's form is a new one
        return token.name

    def grantable(self, admin: str) -> list[Token]:
        """The tokens the operator signed in as ``admin`` may hand to a client: their own, and
        those that can do no more than theirs (permissions, servers; none when their own token
        carries a policy, which another token's rules cannot be compared with). ``admin`` lets
        one see every job, not become every token."""
        own = self.auth.named(admin)
        out = [own]
        if own.policy is not None:
            return out
        for token in self.auth.tokens:
            if token.name == admin or not token.operations <= own.operations:
                continue
            if own.servers is None or (token.servers is not None and set(token.servers) <= set(own.servers)):
                out.append(token)
        return out

    async def decide(self, request_id: str, pending: Pending, token_name: str | None) -> str:
        """The operator's choice: a grant for ``token_name`` (a code back to the client), or a
        refusal (None). Returns where the browser goes next: the client's redirect URI."""
        self.pending.pop(request_id, None)
        params = pending.params
        state = {"state": params.state} if params.state is not None else {}
        if token_name is None:
            await self._audit("consent_denied", pending.client.client_id, by=pending.admin)
            return _with_query(str(params.redirect_uri), {"error": "access_denied", **state})
        if pending.admin is None or token_name not in {t.name for t in self.grantable(pending.admin)}:
            raise UnauthorizedError(f"'{pending.admin}' may not grant token '{token_name}'")
        token = self.auth.named(token_name)
        grant = Grant(
            id=secrets.token_urlsafe(12),
            client_id=pending.client.client_id or "",
            token_name=token_name,
            resource=self.resource,
            scopes=params.scopes or [],
            approved_by=pending.admin or "",
            created=time.time(),
            revoked=None,
            fingerprint=fingerprint(token),
        )
        self.store.add_grant(grant)
        code = AuthorizationCode(
            code=secrets.token_urlsafe(32),
            scopes=grant.scopes,
            expires_at=time.time() + CODE_TTL,
            client_id=grant.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=self.resource,
            subject=token_name,
        )
        self.codes[code.code] = (code, grant.id)
        await self._audit(
            "consent_granted", grant.client_id, grant=grant.id, token=token_name, by=pending.admin
        )
        return _with_query(str(params.redirect_uri), {"code": code.code, **state})

    # -- tokens ----------------------------------------------------------------------------------

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        spent = self.spent_codes.pop(authorization_code, None)
        if spent is not None:  # a used code came back: whoever has it, the grant is not safe
            self.store.revoke_grant(spent)
            await self._audit("code_replayed", client.client_id, grant=spent)
            return None
        found = self.codes.get(authorization_code)
        if found is None or found[0].client_id != client.client_id or found[0].expires_at < time.time():
            return None
        return found[0]

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        found = self.codes.pop(authorization_code.code, None)  # single use
        if found is not None:
            self.spent_codes[authorization_code.code] = found[1]
        if found is None:
            raise TokenError("invalid_grant", "the authorization code was already used")
        return await self._tokens(found[1], "token_issued")

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        found = self.store.find(refresh_token, "refresh")
        if found is None:
            return None
        grant, expires, used = found
        if grant.client_id != client.client_id:
            return None
        if used is not None:  # a rotated-out refresh token came back: someone else has a copy
            self.store.revoke_grant(grant.id)
            await self._audit("refresh_reused", grant.client_id, grant=grant.id, token=grant.token_name)
            return None
        return RefreshToken(
            token=refresh_token,
            client_id=grant.client_id,
            scopes=grant.scopes,
            expires_at=int(expires),
            resource=grant.resource,
            subject=grant.id,
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        if not self.store.use(refresh_token.token):
            raise TokenError("invalid_grant", "this refresh token was already used")
        assert refresh_token.subject is not None
        return await self._tokens(refresh_token.subject, "token_refreshed")

    async def _tokens(self, grant_id: str, event: str) -> OAuthToken:
        grant = self.store.grant(grant_id)
        if grant is None or grant.revoked is not None:
            raise TokenError("invalid_grant", "the grant was revoked")
        if not self._token_alive(grant):
            self.store.revoke_grant(grant.id)
            await self._audit("grant_revoked", grant.client_id, grant=grant.id, by="its token is gone")
            raise TokenError("invalid_grant", "the token this grant acts as no longer exists")
        self.store.forget_expired()  # digests a day past their expiry: nothing checks them again
        access, _ = self.store.issue(grant_id, "access", self.access_ttl)
        refresh, _ = self.store.issue(grant_id, "refresh", REFRESH_TTL)
        await self._audit(event, grant.client_id, grant=grant_id, token=grant.token_name)
        return OAuthToken(
            access_token=access,
            expires_in=int(self.access_ttl),
            refresh_token=refresh,
            scope=" ".join(grant.scopes) or None,
        )

    async def load_access_token(self, token: str) -> AccessToken | None:
        """An access token this gateway issued, live and for this resource (else None)."""
        found = self.store.find(token, "access")
        if found is None:
            return None
        grant, expires, _ = found
        if expires < time.time() or grant.resource != self.resource or not self._token_alive(grant):
            return None
        return AccessToken(
            token="",
            client_id=grant.client_id,
            scopes=grant.scopes,
            expires_at=int(expires),
            resource=grant.resource,
            subject=grant.token_name,
            claims={"gtp_token": grant.token_name, "grant": grant.id},
        )

    def _token_alive(self, grant: Grant) -> bool:
        """The grant's named token still exists, and is the same token (not a new one that took
        its name)."""
        try:
            token = self.auth.named(grant.token_name)
        except UnauthorizedError:
            return False
        return hmac.compare_digest(fingerprint(token), grant.fingerprint)

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        """Revoking either token ends its grant: the client signs in again."""
        grant_id = token.subject if isinstance(token, RefreshToken) else (token.claims or {}).get("grant")
        if grant_id and self.store.revoke_grant(grant_id):
            await self._audit("grant_revoked", token.client_id, grant=grant_id, by="client")

    async def verify(self, presented: str) -> AccessToken | None:
        """The TokenVerifier side: an access token, or None."""
        return await self.load_access_token(presented)

    # -- housekeeping ----------------------------------------------------------------------------

    def _sweep(self) -> None:
        now = time.time()
        for key in [k for k, p in self.pending.items() if p.expires < now]:
            del self.pending[key]
        for key in [k for k, (c, _) in self.codes.items() if c.expires_at < now]:
            del self.codes[key]
        if len(self.spent_codes) > MAX_PENDING:
            self.spent_codes.clear()

    async def _audit(self, event: str, client_id: str | None, **fields: Any) -> None:
        await self.audit({"kind": "oauth", "event": event, "client_id": client_id, **fields})


def check_metadata(info: OAuthClientInformationFull) -> None:
    """A registration's metadata is small, named briefly, and redirects only where a client can
    receive a code safely (RFC 8252): https, http on the loopback, or an app's private-use
    scheme; never a script, data or file URI, a fragment, or user info that disguises the host."""
    if len(info.model_dump_json()) > MAX_METADATA:
        raise RegistrationError("invalid_client_metadata", f"the registration is over {MAX_METADATA} bytes")
    if info.client_name is not None and len(info.client_name) > MAX_NAME:
        raise RegistrationError("invalid_client_metadata", f"client_name is over {MAX_NAME} characters")
    for uri in info.redirect_uris or ():
        parts = urlsplit(str(uri))
        scheme = parts.scheme.lower()
        loopback = scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        private_use = "." in scheme and scheme not in ("http", "https")  # com.example.app:/callback
        if not (scheme == "https" or loopback or private_use) or parts.fragment or "@" in parts.netloc:
            raise RegistrationError(
                "invalid_redirect_uri",
                f"redirect URI {str(uri)[:200]!r} is not https, loopback http or an app's own scheme, "
                "or has a fragment or user info",
            )


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)
