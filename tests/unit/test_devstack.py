"""`moderation dev`'s keys, data notice and demo table."""

from __future__ import annotations

import stat
from pathlib import Path

from rich.console import Console

from moderation.config import Settings
from moderation.demo import DemoResult, render_results
from moderation.devstack import load_or_create_keys, where_data_goes


def test_keys_are_made_once_and_kept_for_the_checkout(tmp_path: Path) -> None:
    path = tmp_path / "var" / "dev-keys.env"
    first, made = load_or_create_keys(path)
    again, made_again = load_or_create_keys(path)
    assert made and not made_again and again == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert f"export SITE_KEY={first.site}" in text and f"export ADMIN_KEY={first.admin}" in text
    assert len({first.site, first.moderator, first.admin}) == 3
    # What the API reads them as: valid bootstrap keys of the three roles.
    parsed = Settings(bootstrap_keys=first.bootstrap()).parsed_bootstrap_keys()
    assert dict(parsed) == {"site": first.site, "moderator": first.moderator, "admin": first.admin}


def test_a_damaged_keys_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "dev-keys.env"
    path.write_text("export SITE_KEY=short\n")
    keys, made = load_or_create_keys(path)
    assert made and len(keys.site) > 16
    assert load_or_create_keys(path) == (keys, False)


def test_the_data_notice_says_where_and_whether_it_is_kept() -> None:
    assert "AOF" in where_data_goes("redis://127.0.0.1:5555/0", "mod:", True)
    kept = where_data_goes("redis://127.0.0.1:6379/0", "mod:", False)
    assert "'mod:'" in kept and "--fresh" in kept


def test_demo_table_wraps_instead_of_cutting() -> None:
    reasons = "insult 0.94 >= 0.60; toxicity 0.97 >= 0.80; Contains a suspect word."
    console = Console(width=90, record=True, color_system=None)
    render_results(
        [
            DemoResult(
                "c-1",
                "You are a complete idiot if you believe a word he says, moron.",
                "rejected",
                "toxicity 0.97",
                reasons,
            )
        ],
        console,
    )
    flat = " ".join(console.export_text().split())
    for piece in ("insult 0.94 >= 0.60", "Contains a suspect word.", "moron."):
        assert piece.replace(" ", "") in flat.replace(" ", "").replace("│", ""), piece
