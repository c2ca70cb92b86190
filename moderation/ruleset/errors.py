"""Problems found in rule files, each pointing at a file and a line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Issue:
    file: str
    line: int
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}: {prefix}{self.message}"


class RulesetError(ValueError):
    """An invalid ruleset: the message names the file, the line and the reason."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        first = str(issues[0]) if issues else "invalid ruleset"
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(first + more)
