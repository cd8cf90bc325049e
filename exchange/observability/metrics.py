"""The hub's Prometheus metrics, and the exposition ``GET /metrics`` serves (docs/observability.md).

Two kinds, by where the truth lives:

- What a worker process sees happen (requests, exchanges, latencies) is counted here, in
  prometheus-client's metric objects. ``exchange up --workers N`` runs N processes; with
  ``PROMETHEUS_MULTIPROC_DIR`` set (``exchange up`` does it, see :mod:`.multiprocess`) each process
  writes its values to files in that directory and the scrape, whichever worker serves it, adds them
  up. Without it (one process, tests) the values live in this process's default registry.
- What lives in the database (the audit log's size and checkpoints, the license syncs that CLI and
  Airflow processes run) is read when the scrape happens, by :class:`.collectors.DatabaseCollector`,
  in the serving process only, so it is never summed across workers.

Labels come from bounded registries only (endpoints, resource codes the directory resolved, client
ids of registered consumers, departments, route templates, status codes); never a subject
identifier, a request id or a raw path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from exchange.observability.multiprocess import MULTIPROC_ENV

# Latency buckets (seconds) of the exchange path: a lookup in a legacy system takes milliseconds to
# seconds, and the adapters give up on a legacy call after their timeout.
EXCHANGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
HTTP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # no route matched (a 404 for an unknown path): never the raw path
UNRESOLVED_RESOURCE = "unresolved"  # refused before the directory resolved the resource code
UNKNOWN_CONSUMER = "unknown"  # refused before the signature named a registered consumer

EXCHANGES = Counter(
    "exchange_requests",
    "Signed exchanges (query, verify, license search) whose audit entry was committed, by endpoint, "
    "resource, consumer, decision and HTTP status.",
    ["endpoint", "resource", "consumer", "decision", "status"],
)
EXCHANGE_DURATION = Histogram(
    "exchange_request_duration_seconds",
    "Time from the first byte of a signed exchange's body to its answer, audit entry committed.",
    ["endpoint", "decision"],
    buckets=EXCHANGE_BUCKETS,
)
AUDIT_FAILURES = Counter(
    "exchange_audit_append_failures",
    "Signed exchanges refused with 503 because their audit entry could not be committed.",
    ["endpoint"],
)
HTTP_DURATION = Histogram(
    "exchange_http_request_duration_seconds",
    "Duration of every HTTP request, by method, route template and status.",
    ["method", "route", "status"],
    buckets=HTTP_BUCKETS,
)
HTTP_IN_PROGRESS = Gauge(
    "exchange_http_requests_in_progress",
    "HTTP requests being served now, summed over the live workers.",
    multiprocess_mode="livesum",
)


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class _Chain:
    """Several collectors as one, for the exposition of one scrape."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self._collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def exposition(scrape_time: Iterable[Collector], accept: str | None = None) -> tuple[bytes, str]:
    """The scrape's body and content type: the process metrics (every worker's, in multiprocess
    mode) followed by the collectors computed now. ``accept`` may ask for OpenMetrics."""
    path = multiprocess_dir()
    counted: Collector = REGISTRY  # this process's values
    if path is not None:  # every worker's values, from their files
        counted = prometheus_multiprocess.MultiProcessCollector(None, path=path)  # type: ignore[arg-type]
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_Chain([counted, *scrape_time])), content_type  # type: ignore[arg-type]


def worker_stopped() -> None:
    """A worker is exiting: its share of the live gauges must leave the sum (multiprocess mode)."""
    path = multiprocess_dir()
    if path is not None:
        prometheus_multiprocess.mark_process_dead(os.getpid(), path)
