"""The thin HTTP layer's one mechanism: an `operation` decorator that authenticates, parses
and validates the request with pydantic models, serialises the response model, and records
all of it on the view so that /openapi.json is generated from the very same models."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Response, request
from pydantic import BaseModel, TypeAdapter, ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from moderation.api.auth import authenticate, gate_problem, identify, services
from moderation.api.safejson import loads_body
from moderation.api.schemas import Identifier
from moderation.config import Role
from moderation.errors import ProblemError
from moderation.store.ratelimit import Gate, GateClosed

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    summary: str
    roles: tuple[Role, ...]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    description: str = ""
    gated: bool = False


# A regex scans in C: a generator over the characters cost ~0.1 ms per POST of a long text.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _bad_strings(body: dict[str, Any]) -> list[dict[str, Any]]:
    """NUL bytes and lone surrogates are valid JSON but poison storage, logs and tokenizers.
    Checked on the typed top-level fields, before pydantic, for a clear message; free-form
    nested values (metadata) are stored as escaped JSON instead."""
    errors: list[dict[str, Any]] = []
    for name, value in body.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            errors.append({"loc": [name], "msg": "must not contain NUL characters"})
        elif _SURROGATE.search(value):
            errors.append({"loc": [name], "msg": "must not contain lone surrogates"})
    return errors


def validation_problem(errors: list[dict[str, Any]], where: str) -> ProblemError:
    fields = sorted({".".join(str(p) for p in e["loc"]) or where for e in errors})
    return ProblemError(
        422,
        "validation",
        "Unprocessable Content",
        f"invalid {where}: "
        + "; ".join(f"{'.'.join(str(p) for p in e['loc']) or where}: {e['msg']}" for e in errors),
        errors=[{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in errors]
        or [{"field": f, "message": "invalid"} for f in fields],
    )


def _pydantic_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]


def _more_than_limit(raw: bytes) -> bool:
    """A body without Content-Length (chunked) is read up to the limit and silently cut
    there by werkzeug, to fail later as malformed JSON; a byte left over means it was
    larger than the limit: 413, like a declared length over the limit."""
    limit = request.max_content_length
    if request.content_length is not None or limit is None or len(raw) < limit:
        return False
    extra: bytes = request.environ["wsgi.input"].read(1)
    return bool(extra)


def parse_body(model: type[BaseModel]) -> BaseModel:
    if not request.is_json:
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            "send the body as JSON with Content-Type: application/json",
        )
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    if _more_than_limit(raw):
        raise RequestEntityTooLarge()
    data = loads_body(raw, request.mimetype_params.get("charset"))
    if not isinstance(data, dict):
        raise ProblemError(422, "validation", "Unprocessable Content", "body must be a JSON object")
    if bad := _bad_strings(data):
        raise validation_problem(bad, "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(_pydantic_errors(exc), "body") from exc


_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


def check_path_ids(view_args: dict[str, Any]) -> None:
    """Every path parameter of this API is an identifier; say so rather than answer 404."""
    errors = []
    for name, value in view_args.items():
        try:
            _IDENTIFIER.validate_python(value)
        except ValidationError as exc:
            errors += [{"loc": [name], "msg": e["msg"]} for e in exc.errors(include_url=False)]
    if errors:
        raise validation_problem(errors, "path")


def parse_query(model: type[BaseModel]) -> BaseModel:
    data = {k: v for k, v in request.args.items()}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(_pydantic_errors(exc), "query") from exc


def operation(
    summary: str,
    *,
    roles: tuple[Role, ...],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | None] | None = None,
    tags: tuple[str, ...] = (),
    description: str = "",
    gated: bool = False,
) -> Callable[[F], F]:
    """`gated`: the view gets the caller's rate-limit Gate as `gate` and runs it with its
    own Redis write (one round trip instead of two); a GateClosed it raises is the 429
    `authenticate` would have answered. A request refused before the view (its body or
    query) runs the gate first, so a throttled key still reads 429."""
    op = Operation(
        summary=summary,
        roles=roles,
        body=body,
        query=query,
        responses=responses or {},
        tags=tags,
        description=description,
        gated=gated,
    )

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if op.gated:
                return to_response(_gated(view, op, *args, **kwargs))
            if op.roles:
                kwargs["caller"] = authenticate(op.roles)
            check_path_ids(request.view_args or {})
            if op.body is not None:
                kwargs["body"] = parse_body(op.body)
            if op.query is not None:
                kwargs["query"] = parse_query(op.query)
            result = view(*args, **kwargs)
            return to_response(result)

        wrapper.__openapi__ = op  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _gated(view: Callable[..., Any], op: Operation, *args: Any, **kwargs: Any) -> Any:
    kwargs["caller"], gate = identify(op.roles)
    try:
        check_path_ids(request.view_args or {})
        if op.body is not None:
            kwargs["body"] = parse_body(op.body)
        if op.query is not None:
            kwargs["query"] = parse_query(op.query)
    except (ProblemError, HTTPException):
        _check(gate)  # a throttled key reads 429 before anything about its request
        raise
    try:
        return view(*args, gate=gate, **kwargs)
    except GateClosed as closed:
        raise gate_problem(closed) from None


def _check(gate: Gate) -> None:
    try:
        services().limiter.check(gate)
    except GateClosed as closed:
        raise gate_problem(closed) from None


def to_response(result: Any) -> Any:
    """Views return a model, or (model, status) or (model, status, headers)."""
    if isinstance(result, Response):
        return result
    status: int = 200
    headers: dict[str, str] = {}
    if isinstance(result, tuple):
        result, status, *rest = result
        headers = rest[0] if rest else {}
    if isinstance(result, BaseModel):
        payload = result.model_dump(mode="json", exclude_none=False)
        resp = Response(json.dumps(payload), status=status, mimetype="application/json")
        for k, v in headers.items():
            resp.headers[k] = v
        return resp
    return result
