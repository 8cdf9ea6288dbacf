"""MCP over HTTP on the REST API's own server and port: Streamable HTTP at ``/mcp``, and the
older SSE transport at ``/sse`` (with its ``/messages/``) for clients that still use it.

Who calls is settled here, before the SDK sees the request: a gateway token in the
``Authorization: Bearer`` header (the same tokens as REST, checked in constant time), or an
OAuth access token when OAuth is on. A refusal is a 401 whose ``WWW-Authenticate`` names the
protected resource metadata (RFC 9728), so a client can discover how to sign in; refusals are
rate limited and audited per address like REST's. The identity goes into the ASGI scope as the
SDK's ``AuthenticatedUser``, which binds each session to the credential that opened it (another
credential gets 404), and into the SDK's auth context. Host and Origin are checked by the SDK
(DNS rebinding): localhost, the public URL's host and ``GTP_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web
from mcp.server.auth.middleware.auth_context import auth_context_var, get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

from gtp_remote.access import Principal
from gtp_remote.api.http import OWN_AUTH, REQUEST_ID, error_response
from gtp_remote.api.ratelimit import RateLimiter
from gtp_remote.api.state import API, Api
from gtp_remote.errors import InventoryError, RateLimitedError, UnauthorizedError
from gtp_remote.mcpapi import asgi
from gtp_remote.mcpapi.consent import Consent
from gtp_remote.mcpapi.external import ExternalTokens
from gtp_remote.mcpapi.oauth import CONSENT_PATH, GatewayOAuth, GrantStore
from gtp_remote.mcpapi.tools import GatewayTools

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
MESSAGES_PATH = "/messages/"
RESOURCE_METADATA = "/.well-known/oauth-protected-resource"
#: The SDK's authorization server: each path and the methods it answers.
OAUTH_PATHS = {
    "/.well-known/oauth-authorization-server": ("GET", "OPTIONS"),
    "/authorize": ("GET", "POST"),
    "/token": ("POST", "OPTIONS"),
    "/register": ("POST", "OPTIONS"),
    "/revoke": ("POST", "OPTIONS"),
}
HOST_RE = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?")
#: Open MCP sessions one token may hold at once (each costs a server task until it idles out).
SESSIONS_PER_TOKEN = 64
GATEWAY_TOKEN_CLAIM = "gtp_token"  # the named token an access token acts as
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def access_for(token_name: str) -> AccessToken:
    """The SDK's view of a caller: the named token, as the session's owner."""
    return AccessToken(
        token="",  # never kept: the SDK needs no copy of the secret
        client_id=token_name,
        subject=token_name,
        scopes=[],
        claims={GATEWAY_TOKEN_CLAIM: token_name},
    )


def http_caller(api: Api):  # type: ignore[no-untyped-def]
    """Who calls a tool over HTTP: the named token the request's credential stands for."""

    def who(ctx: Context | None) -> Principal:
        access = get_access_token()
        if access is None and ctx is not None:
            request = ctx.request_context.request
            user = request.scope.get("user") if request is not None else None  # type: ignore[union-attr]
            access = user.access_token if isinstance(user, AuthenticatedUser) else None
        name = (access.claims or {}).get(GATEWAY_TOKEN_CLAIM) if access is not None else None
        if not name:
            raise UnauthorizedError(
                "no credential on this MCP request", hint="send 'Authorization: Bearer <token>'"
            )
        return api.auth.named(name).principal("mcp")

    return who


def allowed_hosts(api: Api, listen_hosts: tuple[str, ...]) -> TransportSecuritySettings:
    hosts = [f"{h}:*" for h in LOCAL_HOSTS] + list(LOCAL_HOSTS)
    origins = [f"http://{h}:*" for h in LOCAL_HOSTS]
    public = api.settings.public_url
    if public:
        parts = urlsplit(public)
        hosts += [parts.netloc, f"{parts.hostname}:*"]
        origins.append(f"{parts.scheme}://{parts.netloc}")
    for host in listen_hosts:
        if host not in ("0.0.0.0", "::", "") and host not in LOCAL_HOSTS:
            hosts += [host, f"{host}:*", f"[{host}]:*"]
    extra = list(api.settings.allowed_hosts)
    hosts += extra + [f"{h}:*" for h in extra]
    origins += [o for o in api.settings.cors_origins if o != "*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class McpHttp:
    """The MCP transports mounted on the aiohttp app, and OAuth when it is on."""

    def __init__(self, api: Api, listen_hosts: tuple[str, ...] = (), base: str | None = None):
        self.api = api
        self.server = GatewayTools(api, http_caller(api)).build()
        security = allowed_hosts(api, listen_hosts)
        self.security = security
        self.streamable = self.server.streamable_http_app(
            streamable_http_path=MCP_PATH, transport_security=security
        )
        self.sse = self.server.sse_app(
            sse_path=SSE_PATH, message_path=MESSAGES_PATH, transport_security=security
        )
        self.base = (api.settings.public_url or base or "").rstrip("/") or None
        self.oauth: GatewayOAuth | None = None
        self.external: ExternalTokens | None = None
        self.auth_app: asgi.ASGIApp | None = None
        self.consent: Consent | None = None
        self.oauth_limiter = RateLimiter(5, 60, what="OAuth requests from this address")
        self.opening: dict[str, int] = {}  # per subject: sessions being opened, and SSE streams open
        settings = api.settings
        if settings.oauth == "external":
            if not self.base or settings.oauth_issuer is None:
                raise InventoryError(
                    "GTP_OAUTH=external needs GTP_PUBLIC_URL: tokens are checked for its /mcp as audience",
                    hint="set GTP_PUBLIC_URL to the URL clients use (https://...)",
                )
            self.external = ExternalTokens(
                settings.oauth_issuer, self.resource_url(None), settings.oauth_claim, settings.oauth_jwks_url
            )
        elif settings.oauth == "builtin" and self.base:
            store = GrantStore(settings.state_dir / "oauth.sqlite3")
            self.oauth = GatewayOAuth(
                store, api.auth, self.base, self.resource_url(None), api.record, settings.oauth_access_ttl
            )
            # AuthSettings keeps a path-less issuer without a trailing slash: RFC 8414 compares
            # issuers as strings, and the resource metadata names it without one
            issuer = AuthSettings(
                issuer_url=self.base,  # type: ignore[arg-type]
                resource_server_url=self.resource_url(None),  # type: ignore[arg-type]
                validate_token_resource=True,  # (ours are checked in GatewayOAuth.load_access_token)
            ).issuer_url
            routes = create_auth_routes(
                self.oauth,
                issuer,
                client_registration_options=ClientRegistrationOptions(enabled=True),
                revocation_options=RevocationOptions(enabled=True),
            )
            self.auth_app = Starlette(routes=routes)
            self.consent = Consent(api, self.oauth, CONSENT_PATH)

    def resource_url(self, request: web.Request | None) -> str:
        """This MCP server's URL: the audience its tokens are for (RFC 8707)."""
        return f"{self.base_for(request)}{MCP_PATH}"

    def base_for(self, request: web.Request | None) -> str:
        """Where clients reach us: the public URL, else this request's own (only a Host the DNS
        rebinding check accepts: a made-up one must not be echoed into metadata)."""
        if self.base or request is None:
            return self.base or ""
        if not self.host_allowed(request.host):
            raise web.HTTPMisdirectedRequest(text="unknown Host")
        return f"{request.scheme}://{request.host}"

    def host_allowed(self, host: str) -> bool:
        """``host`` (a Host header) is a well-formed name or address, with a numeric port if any,
        that the DNS rebinding check accepts: only then may it be echoed into a URL."""
        match = HOST_RE.fullmatch(host)
        if match is None:
            return False
        name, port = match.group("name").lower(), match.group("port")
        for allowed in self.security.allowed_hosts:
            wanted = allowed.lower()
            if wanted.endswith(":*") and port is not None and name == wanted[:-2]:
                return True
            if (f"{name}:{port}" if port else name) == wanted:
                return True
        return False

    @property
    def paths(self) -> tuple[str, ...]:
        """The paths that check their callers here (or are public), not with REST's tokens."""
        out = (MCP_PATH, SSE_PATH, MESSAGES_PATH, RESOURCE_METADATA, RESOURCE_METADATA + MCP_PATH)
        if self.auth_app is not None:
            out += (*OAUTH_PATHS, CONSENT_PATH)
        return out

    def mount(self, app: web.Application) -> None:
        # The methods each transport speaks, and no HEAD: an ASGI app would answer it with a body
        for method in ("GET", "POST", "DELETE"):
            app.router.add_route(method, MCP_PATH, self.handle)
        app.router.add_get(SSE_PATH, self.handle, allow_head=False)
        app.router.add_post(MESSAGES_PATH, self.handle)
        app.router.add_get(RESOURCE_METADATA + MCP_PATH, self.resource_metadata, allow_head=False)
        app.router.add_get(RESOURCE_METADATA, self.resource_metadata, allow_head=False)
        if self.auth_app is not None and self.consent is not None:
            for path, methods in OAUTH_PATHS.items():
                for method in methods:
                    app.router.add_route(method, path, self.handle_oauth)
            app.router.add_get(CONSENT_PATH, self.consent.show, allow_head=False)
            app.router.add_post(CONSENT_PATH, self.consent.submit)
        app.cleanup_ctx.append(self.lifetime)

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        """Hold the SDK's session manager open for the app's life (its task group must live in
        one task), and close every session when the app stops."""
        started = asyncio.Event()
        stop = asyncio.Event()

        async def hold() -> None:
            async with self.server.session_manager.run():
                started.set()
                await stop.wait()

        task = asyncio.create_task(hold())
        await started.wait()
        yield
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        if self.oauth is not None:
            self.oauth.store.close()

    async def identify(self, request: web.Request) -> AuthenticatedUser:
        """The request's credential: a gateway token, else an OAuth access token (the gateway's
        own, or the IdP's JWT). Refusals are rate limited per address."""
        api = self.api
        try:
            try:
                token = api.auth.authenticate(request.headers.get("Authorization"))
                return AuthenticatedUser(access_for(token.name))
            except UnauthorizedError:
                presented = _bearer(request.headers.get("Authorization"))
                access = None
                if presented and self.oauth is not None:
                    access = await self.oauth.verify(presented)
                elif presented and self.external is not None:
                    access = await self.external.verify(presented)
                if access is None:
                    raise
                api.auth.named((access.claims or {})[GATEWAY_TOKEN_CLAIM])  # the token still exists
                return AuthenticatedUser(access)
        except UnauthorizedError:
            address = request.remote or ""
            try:
                api.refused.check(address)
            except RateLimitedError:
                api.count_refused(address)
                raise
            raise

    async def handle(self, request: web.Request) -> web.StreamResponse:
        subject = None
        try:
            user = await self.identify(request)
            name = (user.access_token.claims or {})[GATEWAY_TOKEN_CLAIM]
            if self.opens_session(request):
                # Tool calls and resource reads count against the rate limit where they run
                # (tools.py); the requests that carry answers, notifications or a session's
                # stream do not. Opening a session counts, and is capped per token.
                self.api.limiter.check(name)
                subject = user.access_token.subject or name
                self.check_sessions(name, subject)
                self.opening[subject] = self.opening.get(subject, 0) + 1
        except (UnauthorizedError, RateLimitedError) as exc:
            return await self.refuse(request, exc)
        app = self.streamable if request.path == MCP_PATH else self.sse
        reset = auth_context_var.set(user)
        try:
            return await asgi.serve(_with_user(app, user), request)
        finally:
            auth_context_var.reset(reset)
            if subject is not None:  # opened (now the SDK's to count) or not: no longer opening
                self.opening[subject] -= 1
                if not self.opening[subject]:
                    del self.opening[subject]

    @staticmethod
    def opens_session(request: web.Request) -> bool:
        """A request that opens a session: an SSE stream (held open while it lives), or a
        Streamable HTTP request without a session in the 2025 protocol (the 2026 one has none)."""
        if request.path == SSE_PATH:
            return True
        if request.path != MCP_PATH or request.method != "POST" or "mcp-session-id" in request.headers:
            return False
        return request.headers.get("mcp-protocol-version", "") < "2026-07-28"

    def check_sessions(self, name: str, subject: str | None) -> None:
        """A request that would open a session, by a token (or an IdP's user) that holds
        SESSIONS_PER_TOKEN already, is refused: one caller cannot take every session the server
        has room for."""
        owners = getattr(self.server.session_manager, "_session_owners", {})  # the SDK keeps no count
        held = sum(1 for owner in owners.values() if owner.get("subject") == subject)
        held += self.opening.get(subject or "", 0)  # being opened now, SSE streams while they last
        if held >= SESSIONS_PER_TOKEN:
            raise RateLimitedError(
                f"token '{name}' has {held} open MCP sessions, the most one token may hold",
                retry_after=60,
                hint="end sessions you no longer use (HTTP DELETE /mcp with their Mcp-Session-Id); "
                "idle ones close after 30 minutes",
            )

    async def handle_oauth(self, request: web.Request) -> web.StreamResponse:
        """The SDK's authorization server endpoints (metadata, authorize, token, register, revoke):
        open to anyone, so rate limited per address."""
        assert self.auth_app is not None
        try:
            self.oauth_limiter.check(request.remote or "")
        except RateLimitedError as exc:
            return error_response(exc, request.get(REQUEST_ID))
        return await asgi.serve(self.auth_app, request)

    async def refuse(self, request: web.Request, exc: UnauthorizedError | RateLimitedError) -> web.Response:
        response = error_response(exc, request.get(REQUEST_ID))
        if isinstance(exc, UnauthorizedError):
            metadata = f"{self.base_for(request)}{RESOURCE_METADATA}{MCP_PATH}"
            # RFC 6750 §3.1: no error code when the request carried no credential at all
            error = ', error="invalid_token"' if _bearer(request.headers.get("Authorization")) else ""
            response.headers["WWW-Authenticate"] = f'Bearer resource_metadata="{metadata}"{error}'
            await self.api.record(
                {
                    "kind": "request",
                    "front_end": "mcp",
                    "request_id": request.get(REQUEST_ID),
                    "token": None,
                    "client": request.remote,
                    "method": request.method,
                    "path": request.path,
                    "status": 401,
                }
            )
        return response

    async def resource_metadata(self, request: web.Request) -> web.Response:
        """RFC 9728: what this protected resource is and who issues tokens for it."""
        resource = self.resource_url(request)
        servers = []
        if self.oauth is not None:
            servers = [self.oauth.issuer]
        elif self.external is not None:
            servers = [self.external.issuer]
        body = {
            "resource": resource,
            "authorization_servers": servers,
            "bearer_methods_supported": ["header"],
            "resource_name": "gtp-remote",
        }
        return web.Response(text=json.dumps(body), content_type="application/json")


def _bearer(header: str | None) -> str | None:
    scheme, _, presented = (header or "").partition(" ")
    return presented.strip() or None if scheme.lower() == "bearer" else None


def _with_user(app: asgi.ASGIApp, user: AuthenticatedUser) -> asgi.ASGIApp:
    async def call(scope, receive, send):  # type: ignore[no-untyped-def]
        scope["user"] = user
        scope["auth"] = None
        await app(scope, receive, send)

    return call


MCP = web.AppKey("mcp", McpHttp)


def mount(app: web.Application, listen_hosts: tuple[str, ...] = (), base: str | None = None) -> McpHttp:
    """MCP (and OAuth) on ``app``; ``base``: where clients reach it, when GTP_PUBLIC_URL is unset."""
    mcp = McpHttp(app[API], listen_hosts, base)
    mcp.mount(app)
    app[MCP] = mcp
    app[OWN_AUTH] = frozenset(mcp.paths)
    return mcp
