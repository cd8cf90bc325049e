"""One license-sync DAG per department (``license_sync_<department>``): start → sync → finish.

Only wiring: each task calls :mod:`exchange.licenses.tasks` (imported inside the task body) and the
tasks pass the run id, not data. Parsing reads the department registry's declarations and nothing
else: no database, no files. See dags/README.md for the environment and the restart semantics.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, dag, task

from adapters.registry import DEPARTMENTS, declared_datasets

# The directory's update cycle of a department's license dataset, as an Airflow schedule.
SCHEDULES = {"real-time": "*/15 * * * *", "daily": "@daily", "monthly": "@monthly"}
# Shortest first: a department with several license datasets syncs as often as the most frequent.
_CYCLE_ORDER = ("real-time", "daily", "monthly")

DEFAULT_ARGS = {"owner": "exchange", "retries": 2, "retry_delay": timedelta(minutes=5)}
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")


def schedule_for(department_id: str) -> str:
    """The schedule of the department's license dataset; raises ``ValueError`` when it has none we know."""
    cycles = {d.update_cycle for d in declared_datasets(department_id) if d.license_type}
    if not cycles:
        raise ValueError(f"{department_id} declares no license dataset")
    unknown = cycles - SCHEDULES.keys()
    if unknown:
        raise ValueError(f"{department_id}: no schedule for update cycle {', '.join(sorted(unknown))}")
    return SCHEDULES[min(cycles, key=_CYCLE_ORDER.index)]


def license_sync_dag(department_id: str) -> DAG:
    @dag(
        dag_id=f"license_sync_{department_id}",
        description=f"Sync e-licenses from {department_id} into the hub's license store.",
        schedule=schedule_for(department_id),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["exchange", "licenses", department_id],
        doc_md=__doc__,
    )
    def license_sync() -> None:
        @task
        def start() -> int:
            from exchange.licenses import tasks

            return tasks.start(department_id)

        @task
        def sync(sync_run_id: int) -> dict:  # "run_id" is the Airflow context's, so not ours
            from exchange.licenses import tasks

            return tasks.sync(sync_run_id, department_id)

        @task
        def finish(sync_run_id: int) -> dict:
            from exchange.licenses import tasks

            return tasks.finish(sync_run_id)

        sync_run_id = start()
        sync(sync_run_id) >> finish(sync_run_id)

    return license_sync()


DAGS = {department_id: license_sync_dag(department_id) for department_id in DEPARTMENTS}
