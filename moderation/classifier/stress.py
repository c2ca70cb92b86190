"""Generated stress sets whose answers are known: long comments with a buried insult, and
sentences whose offending words are known, for the explanation spans.

Long comments: a labelled toxic sentence is inserted at a random depth of long neutral
prose (non-toxic Wikipedia-talk comments of the dev set, so nothing here was trained on),
and long neutral texts get neutral identity sentences instead. How windows are cut and
aggregated decides whether the buried sentence is found without raising the neutral ones;
`long_comment_study` measures each option.

Nothing here is trained on: the insults, carriers and identity terms differ from
`templates.py`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from moderation.classifier.base import Classifier
from moderation.classifier.data import Example
from moderation.classifier.functional import TEST_IDENTITIES

# Insults aimed at a person, none of them a training sentence.
BURIED_INSULTS = (
    "And frankly, anyone who writes this is a spineless little weasel.",
    "Only a brain-dead clown would believe a word of this.",
    "Shut your trap, you worthless troll.",
    "The author is a lying sack of garbage.",
    "You are a disgusting excuse for a human being.",
    "What an ignorant buffoon you are.",
    "Go crawl back under your rock, you miserable halfwit.",
    "Everyone who agrees with you is a complete cretin.",
)
NEUTRAL_IDENTITY = (
    "My {A} neighbours helped organise the street party last summer.",
    "The council met {P} from the district to discuss the new bus routes.",
    "A {A} family runs the bakery on the corner and the bread is excellent.",
    "{P} have lived in this valley for generations, the museum says.",
)


@dataclass(frozen=True)
class LongCase:
    text: str
    toxic: bool
    words: int
    depth: float | None  # where the toxic sentence sits, 0 = start, 1 = end


def _neutral_prose(examples: Sequence[Example]) -> list[str]:
    """Non-toxic dev comments written as prose (Wikipedia talk), a few sentences each."""
    return [
        e.text.strip()
        for e in examples
        if e.source.startswith("jigsaw") and e.labels.get("toxicity") == 0 and len(e.text) > 80
    ]


def long_cases(
    dev: Sequence[Example],
    lengths: Sequence[int] = (300, 800, 2000),
    per_length: int = 40,
    seed: int = 7,
) -> list[LongCase]:
    """Half with one buried insult at a random depth, half neutral with identity sentences."""
    rng = random.Random(seed)
    prose = _neutral_prose(dev)
    if len(prose) < 20:
        raise ValueError("the dev set has too few non-toxic Jigsaw comments to build prose from")
    out: list[LongCase] = []
    for target in lengths:
        for k in range(per_length):
            parts: list[str] = []
            while sum(len(p.split()) for p in parts) < target:
                parts.append(rng.choice(prose))
            if k % 2 == 0:
                depth = rng.random()
                parts.insert(round(depth * len(parts)), rng.choice(BURIED_INSULTS))
                out.append(LongCase("\n\n".join(parts), True, target, depth))
            else:
                for _ in range(3):
                    ident = rng.choice(TEST_IDENTITIES)
                    frame = rng.choice(NEUTRAL_IDENTITY)
                    sentence = frame.format(A=ident.adj, P=ident.plural)
                    parts.insert(rng.randrange(len(parts) + 1), sentence[0].upper() + sentence[1:])
                out.append(LongCase("\n\n".join(parts), False, target, None))
    return out


# --- spans ---------------------------------------------------------------------------

CARRIERS = (
    "Thanks for the update on the bridge repairs, but {X} for writing it this way.",
    "I read the whole piece about the council budget and honestly {X}.",
    "{X}, and the parking section makes no sense either.",
    "The photos are nice. Still, {X} if you think the stadium pays for itself.",
    "Interesting interview with the mayor, though {X}.",
    "Whoever approved the new timetable, {X}.",
)
INSULT_PHRASES = (
    ("the reporter is a", "complete moron"),
    ("you are a", "pathetic loser"),
    ("the editor is an", "utter imbecile"),
    ("you are such a", "brainless twit"),
    ("the author is a", "lying scumbag"),
    ("you are a", "worthless idiot"),
    ("this guy is a", "total jackass"),
    ("you are an", "ignorant fool"),
)


# Hate against a group: the offending words are the dehumanising ones, not the group's name.
HATE_PHRASES = (
    ("{P} are", "disgusting vermin"),
    ("{P} are nothing but", "filthy rats"),
    ("all {P} are", "subhuman garbage"),
    ("{P} are", "worthless parasites"),
)


@dataclass(frozen=True)
class SpanCase:
    text: str
    offending: tuple[int, int]  # character range of the words that carry the score


def span_cases() -> list[SpanCase]:
    out: list[SpanCase] = []
    hate = [
        (lead.format(P=ident.plural), words)
        for lead, words in HATE_PHRASES
        for ident in TEST_IDENTITIES[::4]
    ]
    for carrier in CARRIERS:
        for lead, words in (*INSULT_PHRASES, *hate):
            phrase = f"{lead} {words}"
            at = carrier.index("{X}")
            text = carrier.replace("{X}", phrase)
            if at == 0:
                text = text[0].upper() + text[1:]
            start = at + len(lead) + 1
            out.append(SpanCase(text, (start, start + len(words))))
    return out


def span_hit_rate(classifier: Classifier, cases: Sequence[SpanCase]) -> dict[str, Any]:
    """Share of cases whose strongest span overlaps the offending words."""
    hits = 0
    misses: list[str] = []
    for case in cases:
        spans = classifier.explain(case.text, ["toxicity"])
        top = max(spans, key=lambda s: s.weight or 0.0, default=None)
        lo, hi = case.offending
        if top is not None and top.start < hi and top.end > lo:
            hits += 1
        elif len(misses) < 5:
            shown = "none" if top is None else repr(case.text[top.start : top.end])
            misses.append(f"{case.text!r}: top span {shown}")
    return {"cases": len(cases), "hit_rate": hits / len(cases) if cases else None, "misses": misses}


# --- windows -------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowOption:
    window: int
    overlap: int

    @property
    def name(self) -> str:
        return f"window {self.window} / overlap {self.overlap}, max"


def long_comment_study(
    classifier: Any,
    cases: Sequence[LongCase],
    options: Sequence[WindowOption],
    threshold: float,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[dict[str, Any]]:
    """For each window option: recall of the buried insult at the flag threshold, the share
    of long neutral texts flagged, AUC between the two, and model rows per comment (cost).

    `classifier` must have a `scorer` (WindowedScorer) whose window can be set.
    """
    import time

    from moderation.classifier.metrics import auc

    scorer = classifier.scorer
    saved = (scorer.window, scorer.overlap)
    label = classifier.labels.index("toxicity")
    results: list[dict[str, Any]] = []
    try:
        for opt in options:
            scorer.window, scorer.overlap = opt.window, opt.overlap
            t0 = time.perf_counter()
            probs = scorer.scores([c.text for c in cases])[:, label]
            seconds = time.perf_counter() - t0
            rows = sum(len(scorer.windows(ids)) for ids in scorer.encode([c.text for c in cases]))
            toxic = [float(p) for p, c in zip(probs, cases, strict=True) if c.toxic]
            neutral = [float(p) for p, c in zip(probs, cases, strict=True) if not c.toxic]
            by_depth = {
                part: [
                    float(p) >= threshold
                    for p, c in zip(probs, cases, strict=True)
                    if c.toxic and c.depth is not None and lo <= c.depth < hi
                ]
                for part, (lo, hi) in {
                    "start": (0, 1 / 3),
                    "middle": (1 / 3, 2 / 3),
                    "end": (2 / 3, 1.01),
                }.items()
            }
            result = {
                "option": opt.name,
                "window": opt.window,
                "overlap": opt.overlap,
                "recall_buried": sum(p >= threshold for p in toxic) / len(toxic),
                "recall_by_depth": {k: sum(v) / len(v) if v else None for k, v in by_depth.items()},
                "neutral_flagged": sum(p >= threshold for p in neutral) / len(neutral),
                "auc": auc([1] * len(toxic) + [0] * len(neutral), toxic + neutral),
                "median_buried_score": sorted(toxic)[len(toxic) // 2],
                "max_neutral_score": max(neutral),
                "model_rows_per_comment": rows / len(cases),
                "seconds": round(seconds, 2),
            }
            progress(f"{opt.name}: {result}")
            results.append(result)
    finally:
        scorer.window, scorer.overlap = saved
    return results
