"""The one error type raised for every identifier that fails validation.

Callers at the hub's edge catch ``InvalidIdentifier`` (a ``ValueError``) and turn
it into a 4xx answer; ``kind`` says which identifier scheme rejected the value and
``reason`` says precisely why, so the message can be shown to the sender as is.
"""

from __future__ import annotations

__all__ = ["InvalidIdentifier"]


class InvalidIdentifier(ValueError):
    """A value is not a valid identifier of ``kind``; ``reason`` says why."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(kind, reason)
        self.kind = kind
        self.reason = reason

    def __str__(self) -> str:
        return f"invalid {self.kind}: {self.reason}"

    def __repr__(self) -> str:
        return f"InvalidIdentifier(kind={self.kind!r}, reason={self.reason!r})"
