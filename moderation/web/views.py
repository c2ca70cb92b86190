"""The moderator page: sign-in, the queue, one item, decisions, undo, bulk and bans.

Every page works as plain forms and links; moderate.js adds the keyboard and swaps items
in place by asking for the same URLs with `X-Requested-With: fetch` (partial HTML, or JSON
for actions)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import (
    Blueprint,
    abort,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from moderation.api.auth import resolve_key, services
from moderation.domain.labels import LABELS
from moderation.errors import ProblemError
from moderation.store.websessions import WebSession
from moderation.web import data, security
from moderation.web.models import QUEUE_STATUSES, SORTS, QueueFilters

bp = Blueprint(
    "web",
    __name__,
    url_prefix="/moderate",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


PAST = {"approve": "approved", "reject": "rejected"}


def _is_fetch() -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _safe_back(value: str | None) -> str:
    """Only a path of this page: an open redirect would make the sign-in page a phishing aid."""
    if not value:
        return url_for("web.queue")
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/moderate") or "\\" in value:
        return url_for("web.queue")
    return value


def _page_error(status: int, title: str, message: str) -> Response:
    if _is_fetch():
        resp = jsonify({"title": title, "detail": message, "status": status})
    else:
        resp = make_response(render_template("moderate/error.html", title=title, message=message))
    resp.status_code = status
    return resp


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return {
        "csrf_token": security.csrf_token,
        "web_session": security.current_session(),
        "reasons": services().settings.review_reason_list,
    }


@bp.before_request
def _csrf_and_session() -> Response | None:
    if request.endpoint == "web.static":
        return None
    if request.method == "POST" and not security.csrf_valid():
        return _page_error(
            403,
            "Request refused",
            "The form's security token is missing or out of date. Reload the page and try again.",
        )
    public = {"web.sign_in", "web.static"}
    if request.endpoint not in public and security.current_session() is None:
        if _is_fetch() or request.method != "GET":
            return _page_error(401, "Signed out", "Your session has ended; sign in again.")
        return redirect(url_for("web.sign_in", next=request.full_path.rstrip("?")))
    return None


@bp.after_request
def _headers(resp: Response) -> Response:
    if request.endpoint == "web.sign_in" and security.current_session() is None:
        security.remember_presession(resp)
    return security.add_security_headers(resp)


@bp.errorhandler(ProblemError)
def _problem(exc: ProblemError) -> Response:
    return _page_error(exc.problem.status, exc.problem.title, exc.problem.detail)


def _session() -> WebSession:
    session = security.current_session()
    assert session is not None  # _csrf_and_session sent everyone else to sign in
    return session


# -- sign-in --------------------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response:
    next_url = _safe_back(request.values.get("next"))
    if request.method == "GET":
        if security.current_session() is not None:
            return redirect(next_url)
        return make_response(render_template("moderate/signin.html", next_url=next_url))
    key = resolve_key(request.form.get("key", "").strip())
    error = ""
    status = 200
    if key is None:
        error, status = "That key is not valid.", 401
    elif key.role not in security.WEB_ROLES:
        error, status = (
            f"A {key.role} key cannot sign in here: moderating needs a moderator or admin key.",
            403,
        )
    if key is None or error:
        return make_response(
            render_template("moderate/signin.html", next_url=next_url, error=error), status
        )
    signed_in = redirect(next_url)
    security.start_session(signed_in, key)
    return signed_in


@bp.post("/sign-out")
def sign_out() -> Response:
    resp = redirect(url_for("web.sign_in"))
    security.end_session(resp)
    return resp


# -- queue and items --------------------------------------------------------------------------


@bp.get("/")
def queue() -> Response:
    svc = services()
    filters = QueueFilters.from_args(request.args)
    view = data.load_queue(svc, _session(), filters, request.args.get("cursor") or None)
    wanted = request.args.get("item")
    selected_id = wanted or (view.rows[0].comment.id if view.rows else None)
    selected = data.load_item(svc, _session(), selected_id) if selected_id else None
    return make_response(
        render_template(
            "moderate/queue.html",
            filters=filters,
            rows=view.rows,
            total=view.total,
            counts_by_status=view.counts_by_status,
            counts_by_article=view.counts_by_article,
            next_cursor=view.next_cursor,
            selected=selected,
            statuses=QUEUE_STATUSES,
            sorts=SORTS,
            labels=LABELS,
            back_url=request.full_path.rstrip("?"),
            notice=request.args.get("notice", "")[:200],
        )
    )


@bp.get("/items/<comment_id>")
def item(comment_id: str) -> Response:
    view = data.load_item(services(), _session(), comment_id)
    if view is None:
        abort(404)
    back = _safe_back(request.args.get("back"))
    if _is_fetch():
        return make_response(render_template("moderate/_item.html", item=view, back_url=back))
    return redirect(url_for("web.queue", item=comment_id, status=view.comment.status))


# -- actions ----------------------------------------------------------------------------------


def _acted(payload: dict[str, Any], notice: str) -> Response:
    """JSON for the script; for a plain form, back to where the moderator was."""
    if _is_fetch():
        return jsonify(payload)
    parts = urlsplit(_safe_back(request.form.get("back")))
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("notice", "item")]
    return redirect(f"{parts.path}?{urlencode([*query, ('notice', notice)])}")


def _revision() -> int | None:
    raw = request.form.get("revision", "")
    return int(raw) if raw.isdigit() else None


@bp.post("/items/<comment_id>/decision")
def decide(comment_id: str) -> Response:
    decision = request.form.get("decision", "")
    if decision not in ("approve", "reject"):
        return _page_error(422, "Unknown decision", "Choose approve or reject.")
    reason = request.form.get("reason", "").strip()[:500]
    note = request.form.get("note", "").strip()[:2000] or None
    comment = data.decide(services(), _session(), comment_id, decision, reason, note, _revision())
    return _acted(
        {"id": comment.id, "status": comment.status.value, "revision": comment.revision},
        f"{PAST[decision]} {comment.id}",
    )


@bp.post("/items/<comment_id>/undo")
def undo(comment_id: str) -> Response:
    comment = data.undo(services(), _session(), comment_id)
    return _acted(
        {"id": comment.id, "status": comment.status.value, "revision": comment.revision},
        f"undid the decision on {comment.id}",
    )


@bp.post("/bulk")
def bulk() -> Response:
    decision = request.form.get("decision", "")
    ids = [i for i in request.form.getlist("ids") if i][:500]
    if decision not in ("approve", "reject"):
        return _page_error(422, "Unknown decision", "Choose approve or reject.")
    if not ids:
        return _acted({"changed": [], "skipped": []}, "nothing selected")
    reason = request.form.get("reason", "").strip()[:500]
    result = data.bulk_decide(services(), _session(), ids, decision, reason)
    return _acted(
        result, f"{PAST[decision]} {len(result['changed'])}, skipped {len(result['skipped'])}"
    )


@bp.post("/authors/<author_id>/standing")
def author_standing(author_id: str) -> Response:
    standing = request.form.get("standing", "banned")
    if standing not in ("banned", "suspended", "good"):
        return _page_error(422, "Unknown standing", "Choose banned, suspended or good.")
    reason = request.form.get("reason", "").strip()[:2000]
    if standing != "good" and not reason:
        return _page_error(422, "Reason needed", "Say why: the reason goes into the audit log.")
    days = request.form.get("days", "")
    summary = data.set_standing(
        services(),
        _session(),
        author_id,
        standing,
        reason,
        int(days) if days.isdigit() and 0 < int(days) <= 3650 else None,
    )
    return _acted(
        {"author_id": author_id, "banned": summary.banned, "suspended": summary.suspended},
        f"{author_id} is now {standing}",
    )


__all__ = ["bp"]
