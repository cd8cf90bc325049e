"""Structured logs: one JSON object a line, with the request id of the request being served.

The hub logs through Python's :mod:`logging`; these formatters (structlog's ``ProcessorFormatter``,
with no global structlog configuration) render every record, ours, uvicorn's and the libraries', as
JSON (``json``) or as aligned ``key=value`` text for a terminal (``text``). Inside a request,
:func:`request_context` binds the request id (and later the consumer) in context variables, so every
line written while the request is served, in its task or in the worker thread it runs in, carries
them. docs/observability.md shows the format.

Privacy: nothing here logs bodies, headers or query strings, and a last processor masks anything
shaped like a subject identifier (citizen ID, unified social credit code, real-estate unit number)
in every string of the line, so a library's error message that quotes one does not leak it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "text"]
REDACTED = "[redacted]"
REQUEST_LOGGER = "exchange.requests"

# Subject identifiers by shape, whatever their check characters say: GB 11643 citizen IDs,
# GB 32100 unified social credit codes (which an 18-digit number also matches) and GB/T 37346
# real-estate unit numbers, each standing alone (no letter or digit on either side).
_IDENTIFIER = re.compile(
    r"(?<![0-9A-Za-z])(?:\d{17}[0-9Xx]|[0-9A-HJ-NP-RTUW-Y]{18}|\d{12}[A-Z]{2}\d{5}[FLQW]\d{8})(?![0-9A-Za-z])"
)
# Left on a record by uvicorn (for its coloured console) or by another handler's formatter.
_DROPPED = frozenset({"color_message", "message", "asctime"})


def mask_identifiers(text: str) -> str:
    """``text`` with every substring shaped like a subject identifier replaced by ``[redacted]``."""
    return _IDENTIFIER.sub(REDACTED, text)


def _redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = mask_identifiers(value)
    return event_dict


def _drop_noise(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key in _DROPPED & event_dict.keys():
        del event_dict[key]
    return event_dict


def _add_pid(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """The worker process: with ``--workers N`` it tells the workers' lines apart."""
    event_dict.setdefault("pid", os.getpid())
    return event_dict


def _pre_chain() -> list[Processor]:
    """What every record goes through before rendering (records come from stdlib logging)."""
    return [
        structlog.contextvars.merge_contextvars,  # request_id (and client_id) inside a request
        structlog.stdlib.ExtraAdder(),  # logger.info(..., extra={...}) fields
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        _add_pid,
        _drop_noise,
    ]


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """One JSON object a line: ``time``, ``level``, ``logger``, ``message``, ``pid``, the context's
    ``request_id`` and any ``extra`` fields; an exception as ``exception`` (its formatted traceback)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            foreign_pre_chain=_pre_chain(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redact,
                structlog.processors.EventRenamer("message"),
                structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
            ],
        )


class TextFormatter(structlog.stdlib.ProcessorFormatter):
    """The same fields as readable ``key=value`` text, for a developer's terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            foreign_pre_chain=_pre_chain(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _redact,
                structlog.dev.ConsoleRenderer(colors=False, pad_event_to=24),
            ],
        )


def resolve_format(wanted: str) -> LogFormat:
    """``auto`` is ``text`` on a terminal and ``json`` everywhere else (services, containers, pipes)."""
    if wanted == "auto":
        return "text" if sys.stderr.isatty() else "json"
    if wanted not in ("json", "text"):
        raise ValueError(f"unknown log format {wanted!r}: use auto, json or text")
    return wanted  # type: ignore[return-value]


def log_config(log_format: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for uvicorn's ``log_config``: every logger through one
    stderr handler with the chosen formatter, uvicorn's access log off (the hub writes its own
    request line, with the route template instead of the raw path), the HTTP client libraries
    quiet below WARNING (their INFO lines name URLs, which may hold identifiers), and alembic too."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"hub": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "hub", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "alembic": {"level": "WARNING"},  # /health reads the migration state: two INFO lines a probe
        },
    }


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Bind ``request_id`` for every line logged while the block runs (and in the threads it starts
    through Starlette's thread pool, which copies the context); on leaving, the context is as before,
    including a ``client_id`` bound inside (``...`` is structlog's "not set": left out of lines)."""
    tokens = structlog.contextvars.bind_contextvars(request_id=request_id, client_id=...)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def bind(**fields: Any) -> None:
    """Add fields (e.g. ``client_id``) to the current request's context, once they are known."""
    structlog.contextvars.bind_contextvars(**fields)


_KEPT_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore", "alembic")


@contextlib.contextmanager
def preserved() -> Iterator[None]:
    """Keep this process's logging setup through code that reconfigures it.

    The embedded default starts its simulated legacy HTTP systems with ``uvicorn.Config``, which
    re-applies uvicorn's default plain-text logging to the whole process; the hub's own setup
    (handlers, levels, propagation of the root and uvicorn loggers) is put back afterwards.
    """
    saved: dict[str, MutableMapping[str, Any]] = {}
    for name in _KEPT_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = {
            "handlers": list(logger.handlers),
            "level": logger.level,
            "propagate": logger.propagate,
            "disabled": logger.disabled,
        }
    try:
        yield
    finally:
        for name, state in saved.items():
            logger = logging.getLogger(name)
            logger.handlers = state["handlers"]
            logger.setLevel(state["level"])
            logger.propagate = state["propagate"]
            logger.disabled = state["disabled"]
