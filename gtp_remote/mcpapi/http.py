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
import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web
from mcp.server.auth.middleware.auth_context import auth_context_var, get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings

from gtp_remote.access import Principal
from gtp_remote.api.http import REQUEST_ID, error_response
from gtp_remote.api.state import API, Api
from gtp_remote.errors import RateLimitedError, UnauthorizedError
from gtp_remote.mcpapi import asgi
from gtp_remote.mcpapi.tools import GatewayTools

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
MESSAGES_PATH = "/messages/"
RESOURCE_METADATA = "/.well-known/oauth-protected-resource"
#: Paths this module answers itself, with its own authentication (REST's middleware lets them by).
PATHS = (MCP_PATH, SSE_PATH, MESSAGES_PATH, RESOURCE_METADATA, RESOURCE_METADATA + MCP_PATH)
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
    extra = [h.strip() for h in os.environ.get("GTP_ALLOWED_HOSTS", "").split(",") if h.strip()]
    hosts += extra + [f"{h}:*" for h in extra]
    origins += [o for o in api.settings.cors_origins if o != "*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def base_url(api: Api, request: web.Request) -> str:
    """Where clients reach us: the configured public URL, else what this request was sent to
    (its Host was checked against the allowed hosts first)."""
    return (api.settings.public_url or f"{request.scheme}://{request.host}").rstrip("/")


class McpHttp:
    """The MCP transports mounted on the aiohttp app."""

    def __init__(self, api: Api, listen_hosts: tuple[str, ...] = ()):
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

    def mount(self, app: web.Application) -> None:
        app.router.add_route("*", MCP_PATH, self.handle)
        app.router.add_get(SSE_PATH, self.handle)
        app.router.add_post(MESSAGES_PATH, self.handle)
        app.router.add_get(RESOURCE_METADATA + MCP_PATH, self.resource_metadata)
        app.router.add_get(RESOURCE_METADATA, self.resource_metadata)
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

    def identify(self, request: web.Request) -> AuthenticatedUser:
        """The request's credential, or UnauthorizedError (rate limited per address)."""
        api = self.api
        try:
            token = api.auth.authenticate(request.headers.get("Authorization"))
        except UnauthorizedError:
            address = request.remote or ""
            try:
                api.refused.check(address)
            except RateLimitedError:
                api.count_refused(address)
                raise
            raise
        return AuthenticatedUser(access_for(token.name))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            user = self.identify(request)
        except (UnauthorizedError, RateLimitedError) as exc:
            return await self.refuse(request, exc)
        app = self.streamable if request.path == MCP_PATH else self.sse
        reset = auth_context_var.set(user)
        try:
            return await asgi.serve(_with_user(app, user), request)
        finally:
            auth_context_var.reset(reset)

    async def refuse(self, request: web.Request, exc: UnauthorizedError | RateLimitedError) -> web.Response:
        response = error_response(exc, request.get(REQUEST_ID))
        if isinstance(exc, UnauthorizedError):
            metadata = f"{base_url(self.api, request)}{RESOURCE_METADATA}{MCP_PATH}"
            response.headers["WWW-Authenticate"] = (
                f'Bearer error="invalid_token", error_description="{exc.message}", '
                f'resource_metadata="{metadata}"'
            )
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
        base = base_url(self.api, request)
        body = {
            "resource": f"{base}{MCP_PATH}",
            "authorization_servers": [],
            "bearer_methods_supported": ["header"],
            "resource_name": "gtp-remote",
            "resource_documentation": f"{base}/openapi.json",
        }
        return web.Response(text=json.dumps(body), content_type="application/json")


def _with_user(app: asgi.ASGIApp, user: AuthenticatedUser) -> asgi.ASGIApp:
    async def call(scope, receive, send):  # type: ignore[no-untyped-def]
        scope["user"] = user
        scope["auth"] = None
        await app(scope, receive, send)

    return call


MCP = web.AppKey("mcp", McpHttp)


def mount(app: web.Application, listen_hosts: tuple[str, ...] = ()) -> McpHttp:
    mcp = McpHttp(app[API], listen_hosts)
    mcp.mount(app)
    app[MCP] = mcp
    return mcp
