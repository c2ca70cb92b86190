"""Sign-in, server-side sessions, CSRF tokens and the security headers of the moderator page.

A session is a random id in an HttpOnly, SameSite=Strict cookie (Secure behind TLS); the
session itself lives in Redis (`WebSessionStore`). CSRF tokens are HMACs of the session id
under the shared secret: nothing extra to store, and a token from one session is worthless
in another. Before sign-in, a throw-away pre-session cookie plays the session's part, so
that the sign-in form cannot be submitted cross-site either (login CSRF)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app, g, request
from werkzeug.wrappers import Response

from moderation.api.auth import Caller, services
from moderation.config import Role
from moderation.store.websessions import WebSession, WebSessionStore

SESSION_COOKIE = "mod_session"
PRESESSION_COOKIE = "mod_presession"
COOKIE_PATH = "/moderate"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
WEB_ROLES: tuple[Role, ...] = ("moderator", "admin")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)


def session_store() -> WebSessionStore:
    svc = services()
    return WebSessionStore(svc.redis, svc.keys)


def secret_key() -> str:
    """The configured secret, else the one generated once and shared through Redis; read
    once per process and installed as Flask's secret key too."""
    app = current_app
    cached: str | None = app.extensions.get("moderation.web.secret")
    if cached:
        return cached
    configured = services().settings.secret_key
    value = configured or session_store().shared_secret()
    app.extensions["moderation.web.secret"] = value
    if not app.secret_key:
        app.secret_key = value
    return value


def _mac(purpose: str, value: str) -> str:
    message = f"{purpose}:{value}".encode()
    return hmac.new(secret_key().encode("utf-8"), message, hashlib.sha256).hexdigest()


# -- sessions -------------------------------------------------------------------------------


def current_session() -> WebSession | None:
    if "web_session" not in g:
        sid = request.cookies.get(SESSION_COOKIE, "")
        ttl = services().settings.web_session_ttl_s
        g.web_session = session_store().get(sid, ttl) if sid else None
    found: WebSession | None = g.web_session
    return found


def _secure() -> bool:
    return request.is_secure or services().settings.public_url.startswith("https://")


def _set_cookie(resp: Response, name: str, value: str, max_age: int | None) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=_secure(),
    )


def start_session(resp: Response, key: Caller) -> WebSession:
    settings = services().settings
    session = session_store().create(
        key_id=key.key_id, role=key.role, name=key.name, ttl_s=settings.web_session_ttl_s
    )
    # No max_age: a browser session cookie; Redis bounds the session's idle life.
    _set_cookie(resp, SESSION_COOKIE, session.session_id, None)
    resp.delete_cookie(PRESESSION_COOKIE, path=COOKIE_PATH)
    return session


def end_session(resp: Response) -> None:
    session = current_session()
    if session is not None:
        session_store().delete(session.session_id)
    resp.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, samesite="Strict", httponly=True)


# -- CSRF -----------------------------------------------------------------------------------


def presession_id() -> str:
    """The pre-session id of this request, minted when the browser has none yet."""
    if "presession" not in g:
        g.presession = request.cookies.get(PRESESSION_COOKIE) or secrets.token_urlsafe(24)
    value: str = g.presession
    return value


def remember_presession(resp: Response) -> None:
    if request.cookies.get(PRESESSION_COOKIE) != presession_id():
        _set_cookie(resp, PRESESSION_COOKIE, presession_id(), 3600)


def csrf_token() -> str:
    session = current_session()
    if session is not None:
        return _mac("csrf", session.session_id)
    return _mac("signin", presession_id())


def csrf_valid() -> bool:
    """The token of this session, sent as a header (fetch) or a form field (plain forms)."""
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    session = current_session()
    if session is not None:
        expected = _mac("csrf", session.session_id)
    else:
        pre = request.cookies.get(PRESESSION_COOKIE, "")
        if not pre:
            return False
        expected = _mac("signin", pre)
    return bool(sent) and hmac.compare_digest(sent, expected)


# -- headers --------------------------------------------------------------------------------


def add_security_headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if resp.mimetype == "text/html" or resp.is_json:
        # Pages show comment texts and a CSRF token: never kept by a shared cache or the
        # back button of a signed-out browser.
        resp.headers["Cache-Control"] = "no-store"
    return resp
