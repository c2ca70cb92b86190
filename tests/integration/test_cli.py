"""The `moderation` command as an operator uses it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from support import ROOT, free_port, worker_env

from moderation.cli import main
from moderation.config import Settings
from moderation.services import Services


def test_keys_create_prints_a_working_key_once(settings: Settings) -> None:
    env = {"MODERATION_REDIS_URL": settings.redis_url, "MODERATION_KEY_PREFIX": settings.key_prefix}
    result = CliRunner().invoke(
        main, ["keys", "create", "--role", "moderator", "--name", "alice"], env=env
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[0]
    found = Services.from_settings(settings).api_keys.lookup(secret)
    assert found is not None and found.role == "moderator" and found.name == "alice"


def test_keys_create_rejects_unknown_role() -> None:
    result = CliRunner().invoke(main, ["keys", "create", "--role", "root"])
    assert result.exit_code != 0
    assert "root" in result.output


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_worker_refuses_a_missing_model_checkpoint(
    settings: Settings, tmp_path: Path, pool: str
) -> None:
    env = worker_env(settings)
    env["MODERATION_MODEL"] = str(tmp_path / "missing.ckpt")
    out = subprocess.run(
        [sys.executable, "-m", "moderation", "worker", "--queues", "classify", "--pool", pool],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode != 0
    assert "missing.ckpt" in out.stderr and "does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def _children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.add(int(entry.name))
    return found


@pytest.mark.slow
def test_dev_serves_the_demo_and_stops_cleanly_on_sigint(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = dict(
        os.environ,
        MODERATION_REDIS_URL=redis_url,
        MODERATION_KEY_PREFIX=f"test-dev-{port}:",
        HF_HUB_OFFLINE="1",
    )
    env.pop("MODERATION_BOOTSTRAP_KEYS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moderation", "dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "serving; Ctrl-C to stop" in line:
            break
    output = "".join(lines)
    assert "serving; Ctrl-C to stop" in output, output
    # The demo table's rows start with the verdict in the first column.
    verdict_lines = [ln for ln in lines if re.match(r"^\W\s*(approved|flagged|rejected)\s", ln)]
    assert len(verdict_lines) >= 6, output
    keys_file = (tmp_path / "var" / "dev-keys.env").read_text()
    for role in ("SITE", "MODERATOR", "ADMIN"):
        line = next(ln for ln in keys_file.splitlines() if ln.startswith(f"export {role}_KEY="))
        assert line in output  # printed as it can be pasted
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    children = _children_of(proc.pid)
    assert len(children) >= 3
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    proc.stdout.close()
    time.sleep(0.5)
    alive = [
        pid
        for pid in children
        if Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    ]
    assert alive == [], f"orphans left: {alive}"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
