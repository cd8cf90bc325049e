"""`exchange client`: send a signed query, verify or license search request as a consumer system and
keep the evidence.

The defaults are the embedded demo's consumer (`exchange up` creates it), so on a fresh machine
`exchange client query CODE --subject ... --fields ...` works without further flags.

The verified payload of a query or verify is printed to stdout as JSON (so it can be piped); a license
search prints each license and its checks. Where the evidence was saved goes to stderr.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TypedDict, TypeVar

import typer
from rich.markup import escape

from exchange.cli.context import errors, fail, settings
from exchange.cli.options import parse_fields, required
from exchange.client import (
    Evidence,
    EvidenceRejected,
    ExchangeClient,
    ExchangeClientError,
    HubError,
    HubUnreachable,
    LicenseSearch,
    SubjectType,
)
from exchange.demo import DEMO_CLIENT_ID
from exchange.licenses.types import LICENSE_TYPES

app = typer.Typer(
    help="Act as a consumer system: signed query, verify and license search requests.", no_args_is_help=True
)
# The license types as a choice (typer lists them in --help and refuses others with a usage error).
LicenseTypeName = StrEnum("LicenseTypeName", {key: key for key in LICENSE_TYPES})  # type: ignore[misc]
Answer = TypeVar("Answer")

_SUBJECT_TYPE = typer.Option(SubjectType.ID_CARD, "--subject-type", help="What the subject identifier is.")
_SUBJECT = typer.Option(..., "--subject", help="The subject's identifier (citizen ID, USCC, unit number).")
_MATTER = typer.Option(..., "--matter", help="The approval matter code the request serves.")
_PURPOSE = typer.Option(..., "--purpose", help="Why the data is needed (short text).")
_OPERATOR_ID = typer.Option(..., "--operator-id", help="The clerk's id in the consumer system.")
_OPERATOR_NAME = typer.Option(..., "--operator-name", help="The clerk's name.")
_LEGAL_BASIS = typer.Option(None, "--legal-basis", help="The legal basis of the request (optional).")
_CLIENT_ID = typer.Option(DEMO_CLIENT_ID, "--client-id", help="The consumer's client_id.")
_KEY = typer.Option(
    None,
    "--key",
    dir_okay=False,
    help="The consumer's PEM private key (Ed25519 or P-256).",
    show_default="$EXCHANGE_HOME/demo/consumer.key",
)
_HUB = typer.Option(
    None, "--hub", help="The hub's URL.", show_default="$EXCHANGE_PUBLIC_URL, http://127.0.0.1:8000"
)
_HUB_ID = typer.Option(
    None, "--hub-id", help="The hub's id: the request's aud.", show_default="$EXCHANGE_HUB_ID, exchange-hub"
)
_CA = typer.Option(
    None,
    "--ca",
    dir_okay=False,
    help="The hub CA certificate (PEM).",
    show_default="$EXCHANGE_HOME/pki/ca.pem",
)
_SAVE = typer.Option(
    None,
    "--save",
    dir_okay=False,
    help="Write the evidence (JWS) here, and the request beside it as <name>.request.jwt.",
)


@app.command("query")
def query(
    resource_code: str = typer.Argument(..., help="The resource code, e.g. 301001001-000001."),
    subject_type: SubjectType = _SUBJECT_TYPE,
    subject: str = _SUBJECT,
    fields: str = typer.Option(..., "--fields", help="Data items wanted, comma-separated."),
    matter: str = _MATTER,
    purpose: str = _PURPOSE,
    operator_id: str = _OPERATOR_ID,
    operator_name: str = _OPERATOR_NAME,
    legal_basis: str | None = _LEGAL_BASIS,
    client_id: str = _CLIENT_ID,
    key: Path | None = _KEY,
    hub: str | None = _HUB,
    hub_id: str | None = _HUB_ID,
    ca: Path | None = _CA,
    save: Path | None = _SAVE,
) -> None:
    """Query data items about a subject; print the verified evidence payload."""
    items = parse_fields(fields)
    value = required(subject, "--subject", "the subject's identifier")
    context = _request_context(matter, purpose, operator_id, operator_name, legal_basis)
    _run(
        lambda client: client.query(resource_code, subject_type.value, value, items, **context),
        client_id=client_id,
        key=key,
        hub=hub,
        hub_id=hub_id,
        ca=ca,
        save=save,
    )


@app.command("verify")
def verify(
    resource_code: str = typer.Argument(..., help="The resource code, e.g. 301001001-000001."),
    subject_type: SubjectType = _SUBJECT_TYPE,
    subject: str = _SUBJECT,
    claim: list[str] = typer.Option(
        [], "--claim", help="item=value to check (repeatable); values are sent as strings."
    ),
    matter: str = _MATTER,
    purpose: str = _PURPOSE,
    operator_id: str = _OPERATOR_ID,
    operator_name: str = _OPERATOR_NAME,
    legal_basis: str | None = _LEGAL_BASIS,
    client_id: str = _CLIENT_ID,
    key: Path | None = _KEY,
    hub: str | None = _HUB,
    hub_id: str | None = _HUB_ID,
    ca: Path | None = _CA,
    save: Path | None = _SAVE,
) -> None:
    """Check claimed values (match / mismatch / unknown) without receiving the values."""
    claims = parse_claims(claim)
    value = required(subject, "--subject", "the subject's identifier")
    context = _request_context(matter, purpose, operator_id, operator_name, legal_basis)
    _run(
        lambda client: client.verify(resource_code, subject_type.value, value, claims, **context),
        client_id=client_id,
        key=key,
        hub=hub,
        hub_id=hub_id,
        ca=ca,
        save=save,
    )


@app.command("licenses")
def licenses(
    license_type: LicenseTypeName = typer.Argument(..., help="The license type."),
    subject_type: SubjectType = _SUBJECT_TYPE,
    subject: str = _SUBJECT,
    matter: str = _MATTER,
    purpose: str = _PURPOSE,
    operator_id: str = _OPERATOR_ID,
    operator_name: str = _OPERATOR_NAME,
    legal_basis: str | None = _LEGAL_BASIS,
    status: bool = typer.Option(
        True, "--status/--no-status", help="Read each license's status list from the hub (else: unknown)."
    ),
    client_id: str = _CLIENT_ID,
    key: Path | None = _KEY,
    hub: str | None = _HUB,
    hub_id: str | None = _HUB_ID,
    ca: Path | None = _CA,
    save: Path | None = _SAVE,
) -> None:
    """Search a subject's e-licenses of one type; print each license's identifier and checks (✓/✗).

    Exit code 0: the answer is valid evidence, even if a license in it is expired or revoked (printed, ✗).
    Exit code 1: the hub refused, could not be reached, or its answer is not valid evidence.
    """
    value = required(subject, "--subject", "the subject's identifier")
    context = _request_context(matter, purpose, operator_id, operator_name, legal_basis)
    search = _exchange(
        lambda client: client.search_licenses(
            license_type.value, subject_type.value, value, **context, check_status=status
        ),
        client_id=client_id,
        key=key,
        hub=hub,
        hub_id=hub_id,
        ca=ca,
    )
    _print_search(search, license_type.value)
    _save(search.evidence, save)


def _print_search(search: LicenseSearch, license_type: str) -> None:
    evidence = search.evidence
    subject = evidence.payload["subject"]["value"]
    count = len(search.licenses)
    typer.echo(
        f"{count} {license_type} license{'' if count == 1 else 's'} of {subject}: evidence {evidence.id}, "
        f"signed by {evidence.department_id}, audit log entry {evidence.log_index}"
    )
    for found in search.licenses:
        verdict = "valid" if found.ok else f"NOT VALID ({', '.join(found.failed)})"
        typer.echo(f"{found.identifier}  {found.claims.get('license_name', '')}  {verdict}")
        width = max(len(check.name) for check in found.checks)
        for check in found.checks:
            typer.echo(f"  {'✓' if check.ok else '✗'} {check.name:<{width}}  {check.detail}")


def parse_claims(values: list[str]) -> dict[str, str]:
    """``["name=张三", "sex=1"]`` as ``{"name": "张三", "sex": "1"}``; the first ``=`` separates."""
    if not values:
        fail("give at least one --claim item=value")
    claims: dict[str, str] = {}
    for value in values:
        item, sep, claimed = value.partition("=")
        item = item.strip()
        if not sep or not item:
            fail(f"--claim {escape(value)!r} is not of the form item=value")
        if item in claims:
            fail(f"--claim {escape(item)} is given twice")
        claims[item] = claimed
    return claims


class _Context(TypedDict):
    matter_code: str
    purpose: str
    operator_id: str
    operator_name: str
    legal_basis: str | None


def _request_context(
    matter: str, purpose: str, operator_id: str, operator_name: str, legal_basis: str | None
) -> _Context:
    """Who asks and why: checked before anything is signed."""
    return {
        "matter_code": required(matter, "--matter", "the approval matter code"),
        "purpose": required(purpose, "--purpose", "why the data is needed"),
        "operator_id": required(operator_id, "--operator-id", "the clerk's id"),
        "operator_name": required(operator_name, "--operator-name", "the clerk's name"),
        "legal_basis": legal_basis.strip() if legal_basis and legal_basis.strip() else None,
    }


def _run(
    exchange_: Callable[[ExchangeClient], Evidence],
    *,
    client_id: str,
    key: Path | None,
    hub: str | None,
    hub_id: str | None,
    ca: Path | None,
    save: Path | None,
) -> None:
    evidence = _exchange(exchange_, client_id=client_id, key=key, hub=hub, hub_id=hub_id, ca=ca)
    typer.echo(json.dumps(evidence.payload, ensure_ascii=False, indent=2))
    _save(evidence, save)


def _exchange(
    exchange_: Callable[[ExchangeClient], Answer],
    *,
    client_id: str,
    key: Path | None,
    hub: str | None,
    hub_id: str | None,
    ca: Path | None,
) -> Answer:
    """Build the client and run one exchange; every failure is one red line and exit code 1."""
    current = settings()
    key_path = key or current.demo_dir / "consumer.key"
    ca_path = ca or current.ca_cert_path
    if key is None and not key_path.exists():
        fail(escape(f"no demo consumer key at {key_path}: run `exchange up` first, or give --key PEM"))
    if ca is None and not ca_path.exists():
        fail(escape(f"no hub CA certificate at {ca_path}: run `exchange up` first, or give --ca PEM"))
    hub_url = hub or current.base_url
    try:
        client = ExchangeClient(client_id, key_path, hub_url, ca_path, hub_id=hub_id or current.hub_id)
    except ValueError as exc:
        fail(escape(str(exc)))
    try:
        with client:
            return exchange_(client)
    except HubError as exc:
        reference = f" (request_id {exc.request_id})" if exc.request_id else ""
        fail(escape(f"hub answered {exc.status} {exc.type}: {exc.detail or exc.title}{reference}"))
    except HubUnreachable as exc:
        fail(escape(f"cannot reach the hub: {exc}"))
    except EvidenceRejected as exc:
        fail(escape(f"the answer is not valid evidence: {exc.check}: {exc.detail}"))
    except (ExchangeClientError, ValueError) as exc:
        fail(escape(str(exc)))


def _save(evidence: Evidence, save: Path | None) -> None:
    """Keep the evidence and the exact request bytes it is bound to (``req_hash``)."""
    if save is not None:
        request_path = save.with_name(f"{save.stem}.request.jwt")
        try:
            _write_private(save, evidence.token.encode("ascii") + b"\n")
            assert evidence.request_body is not None
            _write_private(request_path, evidence.request_body + b"\n")
        except OSError as exc:
            fail(escape(f"cannot save the evidence to {save}: {exc.strerror}"))
        errors.print(f"evidence saved to {escape(str(save))}", highlight=False)
        errors.print(f"request saved to {escape(str(request_path))}", highlight=False)


def _write_private(path: Path, content: bytes) -> None:
    """Evidence holds personal data: readable by its owner only (0600), like a key file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.chmod(path, 0o600)
