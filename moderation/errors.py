"""RFC 9457 problem details: every error the API returns has a stable `type` and a `detail`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, json
from kombu.exceptions import OperationalError as BrokerError
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "urn:moderation:problem:"


class Problem(BaseModel):
    """The body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class ProblemError(Exception):
    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem = Problem(
            type=TYPE_BASE + slug, title=title, status=status, detail=detail, errors=errors
        )
        self.headers = headers or {}


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    body = problem.model_dump(exclude_none=True)
    resp = Response(json.dumps(body), status=problem.status, mimetype=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ProblemError)
    def _problem(exc: ProblemError) -> Response:
        return problem_response(exc.problem, exc.headers)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = exc.description or exc.name
        if status == 413:
            detail = f"request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        problem = Problem(
            type=TYPE_BASE + _HTTP_SLUGS.get(status, "http-error"),
            title=exc.name,
            status=status,
            detail=detail,
        )
        allowed = getattr(exc, "valid_methods", None)  # set by MethodNotAllowed
        headers = {"Allow": ", ".join(allowed)} if allowed else None
        return problem_response(problem, headers)

    # A dependency that is down is the service's temporary state, not a server bug:
    # 503 with Retry-After, so the site retries and nothing is lost.
    def unavailable(slug: str, detail: str) -> Callable[[Exception], Response]:
        def handler(exc: Exception) -> Response:
            app.logger.warning("%s: %s", slug, exc)
            problem = Problem(
                type=TYPE_BASE + slug, title="Service Unavailable", status=503, detail=detail
            )
            return problem_response(problem, {"Retry-After": "5"})

        return handler

    # Not "nothing was stored": a timeout can strike after Redis applied a write whose reply
    # was lost, and a request can fail on a later step after an earlier one was stored.
    # Every write of this API is safe to repeat, so the advice is the same either way.
    storage_down = unavailable(
        "storage-unavailable",
        "the comment store is unreachable or did not answer in time; the request may or may "
        "not have been applied: retry it unchanged later (repeating it is safe)",
    )
    app.register_error_handler(RedisConnectionError, storage_down)
    app.register_error_handler(RedisTimeoutError, storage_down)
    app.register_error_handler(
        BrokerError,
        unavailable(
            "queue-unavailable", "the task queue is unreachable; retry with the same body later"
        ),
    )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return problem_response(
            Problem(
                type=TYPE_BASE + "internal",
                title="Internal Server Error",
                status=500,
                detail="an unexpected error occurred; it has been logged",
            )
        )
