"""Demo comments written for the comment section of the seed article (Turkey recalls its
ambassador to Israel over Gaza): ordinary disagreement, identity terms used neutrally, and a
few that a moderator must see."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.table import Table

# The article id the README's examples use too, so listing it shows the demo's comments.
DEMO_ARTICLE_ID = "turkey-recalls-ambassador"

DEMO_COMMENTS: tuple[tuple[str, str], ...] = (
    (
        "reader-anna",
        "Recalling an ambassador is a diplomatic signal, not a rupture. Talks will resume.",
    ),
    (
        "reader-omar",
        "As a Muslim I want both Israeli and Palestinian civilians to be safe. Ceasefire now.",
    ),
    (
        "reader-dave",
        "Erdogan is playing to his domestic audience, as usual. Blinken will not be impressed.",
    ),
    (
        "reader-lea",
        "My Jewish grandparents and my Palestinian neighbours agree on one thing: stop the bombing.",
    ),
    ("reader-x17", "You are a complete idiot if you believe a word Netanyahu says, moron."),
    ("reader-k9", "People like you should be shot. I know where you live."),
    ("reader-zz", "They are animals, all of them, and should be wiped off the map."),
    (
        "reader-bo",
        "Read more at http://spam.example/free-money http://spam.example/win http://spam.example/now",
    ),
)


@dataclass(frozen=True)
class DemoResult:
    comment_id: str
    text: str
    status: str
    top: str
    reasons: str = ""


def render_results(results: list[DemoResult], console: Console | None = None) -> None:
    """A table that wraps long texts and reasons instead of cutting them."""
    table = Table(title=f"Demo comments under {DEMO_ARTICLE_ID}", show_lines=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("comment", overflow="fold", ratio=3)
    table.add_column("top score", no_wrap=True)
    table.add_column("reasons", overflow="fold", ratio=2)
    for r in results:
        table.add_row(r.status, r.text, r.top, r.reasons or "-")
    (console or Console()).print(table)


def run_demo(base_url: str, site_key: str, timeout_s: float = 60.0) -> list[DemoResult]:
    """Post every demo comment, then wait for each verdict (or the timeout)."""
    run = uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Bearer {site_key}"}
    ids: list[tuple[str, str]] = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=10.0) as client:
        for i, (author, text) in enumerate(DEMO_COMMENTS):
            cid = f"demo-{run}-{i}"
            resp = client.post(
                "/v1/comments",
                json={"id": cid, "article_id": DEMO_ARTICLE_ID, "author_id": author, "text": text},
            )
            resp.raise_for_status()
            ids.append((cid, text))
        deadline = time.monotonic() + timeout_s
        results: dict[str, DemoResult] = {}
        while len(results) < len(ids) and time.monotonic() < deadline:
            for cid, text in ids:
                if cid in results:
                    continue
                body = client.get(f"/v1/comments/{cid}").json()
                if body["status"] != "pending":
                    verdict = body.get("verdict") or {}
                    scores = verdict.get("scores") or {}
                    label, score = max(scores.items(), key=lambda kv: kv[1], default=("-", 0.0))
                    reasons = "; ".join(r["message"] for r in verdict.get("reasons", []))
                    results[cid] = DemoResult(
                        cid, text, body["status"], f"{label} {score:.2f}", reasons
                    )
            time.sleep(0.3)
        return [
            results.get(cid, DemoResult(cid, text, "pending", "(no verdict yet)"))
            for cid, text in ids
        ]
