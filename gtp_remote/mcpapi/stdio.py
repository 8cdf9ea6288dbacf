"""MCP over stdio, for a local client that starts gtp-remote itself (Claude Desktop, Claude Code,
Cursor): one client, acting with the permissions and policy of one token.

The token is the one whose value is in ``GTP_TOKEN``; with no tokens file, the gateway's own
default token (generated, or ``GTP_API_TOKEN``), so a first set-up needs no secret in the
client's config. stdout carries nothing but the protocol: the SDK moves it to a private copy of
the descriptor while serving, and everything else (logs, warnings) goes to stderr.
"""

from __future__ import annotations

import os

from gtp_remote.access import Principal
from gtp_remote.api.state import Api
from gtp_remote.errors import UnauthorizedError
from gtp_remote.mcpapi.tools import GatewayTools


def stdio_principal(api: Api, environ: dict[str, str] | None = None) -> Principal:
    """Who a stdio session acts as: the token in ``GTP_TOKEN``, or the only (default) token."""
    env = os.environ if environ is None else environ
    presented = env.get("GTP_TOKEN", "").strip()
    tokens = api.auth.tokens
    if presented:
        try:
            return api.auth.identify(presented).principal("mcp")
        except UnauthorizedError:
            raise UnauthorizedError(
                "GTP_TOKEN is not one of this gateway's tokens",
                hint="set it to a token's value from the tokens file (or the generated api-token)",
            ) from None
    if len(tokens) == 1 and tokens[0].name == "default":
        return tokens[0].principal("mcp")
    raise UnauthorizedError(
        "set GTP_TOKEN: with a tokens file, the MCP server acts as one of its tokens",
        hint="put the token's value in the client's env for this server (see the README's MCP set-up)",
    )


async def serve(api: Api, principal: Principal) -> None:
    """Serve one client on stdin and stdout until it leaves; then close what the gateway opened."""
    server = GatewayTools(api, lambda ctx: principal).build()
    try:
        await server.run_stdio_async()
    finally:
        await api.shutdown()
