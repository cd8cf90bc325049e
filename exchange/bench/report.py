"""The figures of one `exchange bench` run and the issue's targets, each reported as met or not."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Comparison = Literal[">=", "<="]
_COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}


class BenchError(RuntimeError):
    """A run could not measure what it claims (a setup step failed, an answer was not a 200, its own
    data did not verify): its figures would mean nothing, so none is reported."""


@dataclass(frozen=True)
class Target:
    """``value`` must be ``comparison`` ``limit``; ``key`` names the figure in the JSON report."""

    key: str
    description: str
    value: float
    comparison: Comparison
    limit: float

    @property
    def met(self) -> bool:
        return _COMPARE[self.comparison](self.value, self.limit)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "description": self.description,
            "value": self.value,
            "comparison": self.comparison,
            "limit": self.limit,
            "met": self.met,
        }


@dataclass
class Section:
    """One part of the run (``machine``, ``query``, ``sync``, ``audit``): its figures and targets."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
