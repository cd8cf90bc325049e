"""The audit log under `exchange bench`: appends, proofs and a full `exchange audit verify`.

A fresh SQLite hub database in the work directory is migrated, given a hub PKI (``certs.service``),
and filled through the real ``exchange.audit.service.append`` with varied entries (allowed and
denied, four departments, nulls, non-ASCII text), a checkpoint signed every ``CHECKPOINT_EVERY``
entries as the hub does (``Settings.checkpoint_every_entries``). Then:

- ``appends_per_s``: the first ``SINGLE_APPENDS`` entries are appended one by one, each committed on
  its own as a hub request does (append, commit), and only that is timed; the rest of the log is
  bulk-filled through the same ``append``, ``BULK_BATCH`` entries a transaction
  (``bulk_appends_per_s``);
- ``proof_p50_ms`` / ``proof_max_ms``: inclusion proofs of ``PROOF_SAMPLES`` indexes (the first, the
  last, random ones) in the full tree; ``consistency_ms``: the slowest of ``CONSISTENCY_SAMPLES``
  consistency proofs to the full size (``service.inclusion`` / ``service.consistency``, what the API
  serves);
- ``entries_per_s``: ``service.verify_log`` over the whole log with the hub CA certificate, what
  `exchange audit verify` runs, in ``processes`` worker processes (all cores unless told);
  ``entries_per_s_one_process`` again in one. The log must verify: a run whose verification reports
  anything raises ``BenchError`` instead of reporting a rate.

``raw_sha256_per_s`` is SHA-256 on one core of inputs of the entries' mean RFC 8785 length
(``entry_bytes``), the better of two samples taken right after the verification. The target
``audit.ratio`` is ``ratio = entries_per_s / raw_sha256_per_s``: the command as an operator runs it
(all cores) against one core hashing, since every entry costs at least one such hash.
``ratio_per_core`` divides by ``processes`` too, ``ratio_one_process`` is the one-process run's.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from certs import service as pki
from certs.keys import PrivateKey, load_private_key
from certs.store import PkiPaths, read_certificate
from exchange.audit import service
from exchange.audit.schemas import AuditRecord, canonical_entry
from exchange.bench.machine import sha256_per_s
from exchange.bench.report import BenchError, Section, Target
from exchange.db import migrate
from exchange.db.engine import make_engine, session_factory

HUB_ID = "bench-hub"
START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
CHECKPOINT_EVERY = 1_000  # the hub's default checkpoint_every_entries
SINGLE_APPENDS = 2_000  # appended and committed one by one, timed
BULK_BATCH = 1_000  # entries a transaction for the rest of the log
PROOF_SAMPLES = 50
CONSISTENCY_SAMPLES = 5
RAW_SECONDS = 1.0

Progress = Callable[[str], None]


# --- entries --------------------------------------------------------------------------------------

_RESOURCES = (
    ("301001001-000001", "household", "id_card", ("name", "birth_date", "address", "household_head")),
    ("302001003-000002", "tax", "uscc", ("taxpayer_name", "tax_status", "credit_rating", "annual_tax")),
    ("303001002-000004", "social_insurance", "id_card", ("insured", "contribution_months", "employer")),
    ("304002001-000003", "real_estate", "property_unit", ("owner", "area_m2", "mortgaged", "seized")),
)
_CLIENTS = ("approval-portal", "school-enrolment", "housing-fund", "bank-credit-check", None)
_OPERATORS = (("op-0017", "王小明"), ("op-0243", "李娜"), ("op-1108", "Chen Jing"), ("op-0005", "赵建国"))
_MATTERS = (
    ("330100-SCHOOL-01", "小学入学资格审核", "《义务教育法》第十二条"),
    ("330100-HOUSING-03", "公积金贷款资格审核", "《住房公积金管理条例》第二十六条"),
    ("330100-LICENSE-07", "营业执照变更登记", None),
)
_DENIALS = (
    "no grant covers {item}",
    "the consumer's certificate was revoked",
    'matter "{matter}" does not allow {item}',
)


def _b64ish(rng: random.Random, length: int) -> str:
    return "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", k=length))


def bench_record(i: int, rng: random.Random) -> AuditRecord:
    """A varied, realistic entry: allowed and denied, several departments, null and non-ASCII fields."""
    code, provider, subject_type, items = _RESOURCES[rng.randrange(len(_RESOURCES))]
    client = _CLIENTS[rng.randrange(len(_CLIENTS))]
    operator_id, operator_name = _OPERATORS[rng.randrange(len(_OPERATORS))]
    matter, purpose, basis = _MATTERS[rng.randrange(len(_MATTERS))]
    asked = rng.sample(items, rng.randrange(1, len(items) + 1))
    allowed = client is not None and rng.random() < 0.8
    denial = _DENIALS[rng.randrange(len(_DENIALS))].format(item=asked[-1], matter=matter)
    subject = {
        "id_card": f"{rng.randrange(10**17):017d}{rng.choice('0123456789X')}",
        "uscc": f"91{rng.randrange(10**16):016d}",
        "property_unit": f"330102{rng.randrange(10**13):013d}",
    }[subject_type]
    return AuditRecord(
        request_id=f"req-{i:08d}-{_b64ish(rng, 8)}",
        client_id=client,
        operator_id=operator_id if client is not None else None,
        operator_name=operator_name if client is not None else None,
        resource_code=code,
        provider_id=provider,
        subject_type=subject_type,
        subject_value=subject,
        items_asked=asked,
        items_returned=asked if allowed else [],
        matter_code=matter,
        purpose=purpose,
        legal_basis=basis,
        decision="allow" if allowed else "deny",
        reason=None if allowed else denial,
        http_status=200 if allowed else (401 if client is None else 403),
        latency_ms=rng.randrange(3, 900),
        request_hash=_b64ish(rng, 43),
        response_hash=_b64ish(rng, 43) if allowed else None,
        request_jti=f"{_b64ish(rng, 22)}" if client is not None else None,
        endpoint=("query", "query", "query", "verify", "license")[rng.randrange(5)],
    )


def _recorded_at(i: int) -> datetime:
    return START + timedelta(milliseconds=37 * i + i % 11)


# --- the run --------------------------------------------------------------------------------------


def run(entries: int, workdir: Path, progress: Progress, *, processes: int | None = None) -> Section:
    """Build a log of ``entries`` entries in ``workdir`` and measure it (see the module docstring);
    ``processes`` for the verification, all cores by default.

    Raises ``BenchError`` if the log does not verify, ``ValueError`` for fewer than 2 entries.
    """
    if entries < 2:
        raise ValueError("the audit benchmark needs at least 2 entries")
    workdir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{workdir / 'audit-bench.db'}")
    try:
        migrate.upgrade(engine)
        return _measure(entries, workdir, session_factory(engine), progress, processes or os.cpu_count() or 1)
    finally:
        engine.dispose()


@dataclass
class _Hub:
    """The hub's signing key and chain, as `exchange up` loads them from its PKI directory."""

    key: PrivateKey
    chain: list[x509.Certificate]

    def sign(self, session: Session, size: int) -> None:
        service.checkpoint(
            session, signer_key=self.key, signer_chain=self.chain, hub_id=HUB_ID, now=_recorded_at(size)
        )
        session.commit()


def _measure(
    entries: int, workdir: Path, factory: sessionmaker[Session], progress: Progress, processes: int
) -> Section:
    paths = PkiPaths(workdir / "pki")
    with factory() as session:
        pki.init_pki(session, paths=paths, hub_id=HUB_ID, departments=(), now=START - timedelta(days=1))
        session.commit()
    ca = read_certificate(paths.ca_cert)
    hub = _Hub(load_private_key(paths.hub_key), [read_certificate(paths.hub_cert), ca])
    with factory() as session:
        figures = _append(session, entries, hub, progress)
        figures |= _prove(session, entries, progress)

    with factory() as session:
        processes = service.verify_processes(session, processes)
    workers = f"{processes} processes" if processes > 1 else "one process"
    progress(f"verifying {entries:,} entries as `exchange audit verify` does, in {workers}")
    verify_s = _verify(factory, ca, entries, processes)
    progress("verifying again in one process")
    one_process_s = _verify(factory, ca, entries, 1) if processes > 1 else verify_s
    progress("raw SHA-256 of entry-sized inputs, one core")
    raw = max(sha256_per_s(RAW_SECONDS, figures["entry_bytes"]) for _ in range(2))  # the better of two
    entries_per_s = entries / verify_s
    figures |= {
        "verify_s": verify_s,
        "entries_per_s": entries_per_s,
        "processes": processes,
        "raw_sha256_per_s": raw,
        "ratio": entries_per_s / raw,
        "ratio_per_core": entries_per_s / processes / raw,
        "verify_one_process_s": one_process_s,
        "entries_per_s_one_process": entries / one_process_s,
        "ratio_one_process": entries / one_process_s / raw,
    }
    targets = [
        Target(
            "audit.ratio",
            "audit verify entries/s >= 0.5 x raw SHA-256 hashes/s of entry-sized inputs",
            figures["ratio"],
            ">=",
            0.5,
        ),
        Target(
            "audit.appends_per_s",
            "1,000 appends a second, each in its own committed transaction (docs/audit.md)",
            figures["appends_per_s"],
            ">=",
            1000,
        ),
        Target("audit.proof_max_ms", "an inclusion proof under 50 ms", figures["proof_max_ms"], "<=", 50),
    ]
    return Section(name="audit", figures=figures, targets=targets)


def _append(session: Session, entries: int, hub: _Hub, progress: Progress) -> dict[str, Any]:
    rng = random.Random(9)  # noqa: S311 - varied entries, not secrets
    written = 0  # RFC 8785 bytes of the entries, for the raw hashing rate

    def logged(i: int, record: AuditRecord) -> None:
        nonlocal written
        written += len(canonical_entry(service.entry_values(i, record, _recorded_at(i))))
        if (i + 1) % CHECKPOINT_EVERY == 0:
            hub.sign(session, i + 1)

    single = min(entries, SINGLE_APPENDS)
    progress(f"appending {single:,} entries, one committed transaction each")
    spent = 0.0
    for i in range(single):
        record = bench_record(i, rng)
        started = time.perf_counter()
        service.append(session, record, _recorded_at(i))
        session.commit()
        spent += time.perf_counter() - started
        logged(i, record)
    progress(f"appending {entries - single:,} more, {BULK_BATCH:,} a transaction")
    bulk_spent = 0.0
    for first in range(single, entries, BULK_BATCH):
        batch = [(i, bench_record(i, rng)) for i in range(first, min(first + BULK_BATCH, entries))]
        started = time.perf_counter()
        for i, record in batch:
            service.append(session, record, _recorded_at(i))
        session.commit()
        bulk_spent += time.perf_counter() - started
        for i, record in batch:
            logged(i, record)
    if entries % CHECKPOINT_EVERY:
        hub.sign(session, entries)
    return {
        "entries": entries,
        "checkpoints": -(-entries // CHECKPOINT_EVERY),
        "entry_bytes": round(written / entries),
        "appends_per_s": single / spent,
        "appends_one_per_commit": single,
        "bulk_appends_per_s": (entries - single) / bulk_spent if bulk_spent else None,
    }


def _prove(session: Session, entries: int, progress: Progress) -> dict[str, Any]:
    progress(f"inclusion and consistency proofs at {entries:,} entries")
    rng = random.Random(entries)  # noqa: S311 - sample indexes
    inclusion = []
    for index in [0, entries - 1, *(rng.randrange(entries) for _ in range(PROOF_SAMPLES - 2))]:
        started = time.perf_counter()
        service.inclusion(session, index, entries)
        inclusion.append((time.perf_counter() - started) * 1000)
    consistency = []
    for first in [1, *(rng.randrange(1, entries) for _ in range(CONSISTENCY_SAMPLES - 1))]:
        started = time.perf_counter()
        service.consistency(session, first, entries)
        consistency.append((time.perf_counter() - started) * 1000)
    session.rollback()
    return {
        "proof_p50_ms": statistics.median(inclusion),
        "proof_max_ms": max(inclusion),
        "consistency_ms": max(consistency),
    }


def _verify(factory: sessionmaker[Session], ca: x509.Certificate, entries: int, processes: int) -> float:
    """Seconds ``service.verify_log`` takes over the whole log; ``BenchError`` unless it all verifies."""
    with factory() as session:
        started = time.perf_counter()
        report = service.verify_log(session, ca_certificate=ca, hub_id=HUB_ID, processes=processes)
        spent = time.perf_counter() - started
    if not report.ok or report.entries != entries:
        first = report.first_problem
        found = first.message if first else f"{report.entries:,} entries instead of {entries:,}"
        raise BenchError(f"the benchmark's audit log does not verify: {found}")
    return spent
