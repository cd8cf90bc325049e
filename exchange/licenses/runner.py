"""Running the license sync for the departments this process can reach (``exchange sync``, ``exchange up``).

In the embedded default the departments are the simulated legacy systems and this process holds
their sealing keys. A department behind its own gateway (``EXCHANGE_GATEWAYS``) gives its changes
and seals its licenses there: the same :func:`exchange.licenses.sync.run_sync` runs here, with the
quality gate, the store and the status lists on the hub and the key at the gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

from adapters.registry import get_department
from adapters.simulation import running
from certs.store import PkiPaths
from exchange.config import Settings
from exchange.db.engine import engine_for, session_factory
from exchange.licenses.models import SyncRun
from exchange.licenses.sealing import LicenseSealer
from exchange.licenses.sealing_workers import SealingWorkers
from exchange.licenses.sync import BATCH_SIZE, BatchOutcome, ChangeFeed, publish_quality, run_sync
from exchange.queries.evidence import DepartmentSigner


@contextmanager
def connected(
    settings: Settings, department_ids: Sequence[str]
) -> Iterator[dict[str, tuple[ChangeFeed, LicenseSealer]]]:
    """Each department's change feed and sealer: its gateway when ``EXCHANGE_GATEWAYS`` names one
    (which holds the key), otherwise its simulated legacy system started here and its key here,
    sealing in ``EXCHANGE_SYNC_WORKERS`` worker processes when that is more than one."""
    from exchange.gateways.client import connect as connect_gateway

    paths = PkiPaths(settings.pki_dir)
    local = [department_id for department_id in department_ids if department_id not in settings.gateways]
    with ExitStack() as stack:
        workers = (
            stack.enter_context(SealingWorkers(settings.pki_dir, local, processes=settings.sync_workers))
            if local and settings.sync_workers > 1
            else None
        )
        systems = stack.enter_context(running(settings.legacy_dir, local)) if local else {}
        departments: dict[str, tuple[ChangeFeed, LicenseSealer]] = {}
        for department_id in department_ids:
            if department_id in settings.gateways:
                gateway = connect_gateway(settings, department_id)
                stack.callback(gateway.close)
                departments[department_id] = (gateway, gateway)
            else:
                adapter = systems[department_id].adapter()
                sealer: LicenseSealer = (
                    workers.sealer(department_id)
                    if workers is not None
                    else DepartmentSigner.load(paths, department_id)
                )
                departments[department_id] = (adapter, sealer)
        yield departments


def sync_departments(
    settings: Settings,
    department_ids: Sequence[str],
    *,
    progress: Callable[[str, BatchOutcome], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> list[SyncRun]:
    """Sync each department in turn from its simulated legacy system; returns the finished runs.

    ``batch_size`` changes per committed transaction: smaller batches lose less work to a crash and
    hold the status-list lock for less time, larger ones pay the quality gate's fixed cost less often.
    """
    import exchange.quality.gate  # noqa: F401 - GX and pandas (seconds) load before the runs start

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
                        batch_size=batch_size,
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
