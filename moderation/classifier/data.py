"""Labeled examples: the shared JSONL format, the bias madlibs templates, generated cases."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from moderation.domain.labels import LABELS, LEGACY_LABEL_NAMES


@dataclass
class Example:
    """One text and the labels its source annotates (absent labels are unknown, not 0)."""

    text: str
    labels: dict[str, int]
    id: str = ""
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict)


class UnreadableLabels(ValueError):
    """A labeled file whose label fields this project cannot read: refused, because scoring
    it anyway would count every row as negative and print a figure that means nothing."""


def _labels(raw: object, where: str) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise UnreadableLabels(
            f"{where}: 'labels' must be an object such as {{\"toxicity\": 1}}, got {raw!r}"
        )
    out: dict[str, int] = {}
    for key, value in raw.items():
        label = LEGACY_LABEL_NAMES.get(key, key)
        if label not in LABELS:
            raise UnreadableLabels(
                f"{where}: unknown label {key!r}; labels are {', '.join(LABELS)}"
            )
        if isinstance(value, bool) or value in (0, 1):
            out[label] = int(value)
        else:
            raise UnreadableLabels(f"{where}: label {key!r} must be 0 or 1, got {value!r}")
    return out


def read_jsonl(path: Path, limit: int | None = None, *, labeled: bool = True) -> list[Example]:
    """Examples of the shared JSONL format. With `labeled` (the default) every row needs a
    readable `labels` object and at least one row must annotate a label."""
    out: list[Example] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if labeled and "labels" not in row:
                    raise UnreadableLabels(
                        f"{path}:{lineno}: no 'labels' field (keys: {', '.join(sorted(row))})"
                    )
                labels = _labels(row.get("labels", {}), f"{path}:{lineno}")
                meta = {str(k): str(v) for k, v in (row.get("meta") or {}).items()}
                out.append(
                    Example(
                        text=str(row["text"]),
                        labels=labels,
                        id=str(row.get("id", f"{path.name}:{lineno}")),
                        source=str(row.get("source", "")),
                        meta=meta,
                    )
                )
            except UnreadableLabels:
                raise
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ValueError(f"{path}:{lineno}: not a labeled example ({exc})") from exc
            if limit is not None and len(out) >= limit:
                break
    if labeled and out and not any(e.labels for e in out):
        raise UnreadableLabels(f"{path}: no row annotates any label")
    return out


def annotated(
    examples: Sequence[Example], scores: Sequence[Mapping[str, float]], label: str
) -> tuple[list[int], list[float], list[str]]:
    """Truth, score and id of each row that annotates `label` and was scored for it: a
    label's metrics use only these rows (a label a source does not annotate is unknown)."""
    ys: list[int] = []
    ps: list[float] = []
    ids: list[str] = []
    for e, s in zip(examples, scores, strict=True):
        if label in e.labels and label in s:
            ys.append(e.labels[label])
            ps.append(s[label])
            ids.append(e.id)
    return ys, ps, ids


def write_jsonl(path: Path, examples: Iterable[Example]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for ex in examples:
            row = {"id": ex.id, "text": ex.text, "source": ex.source, "labels": ex.labels}
            if ex.meta:
                row["meta"] = ex.meta
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_madlibs(path: Path) -> list[Example]:
    """The Conversation AI bias templates with the identity term as `meta["group"]`.

    `BAD` means toxicity 1. The identity vocabulary is taken from the `verb_adj` rows
    ("<verb> <identity>"); occupation rows carry no identity and act as background.
    """
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"Text", "Label", "Template"} - set(reader.fieldnames or ())
        if missing:
            raise UnreadableLabels(
                f"{path}:1: not the bias madlibs CSV (no column {', '.join(sorted(missing))}); "
                "give labeled data as JSONL"
            )
        rows = list(reader)
    for lineno, r in enumerate(rows, 2):
        if r["Label"] not in ("BAD", "NOT_BAD"):
            raise UnreadableLabels(
                f"{path}:{lineno}: Label must be BAD or NOT_BAD, got {r['Label']!r}"
            )
    identities = {
        r["Text"].split(" ", 1)[1].strip().lower() for r in rows if r["Template"] == "verb_adj"
    }
    by_length = sorted(identities, key=len, reverse=True)
    out: list[Example] = []
    for i, r in enumerate(rows):
        text = r["Text"]
        words = " " + text.lower().strip(" .!?") + " "
        group = next((t for t in by_length if words.endswith(f" {t} ")), None)
        if group is None:  # "Being X is adj." puts the identity first
            group = next((t for t in by_length if words.startswith(f" being {t} ")), None)
        meta = {"template": r["Template"]}
        if group is not None and r["Template"] != "you_occupation":
            meta["group"] = group
        out.append(
            Example(
                text=text,
                labels={"toxicity": 1 if r["Label"] == "BAD" else 0},
                id=f"madlibs:{i}",
                source="madlibs",
                meta=meta,
            )
        )
    return out


def read_examples(path: Path, limit: int | None = None) -> list[Example]:
    """JSONL, or the madlibs CSV recognised by its header."""
    if path.suffix == ".csv":
        return read_madlibs(path)[:limit] if limit else read_madlibs(path)
    return read_jsonl(path, limit=limit)
