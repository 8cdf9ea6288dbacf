"""Console sessions: a pasted gateway token opens one; the browser holds only a random id.

Written here rather than with aiohttp-session because what a session needs is small and
security-critical: a 256-bit random id in an HttpOnly, SameSite=Strict cookie (Secure behind
TLS) scoped to ``/ui``, an expiry, a CSRF token every form carries (compared in constant time),
and the token's *name*, looked up again on every request, so a token removed from the tokens file
ends its sessions. Sessions live in memory: a restart signs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

COOKIE = "gtp_console"
LIFETIME = 8 * 3600  # seconds a session lasts
MAX_SESSIONS = 1000
PER_TOKEN = 20  # sessions one token may hold: its oldest goes first, nobody else's
LOGIN_COOKIE = "gtp_console_login"  # the sign-in form's CSRF value, before there is a session


@dataclass
class Session:
    id: str
    token: str  # the gateway token's name
    csrf: str
    expires: float


class Sessions:
    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}

    def open(self, token_name: str) -> Session:
        now = time.time()
        self._by_id = {k: s for k, s in self._by_id.items() if s.expires > now}
        mine = sorted((s for s in self._by_id.values() if s.token == token_name), key=lambda s: s.expires)
        for old in mine[: max(0, len(mine) - PER_TOKEN + 1)]:  # a token's own oldest sessions make room
            del self._by_id[old.id]
        if len(self._by_id) >= MAX_SESSIONS:  # then the oldest of all
            oldest = min(self._by_id.values(), key=lambda s: s.expires)
            del self._by_id[oldest.id]
        session = Session(secrets.token_urlsafe(32), token_name, secrets.token_urlsafe(32), now + LIFETIME)
        self._by_id[session.id] = session
        return session

    def alive(self, session_id: str) -> bool:
        session = self._by_id.get(session_id)
        return session is not None and session.expires > time.time()

    def find(self, request: web.Request) -> Session | None:
        session = self._by_id.get(request.cookies.get(COOKIE, ""))
        if session is None or session.expires < time.time():
            return None
        return session

    def close(self, session: Session) -> None:
        self._by_id.pop(session.id, None)

    @staticmethod
    def csrf_ok(session: Session, presented: str) -> bool:
        return hmac.compare_digest(session.csrf.encode(), presented.encode())

    @staticmethod
    def secure(request: web.Request, public_url: str | None) -> bool:
        """Served over TLS: directly, behind a proxy that says so, or by the public URL."""
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return request.secure or forwarded == "https" or (public_url or "").startswith("https://")

    @staticmethod
    def set_cookie(
        response: web.StreamResponse, request: web.Request, session: Session | None, secure: bool = False
    ) -> None:
        if session is None:
            response.del_cookie(COOKIE, path="/ui")
            return
        response.set_cookie(
            COOKIE, session.id, max_age=LIFETIME, path="/ui", httponly=True, samesite="Strict", secure=secure
        )
