"""GET /metrics in process: real signed queries, real audit log and checkpoints, a real license sync.

Counters are process-wide (one registry per test process), so the tests compare scrapes before and
after what they do.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select

from adapters.base import Change
from adapters.registry import DEPARTMENTS
from adapters.simulation import running
from certs.store import PkiPaths
from exchange.api.app import checkpoint_if_due, create_app
from exchange.audit.models import AuditEntry
from exchange.bootstrap import bootstrap
from exchange.db.engine import session_factory
from exchange.demo import DEMO_CLIENT_ID
from exchange.licenses.models import SyncRun
from exchange.licenses.sync import run_sync
from exchange.observability import multiprocess
from exchange.observability.collectors import DatabaseCollector
from exchange.queries.evidence import DepartmentSigner
from tests.exchange.observability.conftest import HOUSEHOLD, scrape, signed_query

QUERY_ROUTE = "/v1/query/{resource_code}"


def _entries(engine) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


def test_signed_queries_are_counted_by_resource_consumer_and_decision(hub, citizen):
    allowed = {
        "endpoint": "query",
        "resource": HOUSEHOLD,
        "consumer": DEMO_CLIENT_ID,
        "decision": "allow",
        "status": "200",
    }
    before = scrape(hub)
    for _ in range(3):
        response = signed_query(hub, citizen)
        assert response.status_code == 200, response.text
    after = scrape(hub)

    assert after.families["exchange_requests"].type == "counter"
    assert after.families["exchange_request_duration_seconds"].type == "histogram"
    assert after.families["exchange_http_request_duration_seconds"].type == "histogram"
    assert (
        after.value("exchange_requests_total", **allowed) - before.value("exchange_requests_total", **allowed)
        == 3
    )
    timed = {"endpoint": "query", "decision": "allow"}
    assert (
        after.value("exchange_request_duration_seconds_count", **timed)
        - before.value("exchange_request_duration_seconds_count", **timed)
        == 3
    )
    assert after.value("exchange_request_duration_seconds_sum", **timed) > before.value(
        "exchange_request_duration_seconds_sum", **timed
    )
    http = {"method": "POST", "route": QUERY_ROUTE, "status": "200"}
    assert (
        after.value("exchange_http_request_duration_seconds_count", **http)
        - before.value("exchange_http_request_duration_seconds_count", **http)
        == 3
    )
    # The scrapes themselves are requests too, by their route.
    assert after.value("exchange_http_request_duration_seconds_count", method="GET", route="/metrics") >= 1
    assert after.value("exchange_build_info") == 1 and after.value("exchange_metrics_database_up") == 1


def test_denials_are_counted_with_decision_deny_and_bounded_labels(hub, citizen):
    def denied(scrape_, **labels):
        return scrape_.value("exchange_requests_total", endpoint="query", decision="deny", **labels)

    before = scrape(hub)
    no_grant = signed_query(hub, citizen, matter_code="NOT-GRANTED")  # resolved resource, no grant
    assert no_grant.status_code == 403, no_grant.text
    unknown = hub.post(  # a resource the directory does not know: its code is no label value
        "/v1/query/399999999-000001",
        content=b"a.b.c",
        headers={"Content-Type": "application/jwt"},
    )
    assert unknown.status_code in (400, 401)
    after = scrape(hub)

    resolved = {"resource": HOUSEHOLD, "consumer": DEMO_CLIENT_ID, "status": "403"}
    assert denied(after, **resolved) - denied(before, **resolved) == 1
    anonymous = {"resource": "unresolved", "consumer": "unknown", "status": str(unknown.status_code)}
    assert denied(after, **anonymous) - denied(before, **anonymous) == 1
    assert "399999999-000001" not in after.text
    assert after.value("exchange_request_duration_seconds_count", endpoint="query", decision="deny") >= 2


def test_no_subject_identifier_or_request_id_appears_in_metrics(hub, citizen):
    request_ids = []
    for response in (
        signed_query(hub, citizen),
        signed_query(hub, citizen, matter_code="NOT-GRANTED"),
        hub.post(f"/v1/query/{citizen}", content=b"x", headers={"Content-Type": "application/jwt"}),
        hub.get(f"/v1/licenses/{citizen}"),
        hub.get(f"/v1/directory/resources/{citizen}"),
        hub.get(f"/no/such/page/{citizen}?subject={citizen}"),
    ):
        request_ids.append(response.headers["x-request-id"])
    exposition = scrape(hub)
    assert citizen not in exposition.text
    assert citizen[:17] not in exposition.text
    assert not [rid for rid in request_ids if rid in exposition.text]
    routes = {s.labels["route"] for s in exposition.samples("exchange_http_request_duration_seconds_count")}
    assert {QUERY_ROUTE, "/v1/licenses/{identifier}", "/v1/directory/resources/{code}", "unmatched"} <= routes
    assert all(route == "unmatched" or route.startswith("/") for route in routes)


def test_checkpoint_gauges_follow_the_audit_log(hub, citizen):
    assert signed_query(hub, citizen).status_code == 200
    assert checkpoint_if_due(hub.app.state.hub)  # the first checkpoint: due as soon as there are entries
    signed = scrape(hub)
    size = _entries(hub.engine)
    assert signed.value("exchange_audit_tree_size") == size
    assert signed.value("exchange_audit_checkpoint_size") == size
    assert signed.value("exchange_audit_checkpoint_lag_entries") == 0
    assert 0 <= signed.value("exchange_audit_checkpoint_age_seconds") < 60
    assert abs(signed.value("exchange_audit_checkpoint_timestamp_seconds") - time.time()) < 60

    for _ in range(2):
        assert signed_query(hub, citizen).status_code == 200
    lagging = scrape(hub)
    assert lagging.value("exchange_audit_tree_size") == size + 2
    assert lagging.value("exchange_audit_checkpoint_size") == size
    assert lagging.value("exchange_audit_checkpoint_lag_entries") == 2

    hub.app.state.hub.settings.checkpoint_every_entries = 2  # now due
    assert checkpoint_if_due(hub.app.state.hub)
    caught_up = scrape(hub)
    assert caught_up.value("exchange_audit_checkpoint_size") == size + 2
    assert caught_up.value("exchange_audit_checkpoint_lag_entries") == 0


def test_before_any_checkpoint_the_lag_is_the_whole_log_and_there_is_no_age(settings, engine):
    bootstrap(settings, engine)
    with TestClient(create_app(settings)) as client:
        exposition = scrape(client)
    assert exposition.value("exchange_audit_tree_size") == 0
    assert exposition.value("exchange_audit_checkpoint_size") == 0
    assert exposition.value("exchange_audit_checkpoint_lag_entries") == 0
    assert not exposition.samples("exchange_audit_checkpoint_age_seconds")


class _Spoiled:
    """The tax department's adapter, with its first record made invalid for the quality gate."""

    def __init__(self, adapter) -> None:
        self.adapter = adapter
        self.department = adapter.department

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        for position, change in enumerate(self.adapter.changes_since(watermark)):
            record = change.record
            if position == 0:  # valid until a date before it was issued
                record = dataclasses.replace(record, valid_to=date(1990, 1, 1))
            yield Change(record, change.watermark)


def test_sync_metrics_are_read_from_the_database(settings, engine):
    """A sync run by another process (here: this test, as `exchange sync` would) shows at the next scrape."""
    bootstrap(settings, engine)
    sessions = session_factory(engine)
    with running(settings.legacy_dir, ["tax"]) as systems:
        run = run_sync(
            sessions,
            department=DEPARTMENTS["tax"],
            adapter=_Spoiled(systems["tax"].adapter()),
            signer=DepartmentSigner.load(PkiPaths(settings.pki_dir), "tax"),
            now=lambda: datetime.now(UTC),
            public_url=settings.base_url,
        )
    assert run.status == "succeeded" and run.counts["quarantined"] == 1 and run.counts["created"] > 0
    with TestClient(create_app(settings)) as client:
        exposition = scrape(client)
    tax = {"department": "tax"}
    assert exposition.families["exchange_sync_runs"].type == "counter"
    assert exposition.value("exchange_sync_runs_total", outcome="succeeded", **tax) == 1
    assert exposition.value("exchange_sync_runs_total", outcome="failed", **tax) == 0
    assert exposition.value("exchange_sync_runs_in_progress", **tax) == 0
    assert exposition.value("exchange_sync_rows_total", kind="read", **tax) == run.counts["read"]
    assert exposition.value("exchange_sync_rows_total", kind="sealed", **tax) == run.counts["created"]
    assert exposition.value("exchange_sync_rows_total", kind="quarantined", **tax) == 1
    assert exposition.value("exchange_sync_quarantined_total", **tax) == 1
    assert exposition.value("exchange_sync_quarantine_open", **tax) == 1
    assert {s.labels["license_type"] for s in exposition.samples("exchange_sync_quarantined_total")} == {
        "tax_payment_certificate"
    }
    with sessions() as session:
        finished = session.get(SyncRun, run.id).finished_at
    assert exposition.value("exchange_sync_last_success_timestamp_seconds", **tax) == pytest.approx(
        finished.timestamp()
    )
    # Every department has its series from the start, so a rate() or an alert sees zeros, not gaps.
    for department in DEPARTMENTS:
        labels = {"department": department, "outcome": "failed"}
        assert [s for s in exposition.samples("exchange_sync_runs_total") if s.labels == labels]


def test_an_unreadable_database_reports_itself_and_leaves_the_rest(tmp_path):
    broken = create_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    families = {f.name: f for f in DatabaseCollector(session_factory(broken)).collect()}
    assert families["exchange_metrics_database_up"].samples[0].value == 0
    assert families["exchange_build_info"].samples[0].value == 1
    assert not {name for name in families if name.startswith(("exchange_audit", "exchange_sync"))}


def test_openmetrics_is_served_when_asked_for(hub):
    response = hub.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert response.headers["cache-control"] == "no-store"
    names = {f.name for f in text_string_to_metric_families(hub.get("/metrics").text)}
    assert {"exchange_requests", "exchange_audit_tree_size", "exchange_sync_runs"} <= names


def test_several_workers_share_a_fresh_metrics_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(multiprocess.MULTIPROC_ENV, "placeholder")  # restored to unset afterwards
    monkeypatch.delenv(multiprocess.MULTIPROC_ENV)
    home = tmp_path / "home"
    assert multiprocess.prepare(home, workers=1) is None
    abandoned = home / "run" / f"metrics-{multiprocess._host()}-{2**30 + 7}"  # no such process
    abandoned.mkdir(parents=True)
    (abandoned / "counter_1.db").write_bytes(b"old")

    made = multiprocess.prepare(home, workers=2)
    assert made is not None and made.owned
    assert made.path.is_dir() and not list(made.path.iterdir())
    assert os.environ[multiprocess.MULTIPROC_ENV] == str(made.path)
    assert not abandoned.exists()
    multiprocess.release(made)
    assert not made.path.exists() and multiprocess.MULTIPROC_ENV not in os.environ

    given = tmp_path / "operator-dir"
    given.mkdir()
    (given / "counter_42.db").write_bytes(b"old")
    (given / "keep.txt").write_text("not ours")
    monkeypatch.setenv(multiprocess.MULTIPROC_ENV, str(given))
    honoured = multiprocess.prepare(home, workers=4)
    assert honoured is not None and not honoured.owned and honoured.path == given
    assert [p.name for p in given.iterdir()] == ["keep.txt"]
    multiprocess.release(honoured)
    assert given.exists()
