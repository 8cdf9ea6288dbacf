"""The OAuth consent page: where an operator lets an MCP client (ChatGPT) act as a named token.

Two steps, each a form bound to its pending authorization by a one-time step id: sign in with a
gateway token that holds ``admin`` (nothing about the gateway's tokens is shown before that),
then choose the named token whose permissions and policy the client gets, or deny. Failed
sign-ins are rate limited per address and audited. The page is plain HTML, no script; its headers
forbid framing and loading anything (Content-Security-Policy ``default-src 'none'``).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs

import jinja2
from aiohttp import web

from gtp_remote.api.http import read_body
from gtp_remote.api.state import Api
from gtp_remote.errors import RateLimitedError, UnauthorizedError
from gtp_remote.mcpapi.oauth import GatewayOAuth, Pending

BROWSER_COOKIE = "gtp_consent"  # binds a consent in progress to the browser that opened it
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

_PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>gtp-remote: allow {{ client }}?</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; padding: 0 1rem; }
.box { border: 1px solid #ccc; border-radius: 8px; padding: 1rem 1.5rem; }
.error { color: #a00; } code { background: #f4f4f4; padding: 0 .2rem; }
label { display: block; margin: 1rem 0 .3rem; } input, select { width: 100%; padding: .4rem; }
button { margin: 1rem .5rem 0 0; padding: .5rem 1rem; }
</style></head>
<body><div class="box">
<h1>Allow {{ client }}?</h1>
<p><strong>{{ client }}</strong> (client <code>{{ client_id }}</code>) asks to use this gateway's MCP
server, <code>{{ resource }}</code>, and will return to <code>{{ redirect }}</code>.</p>
{% if message %}<p class="error" id="error">{{ message }}</p>{% endif %}
{% if done %}<p id="done">{{ done }}</p>{% elif not admin %}
<form method="post" action="{{ action }}">
<input type="hidden" name="request" value="{{ request_id }}">
<input type="hidden" name="step" value="{{ step }}">
<label for="admin_token">Sign in with a gateway token that has the <code>admin</code> permission</label>
<input type="password" id="admin_token" name="admin_token" autocomplete="off" required autofocus>
<button type="submit" name="action" value="sign_in" id="sign_in">Sign in</button>
<button type="submit" name="action" value="deny" id="deny" formnovalidate>Deny</button>
</form>
{% else %}
<p>Signed in as <code>{{ admin }}</code>. The client will act with the permissions and policy of:</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="request" value="{{ request_id }}">
<input type="hidden" name="step" value="{{ step }}">
<label for="token_name">Token</label>
<select id="token_name" name="token_name">
{% for t in tokens %}
<option value="{{ t.name }}">{{ t.name }}: {{ t.operations }}; servers: {{ t.servers }}</option>
{% endfor %}</select>
<button type="submit" name="action" value="grant" id="grant">Allow</button>
<button type="submit" name="action" value="deny" id="deny">Deny</button>
</form>
{% endif %}
</div></body></html>"""
)


class Consent:
    def __init__(self, api: Api, oauth: GatewayOAuth, path: str):
        self.api = api
        self.oauth = oauth
        self.path = path

    def page(
        self,
        request_id: str,
        pending: Pending | None,
        *,
        message: str | None = None,
        done: str | None = None,
        status: int = 200,
    ) -> web.Response:
        client = pending.client if pending else None
        grantable = self.oauth.grantable(pending.admin) if pending and pending.admin else []
        tokens = [
            {
                "name": t.name,
                "operations": ", ".join(sorted(t.operations)) or "none",
                "servers": ", ".join(t.servers) if t.servers is not None else "all",
            }
            for t in grantable
        ]
        text = _PAGE.render(
            client=(client.client_name if client and client.client_name else "an MCP client"),
            client_id=client.client_id if client else "",
            resource=self.oauth.resource,
            redirect=str(pending.params.redirect_uri) if pending else "",
            message=message,
            done=done,
            admin=pending.admin if pending else None,
            request_id=request_id,
            step=pending.step if pending else "",
            tokens=tokens,
            action=self.path,
        )
        return web.Response(text=text, status=status, content_type="text/html", headers=HEADERS)

    async def show(self, request: web.Request) -> web.Response:
        """The page, in the browser that first opened it: the request id travels through the
        client (it made the authorize request), so it must not be enough to see or use what the
        operator does after signing in."""
        request_id = request.query.get("request", "")
        pending = self.oauth.waiting(request_id)
        if pending is None:
            return self.gone(request_id)
        if pending.browser is None:
            pending.browser = secrets.token_urlsafe(24)
            response = self.page(request_id, pending)
            response.set_cookie(
                BROWSER_COOKIE,
                pending.browser,
                path=self.path,
                httponly=True,
                samesite="Strict",
                secure=request.secure or self.oauth.issuer.startswith("https:"),
                max_age=600,
            )
            return response
        if not self.same_browser(request, pending):
            return self.elsewhere(request_id)
        return self.page(request_id, pending)

    @staticmethod
    def same_browser(request: web.Request, pending: Pending) -> bool:
        presented = request.cookies.get(BROWSER_COOKIE, "")
        return pending.browser is not None and hmac.compare_digest(
            presented.encode(), pending.browser.encode()
        )

    def elsewhere(self, request_id: str) -> web.Response:
        return self.page(
            request_id, None, message="This sign-in is open in another browser: finish it there.", status=403
        )

    def gone(self, request_id: str) -> web.Response:
        return self.page(
            request_id,
            None,
            message="This sign-in request has expired or was already used. Start again from your client.",
            status=400,
        )

    async def submit(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/x-www-form-urlencoded":
            return self.page("", None, message="Send the form as the page does.", status=400)
        raw = await read_body(request)
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), max_num_fields=20).items()}
        request_id = str(form.get("request", ""))
        pending = self.oauth.waiting(request_id)
        if pending is None:
            return self.gone(request_id)
        if not self.same_browser(request, pending):
            return self.elsewhere(request_id)
        if not hmac.compare_digest(str(form.get("step", "")).encode(), pending.step.encode()):
            return self.page(
                request_id, pending, message="This form is out of date: use the one below.", status=400
            )
        action = form.get("action")
        if action == "deny":
            raise web.HTTPFound(await self.oauth.decide(request_id, pending, None), headers=HEADERS)
        if action == "sign_in":
            return await self.sign_in(request, request_id, pending, str(form.get("admin_token", "")))
        if action == "grant" and pending.admin:
            name = str(form.get("token_name", ""))
            if name not in {t.name for t in self.oauth.grantable(pending.admin)}:
                return self.page(request_id, pending, message="Choose one of the tokens listed.", status=400)
            raise web.HTTPFound(await self.oauth.decide(request_id, pending, name), headers=HEADERS)
        return self.page(request_id, pending, message="Choose Sign in, Allow or Deny.", status=400)

    async def sign_in(
        self, request: web.Request, request_id: str, pending: Pending, presented: str
    ) -> web.Response:
        address = request.remote or ""
        try:
            self.api.refused.check(address)
            name = self.oauth.sign_in(pending, presented.strip())
        except (UnauthorizedError, RateLimitedError) as exc:
            await self.api.record(
                {
                    "kind": "oauth",
                    "event": "consent_sign_in_refused",
                    "client": address,
                    "client_id": pending.client.client_id,
                    "error": exc.message,
                }
            )
            message = (
                "Too many attempts: wait a moment."
                if isinstance(exc, RateLimitedError)
                else "That is not a gateway token with the admin permission."
            )
            return self.page(request_id, pending, message=message, status=401)
        await self.api.record(
            {
                "kind": "oauth",
                "event": "consent_signed_in",
                "token": name,
                "client_id": pending.client.client_id,
            }
        )
        return self.page(request_id, pending)
