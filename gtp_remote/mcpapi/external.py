"""OAuth with the company's identity provider (Keycloak, Auth0, Entra, Okta): the gateway only
verifies the IdP's JWT access tokens and maps a claim to one of its named tokens.

A token is accepted when its signature checks against the IdP's published keys (JWKS, fetched
from ``GTP_OAUTH_JWKS_URL`` or the issuer's metadata, cached, refetched for a key id not seen),
its ``iss`` is exactly the configured issuer, its ``aud`` includes this gateway's MCP resource URL, it
has not expired, and its claim (``GTP_OAUTH_CLAIM``, default ``gtp_token``) names a token in the
tokens file, whose permissions and policy it then has. Anything else is refused. JWT checks are
PyJWT's (already a dependency of the MCP SDK), not hand-written; key fetches run off the event
loop, in two threads of their own, with a 3-second timeout.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
from mcp.server.auth.provider import AccessToken

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
FETCH_TIMEOUT = 3.0


class ExternalTokens:
    def __init__(self, issuer: str, resource: str, claim: str, jwks_url: str | None = None):
        self.issuer = issuer  # compared exactly: Auth0's issuers end in "/"
        self.resource = resource
        self.claim = claim
        self.jwks_url = jwks_url
        self._keys: jwt.PyJWKClient | None = None
        # Key fetches block; they get threads of their own, so an IdP that hangs stalls only
        # these checks, never the job store or SSH connects that share the default executor.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gtp-jwks")

    def _discover(self) -> str:
        """The IdP's JWKS URL, from its OpenID or OAuth metadata (blocking: run in a thread)."""
        for suffix in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
            try:
                with urllib.request.urlopen(self.issuer + suffix, timeout=FETCH_TIMEOUT) as r:
                    uri = json.load(r).get("jwks_uri")
                if uri:
                    return str(uri)
            except (OSError, ValueError):
                continue
        raise OSError(f"no jwks_uri in {self.issuer}'s metadata; set GTP_OAUTH_JWKS_URL")

    def _verify(self, token: str) -> dict[str, Any]:
        if self._keys is None:
            # cache_keys=False: PyJWT's key cache never expires, so a key the IdP retired would be
            # trusted until a restart; the key set's own cache (5 minutes) is refetched instead
            self._keys = jwt.PyJWKClient(
                self.jwks_url or self._discover(), cache_keys=False, timeout=FETCH_TIMEOUT
            )
        key = self._keys.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,
            audience=self.resource,
            issuer=self.issuer,
            options={"require": ["exp", "iss", "aud"]},
        )

    async def verify(self, token: str) -> AccessToken | None:
        """The token's access, or None if any check fails (or the IdP's keys cannot be had)."""
        try:
            loop = asyncio.get_running_loop()
            claims = await loop.run_in_executor(self._pool, self._verify, token)
        except (jwt.PyJWTError, OSError):
            return None
        name = claims.get(self.claim)
        if not isinstance(name, str) or not name:
            return None
        return AccessToken(
            token="",
            client_id=str(claims.get("azp") or claims.get("client_id") or "external"),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=int(claims["exp"]),
            resource=self.resource,
            subject=str(claims.get("sub") or name),
            claims={"gtp_token": name, "iss": self.issuer},
        )
