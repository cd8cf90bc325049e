"""Operating the hub: Prometheus metrics, structured JSON logs with request ids, graceful shutdown.

- ``metrics``: the metrics each worker counts, and the exposition ``GET /metrics`` serves;
- ``collectors``: the metrics read from the database at scrape time (audit log, license syncs);
- ``multiprocess``: the directory where several workers keep their metric values;
- ``middleware``: request ids, one log line and the latency of every HTTP request;
- ``exchanges``: what a signed exchange adds to them, counted once its audit entry committed;
- ``logs``: the JSON and text formatters and the log configuration ``exchange up`` gives uvicorn;
- ``shutdown``: the final audit checkpoint a stopping worker signs.

docs/observability.md is the operator's guide.
"""
