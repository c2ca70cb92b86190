"""What the rule engine may look at. Filled by the worker from the comment and the store;
the engine itself does no I/O."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AuthorContext(BaseModel):
    approved_count: int = 0
    rejected_count: int = 0
    flagged_count: int = 0
    account_created_at: str | None = None  # ISO 8601, when the site sends it
    banned: bool = False
    suspended: bool = False


class ArticleContext(BaseModel):
    premoderate: bool = False
    closed: bool = False
    # Multiplies every model threshold: 0.8 on a sensitive article flags earlier.
    sensitivity: float = Field(default=1.0, gt=0, le=1.0)


class RecentActivity(BaseModel):
    # earlier comments by this author with the same text, in the ruleset's repeat window
    same_text_by_author: int = 0
    author_comments_in_window: int = 0


class RuleContext(BaseModel):
    comment_id: str
    article_id: str
    author_id: str
    text: str
    scores: dict[str, float] = Field(default_factory=dict)
    metadata: dict[str, object] = Field(default_factory=dict)
    author: AuthorContext = Field(default_factory=AuthorContext)
    article: ArticleContext = Field(default_factory=ArticleContext)
    recent: RecentActivity = Field(default_factory=RecentActivity)
    # When the site received the comment (ISO 8601); with author.account_created_at it
    # gives the account age without the engine reading a clock.
    received_at: str | None = None
