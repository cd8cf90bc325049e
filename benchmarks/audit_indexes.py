"""Benchmark: are the access-log searches served by indexes on a large PostgreSQL audit log?

Creates a scratch database, migrates it (to ``--revision``, default the latest), fills
``audit_entries`` with ``--rows`` generated entries (skewed consumers, four departments, about as
many subjects as entries / 1.3, two months of timestamps, 5 % refusals; leaf hashes are not real),
runs ANALYZE, then runs the console's and the citizen's real query functions
(``exchange.console.monitoring``, ``exchange.subjects.repository``) and prints ``EXPLAIN (ANALYZE,
BUFFERS)`` of every statement they sent, with the plan's top node, the indexes it used and its time:

    ./run python benchmarks/audit_indexes.py postgresql://exchange:exchange@127.0.0.1:55433/postgres
    ./run python benchmarks/audit_indexes.py URL --rows 1000000 --revision 0008 --plans

The URL is a role that may CREATE DATABASE; the scratch database is dropped afterwards.
See docs/operations.md for recorded results.
"""

from __future__ import annotations

import argparse
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

from exchange.config import normalise_database_url
from exchange.console import monitoring
from exchange.console.monitoring import LogFilter, Scope
from exchange.db import migrate
from exchange.db.engine import make_engine
from exchange.subjects import repository as subjects

START = datetime(2026, 9, 1, tzinfo=UTC)
SPAN_SECONDS = 60 * 86_400  # two months

FILL = """
INSERT INTO audit_entries ("index", recorded_at, request_id, client_id, operator_id, operator_name,
    resource_code, provider_id, subject_type, subject_value, items_asked, items_returned, matter_code,
    purpose, legal_basis, decision, reason, http_status, latency_ms, request_hash, response_hash,
    request_jti, endpoint, leaf_hash)
SELECT i,
    :start + make_interval(secs => i::float8 * :span / :rows),
    'req-' || i,
    CASE WHEN i < :rows / 10 AND i % 50 = 0 THEN 'client-retired'  -- idle for the last 54 days
        ELSE 'client-' || floor(60 * power(random(), 3))::int END,  -- 60 consumers, a few busy
    'op-' || (i % 500), '窗口人员',
    p.provider || '-' || (i % 7),
    p.provider,
    'id_card',
    lpad(((i::bigint * 2654435761) % (:rows * 10 / 13))::text, 17, '0') || 'X',
    '["name", "sex"]', '["name"]', 'MATTER-' || (i % 40), '入学资格审核', NULL,
    CASE WHEN i % 20 = 0 THEN 'deny' ELSE 'allow' END,
    CASE WHEN i % 20 = 0 THEN 'no grant' END,
    CASE WHEN i % 20 = 0 THEN 403 ELSE 200 END,
    i % 97, md5(i::text), md5('r' || i), 'jti-' || i, 'query',
    decode(md5(i::text) || md5('x' || i), 'hex')
FROM generate_series(0, :rows - 1) AS i
CROSS JOIN LATERAL (SELECT (ARRAY['household', 'tax', 'social_insurance', 'real_estate'])
    [1 + (i % 4)] AS provider) AS p
"""


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    admin_url = normalise_database_url(admin_url)
    name = f"exchange_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fill(engine: Engine, rows: int) -> float:
    began = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text(FILL), {"start": START, "span": SPAN_SECONDS, "rows": rows})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE audit_entries"))
    return time.perf_counter() - began


def captured(engine: Engine, call: Callable[[Session], Any]) -> list[tuple[str, Any]]:
    """The statements ``call`` sent, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with Session(engine) as session:
            result = call(session)
            if hasattr(result, "__next__"):
                next(result, None)  # an export is a generator: its first chunk
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def explain(engine: Engine, statement: str, parameters: Any) -> tuple[str, list[str]]:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        lines = [row[0] for row in cursor.fetchall()]
        raw.rollback()
    finally:
        raw.close()
    return statement, lines


def summary(lines: list[str]) -> str:
    top = lines[0].split("  (")[0].strip()
    used = sorted(
        set(
            re.findall(
                r"(?:Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)?(?: using| on) (\w+)",
                "\n".join(lines),
            )
        )
    )
    seq = "Seq Scan on audit_entries" in "\n".join(lines)
    execution = next((line for line in lines if line.startswith("Execution Time")), "")
    return f"{top}; indexes: {', '.join(used) or '-'}{'; SEQ SCAN' if seq else ''}; {execution}"


def cases(now: datetime, busy: str, subject: str) -> dict[str, Callable[[Session], Any]]:
    everything, department, consumer = (
        Scope(everything=True),
        Scope(provider_id="tax"),
        Scope(client_id="client-7"),
    )
    week = LogFilter(since=now - timedelta(days=7), until=now)
    return {
        "citizen access log (subjects.accesses_of)": lambda s: subjects.accesses_of(
            s, subject_type="id_card", subject_value=subject, limit=20, offset=0
        ),
        "console search, governance, newest page": lambda s: monitoring.search(
            s, scope=everything, filters=LogFilter(), limit=50
        ),
        "console search, governance, by subject": lambda s: monitoring.search(
            s, scope=everything, filters=LogFilter(subject=subject), limit=50
        ),
        "console count, governance, by subject": lambda s: monitoring.count(
            s, scope=everything, filters=LogFilter(subject=subject)
        ),
        "console search, governance, busy consumer + week": lambda s: monitoring.search(
            s,
            scope=everything,
            filters=LogFilter(client_id=busy, since=week.since, until=week.until),
            limit=50,
        ),
        "console search, governance, one day a month ago": lambda s: monitoring.search(
            s,
            scope=everything,
            filters=LogFilter(since=now - timedelta(days=30), until=now - timedelta(days=29)),
            limit=50,
        ),
        "console search, governance, refusals": lambda s: monitoring.search(
            s, scope=everything, filters=LogFilter(decision="deny"), limit=50
        ),
        "console search, department scope, newest page": lambda s: monitoring.search(
            s, scope=department, filters=LogFilter(), limit=50
        ),
        "console search, consumer scope (rare consumer), newest page": lambda s: monitoring.search(
            s, scope=consumer, filters=LogFilter(), limit=50
        ),
        "console search, consumer scope, a consumer without entries": lambda s: monitoring.search(
            s, scope=Scope(client_id="client-new"), filters=LogFilter(), limit=50
        ),
        "console search, department scope, a department without entries": lambda s: monitoring.search(
            s, scope=Scope(provider_id="new-department"), filters=LogFilter(), limit=50
        ),
        "console search, consumer scope, a consumer idle for 54 days": lambda s: monitoring.search(
            s, scope=Scope(client_id="client-retired"), filters=LogFilter(), limit=50
        ),
        "console export, consumer scope, busy consumer, first chunk": lambda s: monitoring.export(
            s, scope=Scope(client_id=busy), filters=LogFilter()
        ),
        "console export, department scope, first chunk": lambda s: monitoring.export(
            s, scope=department, filters=LogFilter()
        ),
        "console count, consumer scope (rare consumer)": lambda s: monitoring.count(
            s, scope=consumer, filters=LogFilter()
        ),
        "console count, department scope + week": lambda s: monitoring.count(
            s, scope=department, filters=week
        ),
        "console export, consumer scope, first chunk": lambda s: monitoring.export(
            s, scope=consumer, filters=LogFilter()
        ),
        "overview daily counts, 14 days, governance": lambda s: monitoring.daily_counts(
            s, scope=everything, days=14, now=now
        ),
        "overview daily counts, 14 days, consumer": lambda s: monitoring.daily_counts(
            s, scope=consumer, days=14, now=now
        ),
        "overview top consumers, 7 days": lambda s: monitoring.top_consumers(
            s, scope=everything, since=now - timedelta(days=7)
        ),
        "anomaly rules, 7 days, governance": lambda s: monitoring.anomalies(
            s, scope=everything, since=now - timedelta(days=7), until=now
        ),
        "anomaly rules, 7 days, department": lambda s: monitoring.anomalies(
            s, scope=department, since=now - timedelta(days=7), until=now
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a PostgreSQL role that may CREATE DATABASE")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--revision", default="head", help="migrate to this revision (compare 0008 and head)")
    parser.add_argument("--plans", action="store_true", help="print every full plan")
    arguments = parser.parse_args()
    with scratch_database(arguments.url) as url:
        engine = make_engine(url)
        migrate.upgrade(engine, arguments.revision)
        seconds = fill(engine, arguments.rows)
        print(f"revision {migrate.current_revision(engine)}: {arguments.rows:,} entries in {seconds:.1f} s")
        now = START + timedelta(seconds=SPAN_SECONDS)
        with engine.connect() as connection:
            subject = connection.scalar(text('SELECT subject_value FROM audit_entries WHERE "index" = 4242'))
        for label, call in cases(now, "client-0", subject).items():
            print(f"\n== {label}")
            for statement, parameters in captured(engine, call):
                if "audit_entries" not in statement:
                    continue
                _, lines = explain(engine, statement, parameters)
                print("   " + summary(lines))
                if arguments.plans:
                    print("\n".join("      " + line for line in lines))
        engine.dispose()


if __name__ == "__main__":
    main()
