"""Dropping hand-made files into a tax drop directory, the way the collection system does."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from adapters.tax.simulator import FILE_NAME, MARKER, TaxSystem

DAY = "20261102"


def next_seq(system: TaxSystem) -> int:
    seqs = [int(match[3]) for p in system.outbox.iterdir() if (match := FILE_NAME.match(p.name))]
    return max(seqs, default=0) + 1


def drop(
    system: TaxSystem,
    kind: str,
    records: list[bytes],
    *,
    seq: int | None = None,
    trailer: bytes | None = None,
    marker: bool = True,
) -> Path:
    """A complete file (header, records, trailer, then its ``.ok`` marker) unless told otherwise."""
    seq = next_seq(system) if seq is None else seq
    if kind == "NSRDJ":
        path = system.outbox / f"NSRDJ_{DAY}_{seq:06d}.dat"
        header = f"HNSRDJ{DAY}{seq:06d}".encode()
        trailer = f"T{len(records):010d}".encode() if trailer is None else trailer
    else:
        path = system.outbox / f"WSZM_{DAY}_{seq:06d}.txt"
        header = f"H|WSZM|{DAY}|{seq:06d}".encode()
        if trailer is None:
            total = sum((Decimal(r.decode("gbk").split("|")[8]) for r in records), Decimal("0.00"))
            trailer = f"T|{len(records)}|{total:.2f}".encode()
    path.write_bytes(b"".join(line + b"\r\n" for line in (header, *records, trailer)))
    if marker:
        path.with_name(path.name + MARKER).touch()
    return path


def receipt(
    receipt_no: str,
    taxpayer_id: str,
    name: str = "测试",
    *,
    kind: str = "N",
    amount: str = "100.00",
    paid_on: str = "20261101",
    period: tuple[str, str] = ("20260101", "20260131"),
    office: str = "国家税务总局杭州市西湖区税务局",
) -> bytes:
    fields = [
        kind,
        receipt_no,
        taxpayer_id,
        name,
        "个人所得税",
        "工资薪金所得",
        *period,
        amount,
        paid_on,
        office,
    ]
    return "|".join(fields).encode("gbk")
