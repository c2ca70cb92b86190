"""The moderator web page at /moderate: server-rendered Jinja with a small local script."""

from moderation.web.views import bp

__all__ = ["bp"]
