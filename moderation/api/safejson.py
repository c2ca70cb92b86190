"""Parsing request bodies that anyone can send: UTF-8 JSON only, a bounded nesting depth and
finite numbers, each refused with its own clear problem instead of a 500 further down.

Why each check exists:
- depth: Python's json module recurses once per level; about 1,000 levels raise
  RecursionError, and a few hundred inside `metadata` still break serialisation later;
- encoding: `json.loads(bytes)` silently accepts UTF-16 and UTF-32 and a BOM, so the same
  comment could arrive in several byte forms; the contract is UTF-8 (RFC 8259 section 8.1);
- NaN, Infinity and numbers such as 1e999 that overflow to infinity are not JSON (RFC 8259
  section 6): stored, they would be served back as invalid JSON to every reader.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from moderation.errors import ProblemError

# Deep enough for any body of this API (the deepest documented one is about 5 levels), far
# below the depth at which the parser or the serialiser recurses too deep.
MAX_JSON_DEPTH = 32

_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xef\xbb\xbf", "UTF-8"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
# Strings are skipped whole (escapes included) so that brackets inside them do not count.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def _encoding_problem(detail: str) -> ProblemError:
    return ProblemError(
        415,
        "unsupported-encoding",
        "Unsupported Media Type",
        f"{detail}; send the body as UTF-8 JSON without a byte order mark",
    )


def decode_utf8(raw: bytes, charset: str | None) -> str:
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise _encoding_problem(f"charset {charset!r} is not supported")
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise _encoding_problem(f"the body starts with a {name} byte order mark")
    # A JSON text begins with an ASCII character: a NUL among the first bytes means UTF-16/32.
    if b"\x00" in raw[:4]:
        raise _encoding_problem("the body looks like UTF-16 or UTF-32")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(
            400,
            "malformed-json",
            "Bad Request",
            f"body is not valid JSON: invalid UTF-8 at byte {exc.start}",
        ) from exc


def nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside strings; cheap: the regex skips string contents."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _non_finite(value: Any, path: list[str | int]) -> list[str | int] | None:
    """Where the first NaN or infinite number is, if any (the depth is already bounded)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, [*path, key])
        if found is not None:
            return found
    return None


def loads_body(raw: bytes, charset: str | None = None) -> Any:
    text = decode_utf8(raw, charset)
    depth = nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ProblemError(
            400,
            "json-too-deep",
            "Bad Request",
            f"the JSON body is nested {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted",
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProblemError(
            400, "malformed-json", "Bad Request", f"body is not valid JSON: {exc}"
        ) from exc
    where = _non_finite(data, [])
    if where is not None:
        field = ".".join(str(p) for p in where) or "body"
        raise ProblemError(
            422,
            "validation",
            "Unprocessable Content",
            f"invalid body: {field}: NaN and infinite numbers are not JSON",
            errors=[{"field": field, "message": "NaN and infinite numbers are not JSON"}],
        )
    return data
