"""Sessions as several API processes see them: one shared secret, one session store; and the
Secure flag behind TLS. (Flask test clients: no browser needed to read a header.)"""

from __future__ import annotations

import re

from flask import Flask
from support import MODERATOR_KEY

from moderation import create_app
from moderation.config import Settings


def _sign_in(app: Flask, base_url: str = "http://localhost") -> tuple[str, list[str]]:
    client = app.test_client()
    page = client.get("/moderate/sign-in", base_url=base_url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    resp = client.post(
        "/moderate/sign-in",
        data={"key": MODERATOR_KEY, "csrf_token": token.group(1)},
        base_url=base_url,
    )
    assert resp.status_code == 302
    return resp.headers["Location"], resp.headers.getlist("Set-Cookie")


def test_a_session_started_in_one_process_works_in_another(e2e_settings: Settings) -> None:
    first, second = create_app(e2e_settings), create_app(e2e_settings)
    _, cookies = _sign_in(first)
    session = next(c for c in cookies if c.startswith("mod_session="))
    value = session.split(";", 1)[0].split("=", 1)[1]

    other = second.test_client()
    other.set_cookie("mod_session", value, path="/moderate")
    page = other.get("/moderate/")
    assert page.status_code == 200
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    # The token the second process put in its page is the one the first process accepts.
    signed_out = first.test_client()
    signed_out.set_cookie("mod_session", value, path="/moderate")
    resp = signed_out.post("/moderate/sign-out", data={"csrf_token": token.group(1)})
    assert resp.status_code == 302
    assert other.get("/moderate/").status_code == 302  # signed out for both


def test_the_cookie_is_secure_behind_tls(e2e_settings: Settings) -> None:
    _, cookies = _sign_in(create_app(e2e_settings), base_url="https://localhost")
    session = next(c for c in cookies if c.startswith("mod_session="))
    assert "; Secure" in session
    assert "; HttpOnly" in session
    assert "SameSite=Strict" in session
