"""The license sync's quality gate: a batch of one license type is checked with its GX suite before sealing.

The sync path reads: extract → **check_batch** → seal ``passed`` / quarantine ``failed`` with their
reasons → keep ``result_json`` per run and license type (and render it with
:func:`exchange.quality.data_docs.build_data_docs`).

Failures are attributed to records through GX itself: each batch is validated with
``result_format="COMPLETE"``, so every failing column-map expectation lists its
``unexpected_index_list``, the DataFrame index of its unexpected rows, which is the record's
position in ``records``. An expectation that raised, or that failed without row indexes, is a bug in
the gate, not in the data: :class:`GateError` is raised and nothing is sealed or quarantined.

One ephemeral GX context per process holds one suite and one batch definition per license type,
built on first use; a lock serialises validations, since a GX context is not thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.data_context.types.base import ProgressBarsConfig

from exchange.licenses.types import LicenseRecord
from exchange.quality.suites import TODAY_PARAMETER, build_frame, build_suite, today_in_china

__all__ = ["MAX_BATCH_SIZE", "GateError", "GateResult", "GateStatistics", "check_batch"]

MAX_BATCH_SIZE = 5_000
# Row indexes for every failing expectation; the unexpected index query is not needed.
RESULT_FORMAT: dict[str, Any] = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
# Unexpected *values* are dropped from result_json: they are personal data (names, citizen IDs,
# amounts) and the results end up in static Data Docs. Row indexes and counts stay.
REDACTED_RESULT_KEYS = ("unexpected_list", "partial_unexpected_list", "partial_unexpected_counts")


class GateError(RuntimeError):
    """The gate could not judge the batch (an expectation raised or gave no row indexes)."""


@dataclass(frozen=True)
class GateStatistics:
    """GX's suite statistics plus record counts; ``passed_records + failed_records == records``."""

    evaluated_expectations: int
    successful_expectations: int
    unsuccessful_expectations: int
    success_percent: float | None
    records: int
    passed_records: int
    failed_records: int
    elapsed_ms: float  # building the frame and validating it


@dataclass(frozen=True)
class GateResult:
    """The verdict on one batch.

    ``passed`` and ``failed`` partition the record indexes; ``failed`` maps each failing record to
    one reason per failed expectation, e.g. ``"holder_code: check character is wrong (...)
    [expect_column_values_to_be_in_set on holder_code_check_valid]"``. ``result_json`` is the GX
    validation result (unexpected values removed), to be kept per run and license type.
    """

    license_type: str
    passed: list[int]
    failed: dict[int, list[str]]
    statistics: GateStatistics
    result_json: dict[str, Any]

    @property
    def success(self) -> bool:
        """True when no record failed (an empty batch succeeds)."""
        return not self.failed


def check_batch(license_type: str, records: Sequence[LicenseRecord], *, now: datetime) -> GateResult:
    """Validate ``records`` (all of ``license_type``, at most :data:`MAX_BATCH_SIZE`) with its suite.

    ``now`` is the batch's clock: issue dates must not lie after its date in China Standard Time,
    and citizen-ID birth dates not after it either. Raises ``KeyError`` for an unknown license type,
    ``ValueError`` for an oversized batch and :class:`GateError` when GX could not judge the batch.
    """
    if len(records) > MAX_BATCH_SIZE:
        raise ValueError(f"a batch holds at most {MAX_BATCH_SIZE} records, got {len(records)}")
    started = time.perf_counter()
    today = today_in_china(now)
    frame = build_frame(license_type, records, today=today)
    raw = _ENGINE.validate(license_type, frame, {TODAY_PARAMETER: datetime.combine(today, clock_time())})
    failed = _attribute(raw, len(records))
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)

    result_json = _redacted(raw)
    result_json["meta"]["exchange"] = {
        "license_type": license_type,
        "checked_at": now.isoformat(),
        "records": len(records),
        "failed_records": len(failed),
    }
    stats = raw.get("statistics", {})
    passed = [index for index in range(len(records)) if index not in failed]
    statistics = GateStatistics(
        evaluated_expectations=int(stats.get("evaluated_expectations", 0)),
        successful_expectations=int(stats.get("successful_expectations", 0)),
        unsuccessful_expectations=int(stats.get("unsuccessful_expectations", 0)),
        success_percent=stats.get("success_percent"),
        records=len(records),
        passed_records=len(passed),
        failed_records=len(failed),
        elapsed_ms=elapsed_ms,
    )
    return GateResult(license_type, passed, dict(sorted(failed.items())), statistics, result_json)


def _attribute(result: dict[str, Any], size: int) -> dict[int, list[str]]:
    """Each failing expectation's unexpected rows, as "<field>: <reason> [<type> on <column>]"."""
    failed: dict[int, list[str]] = {}
    for item in result.get("results", []):
        config = item["expectation_config"]
        described = _describe(config)
        if _raised(item.get("exception_info")):
            raise GateError(f"{described}: GX raised: {_exception_message(item['exception_info'])}")
        if item.get("success"):
            continue
        indexes = item.get("result", {}).get("unexpected_index_list")
        if not indexes:
            raise GateError(f"{described} failed without naming the records")
        meta = config.get("meta") or {}
        reason = f"{meta.get('field', '?')}: {meta.get('reason', 'failed')} [{described}]"
        for index in indexes:
            if not isinstance(index, int) or not 0 <= index < size:
                raise GateError(f"{described} named row {index!r}, not a record of this batch")
            reasons = failed.setdefault(index, [])
            if reason not in reasons:
                reasons.append(reason)
    return failed


def _describe(config: dict[str, Any]) -> str:
    kwargs = config.get("kwargs", {})
    column = kwargs.get("column") or f"{kwargs.get('column_A')}, {kwargs.get('column_B')}"
    return f"{config.get('type')} on {column}"


def _raised(info: Any) -> bool:
    """GX reports exceptions per expectation, or per metric as a dict of such reports."""
    if not isinstance(info, dict):
        return False
    if "raised_exception" in info:
        return bool(info["raised_exception"])
    return any(_raised(value) for value in info.values())


def _exception_message(info: dict[str, Any]) -> str:
    if "exception_message" in info:
        return str(info["exception_message"])
    return "; ".join(_exception_message(v) for v in info.values() if isinstance(v, dict) and _raised(v))


def _redacted(result: dict[str, Any]) -> dict[str, Any]:
    """The result without unexpected values (see REDACTED_RESULT_KEYS); a new dict."""
    copy = dict(result)
    copy["meta"] = dict(result.get("meta") or {})
    copy["results"] = []
    for item in result.get("results", []):
        item = dict(item)
        item["result"] = {
            k: v for k, v in (item.get("result") or {}).items() if k not in REDACTED_RESULT_KEYS
        }
        copy["results"].append(item)
    return copy


class _Engine:
    """The process's ephemeral GX context with one suite and one batch definition per license type."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: Any = None
        self._prepared: dict[str, tuple[gx.ExpectationSuite, BatchDefinition]] = {}

    def validate(self, license_type: str, frame: pd.DataFrame, parameters: dict[str, Any]) -> dict[str, Any]:
        """The JSON-ready GX validation result of ``frame`` against the license type's suite."""
        with self._lock:
            suite, definition = self._prepare(license_type)
            batch = definition.get_batch(batch_parameters={"dataframe": frame})
            result = batch.validate(suite, result_format=RESULT_FORMAT, expectation_parameters=parameters)
            return result.to_json_dict()

    def _prepare(self, license_type: str) -> tuple[gx.ExpectationSuite, BatchDefinition]:
        if license_type in self._prepared:
            return self._prepared[license_type]
        suite = build_suite(license_type)  # KeyError for an unknown type, before touching GX
        if self._context is None:
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            context.data_sources.add_pandas("license_sync")
            self._context = context
        suite = self._context.suites.add(suite)
        asset = self._context.data_sources.get("license_sync").add_dataframe_asset(license_type)
        definition = asset.add_batch_definition_whole_dataframe("batch")
        self._prepared[license_type] = (suite, definition)
        return suite, definition


_ENGINE = _Engine()
