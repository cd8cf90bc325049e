"""The license store's rules: versions, supersession, revocation and the status list entries behind them.

Services never commit; the sync's batch transaction or the request owns it. A license's status in
the status list follows its row: valid → 0; superseded or revoked → 1 (INVALID).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from adapters.base import CertificateRecord
from directory.models import Resource
from exchange.licenses.models import License, StatusList
from exchange.licenses.records import to_json
from exchange.licenses.types import LICENSE_TYPES, LicenseRecord

if TYPE_CHECKING:
    from exchange.licenses.sealing import LicenseSealer

LIST_SIZE = 1 << 20  # entries per status list: about 128 KiB of bits, a few KiB compressed
VALID, INVALID = 0, 1
_IN_CHUNK = 500  # source ids per IN (...) query: well under every driver's parameter limit


@dataclass(frozen=True)
class Head:
    """The newest stored version of one source record: what the sync compares an incoming record with."""

    id: int
    version: int
    status: str
    source_version: str
    status_list_id: str
    status_index: int


@dataclass(frozen=True)
class NewVersion:
    """A record that passed the gate, with the head it will supersede (None for a first version)."""

    certificate: CertificateRecord
    record: LicenseRecord
    head: Head | None


def latest(session: Session, *, license_type: str, source_id: str) -> License | None:
    return session.scalars(
        select(License)
        .where(License.license_type == license_type, License.source_id == source_id)
        .order_by(License.version.desc())
    ).first()


def heads(session: Session, *, license_type: str, source_ids: Iterable[str]) -> dict[str, Head]:
    """The newest version of each of ``source_ids`` that the store holds, in a few queries per batch."""
    found: dict[str, Head] = {}
    wanted = sorted(set(source_ids))
    for start in range(0, len(wanted), _IN_CHUNK):
        rows = session.execute(
            select(
                License.source_id,
                License.id,
                License.version,
                License.status,
                License.source_version,
                License.status_list_id,
                License.status_index,
            ).where(
                License.license_type == license_type, License.source_id.in_(wanted[start : start + _IN_CHUNK])
            )
        )
        for source_id, *columns in rows:
            head = Head(*columns)
            if source_id not in found or found[source_id].version < head.version:
                found[source_id] = head
    return found


def next_version(head: Head | None, certificate: CertificateRecord) -> int | None:
    """The version a source record would get, or None when the store already reflects it.

    For a cancellation the answer is the version to revoke (None: nothing live to revoke).
    """
    if certificate.cancelled:
        return None if head is None or head.status == "revoked" else head.version
    if head is not None and head.source_version == certificate.source_version and head.status != "revoked":
        return None
    return 1 if head is None else head.version + 1


def add_versions(
    session: Session,
    versions: Sequence[NewVersion],
    *,
    signer: LicenseSealer,
    run_id: int | None,
    now: datetime,
    public_url: str,
    while_sealing: Callable[[], None] | None = None,
) -> int:
    """Seal and store new versions in bulk; returns how many older versions they superseded.

    ``public_url`` is the hub's address: the credential's status list URI must be absolute. With a
    :class:`~exchange.licenses.sealing.BackgroundSealer`, ``while_sealing`` is called while the
    licenses are sealed in other processes (the sync reads its next batch); otherwise it is not called.
    """
    if not versions:
        return 0
    from exchange.licenses.sealing import BackgroundSealer, ToSeal

    entries = allocate_statuses(session, department_id=signer.department_id, count=len(versions), now=now)
    base = public_url.rstrip("/")
    items = [
        ToSeal(new.certificate, new.record, base + status_list_uri(list_id), index)
        for new, (list_id, index) in zip(versions, entries, strict=True)
    ]
    if isinstance(signer, BackgroundSealer):
        sealed = signer.start_sealing(items, now=now)
        if while_sealing is not None:
            while_sealing()
        credentials = sealed()
    else:
        credentials = signer.seal_licenses(items, now=now)
    rows = []
    for new, (list_id, index), credential in zip(versions, entries, credentials, strict=True):
        record = new.record
        rows.append(
            {
                "identifier": record.identifier,
                "license_type": record.license_type,
                "department_id": signer.department_id,
                "source_id": new.certificate.source_id,
                "source_version": new.certificate.source_version,
                "version": record.version,
                "status": "valid",
                "holder_code": record.holder_code,
                "holder_code_type": record.holder_code_type,
                "record": to_json(record),
                "credential": credential,
                "status_list_id": list_id,
                "status_index": index,
                "sealed_at": now,
                "run_id": run_id,
            }
        )
    # One executemany. Not INSERT ... RETURNING: on SQLite, RETURNING the ids in parameter order
    # makes SQLAlchemy send one statement a row. The new ids are looked up by identifier (unique),
    # and only for the versions that supersede a live one.
    session.execute(insert(License.__table__), rows)
    superseding = [
        new for new in versions if new.head is not None and new.head.status not in {"revoked", "superseded"}
    ]
    ids = _ids_of(session, [new.record.identifier for new in superseding])
    replaced = [(new.head, ids[new.record.identifier]) for new in superseding if new.head is not None]
    if replaced:
        session.execute(
            update(License),
            [{"id": head.id, "status": "superseded", "superseded_by": new_id} for head, new_id in replaced],
        )
        set_statuses(session, [(h.status_list_id, h.status_index) for h, _ in replaced], INVALID, now=now)
    return len(replaced)


def _ids_of(session: Session, identifiers: Sequence[str]) -> dict[str, int]:
    """The ids of the licenses with these identifiers, a few queries for a batch."""
    found: dict[str, int] = {}
    for start in range(0, len(identifiers), _IN_CHUNK):
        rows = session.execute(
            select(License.identifier, License.id).where(
                License.identifier.in_(identifiers[start : start + _IN_CHUNK])
            )
        )
        found.update((identifier, license_id) for identifier, license_id in rows)
    return found


def revoke(session: Session, revoked: Sequence[Head], *, now: datetime, reason: str) -> int:
    """Revoke these live versions (cancelled at the source); returns how many were revoked."""
    live = [head for head in revoked if head.status != "revoked"]
    if live:
        session.execute(
            update(License),
            [{"id": h.id, "status": "revoked", "revoked_at": now, "revoke_reason": reason} for h in live],
        )
        set_statuses(session, [(h.status_list_id, h.status_index) for h in live], INVALID, now=now)
    return len(live)


def status_list_uri(list_id: str) -> str:
    """The path of a status list on this hub (clients resolve it against the hub's public URL)."""
    return f"/v1/status-lists/{list_id}"


def allocate_statuses(
    session: Session, *, department_id: str, count: int, now: datetime
) -> list[tuple[str, int]]:
    """The next ``count`` free entries of the department's status lists (new lists as they fill up).

    The current list's row is locked until the transaction ends, so concurrent syncs never share an
    entry.
    """
    from exchange.licenses.status_list import StatusList as Bits

    current = session.scalars(
        select(StatusList)
        .where(StatusList.department_id == department_id)
        .order_by(StatusList.updated_at.desc(), StatusList.id.desc())
        .with_for_update()
    ).first()
    entries: list[tuple[str, int]] = []
    while len(entries) < count:
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
        first = current.next_index
        taken = min(count - len(entries), current.size - first)
        entries.extend((current.id, index) for index in range(first, first + taken))
        current.next_index = first + taken
        current.updated_at = now
    return entries


def set_statuses(session: Session, entries: Iterable[tuple[str, int]], value: int, *, now: datetime) -> None:
    """Set these (list, index) entries to ``value``; each list is decoded and written back once."""
    from exchange.licenses.status_list import StatusList as Bits

    by_list: dict[str, list[int]] = {}
    for list_id, index in entries:
        by_list.setdefault(list_id, []).append(index)
    for list_id, indexes in sorted(by_list.items()):
        row = session.get(StatusList, list_id, with_for_update=True)
        if row is None:
            raise ValueError(f"no status list {list_id}")
        bits = Bits.from_bytes(row.statuses, bits=row.bits)
        for index in indexes:
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
