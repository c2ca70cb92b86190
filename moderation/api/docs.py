"""OpenAPI 3.1 generated from the pydantic models the views validate with, and a browsable
page rendered from that document (offline: no CDN assets)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import flask_swagger_ui
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    jsonify,
    render_template,
    send_from_directory,
)
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from moderation.api.examples import REQUEST_EXAMPLES
from moderation.api.framework import Operation
from moderation.api.schemas import Identifier

bp = Blueprint("docs", __name__)
_SWAGGER_DIST = Path(flask_swagger_ui.__file__).parent / "dist"
SWAGGER_UI_VERSION = (_SWAGGER_DIST / "VERSION").read_text().strip()
_SWAGGER_ASSETS = {
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
}
_OWN_ASSET_DIR = Path(__file__).parent / "docs_assets"
_OWN_ASSETS = {"docs.js", "docs.css"}
_IDENTIFIER_SCHEMA = TypeAdapter(Identifier).json_schema()
_PATH_PARAM = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_]+)>")


def _operations(app: Flask) -> list[tuple[str, str, Operation]]:
    ops = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        op: Operation | None = getattr(view, "__openapi__", None)
        if op is None:
            continue
        path = _PATH_PARAM.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            ops.append((path, method.lower(), op))
    return sorted(ops, key=lambda t: (t[0], t[1]))


def build_openapi(app: Flask) -> dict[str, Any]:
    ops = _operations(app)
    models: set[type[BaseModel]] = set()
    for _, _, op in ops:
        models.update(m for m in (op.body, op.query, *op.responses.values()) if m is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    _, defs = models_json_schema(
        [(m, "validation" if m is not None else "serialization") for m in ordered],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for path, method, op in ops:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{method}_{re.sub(r'[^a-zA-Z0-9]+', '_', path).strip('_')}",
            "tags": list(op.tags),
            "responses": {},
        }
        if op.description:
            entry["description"] = op.description
        params = [
            {"name": name, "in": "path", "required": True, "schema": _IDENTIFIER_SCHEMA}
            for name in re.findall(r"{([a-zA-Z_]+)}", path)
        ]
        if op.query is not None:
            schema = op.query.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, prop in schema.get("properties", {}).items():
                params.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": name in schema.get("required", []),
                        "schema": prop,
                    }
                )
        if params:
            entry["parameters"] = params
        if op.body is not None:
            media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}
            if (example := REQUEST_EXAMPLES.get(op.body.__name__)) is not None:
                media["example"] = example
            entry["requestBody"] = {"required": True, "content": {"application/json": media}}
        if op.roles:
            entry["security"] = [{"bearer": []}]
            entry["description"] = (
                entry.get("description", "") + f" Roles: {', '.join(op.roles)} (or admin)."
            ).strip()
            entry["responses"]["401"] = _ref_response(
                "Problem", "Missing or invalid API key", problem=True
            )
            entry["responses"]["403"] = _ref_response(
                "Problem", "The key's role may not do this", problem=True
            )
            entry["responses"]["429"] = _ref_response(
                "Problem",
                "Too many requests with this key, or too many failed authentications from "
                "this address; wait Retry-After seconds",
                problem=True,
            )
        for status, model in sorted(op.responses.items()):
            if model is None:
                entry["responses"][str(status)] = {"description": "No content"}
            else:
                is_problem = model.__name__ == "Problem"
                entry["responses"][str(status)] = _ref_response(
                    model.__name__, f"HTTP {status}", problem=is_problem
                )
        paths.setdefault(path, {})[method] = entry
    settings = current_app.extensions["moderation"].settings
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Comment moderation API",
            "version": "1.0.0",
            "description": "Post comments, read verdicts, review and decide, subscribe to "
            "webhooks. Errors are application/problem+json (RFC 9457). Without a key: "
            "`GET /healthz` (the process answers), `GET /readyz` (Redis, broker and a "
            "classify worker with its model), `GET /metrics` (Prometheus text), this "
            "document at `/openapi.json`, the try-it page at `/docs` and a plain reference "
            "at `/docs/reference`.",
        },
        "servers": [{"url": settings.public_url}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _ref_response(name: str, description: str, *, problem: bool = False) -> dict[str, Any]:
    media = "application/problem+json" if problem else "application/json"
    return {
        "description": description,
        "content": {media: {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }


@bp.get("/openapi.json")
def openapi_json() -> Any:
    return jsonify(build_openapi(current_app))


@bp.get("/docs")
def docs_page() -> Any:
    """Swagger UI ("try it") over /openapi.json, served from the flask-swagger-ui wheel's
    copy of its assets: no CDN, and no inline script."""
    return render_template("docs_ui.html", swagger_version=SWAGGER_UI_VERSION)


@bp.get("/docs/assets/<path:name>")
def docs_asset(name: str) -> Any:
    if name in _OWN_ASSETS:
        return send_from_directory(_OWN_ASSET_DIR, name, max_age=3600)
    if name not in _SWAGGER_ASSETS:
        abort(404)
    return send_from_directory(_SWAGGER_DIST, name, max_age=86400)


@bp.get("/docs/reference")
def docs_reference() -> Any:
    """Every operation on one server-rendered page, for reading without JavaScript."""
    spec = build_openapi(current_app)
    return render_template("docs.html", spec=spec)
