"""The adapters' own error tree; the hub maps each to one problem type (httpx-style translation).

AdapterError
├── LegacyFailure            the legacy system failed us (retriable ones marked)
│   ├── LegacyUnavailable    down, refused, or circuit open      -> 503
│   ├── LegacyTimeout        no answer within the deadline       -> 504
│   └── BadLegacyData        answered garbage (names the row)    -> 502
└── RequestError             the question cannot be answered as asked
    ├── UnknownDataset                                           -> 404
    ├── UnknownItem                                              -> 400
    ├── UnsupportedSubject   the dataset is not keyed by that kind of subject -> 400
    └── SubjectNotFound                                          -> 404
"""

from __future__ import annotations


class AdapterError(Exception):
    """Base of every error an adapter raises; ``retriable`` says whether trying again may help."""

    retriable = False


class LegacyFailure(AdapterError):
    """The legacy system, not the request, is at fault; counts against its circuit breaker."""


class LegacyUnavailable(LegacyFailure):
    retriable = True


class LegacyTimeout(LegacyFailure):
    retriable = True


class BadLegacyData(LegacyFailure):
    """The legacy system answered something we cannot map; ``row`` locates it for the operator."""

    def __init__(self, message: str, *, row: str | None = None) -> None:
        super().__init__(f"{message} (at {row})" if row else message)
        self.row = row


class RequestError(AdapterError):
    """The request cannot be answered; says nothing about the legacy system's health."""


class UnknownDataset(RequestError):
    pass


class UnknownItem(RequestError):
    pass


class UnsupportedSubject(RequestError):
    pass


class SubjectNotFound(RequestError):
    pass
