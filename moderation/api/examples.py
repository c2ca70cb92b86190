"""One example request body per request model, shown in the OpenAPI document (and so in the
"try it" page at /docs). A test checks that every body model has one and that it validates,
so a new operation cannot go without."""

from __future__ import annotations

from typing import Any

_RULE_FILE = """rules:
  - id: zorblax
    description: A word this site does not want.
    condition: {words: {phrases: [zorblax]}}
    action: flag
    message: Mentions zorblax.
    examples:
      must_match: ["zorblax forever"]
      must_not_match: ["the ambassador was recalled"]
"""

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "CommentIn": {
        "id": "c-1001",
        "article_id": "turkey-recalls-ambassador",
        "author_id": "u-42",
        "text": "Recalling an ambassador is a signal, not a rupture.",
        "created_at": "2026-12-01T09:30:00Z",
        "metadata": {"author": {"account_created_at": "2024-03-02T10:00:00Z"}},
    },
    "CommentEdit": {"text": "Recalling an ambassador is only a signal."},
    "ArticleSettingsIn": {"premoderate": False, "sensitivity": 0.8, "closed": False},
    "AuthorIn": {"banned": True, "reason": "spam wave", "for_s": 604800},
    "SanctionIn": {"reason": "spam wave", "for_s": 604800},
    "UnbanIn": {"reason": "appeal granted"},
    "DecisionIn": {"decision": "reject", "reason": "insult", "revision": 1},
    "AppealIn": {"message": "I was quoting the minister."},
    "BulkIn": {
        "decision": "reject",
        "reason": "spam",
        "filter": {"author_id": "u-666", "article_id": "turkey-recalls-ambassador"},
    },
    "Activation": {"comment": "flag zorblax", "files": {"zorblax.yaml": _RULE_FILE}},
    "WebhookIn": {
        "url": "https://hooks.example.org/moderation",
        "events": ["comment.rejected", "comment.decided", "rule.notify"],
        "description": "moderators' chat channel",
    },
    "WebhookPatch": {"active": False},
}
