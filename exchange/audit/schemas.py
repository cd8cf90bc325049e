"""What an audit entry holds, its canonical bytes (RFC 8785), and what the audit log answers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# --- canonical JSON (RFC 8785) -------------------------------------------------------------------

MAX_SAFE_INTEGER = 2**53 - 1  # RFC 8785 section 3.2.2.3: numbers are IEEE 754 doubles
_SURROGATE = re.compile("[\ud800-\udfff]")
_encode_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


def canonical_json(value: Any) -> bytes:
    """RFC 8785 JSON Canonicalization Scheme for the values the audit log holds, as UTF-8 bytes.

    Objects have their members sorted by the UTF-16 code units of their names (section 3.2.3), no
    whitespace is emitted, strings escape only ``"``, ``\\`` and control characters (section
    3.2.2.2, lower-case ``\\u00xx``), integers are written in decimal. Floats are refused (we store
    none: latency is an integer of milliseconds), as are integers beyond +-(2**53 - 1), which a JSON
    number cannot hold exactly, lone surrogates and non-string object keys.
    """
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode("utf-8")


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is beyond what RFC 8785 can represent exactly")
        out.append(str(int(value)))
    elif isinstance(value, float):
        raise ValueError("floats are not allowed in audit entries (store integers)")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("object member names must be strings")
        out.append("{")
        for position, key in enumerate(sorted(value, key=lambda name: name.encode("utf-16-be"))):
            if position:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    else:
        raise ValueError(f"{type(value).__name__} values are not allowed in audit entries")


def _string(text: str) -> str:
    # The standard library's JSON string writer (C-accelerated) escapes exactly what RFC 8785 section
    # 3.2.2.2 asks: '"', '\\', \b \f \n \r \t, other controls as lower-case \u00xx, nothing else.
    if _SURROGATE.search(text):
        raise ValueError("a lone surrogate cannot be written as UTF-8")
    return _encode_string(text)


def timestamp_text(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds, e.g. ``2026-11-21T09:00:00.000000Z``: how times are hashed."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# --- the entry ------------------------------------------------------------------------------------

# Column sizes; longer text is clipped (see ``_clip``) so that an append never fails on length.
LENGTHS = {
    "request_id": 64,
    "client_id": 64,
    "operator_id": 128,
    "operator_name": 200,
    "resource_code": 64,
    "provider_id": 64,
    "subject_type": 32,
    "subject_value": 64,
    "matter_code": 128,
    "purpose": 500,
    "legal_basis": 500,
    "reason": 1000,
    "request_hash": 64,
    "response_hash": 64,
    "request_jti": 128,
}
ITEM_LENGTH = 64
MAX_ITEMS = 200
CLIP_MARK = "…"


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(value: Any, limit: int) -> Any:
    """Text as the log can store it: NUL and lone surrogates (which PostgreSQL text or UTF-8 cannot
    hold) become U+FFFD, and text longer than ``limit`` is cut to ``limit`` characters ending in "…"."""
    if not isinstance(value, str):
        return value
    value = _UNSTORABLE.sub("\ufffd", value)
    return value[: limit - 1] + CLIP_MARK if len(value) > limit else value


def _clip(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda value: _clean(value, limit))


def _clip_items(value: Any) -> Any:
    if isinstance(value, list | tuple):
        items = [_clean(item, ITEM_LENGTH) for item in value]
        return items if len(items) <= MAX_ITEMS else [*items[: MAX_ITEMS - 1], CLIP_MARK]
    return value


Items = Annotated[list[str], BeforeValidator(_clip_items)]


class AuditRecord(BaseModel):
    """One exchange as the audit log records it: every request, allowed or denied.

    Unknown values are ``None`` (a request whose signature could not be read has no ``client_id``).
    Text longer than its column is clipped to the column's length and ends in "…", NUL and lone
    surrogates become U+FFFD, at most 200 items are kept; what is stored is what is hashed.
    ``recorded_at`` defaults to the ``now`` given to :func:`exchange.audit.service.append`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    recorded_at: datetime | None = None
    request_id: Annotated[str, _clip(LENGTHS["request_id"])]
    client_id: Annotated[str | None, _clip(LENGTHS["client_id"])] = None
    operator_id: Annotated[str | None, _clip(LENGTHS["operator_id"])] = None
    operator_name: Annotated[str | None, _clip(LENGTHS["operator_name"])] = None
    resource_code: Annotated[str | None, _clip(LENGTHS["resource_code"])] = None
    provider_id: Annotated[str | None, _clip(LENGTHS["provider_id"])] = None
    subject_type: Annotated[str | None, _clip(LENGTHS["subject_type"])] = None
    subject_value: Annotated[str | None, _clip(LENGTHS["subject_value"])] = None
    items_asked: Items = Field(default_factory=list)
    items_returned: Items = Field(default_factory=list)
    matter_code: Annotated[str | None, _clip(LENGTHS["matter_code"])] = None
    purpose: Annotated[str | None, _clip(LENGTHS["purpose"])] = None
    legal_basis: Annotated[str | None, _clip(LENGTHS["legal_basis"])] = None
    decision: Literal["allow", "deny"]
    reason: Annotated[str | None, _clip(LENGTHS["reason"])] = None
    http_status: int = Field(ge=100, le=599)
    latency_ms: int = Field(ge=0, le=2**31 - 1)  # the column is a 32-bit integer
    request_hash: Annotated[str, _clip(LENGTHS["request_hash"])]
    response_hash: Annotated[str | None, _clip(LENGTHS["response_hash"])] = None
    request_jti: Annotated[str | None, _clip(LENGTHS["request_jti"])] = None
    endpoint: Literal["query", "verify", "license"]


# The fields of an entry, in column order; the canonical form holds all of them, and ``index``.
ENTRY_FIELDS: tuple[str, ...] = ("index", *AuditRecord.model_fields)


def canonical_entry(fields: dict[str, Any]) -> bytes:
    """The RFC 8785 bytes of an entry: every field but ``leaf_hash``, ``recorded_at`` as RFC 3339 text.

    Entries hold only ASCII member names and strings, integers, nulls and lists of strings; for
    those the standard library's sorted, compact, non-ASCII-preserving JSON *is* RFC 8785 (code
    point order equals UTF-16 order on ASCII names), and it is several times faster than
    :func:`canonical_json`, which anything else goes through (tests check both agree).
    """
    document = {name: fields[name] for name in ENTRY_FIELDS}
    document["recorded_at"] = timestamp_text(document["recorded_at"])
    if _plain(document):
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return canonical_json(document)


def _plain(document: dict[str, Any]) -> bool:
    for value in document.values():
        kind = type(value)
        if kind is str or value is None:
            continue
        if kind is int:
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return False
        elif kind is not list or not all(type(item) is str for item in value):
            return False
    return True


# --- answers --------------------------------------------------------------------------------------


class CheckpointRead(BaseModel):
    """A signed checkpoint: the hub's commitment to the first ``tree_size`` entries."""

    tree_size: int
    root_hash: str = Field(description="Base64 (RFC 4648 section 4) Merkle Tree Hash")
    timestamp: int = Field(description="Milliseconds since 1970-01-01T00:00:00Z, as in RFC 6962 tree heads")
    signed_at: datetime
    signer: str
    jws: str = Field(description="Compact JWS, typ exchange-checkpoint+jwt, x5c = hub certificate then CA")


class InclusionProofRead(BaseModel):
    """RFC 9162 section 4.4-style inclusion proof: hashes only, no entry content."""

    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="Base64 leaf hash, SHA-256(0x00 || canonical entry)")
    inclusion_path: list[str] = Field(description="Base64 subtree hashes, leaf end first")
    root_hash: str = Field(description="Base64 root of the tree of size tree_size; compare with a checkpoint")


class ConsistencyProofRead(BaseModel):
    """RFC 9162 section 4.3-style consistency proof between two tree sizes."""

    first: int
    second: int
    consistency_path: list[str]
    first_root: str
    second_root: str


@dataclass(frozen=True)
class EntryView:
    """One stored entry, its stored leaf hash and the leaf hash its fields give now."""

    fields: dict[str, Any]
    leaf_hash: bytes
    recomputed: bytes | None

    @property
    def intact(self) -> bool:
        return self.recomputed == self.leaf_hash


@dataclass(frozen=True)
class LogProblem:
    """One thing ``verify_log`` found; ``first``/``last`` are entry indexes (None: no entry)."""

    kind: Literal["changed", "removed", "inserted", "reordered", "checkpoint", "cache"]
    message: str
    first: int | None = None
    last: int | None = None


@dataclass
class LogReport:
    entries: int = 0
    checkpoints: int = 0
    problems: list[LogProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> LogProblem | None:
        return self.problems[0] if self.problems else None
