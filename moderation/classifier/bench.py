"""`moderation model bench`: throughput per batch size, load time and peak RSS per runtime.

Each runtime is measured in a fresh child process, so load time is a cold start in a new
worker process and peak RSS is that of a worker holding only this model.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from moderation.classifier.data import read_jsonl

DEFAULT_BATCHES = (1, 8, 32, 64)


def sample_texts(path: Path | None, n: int) -> list[str]:
    """Real comments when a dev file is at hand (realistic lengths), else a fixed mix."""
    if path is not None and path.is_file():
        rows = read_jsonl(path, limit=n * 4)
        return [r.text for r in rows[:: max(1, len(rows) // n)]][:n]
    base = [
        "Thanks for the article, very informative.",
        "You are an idiot and everyone here knows it.",
        "I disagree with the author about the ceasefire, but the reporting is fair.",
        "Muslims and Jews in my town organised a joint vigil last week for the victims.",
    ]
    return [base[i % len(base)] * (1 + i % 3) for i in range(n)]


def measure(
    model: str,
    runtime: str,
    threads: int,
    batches: tuple[int, ...],
    texts: list[str],
    seconds: float,
) -> dict[str, Any]:
    """Run inside the child process."""
    from moderation.classifier.loader import load_classifier
    from moderation.config import Settings

    started = time.perf_counter()
    settings = Settings(model=model, model_runtime=runtime, torch_threads=threads)  # type: ignore[arg-type]
    clf = load_classifier(settings)
    load_s = time.perf_counter() - started
    clf.predict(texts[:8])  # first call allocates; not part of the steady state
    throughput: dict[str, float] = {}
    for bs in batches:
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds or done == 0:
            for b in range(0, len(texts), bs):
                clf.predict(texts[b : b + bs])
                done += len(texts[b : b + bs])
                if time.perf_counter() - t0 >= seconds:
                    break
        throughput[str(bs)] = round(done / (time.perf_counter() - t0), 1)
    flagged = next((t for t in texts if clf.predict([t])[0].get("toxicity", 0.0) > 0.5), texts[0])
    t0 = time.perf_counter()
    clf.explain(flagged, ["toxicity"])
    explain_ms = (time.perf_counter() - t0) * 1000
    return {
        "model": model,
        "runtime": getattr(clf, "runtime", runtime),
        "info": f"{clf.info.name} {clf.info.version}",
        "threads": threads,
        "load_s": round(load_s, 3),
        "comments_per_s": throughput,
        "explain_ms": round(explain_ms, 1),
        "explain_words": len(flagged.split()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_child(
    model: str,
    runtime: str,
    threads: int,
    batches: tuple[int, ...],
    texts_file: Path,
    seconds: float,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "moderation.classifier.bench",
        model,
        runtime,
        str(threads),
        ",".join(map(str, batches)),
        str(texts_file),
        str(seconds),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"model": model, "runtime": runtime, "error": proc.stderr.strip()[-2000:]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    _model, _runtime, _threads, _batches, _file, _seconds = sys.argv[1:7]
    _texts = json.loads(Path(_file).read_text())
    print(
        json.dumps(
            measure(
                _model,
                _runtime,
                int(_threads),
                tuple(int(b) for b in _batches.split(",")),
                _texts,
                float(_seconds),
            )
        )
    )
