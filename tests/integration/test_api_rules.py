"""Rules administration over HTTP against a real Redis: read, validate, activate, revert,
audit, roles and limits. The app here has its own key prefix, so activating a ruleset
never reaches the session's worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from support import ADMIN_KEY, MODERATOR_KEY, ROOT, SITE_KEY, auth, delete_prefix, make_settings

from moderation import create_app
from moderation.api.schemas_rules import MAX_RULES_REQUEST_BYTES
from moderation.config import Settings
from moderation.ruleset import load_ruleset
from moderation.store.keys import Keys

RULES = ROOT / "rules"
EXTRA = """\
rules:
  - id: zorblax-ban
    description: Mentions the forbidden word.
    condition: {words: {terms: [zorblax]}}
    action: reject
    tags: [test]
    message: Mentions zorblax.
    examples:
      must_match: ["I love z0rblax"]
      must_not_match: ["hello"]
"""


def default_files() -> dict[str, str]:
    files = {p.name: p.read_text() for p in sorted(RULES.glob("*.y*ml"))}
    files.update({f"words/{p.name}": p.read_text() for p in sorted(RULES.glob("words/*.txt"))})
    return files


def bundle(**extra: str) -> dict[str, str]:
    return {**default_files(), **extra}


@pytest.fixture(scope="module")
def rules_settings(redis_url: str) -> Iterator[Settings]:
    prefix = f"test-rules-{uuid.uuid4().hex[:8]}:"
    yield make_settings(redis_url, prefix)
    delete_prefix(redis_url, prefix)


@pytest.fixture(scope="module")
def api(rules_settings: Settings) -> FlaskClient:
    return create_app(rules_settings).test_client()


@pytest.fixture
def reverted(api: FlaskClient) -> Iterator[FlaskClient]:
    api.delete("/v1/ruleset", headers=auth(ADMIN_KEY))
    yield api
    api.delete("/v1/ruleset", headers=auth(ADMIN_KEY))


FILES_VERSION = load_ruleset([RULES]).version


def get(api: FlaskClient, path: str, key: str = MODERATOR_KEY) -> Any:
    resp = api.get(path, headers=auth(key))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_lists_the_active_file_ruleset(reverted: FlaskClient) -> None:
    body = get(reverted, "/v1/rules")
    assert body["version"] == FILES_VERSION
    assert body["source"] == "files" and body["last_error"] is None
    blocked = next(r for r in body["rules"] if r["id"] == "blocked-words")
    assert blocked["action"] == "reject" and blocked["file"] == "words.yaml"
    assert blocked["mode"] == "enforce" and "hate" in blocked["tags"]
    assert {"id", "description", "priority", "message", "line"} <= set(blocked)
    toxicity = next(t for t in body["thresholds"] if t["label"] == "toxicity")
    assert toxicity["flag"] == 0.5 and toxicity["file"] == "thresholds.yaml"


def test_reads_one_rule_with_condition_and_examples(reverted: FlaskClient) -> None:
    rule = get(reverted, "/v1/rules/blocked-words")
    assert rule["condition"]["words"]["lists"] == ["blocked"]
    assert rule["examples"]["must_match"]
    resp = reverted.get("/v1/rules/no-such-rule", headers=auth(MODERATOR_KEY))
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert "no-such-rule" in resp.get_json()["detail"]


def test_validates_a_good_bundle_without_activating_it(reverted: FlaskClient) -> None:
    resp = reverted.post(
        "/v1/rules/validate", json={"files": bundle(**{"zz.yaml": EXTRA})}, headers=auth(ADMIN_KEY)
    )
    assert resp.status_code == 200
    report = resp.get_json()
    assert report["valid"] is True and report["version"] and report["issues"] == []
    assert report["rule_count"] == len(load_ruleset([RULES]).rules) + 1
    assert get(reverted, "/v1/rules")["version"] == FILES_VERSION  # nothing activated


BAD_BUNDLES = {
    "yaml syntax": (
        "rules:\n  - id: broken\n    description: [unclosed\n    action: flag\n",
        4,
        "not valid YAML",
    ),
    "unknown field": (
        "rules:\n  - id: colourful\n    description: d\n    condition: {length: {gte: 1}}\n"
        "    action: flag\n    colour: red\n",
        6,
        "colour: Extra inputs are not permitted",
    ),
    "duplicate id": (
        "rules:\n  - id: blocked-words\n    description: d\n"
        "    condition: {words: {terms: [zorblax]}}\n    action: flag\n",
        2,
        "duplicate rule id 'blocked-words'",
    ),
    "failing example": (
        "rules:\n  - id: zorblax-ban\n    description: d\n"
        "    condition: {words: {terms: [zorblax]}}\n    action: reject\n"
        "    examples: {must_match: [hello there]}\n",
        2,
        "rule zorblax-ban: example 'hello there' should match",
    ),
    "unknown label": (
        "rules:\n  - id: typo\n    description: d\n"
        "    condition: {score: {label: insullt, gte: 0.5}}\n    action: flag\n",
        4,
        "'insullt' is not a model label",
    ),
    # 9 aliases wide, 6 levels deep: 531,441 conditions in 800 bytes (issue 11).
    "alias bomb": (
        "rules:\n"
        + "".join(
            f"  - id: r{n}\n    description: d\n    action: flag\n    condition: "
            + (
                "&a0 {score: {label: toxicity, gte: 0.5}}\n"
                if n == 0
                else f"&a{n} {{all: [{', '.join([f'*a{n - 1}'] * 9)}]}}\n"
            )
            for n in range(7)
        ),
        26,
        "with its aliases expanded the file is",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
def test_validate_reports_file_line_and_reason(reverted: FlaskClient, case: str) -> None:
    text, line, reason = BAD_BUNDLES[case]
    resp = reverted.post(
        "/v1/rules/validate", json={"files": bundle(**{"zz.yaml": text})}, headers=auth(ADMIN_KEY)
    )
    assert resp.status_code == 200
    report = resp.get_json()
    assert report["valid"] is False and report["version"] is None
    errors = [i for i in report["issues"] if i["severity"] == "error"]
    assert any(
        i["file"] == "zz.yaml" and i["line"] == line and reason in i["message"] for i in errors
    ), errors


@pytest.mark.parametrize(
    "name", ["../evil.yaml", "/etc/evil.yaml", "sub/x.yaml", "words/../x.txt", "x.py", ".yaml"]
)
def test_unsafe_file_names_are_refused(reverted: FlaskClient, name: str) -> None:
    for path, method in (("/v1/rules/validate", "post"), ("/v1/ruleset", "put")):
        resp = getattr(reverted, method)(
            path, json={"files": bundle(**{name: EXTRA})}, headers=auth(ADMIN_KEY)
        )
        assert resp.status_code == 422, resp.get_json()
        assert resp.mimetype == "application/problem+json"
        assert repr(name) in resp.get_json()["detail"]


def test_size_limits(reverted: FlaskClient) -> None:
    # Word lists outgrow the 64 KB a comment may have: the rules endpoints allow more...
    words = "\n".join(f"zorblaxword{i}" for i in range(12_000))
    assert len(words) > 64 * 1024
    resp = reverted.post(
        "/v1/rules/validate",
        json={"files": bundle(**{"words/big.txt": words})},
        headers=auth(ADMIN_KEY),
    )
    assert resp.status_code == 200 and resp.get_json()["valid"] is True
    # ...up to 1 MB of files...
    huge = {"words/huge.txt": "x" * (1024 * 1024 + 1)}
    resp = reverted.post(
        "/v1/rules/validate", json={"files": bundle(**huge)}, headers=auth(ADMIN_KEY)
    )
    assert resp.status_code == 422 and "bytes of files" in resp.get_json()["detail"]
    # ...and a body far beyond that is refused before it is parsed.
    resp = reverted.post(
        "/v1/rules/validate",
        data=b'{"files": {"a.yaml": "' + b"x" * (4 * 1024 * 1024) + b'"}}',
        headers={**auth(ADMIN_KEY), "Content-Type": "application/json"},
    )
    assert resp.status_code == 413 and resp.mimetype == "application/problem+json"
    assert str(MAX_RULES_REQUEST_BYTES) in resp.get_json()["detail"]
    # The comments endpoint keeps its own limit.
    resp = reverted.post(
        "/v1/comments",
        json={"id": "big", "article_id": "a", "author_id": "u", "text": "x" * (400 * 1024)},
        headers=auth(SITE_KEY),
    )
    assert resp.status_code == 413


def test_roles(reverted: FlaskClient) -> None:
    good = {"files": bundle()}
    assert reverted.get("/v1/rules").status_code == 401
    assert reverted.get("/v1/rules", headers=auth(SITE_KEY)).status_code == 403
    assert reverted.get("/v1/rules/blocked-words", headers=auth(SITE_KEY)).status_code == 403
    assert reverted.get("/v1/ruleset/audit", headers=auth(SITE_KEY)).status_code == 403
    for key in (SITE_KEY, MODERATOR_KEY):
        assert reverted.post("/v1/rules/validate", json=good, headers=auth(key)).status_code == 403
        assert reverted.put("/v1/ruleset", json=good, headers=auth(key)).status_code == 403
        assert reverted.delete("/v1/ruleset", headers=auth(key)).status_code == 403
    assert reverted.put("/v1/ruleset", json=good).status_code == 401
    assert get(reverted, "/v1/rules")["source"] == "files"


def test_activate_audit_refuse_and_revert(reverted: FlaskClient, rules_settings: Settings) -> None:
    r: Any = redis.Redis.from_url(rules_settings.redis_url, decode_responses=True)
    keys = Keys(rules_settings.key_prefix)
    audit_before = len(get(reverted, "/v1/ruleset/audit")["items"])

    files = bundle(**{"zz.yaml": EXTRA})
    resp = reverted.put(
        "/v1/ruleset", json={"files": files, "comment": "ban zorblax"}, headers=auth(ADMIN_KEY)
    )
    assert resp.status_code == 200, resp.get_json()
    activated = resp.get_json()
    version = activated["version"]
    assert activated["source"] == "api" and activated["previous_version"] == FILES_VERSION
    assert activated["previous_source"] == "files"

    stored = r.hgetall(keys.ruleset_active())
    assert stored["version"] == version and json.loads(stored["files"]) == files
    assert stored["comment"] == "ban zorblax" and stored["activated_by"] and stored["activated_at"]

    body = get(reverted, "/v1/rules")
    assert body["version"] == version and body["source"] == "api"
    assert body["comment"] == "ban zorblax" and body["activated_by"] == stored["activated_by"]
    rule = get(reverted, "/v1/rules/zorblax-ban")
    assert rule["file"] == "zz.yaml" and rule["condition"] == {
        "words": {"lists": [], "terms": ["zorblax"], "min_count": 1}
    }

    # An invalid ruleset is refused with file, line and reason; nothing changes.
    broken = bundle(**{"zz.yaml": BAD_BUNDLES["unknown field"][0]})
    resp = reverted.put("/v1/ruleset", json={"files": broken}, headers=auth(ADMIN_KEY))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert problem["type"] == "urn:moderation:problem:invalid-ruleset"
    assert {k: problem["errors"][0][k] for k in ("file", "line")} == {"file": "zz.yaml", "line": 6}
    assert "colour" in problem["errors"][0]["message"] and "zz.yaml:6" in problem["detail"]
    assert r.hget(keys.ruleset_active(), "version") == version
    assert get(reverted, "/v1/rules")["version"] == version

    resp = reverted.delete("/v1/ruleset?comment=rollback", headers=auth(ADMIN_KEY))
    assert resp.status_code == 200
    reverted_body = resp.get_json()
    assert reverted_body["changed"] is True and reverted_body["version"] == FILES_VERSION
    assert reverted_body["previous_version"] == version
    assert not r.exists(keys.ruleset_active())
    body = get(reverted, "/v1/rules")
    assert body["version"] == FILES_VERSION and body["source"] == "files"
    assert body["activated_by"] is None
    again = reverted.delete("/v1/ruleset", headers=auth(ADMIN_KEY)).get_json()
    assert again["changed"] is False

    audit = get(reverted, "/v1/ruleset/audit?limit=10")["items"]
    assert len(audit) == audit_before + 2  # the refused PUT and the no-op DELETE left none
    revert, activate = audit[0], audit[1]
    assert revert["action"] == "revert" and activate["action"] == "activate"
    assert activate["actor"] == stored["activated_by"] and activate["role"] == "admin"
    assert activate["old_version"] == FILES_VERSION and activate["new_version"] == version
    assert activate["comment"] == "ban zorblax"
    assert revert["old_version"] == version and revert["new_version"] == FILES_VERSION
    assert revert["comment"] == "rollback" and revert["at"] >= activate["at"]
    assert len(get(reverted, "/v1/ruleset/audit?limit=1")["items"]) == 1
    assert reverted.get("/v1/ruleset/audit?limit=0", headers=auth(ADMIN_KEY)).status_code == 422


def test_rules_endpoints_are_in_openapi(api: FlaskClient) -> None:
    spec = api.get("/openapi.json").get_json()
    assert {"/v1/rules", "/v1/rules/{rule_id}", "/v1/rules/validate", "/v1/ruleset"} <= set(
        spec["paths"]
    )
    assert set(spec["paths"]["/v1/ruleset"]) == {"put", "delete"}
    files = spec["components"]["schemas"]["Activation"]["properties"]["files"]
    assert "pattern" in files["propertyNames"]
