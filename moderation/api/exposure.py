"""What every response tells and allows: security headers, Locations that never echo the
Host header, the Host names answered, and which proxy's forwarded address to believe."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from moderation.config import Settings

# JSON and text are data, never a page: no script, style, frame or plugin may run from them
# even if a browser is tricked into rendering one. HTML pages (moderator page, /docs) set
# their own policy, or none where the Swagger UI bundle would not run under this one.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

_ALWAYS = {
    # Without it a browser may sniff a JSON body holding a comment's text as HTML.
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _relative(location: str) -> str:
    """Drop scheme and host from a Location that names this request's own Host (werkzeug's
    trailing-slash redirect and url_for(_external=True) build it from the Host header, which
    the client chose). Other absolute Locations are left alone."""
    parts = urlsplit(location)
    if parts.netloc and parts.netloc.lower() == request.host.lower():
        # "//x" would be read as another host: one leading slash only.
        path = "/" + (parts.path or "/").lstrip("/")
        return urlunsplit(("", "", path, parts.query, parts.fragment))
    return location


def add_headers(resp: Response) -> Response:
    for name, value in _ALWAYS.items():
        resp.headers.setdefault(name, value)
    if resp.mimetype != "text/html":
        resp.headers.setdefault("Content-Security-Policy", DATA_CSP)
    if "Authorization" in request.headers:
        # Answers to authenticated requests hold comments and verdicts: no shared cache.
        resp.headers.setdefault("Cache-Control", "no-store")
    location = resp.headers.get("Location")
    if location:
        resp.headers["Location"] = _relative(location)
    return resp


def install(app: Flask, settings: Settings) -> None:
    hosts = [h.strip() for h in settings.trusted_hosts.split(",") if h.strip()]
    if hosts:
        app.config["TRUSTED_HOSTS"] = hosts
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops
        )
    # Flask returns its routing redirects (RequestRedirect) without error handlers, but
    # after_request still runs on them.
    app.after_request(add_headers)
