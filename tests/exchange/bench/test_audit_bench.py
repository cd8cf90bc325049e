"""The audit section of `exchange bench` on a small log: complete, consistent figures, and no rate for
a log that does not verify. Nothing here is timed against a bound (the machine is shared)."""

from __future__ import annotations

import pytest

from exchange.audit import service
from exchange.bench import audit
from exchange.bench.report import BenchError, Target
from exchange.db.engine import make_engine, session_factory
from tests.exchange.audit.tampering import tamper

FIGURES = {
    "entries",
    "checkpoints",
    "entry_bytes",
    "appends_per_s",
    "appends_one_per_commit",
    "bulk_appends_per_s",
    "proof_p50_ms",
    "proof_max_ms",
    "consistency_ms",
    "verify_s",
    "entries_per_s",
    "processes",
    "raw_sha256_per_s",
    "ratio",
    "ratio_per_core",
    "verify_one_process_s",
    "entries_per_s_one_process",
    "ratio_one_process",
}


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(audit, "RAW_SECONDS", 0.1)
    monkeypatch.setattr(audit, "SINGLE_APPENDS", 300)
    monkeypatch.setattr(service, "PARALLEL_BLOCK", 512)  # so 2,100 entries are verified in 2 processes


def test_the_audit_section_is_complete_and_consistent(tmp_path):
    messages: list[str] = []
    section = audit.run(2_100, tmp_path, messages.append, processes=2)
    figures = section.figures
    assert section.name == "audit" and set(figures) == FIGURES
    assert (figures["entries"], figures["checkpoints"], figures["processes"]) == (2_100, 3, 2)
    assert figures["appends_one_per_commit"] == 300
    assert all(value > 0 for value in figures.values())
    assert 400 < figures["entry_bytes"] < 1_500  # realistic entries, RFC 8785 bytes
    assert figures["proof_p50_ms"] <= figures["proof_max_ms"]
    assert figures["entries_per_s"] == pytest.approx(2_100 / figures["verify_s"])
    assert figures["ratio"] == pytest.approx(figures["entries_per_s"] / figures["raw_sha256_per_s"])
    assert figures["ratio_per_core"] == pytest.approx(figures["ratio"] / 2)
    assert figures["ratio_one_process"] == pytest.approx(
        figures["entries_per_s_one_process"] / figures["raw_sha256_per_s"]
    )
    assert [(t.key, t.comparison, t.limit) for t in section.targets] == [
        ("audit.ratio", ">=", 0.5),
        ("audit.appends_per_s", ">=", 1000),
        ("audit.proof_max_ms", "<=", 50),
    ]
    values = {t.key: t.value for t in section.targets}
    assert values == {
        "audit.ratio": figures["ratio"],
        "audit.appends_per_s": figures["appends_per_s"],
        "audit.proof_max_ms": figures["proof_max_ms"],
    }
    assert all(isinstance(t, Target) and isinstance(t.met, bool) for t in section.targets)
    assert any("verifying 2,100 entries" in message for message in messages)


def test_the_log_is_verified_as_the_cli_verifies_it_in_one_process_when_small(tmp_path):
    section = audit.run(40, tmp_path, lambda _: None, processes=4)
    assert section.figures["processes"] == 1 and section.figures["ratio_per_core"] == section.figures["ratio"]


def test_a_log_that_does_not_verify_gives_no_rate(tmp_path, monkeypatch):
    verify = service.verify_log

    def tampered_first(session, **options):
        tamper(session, "UPDATE audit_entries SET purpose = 'rewritten' WHERE \"index\" = 7")
        return verify(session, **options)

    monkeypatch.setattr(service, "verify_log", tampered_first)
    with pytest.raises(BenchError, match="entry 7 was changed"):
        audit.run(40, tmp_path, lambda _: None)


def test_the_database_is_a_migrated_hub_database_in_the_work_directory(tmp_path):
    audit.run(30, tmp_path, lambda _: None)
    engine = make_engine(f"sqlite:///{tmp_path / 'audit-bench.db'}")
    try:
        with session_factory(engine)() as session:
            assert service.tree_size(session) == 30
            assert service.latest_checkpoint(session).tree_size == 30  # type: ignore[union-attr]
    finally:
        engine.dispose()
    assert (tmp_path / "pki" / "ca.pem").exists()
