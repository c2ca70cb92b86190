"""The rule file format: pydantic models, also published as rules/schema.json.

Every model forbids unknown fields, so a misspelt key is an error with a line number
instead of a rule that silently never fires.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from moderation.domain.verdict import Action
from moderation.ruleset.context import ArticleContext, AuthorContext, RecentActivity

_STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = _STRICT


class Settings(_Strict):
    """Ruleset-wide settings; any file may set them, two files may not disagree."""

    repeat_window_s: int | None = Field(
        default=None,
        gt=0,
        description="Window the worker uses to count `recent.same_text_by_author`.",
    )
    burst_window_s: int | None = Field(
        default=None,
        gt=0,
        description="Window the worker uses to count `recent.author_comments_in_window`.",
    )


class LabelThresholds(_Strict):
    flag: Probability | None = None
    reject: Probability | None = None


class ScoreCondition(_Strict):
    """A model label score; `gte` is multiplied by the article's sensitivity."""

    label: str
    gte: Probability | None = None
    lt: Probability | None = None

    @model_validator(mode="after")
    def _bound(self) -> ScoreCondition:
        if self.gte is None and self.lt is None:
            raise ValueError("score needs `gte` or `lt`")
        return self


class WordsCondition(_Strict):
    """Whole normalised words or phrases from named lists (rules/words/NAME.txt) or inline.

    An entry ending in `*` matches any word that starts with it (`fuck*`).
    """

    lists: list[str] = Field(default_factory=list)
    terms: list[str] = Field(default_factory=list)
    min_count: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _some(self) -> WordsCondition:
        if not self.lists and not self.terms:
            raise ValueError("words needs `lists` or `terms`")
        return self


class RegexCondition(_Strict):
    """An RE2 pattern (linear time, no backreferences) searched in the original text."""

    pattern: str = Field(min_length=1)
    ignore_case: bool = True


class LinksCondition(_Strict):
    """Links in the text (http(s)://, www., bare domains with a common TLD)."""

    count_gte: int | None = Field(
        default=None, ge=1, description="Links to domains outside `allow`, at least."
    )
    allow: list[str] = Field(default_factory=list, description="Domains (and subdomains).")
    deny: list[str] = Field(
        default_factory=list, description="Matches when any link is to one of these."
    )

    @model_validator(mode="after")
    def _some(self) -> LinksCondition:
        if self.count_gte is None and not self.deny:
            raise ValueError("links needs `count_gte` or `deny`")
        return self


class LengthCondition(_Strict):
    """Length of the text in characters, surrounding whitespace excluded."""

    gte: Count | None = None
    lt: Count | None = None

    @model_validator(mode="after")
    def _bound(self) -> LengthCondition:
        if self.gte is None and self.lt is None:
            raise ValueError("length needs `gte` or `lt`")
        return self


class CapsCondition(_Strict):
    """Share of upper-case letters among letters (shouting)."""

    ratio_gte: Probability
    min_letters: int = Field(default=10, ge=1)


class AuthorCondition(_Strict):
    """Author standing; every field given must hold."""

    banned: bool | None = None
    suspended: bool | None = None
    approved_lt: Count | None = None
    approved_gte: Count | None = None
    rejected_gte: Count | None = None
    flagged_gte: Count | None = None
    account_age_days_lt: float | None = Field(
        default=None,
        gt=0,
        description="Needs author.account_created_at and received_at; false without them.",
    )

    @model_validator(mode="after")
    def _some(self) -> AuthorCondition:
        if not self.model_fields_set:
            raise ValueError("author needs at least one field")
        return self


class ArticleCondition(_Strict):
    """Article context; every field given must hold."""

    premoderate: bool | None = None
    closed: bool | None = None
    sensitivity_lt: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _some(self) -> ArticleCondition:
        if not self.model_fields_set:
            raise ValueError("article needs at least one field")
        return self


class RepeatCondition(_Strict):
    """Earlier comments by the same author with the same text, within repeat_window_s."""

    same_text_gte: int = Field(ge=1)


class BurstCondition(_Strict):
    """Comments by the same author within burst_window_s."""

    comments_gte: int = Field(ge=1)


class MetadataCondition(_Strict):
    """A metadata value sent by the site equals one of `in`."""

    key: str
    in_: list[str | int | float | bool] = Field(alias="in", min_length=1)


_CONDITION_KINDS = (
    "all",
    "any",
    "not",
    "score",
    "words",
    "regex",
    "links",
    "length",
    "caps",
    "author",
    "article",
    "repeat",
    "burst",
    "metadata",
)


class Condition(_Strict):
    """Exactly one of the keys below."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra={"minProperties": 1, "maxProperties": 1},
    )

    all: list[Condition] | None = None
    any: list[Condition] | None = Field(default=None, min_length=1)
    not_: Condition | None = Field(default=None, alias="not")
    score: ScoreCondition | None = None
    words: WordsCondition | None = None
    regex: RegexCondition | None = None
    links: LinksCondition | None = None
    length: LengthCondition | None = None
    caps: CapsCondition | None = None
    author: AuthorCondition | None = None
    article: ArticleCondition | None = None
    repeat: RepeatCondition | None = None
    burst: BurstCondition | None = None
    metadata: MetadataCondition | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a condition has exactly one of {', '.join(_CONDITION_KINDS)}; got {len(given)}"
            )
        return self

    @property
    def kind(self) -> str:
        for name in type(self).model_fields:
            if getattr(self, name) is not None:
                return "not" if name == "not_" else name
        raise AssertionError("validated condition without a kind")


class _StrictAuthor(AuthorContext):
    model_config = ConfigDict(extra="forbid")


class _StrictArticle(ArticleContext):
    model_config = ConfigDict(extra="forbid")


class _StrictRecent(RecentActivity):
    model_config = ConfigDict(extra="forbid")


class ExampleContext(_Strict):
    """An example with context: the parts of a RuleContext a rule looks at."""

    text: str = ""
    scores: dict[str, float] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    author: _StrictAuthor | None = None
    article: _StrictArticle | None = None
    recent: _StrictRecent | None = None
    received_at: str | None = None


Example = str | ExampleContext


class Examples(_Strict):
    must_match: list[Example] = Field(default_factory=list)
    must_not_match: list[Example] = Field(default_factory=list)


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=80)
    description: str = Field(min_length=1)
    condition: Condition
    action: Action
    priority: int = Field(
        default=0,
        description="Higher priority rules decide first; within one priority "
        "reject > flag > approve.",
    )
    tags: list[str] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list)
    message: str | None = Field(default=None, description="Shown to moderators.")
    mode: Literal["enforce", "shadow"] = "enforce"
    examples: Examples = Field(default_factory=Examples)


class RuleFile(_Strict):
    """One YAML file of the ruleset."""

    settings: Settings | None = None
    thresholds: dict[str, LabelThresholds] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)


def json_schema() -> dict[str, Any]:
    schema = RuleFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://moderation.local/rules/schema.json"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
