"""The license sync's quality gate (Great Expectations 1.x): suites, the gate, Data Docs.

Importing this package imports Great Expectations (seconds): DAG files import it inside task
bodies, never at their top level. See docs/quality.md.
"""

from __future__ import annotations

from .data_docs import build_data_docs, docs_index
from .gate import MAX_BATCH_SIZE, GateError, GateResult, GateStatistics, check_batch
from .suites import build_frame, build_suite, suite_name

__all__ = [
    "MAX_BATCH_SIZE",
    "GateError",
    "GateResult",
    "GateStatistics",
    "build_data_docs",
    "build_frame",
    "build_suite",
    "check_batch",
    "docs_index",
    "suite_name",
]
