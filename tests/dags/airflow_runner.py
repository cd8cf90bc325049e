"""Run the Airflow side of tests/dags in its own process, so Airflow's configuration stays out of pytest.

``python airflow_runner.py parse`` prints the DAG folder's import errors and DAGs as JSON;
``python airflow_runner.py test <department>...`` runs ``dag.test()`` of each department's license sync
DAG and prints the run's and the tasks' states. The caller sets AIRFLOW_HOME, the metadata database,
AIRFLOW__CORE__DAGS_FOLDER and EXCHANGE_HOME.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.settings import DAGS_FOLDER

    return DagBag(dag_folder=DAGS_FOLDER, safe_mode=False)


def parse() -> dict:
    bag = _dagbag()
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "schedule": dag.schedule if isinstance(dag.schedule, str) else repr(dag.schedule),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tags": sorted(dag.tags),
            "tasks": {
                t.task_id: {
                    "retries": t.retries,
                    "retry_delay": t.retry_delay.total_seconds()
                    if isinstance(t.retry_delay, timedelta)
                    else None,
                    "upstream": sorted(t.upstream_task_ids),
                }
                for t in dag.tasks
            },
        }
    return {"import_errors": bag.import_errors, "dags": dags}


def test(department_ids: list[str]) -> dict:
    bag = _dagbag()
    if bag.import_errors:
        return {"import_errors": bag.import_errors}
    results = {}
    for department_id in department_ids:
        dag = bag.dags[f"license_sync_{department_id}"]
        for t in dag.tasks:  # a failing task fails the test now instead of waiting out its retries
            t.retries = 0
        run = dag.test()
        tis = run.get_task_instances()
        results[department_id] = {
            "state": str(run.state),
            "tasks": {ti.task_id: str(ti.state) for ti in tis},
        }
    return {"import_errors": {}, "runs": results}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    result = parse() if command == "parse" else test(args)
    print("RESULT " + json.dumps(result, default=str))
