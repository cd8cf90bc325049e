"""`exchange legacy serve`: one simulated legacy system as its own process (a docker-compose service).

The social-insurance and real-estate systems listen on ``--host``/``--port``; the household register
(a database file) and the tax bureau (a drop directory) have no network interface: the files under
``<legacy dir>/<department>`` are their interface, so the department gateway mounts the same
directory. Each service gets a legacy directory (volume) of its own, shared only with its gateway,
which reaches it with :func:`adapters.simulation.connect`. docs/adapters.md.
"""

from __future__ import annotations

import signal
from contextlib import ExitStack
from pathlib import Path

import typer

from adapters.population import DEFAULT_AS_OF, DEFAULT_SEED
from adapters.registry import DEPARTMENTS
from adapters.simulation import generate, read_manifest, serve
from exchange.cli.context import console, fail, settings

DEFAULT_PORT = 8200
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}

app = typer.Typer(help="The simulated legacy systems, each as its own service.", no_args_is_help=True)


@app.command("serve")
def serve_command(
    department: str = typer.Option(..., "--department", help=f"One of: {', '.join(DEPARTMENTS)}."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (HTTP systems)."),
    port: int = typer.Option(
        DEFAULT_PORT, "--port", min=0, max=65535, help="TCP port (HTTP systems; 0: any free port)."
    ),
    legacy_dir: Path | None = typer.Option(
        None,
        "--legacy-dir",
        file_okay=False,
        help="The legacy directory the gateway mounts too (default $EXCHANGE_HOME/legacy).",
    ),
    persons: int | None = typer.Option(
        None,
        "--persons",
        min=1,
        max=10_000_000,
        help="Population size when the store must be generated "
        "(default: the directory's population, else EXCHANGE_DEMO_PERSONS).",
    ),
) -> None:
    """Serve one department's simulated legacy system until SIGTERM or SIGINT; generate its store first
    if the directory holds none."""
    if department not in DEPARTMENTS:
        fail(f"unknown department {department!r}; known: {', '.join(DEPARTMENTS)}")
    current = settings()
    root = legacy_dir or current.legacy_dir
    manifest = read_manifest(root)
    if manifest is None or department not in manifest.departments:
        # Join the population already in the directory, so its departments stay consistent.
        size = persons or (manifest.persons if manifest else current.demo_persons)
        seed, as_of = (manifest.seed, manifest.as_of) if manifest else (DEFAULT_SEED, DEFAULT_AS_OF)
        console.print(f"generating the {department} store: {size:,} persons (seed {seed}) in {root}")
        generate(root, size, seed=seed, as_of=as_of, departments=[department])
    elif persons is not None and persons != manifest.persons:
        console.print(f"serving the existing {manifest.persons:,}-person store (--persons is for generating)")
    # Blocked before the server thread starts (it inherits the mask): a stop signal arriving at any
    # moment waits for sigwait below, and the system is always closed the same way.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        with ExitStack() as stack:
            try:
                system = stack.enter_context(serve(root, department, host=host, port=port))
            except OSError as exc:  # the port is taken, the store unreadable
                fail(f"cannot serve {department}: {exc}")
            url = getattr(system, "url", None)  # the HTTP systems' base URL
            if url is not None:
                where = f"on {url} (store {root / department})"
            else:
                where = f"at {root / department} (files, no network interface: mount {root} in the gateway)"
            console.print(f"{department} legacy system serving {where}", soft_wrap=True, highlight=False)
            received = signal.sigwait(STOP_SIGNALS)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    console.print(f"{department} legacy system stopped ({signal.Signals(received).name})", highlight=False)
