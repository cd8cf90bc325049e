"""Running the license sync for the departments this process can reach (``exchange sync``, ``exchange up``).

In the embedded default the departments are the simulated legacy systems and this process holds
their sealing keys; a production gateway runs the same :func:`exchange.licenses.sync.run_sync` with
its own adapter and key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from adapters.base import Adapter
from adapters.registry import get_department
from adapters.simulation import running
from certs.store import PkiPaths
from exchange.config import Settings
from exchange.db.engine import engine_for, session_factory
from exchange.licenses.models import SyncRun
from exchange.licenses.sync import BatchOutcome, publish_quality, run_sync
from exchange.queries.evidence import DepartmentSigner


@contextmanager
def connected(
    settings: Settings, department_ids: Sequence[str]
) -> Iterator[dict[str, tuple[Adapter, DepartmentSigner]]]:
    """Each department's adapter (its simulated legacy system, started here) and sealing key."""
    paths = PkiPaths(settings.pki_dir)
    with running(settings.legacy_dir, department_ids) as systems:
        yield {
            department_id: (systems[department_id].adapter(), DepartmentSigner.load(paths, department_id))
            for department_id in department_ids
        }


def sync_departments(
    settings: Settings,
    department_ids: Sequence[str],
    *,
    progress: Callable[[str, BatchOutcome], None] | None = None,
) -> list[SyncRun]:
    """Sync each department in turn from its simulated legacy system; returns the finished runs."""
    engine = engine_for(settings)
    sessions = session_factory(engine)
    runs = []
    try:
        with connected(settings, department_ids) as departments:
            for department_id in department_ids:
                adapter, signer = departments[department_id]
                runs.append(
                    run_sync(
                        sessions,
                        department=get_department(department_id),
                        adapter=adapter,
                        signer=signer,
                        now=lambda: datetime.now(UTC),
                        public_url=settings.base_url,
                        progress=(lambda outcome, d=department_id: progress(d, outcome))
                        if progress
                        else None,
                    )
                )
        with sessions() as session:
            for run in runs:
                publish_quality(session, run_id=run.id, home=settings.home)
    finally:
        engine.dispose()
    return runs
