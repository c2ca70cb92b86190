"""`rules bench`: how many comments per second the rules evaluate on one core.

The input is synthetic but shaped like news comments: a few sentences from an everyday
vocabulary, some with profanity (plain and obfuscated), links, capitals, and model
scores mostly low with a tail above the thresholds.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from moderation.ruleset.context import ArticleContext, AuthorContext, RecentActivity, RuleContext
from moderation.ruleset.engine import Ruleset, load_ruleset

_VOCAB = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "it",
    "for",
    "on",
    "was",
    "with",
    "as",
    "this",
    "are",
    "be",
    "by",
    "not",
    "have",
    "but",
    "from",
    "they",
    "his",
    "her",
    "at",
    "or",
    "an",
    "will",
    "would",
    "there",
    "their",
    "what",
    "about",
    "which",
    "people",
    "when",
    "can",
    "more",
    "government",
    "minister",
    "war",
    "peace",
    "israel",
    "gaza",
    "ukraine",
    "russia",
    "army",
    "soldiers",
    "civilians",
    "hostages",
    "ceasefire",
    "election",
    "vote",
    "president",
    "policy",
    "tax",
    "economy",
    "prices",
    "energy",
    "climate",
    "police",
    "court",
    "law",
    "report",
    "article",
    "journalist",
    "think",
    "believe",
    "agree",
    "disagree",
    "wrong",
    "right",
    "really",
    "never",
    "always",
    "maybe",
    "because",
    "however",
    "actually",
    "simply",
    "children",
    "families",
    "refugees",
    "hospital",
    "school",
    "city",
    "country",
    "world",
    "history",
    "religion",
    "muslim",
    "jewish",
    "christian",
    "israeli",
    "palestinian",
    "community",
    "support",
    "protest",
    "freedom",
    "rights",
    "sad",
    "terrible",
    "shame",
    "great",
    "good",
    "assessment",
    "classic",
    "cocktail",
    "essex",
    "scunthorpe",
    "passage",
    "class",
    "assume",
    "pass",
    "massive",
]
_PROFANE = ("fuck", "shit", "bitch", "asshole", "bastard", "cunt", "twat", "wanker")
_OBFUSCATE: tuple[Callable[[str], str], ...] = (
    lambda w: w,
    lambda w: w.replace("a", "@").replace("i", "1").replace("s", "$"),
    lambda w: ".".join(w),
    lambda w: w[0] + w[1] * 4 + w[2:],
    lambda w: w.replace("a", "а").replace("o", "о").replace("c", "с"),  # Cyrillic
    lambda w: "\u200b".join(w),
)


def generate_words(n: int, seed: int = 7) -> list[str]:
    """`n` distinct pseudo-words (5 to 10 letters) standing in for a large site list."""
    rng = random.Random(seed)
    consonants, vowels = "bcdfghjkmnprstvwxz", "aeiouy"
    out: set[str] = set()
    while len(out) < n:
        syllables = rng.randint(3, 5)
        word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables))
        out.add(word[: rng.randint(5, 10)])
    return sorted(out)


def generate_contexts(n: int, seed: int = 11) -> list[RuleContext]:
    rng = random.Random(seed)
    out: list[RuleContext] = []
    for i in range(n):
        words = [rng.choice(_VOCAB) for _ in range(rng.randint(6, 60))]
        roll = rng.random()
        if roll < 0.06:
            words.insert(rng.randrange(len(words)), rng.choice(_OBFUSCATE)(rng.choice(_PROFANE)))
        elif roll < 0.10:
            words.append(f"https://site{rng.randint(1, 50)}.example.com/p/{i}")
        text = " ".join(words).capitalize() + "."
        if rng.random() < 0.03:
            text = text.upper()
        scores = {
            label: rng.betavariate(0.6, 8) if rng.random() > 0.03 else rng.random()
            for label in ("toxicity", "severe_toxicity", "obscene", "threat", "insult")
        }
        out.append(
            RuleContext(
                comment_id=f"c{i}",
                article_id=f"a{i % 20}",
                author_id=f"u{i % 500}",
                text=text,
                scores=scores,
                author=AuthorContext(
                    approved_count=rng.randint(0, 30), rejected_count=rng.randint(0, 3)
                ),
                article=ArticleContext(
                    premoderate=rng.random() < 0.02, sensitivity=rng.choice((1.0, 0.8))
                ),
                recent=RecentActivity(author_comments_in_window=min(int(rng.expovariate(0.7)), 20)),
            )
        )
    return out


@dataclass(frozen=True)
class BenchResult:
    comments: int
    seconds: float
    per_second: float
    p50_us: float
    p99_us: float
    load_seconds: float
    patterns: int
    flagged: int
    rejected: int
    # Every evaluation's time, sorted; for plots, left out of the JSON summary.
    latencies_ns: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def summary(self) -> dict[str, float | int]:
        return {k: v for k, v in asdict(self).items() if k != "latencies_ns"}


def plot_latency(result: BenchResult, path: Path) -> None:
    """Distribution of per-comment evaluation time, with p50 and p99 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    micros = [t / 1000 for t in result.latencies_ns]
    cap = result.p99_us * 3 or 1.0  # the far tail would squash the body of the histogram
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist([m for m in micros if m <= cap], bins=80, color="#4477aa")
    for name, value in (("p50", result.p50_us), ("p99", result.p99_us)):
        ax.axvline(value, color="#cc3311", linestyle="--", linewidth=1)
        ax.text(value, ax.get_ylim()[1] * 0.9, f" {name} {value:.0f} µs", color="#cc3311")
    ax.set_xlabel("µs per comment (one core)")
    ax.set_ylabel("comments")
    ax.set_title(
        f"Rule evaluation: {result.per_second:,.0f} comments/s, {result.patterns:,} patterns"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_with_word_list(dirs: Sequence[Path], n_words: int, seed: int = 7) -> Ruleset:
    """The ruleset in `dirs` plus a rule flagging any of `n_words` generated words."""
    with tempfile.TemporaryDirectory(prefix="rules-bench-") as tmp:
        extra = Path(tmp)
        (extra / "words").mkdir()
        (extra / "words" / "bench_generated.txt").write_text(
            "\n".join(generate_words(n_words, seed))
        )
        (extra / "bench.yaml").write_text(
            "rules:\n"
            "  - id: bench-generated-words\n"
            "    description: generated word list for the benchmark\n"
            "    condition: {words: {lists: [bench_generated]}}\n"
            "    action: flag\n"
        )
        return load_ruleset([*dirs, extra])


def run(
    dirs: Sequence[Path],
    *,
    n_words: int = 10_000,
    n_comments: int = 50_000,
    progress: Callable[[int, float], None] | None = None,
) -> BenchResult:
    pinned = hasattr(os, "sched_setaffinity")
    if pinned:
        # One core, as the target says; a worker process evaluates on one core too.
        saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(saved)})
    try:
        return _run(dirs, n_words, n_comments, progress)
    finally:
        if pinned:
            os.sched_setaffinity(0, saved)


def _run(
    dirs: Sequence[Path],
    n_words: int,
    n_comments: int,
    progress: Callable[[int, float], None] | None,
) -> BenchResult:
    started = time.perf_counter()
    ruleset = load_with_word_list(dirs, n_words)
    load_seconds = time.perf_counter() - started
    contexts = generate_contexts(min(n_comments, 20_000))
    for ctx in contexts[:500]:  # warm caches (translate tables, lazily built regexes)
        ruleset.evaluate(ctx)
    timings: list[int] = []
    flagged = rejected = 0
    evaluate = ruleset.evaluate
    clock = time.perf_counter_ns
    begin = time.perf_counter()
    for i in range(n_comments):
        ctx = contexts[i % len(contexts)]
        t0 = clock()
        status = evaluate(ctx).status
        timings.append(clock() - t0)
        flagged += status == "flagged"
        rejected += status == "rejected"
        if progress is not None and (i + 1) % 10_000 == 0:
            progress(i + 1, time.perf_counter() - begin)
    seconds = time.perf_counter() - begin
    timings.sort()
    return BenchResult(
        comments=n_comments,
        seconds=seconds,
        per_second=n_comments / seconds,
        p50_us=timings[len(timings) // 2] / 1000,
        p99_us=timings[int(len(timings) * 0.99)] / 1000,
        load_seconds=load_seconds,
        patterns=ruleset.matcher.size,
        flagged=flagged,
        rejected=rejected,
        latencies_ns=tuple(timings),
    )


# One evaluation worker per checkout: it loads the rules with the same generated list,
# warms up on every comment, then times the slices it is sent (CPU seconds of its process).
_WORKER = """
import os, sys, time
from pathlib import Path
from moderation.ruleset import bench
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
dirs, n_words, n_comments = sys.argv[1].split(os.pathsep), int(sys.argv[2]), int(sys.argv[3])
started = time.process_time()
ruleset = bench.load_with_word_list([Path(d) for d in dirs], n_words)
load = time.process_time() - started
contexts = bench.generate_contexts(n_comments)
flagged = sum(ruleset.evaluate(c).status != "approved" for c in contexts)
print(load, flagged, flush=True)
for line in sys.stdin:
    lo, hi = map(int, line.split())
    started = time.process_time()
    for c in contexts[lo:hi]:
        ruleset.evaluate(c)
    print(time.process_time() - started, flush=True)
"""


@dataclass(frozen=True)
class Comparison:
    """This checkout against another, timed in alternating slices of the same comments."""

    per_second: float  # this checkout, CPU time
    other_per_second: float
    ratio_median: float  # per pair of slices: the other's time / this one's (> 1: faster)
    ratio_quartiles: tuple[float, float]
    pairs: int
    load_seconds: float  # CPU seconds to load the rules and the generated list
    other_load_seconds: float
    not_approved: int  # of the generated comments; differs where the two decide differently
    other_not_approved: int


def compare(
    dirs: Sequence[Path],
    other: Path,
    *,
    n_words: int = 10_000,
    n_comments: int = 20_000,
    pairs: int = 100,
    slice_size: int = 2_000,
) -> Comparison:
    """Rule evaluation of this checkout against the checkout at `other` (e.g. a git
    worktree of an earlier commit), both with the rule files in `dirs`.

    On a shared machine a run's speed drifts with the other jobs by more than the change
    being measured; two processes pinned to one core that time the same slice back to back,
    in alternating order, see the same load, and the median of the pairs' ratios keeps it.
    CPU time, not wall time: the core's other tenants would otherwise count as ours."""
    here = Path(__file__).resolve().parents[2]
    args = [os.pathsep.join(str(Path(d).resolve()) for d in dirs), str(n_words), str(n_comments)]
    with ExitStack() as stack:
        # leaving closes each worker's pipes (its stdin's end ends its loop) and waits
        procs = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-c", _WORKER, *args],
                    cwd=root,
                    env={**os.environ, "PYTHONPATH": str(root)},
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            for root in (here, other.resolve())
        ]
        ready = [_reply(p).split() for p in procs]
        times: list[list[float]] = [[], []]
        evaluated = 0
        for k in range(pairs):
            lo = k * slice_size % n_comments
            hi = min(lo + slice_size, n_comments)
            evaluated += hi - lo
            for i in (0, 1) if k % 2 == 0 else (1, 0):
                stdin = procs[i].stdin
                assert stdin is not None
                stdin.write(f"{lo} {hi}\n")
                stdin.flush()
                times[i].append(float(_reply(procs[i])))
    mine, theirs = times
    ratios = [t / m for m, t in zip(mine, theirs, strict=True)]
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return Comparison(
        per_second=evaluated / sum(mine),
        other_per_second=evaluated / sum(theirs),
        ratio_median=statistics.median(ratios),
        ratio_quartiles=(quartiles[0], quartiles[2]),
        pairs=pairs,
        load_seconds=float(ready[0][0]),
        other_load_seconds=float(ready[1][0]),
        not_approved=int(ready[0][1]),
        other_not_approved=int(ready[1][1]),
    )


def _reply(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"bench worker exited with {proc.wait()}")
    return line
