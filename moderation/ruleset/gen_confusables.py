"""Generate data/confusables.json: the lookalike table normalisation maps through.

Source: Unicode's TR39 confusables data as the `confusable-homoglyphs` package ships it
(its confusables.json, built from confusables.txt). Kept: every non-ASCII character that
TR39 lists as confusable with an ASCII letter or digit, mapped to that letter (lower
case) or digit. Where a character imitates both a letter and a digit (Cyrillic О: o and
0) the letter wins, because the leet table reads the digit as that letter anyway. The
case partner of a listed character takes its mapping when TR39 does not list it.
Characters NFKD already turns into ASCII (fullwidth, mathematical alphabets) are left out:
normalisation applies NFKD first, so they never reach the table.

    python -m moderation.ruleset.gen_confusables   # needs the test extra installed
"""

from __future__ import annotations

import json
import unicodedata
from importlib import metadata, resources
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "confusables.json"
PACKAGE = "confusable-homoglyphs"
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def build() -> dict[str, object]:
    raw = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    graph: dict[str, list[dict[str, str]]] = json.loads(raw)
    targets: dict[str, set[str]] = {}
    for key, homoglyphs in graph.items():
        for item in homoglyphs:
            a, b = key, item["c"]
            # the data lists pairs both ways round; keep the non-ASCII side as the key
            for ch, latin in ((a, b), (b, a)):
                if len(ch) == 1 and not ch.isascii() and latin in _ASCII_ALNUM:
                    targets.setdefault(ch, set()).add(latin.lower())
    mapping: dict[str, str] = {}
    for ch, found in sorted(targets.items()):
        if (
            unicodedata.normalize("NFKD", ch).isalnum()
            and unicodedata.normalize("NFKD", ch).isascii()
        ):
            continue
        letters = sorted(t for t in found if t.isalpha())
        mapping[ch] = letters[0] if letters else sorted(found)[0]
    # TR39 compares shapes case by case and lists Cyrillic К but not к, М but not м. An
    # evader picks either case, so a case partner TR39 does not list takes the mapping of
    # the one it does.
    for ch, latin in list(mapping.items()):
        for partner in (ch.lower(), ch.upper()):
            if (
                len(partner) == 1
                and partner not in mapping
                and not partner.isascii()
                and not unicodedata.normalize("NFKD", partner).isascii()
            ):
                mapping[partner] = latin
    return {
        "source": f"{PACKAGE} {metadata.version(PACKAGE)} (Unicode TR39 confusables.txt)",
        "generated_by": "python -m moderation.ruleset.gen_confusables",
        "map": mapping,
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), ensure_ascii=False, indent=0, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
