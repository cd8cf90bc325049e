"""The license store's rules: versions, supersession, revocation and the status list entries behind them.

Services never commit; the sync's batch transaction or the request owns it. A license's status in
the status list follows its row: valid → 0; superseded or revoked → 1 (INVALID).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import CertificateRecord
from directory.models import Resource
from exchange.licenses.models import License, StatusList
from exchange.licenses.records import to_json
from exchange.licenses.types import LICENSE_TYPES, LicenseRecord
from exchange.queries.evidence import DepartmentSigner

LIST_SIZE = 1 << 20  # entries per status list: about 128 KiB of bits, a few KiB compressed
VALID, INVALID = 0, 1


def latest(session: Session, *, license_type: str, source_id: str) -> License | None:
    return session.scalars(
        select(License)
        .where(License.license_type == license_type, License.source_id == source_id)
        .order_by(License.version.desc())
    ).first()


def next_version(session: Session, certificate: CertificateRecord) -> int | None:
    """The version a source record would get, or None when the store already reflects it."""
    current = latest(session, license_type=certificate.license_type, source_id=certificate.source_id)
    if certificate.cancelled:
        return None if current is None or current.status == "revoked" else current.version
    if (
        current is not None
        and current.source_version == certificate.source_version
        and current.status != "revoked"
    ):
        return None
    return 1 if current is None else current.version + 1


def add_version(
    session: Session,
    certificate: CertificateRecord,
    record: LicenseRecord,
    *,
    signer: DepartmentSigner,
    run_id: int | None,
    now: datetime,
    public_url: str,
) -> int:
    """Seal and store a new version; returns 1 when it superseded an older one, else 0.

    ``public_url`` is the hub's address: the credential's status list URI must be absolute.
    """
    from exchange.licenses.sealing import seal

    previous = latest(session, license_type=record.license_type, source_id=certificate.source_id)
    list_id, index = allocate_status(session, department_id=signer.department_id, now=now)
    status_uri = public_url.rstrip("/") + status_list_uri(list_id)
    sealed = seal(record, signer=signer, status_uri=status_uri, status_index=index, now=now)
    row = License(
        identifier=record.identifier,
        license_type=record.license_type,
        department_id=signer.department_id,
        source_id=certificate.source_id,
        source_version=certificate.source_version,
        version=record.version,
        status="valid",
        holder_code=record.holder_code,
        holder_code_type=record.holder_code_type,
        record=to_json(record),
        credential=sealed.compact,
        status_list_id=list_id,
        status_index=index,
        sealed_at=now,
        run_id=run_id,
    )
    session.add(row)
    session.flush()
    if previous is None or previous.status in {"revoked", "superseded"}:
        return 0
    previous.status = "superseded"
    previous.superseded_by = row.id
    set_status(session, previous.status_list_id, previous.status_index, INVALID, now=now)
    return 1


def revoke_source(session: Session, certificate: CertificateRecord, *, now: datetime, reason: str) -> int:
    """Revoke the live version of a cancelled source record; returns how many were revoked (0 or 1)."""
    current = latest(session, license_type=certificate.license_type, source_id=certificate.source_id)
    if current is None or current.status == "revoked":
        return 0
    current.status = "revoked"
    current.revoked_at = now
    current.revoke_reason = reason
    set_status(session, current.status_list_id, current.status_index, INVALID, now=now)
    session.flush()
    return 1


def status_list_uri(list_id: str) -> str:
    """The path of a status list on this hub (clients resolve it against the hub's public URL)."""
    return f"/v1/status-lists/{list_id}"


def allocate_status(session: Session, *, department_id: str, now: datetime) -> tuple[str, int]:
    """The next free entry of the department's current status list (a new list when it is full)."""
    from exchange.licenses.status_list import StatusList as Bits

    current = session.scalars(
        select(StatusList)
        .where(StatusList.department_id == department_id)
        .order_by(StatusList.updated_at.desc(), StatusList.id.desc())
        .with_for_update()
    ).first()
    if current is None or current.next_index >= current.size:
        number = 1 if current is None else int(current.id.rsplit("-", 1)[1]) + 1
        current = StatusList(
            id=f"{department_id}-{number}",
            department_id=department_id,
            bits=1,
            size=LIST_SIZE,
            statuses=Bits(LIST_SIZE, bits=1).to_bytes(),
            next_index=0,
            updated_at=now,
        )
        session.add(current)
        session.flush()
    index = current.next_index
    current.next_index = index + 1
    current.updated_at = now
    return current.id, index


def set_status(session: Session, list_id: str, index: int, value: int, *, now: datetime) -> None:
    from exchange.licenses.status_list import StatusList as Bits

    row = session.get(StatusList, list_id, with_for_update=True)
    if row is None:
        raise ValueError(f"no status list {list_id}")
    bits = Bits.from_bytes(row.statuses, bits=row.bits)
    bits.set(index, value)
    row.statuses = bits.to_bytes()
    row.updated_at = now


def effective_status(row: License, *, today: date) -> str:
    """valid | expired | revoked | superseded, as a verifier should see it today."""
    if row.status != "valid":
        return row.status
    valid_to = row.record.get("valid_to")
    return "expired" if valid_to and date.fromisoformat(valid_to) < today else "valid"


def mark_directory_updated(session: Session, *, department_id: str, now: datetime) -> None:
    """The directory's last-update of the department's license resources follows successful syncs."""
    types = {t.key for t in LICENSE_TYPES.values() if t.department_id == department_id}
    resources: Sequence[Resource] = session.scalars(
        select(Resource).where(Resource.provider_id == department_id, Resource.license_type.in_(types))
    ).all()
    for resource in resources:
        resource.last_data_update = now


def credentials_of(session: Session, *, license_type: str, holder_code: str) -> list[str]:
    """The holder's current credentials of one type (valid or expired, newest first), all disclosures."""
    rows = session.scalars(
        select(License)
        .where(
            License.license_type == license_type,
            License.holder_code == holder_code,
            License.status == "valid",
        )
        .order_by(License.sealed_at.desc(), License.id.desc())
    ).all()
    return [row.credential for row in rows]
