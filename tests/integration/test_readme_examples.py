"""The README's shell examples, taken from the README itself and run in order against a
started stack (the API over HTTP and a real worker process), so the README and the service
cannot drift apart: every curl must reach an existing operation with a well-formed request
and a valid key. Answers may be 2xx, or 409 where the story's state says so; a 400, 401, 403,
404, 405, 415, 422 or 5xx means the README is wrong."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    ADMIN_KEY,
    MODERATOR_KEY,
    ROOT,
    SITE_KEY,
    WorkerProcess,
    delete_prefix,
    make_settings,
    serve,
)

from moderation import create_app
from moderation.api.schemas import CommentOut
from moderation.config import Settings
from moderation.devstack import KEYS_FILE
from moderation.services import Services
from moderation.store.rulesets import RulesetStore

README = ROOT / "README.md"
README_BASE = "http://127.0.0.1:8000"
SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
CURL_CALL = re.compile(r"^\s*curl\s", re.M)
STATUS_LINE = re.compile(r"^__status__ (\d{3}) (\S+) (\S+)$", re.M)
ALLOWED = {200, 201, 202, 204, 409}

# Every curl goes through this function: the answer's status, method and URL are logged.
PRELUDE = """set -euo pipefail
curl() { command curl -w '\\n__status__ %{http_code} %{method} %{url_effective}\\n' "$@"; }
"""


def readme_scripts() -> list[str]:
    return [b for b in SH_BLOCK.findall(README.read_text()) if CURL_CALL.search(b)]


@pytest.fixture(scope="module")
def stack(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Settings]]:
    """Its own key prefix and worker: the examples ban authors and activate rulesets."""
    settings = make_settings(redis_url, f"test-readme-{uuid.uuid4().hex[:8]}:")
    worker = WorkerProcess(settings, tmp_path_factory.mktemp("readme") / "worker.log").start()
    try:
        with serve(create_app(settings)) as base:
            yield base, settings
    finally:
        worker.stop()
        services = Services.from_settings(settings)
        RulesetStore(services.redis, services.keys).revert(
            actor="test", role="admin", comment="cleanup", files_version=""
        )
        services.redis.close()
        delete_prefix(redis_url, settings.key_prefix)


def test_readme_has_curl_examples() -> None:
    assert sum(len(CURL_CALL.findall(s)) for s in readme_scripts()) >= 20


def test_readme_examples_run_against_the_service(
    stack: tuple[str, Settings], tmp_path: Path
) -> None:
    base, _ = stack
    env = {  # as `source var/dev-keys.env` in the quick start leaves the shell
        **os.environ,
        "SITE_KEY": SITE_KEY,
        "MODERATOR_KEY": MODERATOR_KEY,
        "ADMIN_KEY": ADMIN_KEY,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
    }
    # What `make run` writes for `source var/dev-keys.env`, with this stack's keys.
    keys_file = tmp_path / "dev-keys.env"
    keys_file.write_text(
        f"export SITE_KEY={SITE_KEY}\nexport MODERATOR_KEY={MODERATOR_KEY}\n"
        f"export ADMIN_KEY={ADMIN_KEY}\n"
    )
    ran: list[tuple[int, str, str]] = []
    for number, script in enumerate(readme_scripts(), start=1):
        script = script.replace(README_BASE, base).replace(str(KEYS_FILE), str(keys_file))
        proc = subprocess.run(
            ["bash", "-c", PRELUDE + script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"README example {number} failed:\n{script}\n{proc.stderr}"
        calls = [(int(c), m, u) for c, m, u in STATUS_LINE.findall(proc.stdout)]
        assert len(calls) == len(CURL_CALL.findall(script)), proc.stdout
        wrong = [call for call in calls if call[0] not in ALLOWED]
        assert not wrong, f"README example {number}: {wrong}\n{proc.stdout[-3000:]}"
        ran += calls
    assert not (ROOT / "bundle.json").exists()  # examples write scratch files to $TMPDIR
    statuses = [code for code, _, _ in ran]
    assert 409 not in statuses, ran  # the story holds together: no step refused


def test_readme_verdict_example_shows_every_field_of_the_contract() -> None:
    section = README.read_text().split("### Read a verdict", 1)[1]
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))  # type: ignore[union-attr]
    comment = CommentOut.model_validate(example)
    assert set(example) == set(comment.model_dump())
    assert example["verdict"] is not None and comment.verdict is not None
    assert set(example["verdict"]) == set(comment.verdict.model_dump())
    for reason, parsed in zip(example["verdict"]["reasons"], comment.verdict.reasons, strict=True):
        assert set(reason) == set(parsed.model_dump())
