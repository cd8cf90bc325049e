"""The license-sync DAGs parse cleanly and ``dag.test()`` syncs each department into a booted hub.

Everything Airflow runs in a subprocess (tests/dags/airflow_runner.py) with its own AIRFLOW_HOME and
SQLite metadata database, so Airflow's global configuration never reaches the rest of the test session.
One Airflow migration, one hub and one ``dag.test()`` process serve the whole module to keep it fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from adapters.registry import DEPARTMENTS
from exchange.bootstrap import bootstrap
from exchange.config import Settings
from exchange.db.engine import engine_for, session_factory
from exchange.licenses.models import License, SyncRun

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("airflow_runner.py")
# The directory's update cycles of the license datasets, as dags/license_sync.py schedules them.
EXPECTED_SCHEDULES = {
    "household": "@daily",
    "tax": "@daily",
    "social_insurance": "@monthly",
    "real_estate": "*/15 * * * *",
}


def _clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXCHANGE_", "AIRFLOW"))}
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 240) -> dict:
    result = subprocess.run(
        [sys.executable, str(RUNNER), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, (result.stdout + result.stderr)[-6000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite metadata database in a temporary AIRFLOW_HOME, with the repository's dags/."""
    home = tmp_path_factory.mktemp("airflow")
    env = _clean_environment(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
    )
    migrated = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert migrated.returncode == 0, (migrated.stdout + migrated.stderr)[-6000:]
    return env


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_database_env: dict[str, str]) -> Iterator[Settings]:
    """A hub booted like ``exchange up`` (60 demo persons), shared by the module's tests."""
    home = tmp_path_factory.mktemp("hub") / "home"
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("EXCHANGE_"):
                patch.delenv(name)
        patch.setenv("EXCHANGE_HOME", str(home))
        patch.setenv("EXCHANGE_DEMO_PERSONS", "60")
        patch.setenv("EXCHANGE_DEMO_GRANTS", "false")
        for name, value in module_database_env.items():
            patch.setenv(name, value)
        settings = Settings(_env_file=None)
    engine = engine_for(settings)
    try:
        bootstrap(settings, engine)
    finally:
        engine.dispose()
    yield settings


@pytest.fixture(scope="module")
def dag_runs(airflow_env: dict[str, str], hub: Settings) -> dict:
    """``dag.test()`` of every department's DAG, in one Airflow process against the booted hub."""
    env = {
        **airflow_env,
        "EXCHANGE_HOME": str(hub.home),
        "EXCHANGE_DATABASE_URL": hub.database_url,
        "EXCHANGE_DEMO_PERSONS": "60",
    }
    result = _run(["test", *DEPARTMENTS], env, cwd=Path(airflow_env["AIRFLOW_HOME"]))
    assert result["import_errors"] == {}
    return result["runs"]


def test_dag_folder_parses_without_io_into_one_dag_per_department(
    airflow_env: dict[str, str], tmp_path: Path
) -> None:
    absent = tmp_path / "no-hub-here"
    env = {**airflow_env, "EXCHANGE_HOME": str(absent)}
    result = _run(["parse"], env, cwd=tmp_path)

    assert result["import_errors"] == {}
    assert set(result["dags"]) == {f"license_sync_{d}" for d in DEPARTMENTS}
    assert not absent.exists()  # parsing touched no database or file of the hub
    for department_id, schedule in EXPECTED_SCHEDULES.items():
        dag = result["dags"][f"license_sync_{department_id}"]
        assert dag["schedule"] == schedule
        assert dag["catchup"] is False
        assert dag["max_active_runs"] == 1
        assert department_id in dag["tags"]
        assert set(dag["tasks"]) == {"start", "sync", "finish"}
        assert dag["tasks"]["sync"]["upstream"] == ["start"]
        assert "sync" in dag["tasks"]["finish"]["upstream"]
        for task in dag["tasks"].values():
            assert task["retries"] == 2
            assert task["retry_delay"] > 0


def test_every_department_has_an_expected_schedule() -> None:
    assert set(EXPECTED_SCHEDULES) == set(DEPARTMENTS)


@pytest.mark.parametrize("department_id", sorted(EXPECTED_SCHEDULES))
def test_dag_test_syncs_the_department_into_the_hub(
    dag_runs: dict, hub: Settings, department_id: str
) -> None:
    run = dag_runs[department_id]
    assert run["tasks"] == {"start": "success", "sync": "success", "finish": "success"}, run
    assert run["state"] == "success"

    engine = engine_for(hub)
    try:
        with session_factory(engine)() as session:
            runs = session.scalars(select(SyncRun).where(SyncRun.department_id == department_id)).all()
            licenses = session.scalar(
                select(func.count()).select_from(License).where(License.department_id == department_id)
            )
    finally:
        engine.dispose()
    assert [r.status for r in runs] == ["succeeded"]
    assert runs[0].finished_at is not None
    assert runs[0].counts["created"] == licenses > 0


def test_tasks_resume_a_run_whose_sync_failed(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Airflow: a failed ``sync`` leaves the run running; the next ``start`` continues it."""
    from exchange.licenses import sync as sync_module
    from exchange.licenses import tasks

    bootstrap(settings, engine)
    real_batch = sync_module.sync_batch
    calls = 0

    def two_small_batches_then_crash(session: Session, **kwargs: Any) -> sync_module.BatchOutcome:
        nonlocal calls
        calls += 1
        if calls > 2:
            raise ConnectionError("legacy system went away")
        return real_batch(session, **{**kwargs, "batch_size": 5})

    monkeypatch.setattr(sync_module, "sync_batch", two_small_batches_then_crash)
    run_id = tasks.start("household")
    with pytest.raises(ConnectionError):
        tasks.sync(run_id, "household")
    with session_factory(engine)() as session:
        run = session.get(SyncRun, run_id)
        assert run.status == "running"
        assert run.counts["batches"] == 2

    monkeypatch.undo()
    assert tasks.start("household") == run_id
    synced = tasks.sync(run_id, "household")
    finished = tasks.finish(run_id)

    assert finished["status"] == "succeeded"
    assert finished["counts"]["read"] == 10 + synced["read"]
    assert tasks.finish(run_id) == finished  # a retried finish changes nothing
    with session_factory(engine)() as session:
        licenses = session.scalar(
            select(func.count()).select_from(License).where(License.department_id == "household")
        )
    assert finished["counts"]["created"] == licenses > 10
    with pytest.raises(ValueError, match="not a running run"):
        tasks.sync(run_id, "household")
