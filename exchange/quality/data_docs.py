"""Static GX Data Docs of the license quality gate, under ``$EXCHANGE_HOME/quality-docs``.

Layout (a GX file context; nothing here is served by the hub):

- ``quality-docs/gx/``: the GX project: ``great_expectations.yml``, the four suites
  (``expectations/license_<type>.json``) and every stored validation result
  (``uncommitted/validations/license_<type>/<run id>/<run time>/<batch>.json``);
- ``quality-docs/site/index.html``: the Data Docs site: one page per suite (its expectations and
  their notes) and one per validated batch, listed by run on the index.

GX renders Data Docs only from its own stores, so :func:`build_data_docs` stores each result there
first; the results are already redacted by the gate (no unexpected values, only row indexes and
counts). An operator opens ``$EXCHANGE_HOME/quality-docs/site/index.html`` in a browser (a
``file://`` URL; the pages are static and need no server), or copies ``site/`` to any web server.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from exchange.licenses.types import LICENSE_TYPES
from exchange.quality.suites import build_suite, suite_name

__all__ = ["DOCS_DIRECTORY", "SITE_NAME", "build_data_docs", "docs_index"]

DOCS_DIRECTORY = "quality-docs"
SITE_NAME = "license_quality"
_SITE_CONFIG: dict[str, Any] = {
    "class_name": "SiteBuilder",
    "show_how_to_buttons": False,
    # relative to the context root (quality-docs/gx), so the project survives a moved EXCHANGE_HOME
    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": "../site/"},
    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
}


def docs_index(home: Path) -> Path:
    """Where the Data Docs' index page is: ``home/quality-docs/site/index.html``."""
    return home / DOCS_DIRECTORY / "site" / "index.html"


def build_data_docs(home: Path, results: Iterable[tuple[str, str, Mapping[str, Any]]]) -> Path:
    """Store ``(run_id, license_type, result_json)`` results and rebuild the Data Docs; return index.html.

    ``result_json`` is :attr:`GateResult.result_json`. Storing is idempotent: a result is keyed by
    its suite, run id, check time and a digest of its content. Every license type's current suite
    is (re)written too, so the docs show the expectations in force. Raises ``KeyError`` for an
    unknown license type and ``ValueError`` when a result is not of its license type's suite.
    """
    keyed = [
        (_result_key(run_id, kind, result), result) for run_id, kind, result in results
    ]  # check all first
    context = gx.get_context(mode="file", project_root_dir=home / DOCS_DIRECTORY)
    _configure_site(context)
    changed: list[Any] = []
    for license_type in LICENSE_TYPES:
        context.suites.add_or_update(build_suite(license_type))
        changed.append(ExpectationSuiteIdentifier(name=suite_name(license_type)))
    for key, result_json in keyed:
        result = expectationSuiteValidationResultSchema.load(_with_run(result_json, key.run_id))
        context.validation_results_store.set(key, result)
        changed.append(key)
    # Only the suites and the new results are rendered; the index lists everything stored.
    context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=changed)
    return docs_index(home)


def _configure_site(context: Any) -> None:
    """Only our site, at ``quality-docs/site`` (the default ``local_site`` is removed once)."""
    sites = context.list_data_docs_sites()
    if "local_site" in sites:
        context.delete_data_docs_site("local_site")
    if SITE_NAME not in sites:
        context.add_data_docs_site(SITE_NAME, _SITE_CONFIG)
    elif sites[SITE_NAME] != _SITE_CONFIG:
        context.update_data_docs_site(SITE_NAME, _SITE_CONFIG)


def _result_key(run_id: str, license_type: str, result_json: Mapping[str, Any]) -> ValidationResultIdentifier:
    if license_type not in LICENSE_TYPES:
        raise KeyError(f"unknown license type {license_type!r}")
    name = suite_name(license_type)
    if result_json.get("suite_name") != name:
        raise ValueError(
            f"result of suite {result_json.get('suite_name')!r} is not {license_type}'s ({name})"
        )
    digest = hashlib.sha256(json.dumps(result_json, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
        run_id=RunIdentifier(run_name=run_id, run_time=_checked_at(result_json)),
        batch_identifier=f"batch-{digest}",
    )


def _with_run(result_json: Mapping[str, Any], run: RunIdentifier) -> dict[str, Any]:
    """A copy whose meta names the run, as the validation page shows it."""
    copy = dict(result_json)
    copy["meta"] = {**(result_json.get("meta") or {}), "run_id": run.to_json_dict()}
    return copy


def _checked_at(result_json: Mapping[str, Any]) -> datetime:
    """The gate's ``now`` for the batch (in ``meta.exchange``), else the start of the epoch."""
    text = ((result_json.get("meta") or {}).get("exchange") or {}).get("checked_at")
    try:
        moment = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        moment = None
    if moment is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
