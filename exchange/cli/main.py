"""The `exchange` command."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer
from rich.panel import Panel
from sqlalchemy import select

import exchange
from adapters.registry import DEPARTMENTS
from certs import service as pki
from certs.keys import KeyAlgorithm, UnusableKey
from directory.calendar import CalendarError
from exchange.bootstrap import bootstrap
from exchange.cli import applications, audit, client, consumers, db, demo, directory, grants, tokens
from exchange.cli import bench as bench_cli
from exchange.cli import console as console_cli
from exchange.cli import gateway as gateway_cli
from exchange.cli import legacy as legacy_cli
from exchange.cli import pki as pki_cli
from exchange.cli import sync as sync_cli
from exchange.cli.context import console, errors, fail, settings
from exchange.config import Settings
from exchange.db.engine import engine_for, session_factory, session_scope
from exchange.db.roles import RoleError
from exchange.demo import ensure_demo_console_accounts
from exchange.licenses.models import SyncRun
from exchange.licenses.runner import sync_departments

app = typer.Typer(
    name="exchange",
    help="Data Exchange Hub: signed, audited data exchange between government departments.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(pki_cli.app, name="pki")
app.add_typer(consumers.app, name="consumers")
app.add_typer(db.app, name="db")
app.add_typer(demo.app, name="demo")
app.add_typer(client.app, name="client")
app.add_typer(audit.app, name="audit")
app.command("sync")(sync_cli.sync)
app.command("bench")(bench_cli.bench)
app.add_typer(directory.app, name="directory")
app.add_typer(grants.app, name="grants")
app.add_typer(applications.app, name="applications")
app.add_typer(tokens.app, name="tokens")
app.add_typer(console_cli.app, name="console")
app.add_typer(gateway_cli.app, name="gateway")
app.add_typer(legacy_cli.app, name="legacy")
app.command("demo-data")(demo.demo_data)


WORKER_HEALTHCHECK_SECONDS = 30  # with --workers N: how long a worker may take to answer a ping


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    TEXT = "text"


@app.command()
def up(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Hub worker processes."),
    demo: bool = typer.Option(True, "--demo/--no-demo", help="Seed the demo consumer if missing."),
    algorithm: KeyAlgorithm = typer.Option(
        KeyAlgorithm.ED25519, "--algorithm", help="Key algorithm for a new PKI."
    ),
    init_only: bool = typer.Option(False, "--init-only", help="Initialise, then exit without serving."),
    first_sync: bool = typer.Option(
        True, "--sync/--no-sync", help="Run the first license sync of the demo departments if none ran yet."
    ),
    log_format: LogFormat | None = typer.Option(
        None,
        "--log-format",
        help="Log lines as JSON or text; auto: text on a terminal, else JSON. "
        "Default: EXCHANGE_LOG_FORMAT (auto).",
    ),
) -> None:
    """Initialise what is missing (migrations, PKI, demo) and serve the hub."""
    current = settings()
    engine = engine_for(current)
    try:
        report = bootstrap(current, engine, with_demo=demo, algorithm=algorithm)
    except (pki.PkiError, UnusableKey, CalendarError, RoleError) as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    accounts_file = _demo_console_accounts(current) if demo else None
    synced = _first_sync(current) if demo and first_sync else []
    lines = [
        f"data directory   {report.home}",
        f"database         {report.database}",
        f"hub CA           {report.ca_certificate}",
    ]
    if report.demo is not None:
        lines += [
            f"demo consumer    {report.demo.client_id}",
            f"  kid            {report.demo.kid}",
            f"  private key    {report.demo.key_path}",
            f"  certificate    {report.demo.certificate_path}",
        ]
    if report.legacy is not None:
        lines += [
            f"demo departments {report.legacy_dir}",
            f"  population     {report.legacy.persons:,} persons (seed {report.legacy.seed}); "
            "`exchange demo subjects` prints some",
        ]
    for run in synced:
        lines.append(f"first sync       {run.department_id}: {run.counts.get('created', 0)} licenses sealed")
    if not init_only:
        lines.append(f"serving          http://{host}:{port}  (health: /health, API docs: /docs)")
        lines.append(f"console          http://{host}:{port}/console")
    if accounts_file is not None:
        lines.append(f"  demo accounts  {accounts_file}")
    console.print(Panel("\n".join(lines), title=f"Data Exchange Hub {exchange.__version__}"))
    if init_only:
        return
    import uvicorn

    from exchange.observability import logs, multiprocess

    chosen = logs.resolve_format(str(log_format or current.log_format))
    # Before uvicorn starts a worker: prometheus-client picks its mode when a process first imports it.
    metrics_dir = multiprocess.prepare(current.home, workers)
    try:
        uvicorn.run(
            "exchange.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            log_config=logs.log_config(chosen),
            access_log=False,  # the hub logs each request itself, by route template (docs/observability.md)
            timeout_graceful_shutdown=current.shutdown_grace_seconds,
            # A new worker imports the whole hub before it answers the supervisor's ping; on a busy
            # machine that takes more than uvicorn's 5 s, and a worker killed for it is started again.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        )
    finally:
        multiprocess.release(metrics_dir)


def _first_sync(current: Settings) -> list[SyncRun]:
    """The embedded default's first license sync, once: later syncs are `exchange sync` or Airflow."""
    engine = engine_for(current)
    try:
        with session_factory(engine)() as session:
            if session.scalar(select(SyncRun.id).limit(1)) is not None:
                return []
    finally:
        engine.dispose()
    try:
        # Gateway departments sync with `exchange sync` or Airflow once their gateways are up.
        return sync_departments(current, [d for d in DEPARTMENTS if d not in current.gateways])
    except Exception as exc:  # the hub still serves; the operator sees why and can run `exchange sync`
        errors.print(f"[yellow]warning:[/] the first license sync failed: {exc}; run `exchange sync`")
        return []


def _demo_console_accounts(current: Settings) -> Path | None:
    """The embedded default's console accounts, made once (exchange/demo.py): their passwords' file."""
    engine = engine_for(current)
    try:
        with session_scope(session_factory(engine)) as session:
            return ensure_demo_console_accounts(session, demo_dir=current.demo_dir, now=datetime.now(UTC))
    finally:
        engine.dispose()


@app.command()
def version() -> None:
    """Print the hub's version."""
    console.print(f"exchange {exchange.__version__}")


if __name__ == "__main__":
    app()
