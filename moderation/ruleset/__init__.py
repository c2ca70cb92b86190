"""The site's policy: readable rule files turned into a verdict status and reasons.

Interface used by the pipeline and workers:
    ruleset = load_ruleset([Path("rules")])  # raises RulesetError naming file and line
    outcome = ruleset.evaluate(RuleContext(...))  # pure, no I/O
    outcome.status, outcome.reasons, ruleset.version
"""

from moderation.ruleset.context import ArticleContext, AuthorContext, RecentActivity, RuleContext
from moderation.ruleset.engine import RuleOutcome, Ruleset, RulesetError, load_ruleset

__all__ = [
    "ArticleContext",
    "AuthorContext",
    "RecentActivity",
    "RuleContext",
    "RuleOutcome",
    "Ruleset",
    "RulesetError",
    "load_ruleset",
]
