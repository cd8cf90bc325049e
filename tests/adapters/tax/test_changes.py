"""The change feed: one record per receipt event, resumable anywhere, cancellations included."""

from __future__ import annotations

import json

import pytest

from adapters.base import Subject, SubjectType
from adapters.population import Population
from adapters.tax import adapter as adapter_module
from adapters.tax.adapter import TaxAdapter
from adapters.tax.datasets import CERTIFICATE
from adapters.tax.simulator import TaxSystem

from .conftest import quiet_guard


def test_the_feed_holds_every_receipt_and_every_void(adapter: TaxAdapter, population: Population):
    changes = list(adapter.changes_since(None))
    payments = [t for p in population.persons_iter() for t in p.tax_payments]
    employers = list(population.employers())
    payments += [t for e in employers for t in e.tax_payments]
    firms = {e.uscc for e in employers}
    issued = [c.record for c in changes if not c.record.cancelled]
    cancelled = [c.record for c in changes if c.record.cancelled]
    assert sorted(r.source_id for r in issued) == sorted(t.receipt_no for t in payments)
    assert sorted(r.source_id for r in cancelled) == sorted(t.receipt_no for t in payments if t.voided_on)
    assert cancelled and len({c.watermark for c in changes}) == len(changes)
    truth = {t.receipt_no: t for t in payments}
    position = {c.record.source_id: i for i, c in enumerate(changes) if not c.record.cancelled}
    for index, change in enumerate(changes):
        record, payment = change.record, truth[change.record.source_id]
        assert record.license_type == "tax_payment_certificate"
        kind = SubjectType.USCC if payment.taxpayer_id in firms else SubjectType.ID_CARD
        assert record.holder == Subject.parse(kind, payment.taxpayer_id)
        assert record.holder_name == payment.taxpayer_name
        assert record.issued_on == record.valid_from == payment.paid_on and record.valid_to is None
        assert record.fields["amount"] == f"{payment.amount:.2f}" and json.dumps(dict(record.fields))
        if record.cancelled:
            assert position[record.source_id] < index  # a void comes after its receipt
            assert record.fields["voided_on"] == payment.voided_on.isoformat()
            assert record.source_version != changes[position[record.source_id]].record.source_version


def test_resuming_from_any_watermark_yields_exactly_the_rest(
    adapter: TaxAdapter, monkeypatch: pytest.MonkeyPatch
):
    everything = list(adapter.changes_since(None))
    monkeypatch.setattr(adapter_module, "PAGE", 7)  # cross page boundaries
    assert list(adapter.changes_since(None)) == everything
    for index in (0, 6, 7, len(everything) // 2, len(everything) - 2, len(everything) - 1):
        assert list(adapter.changes_since(everything[index].watermark)) == everything[index + 1 :]


def test_an_unknown_watermark_is_refused(adapter: TaxAdapter):
    with pytest.raises(ValueError, match="watermark"):
        next(adapter.changes_since("yesterday"))


def test_cancel_one_voids_a_live_receipt_through_a_new_file(fresh: TaxSystem):
    adapter = fresh.adapter(guard=quiet_guard())
    before = list(adapter.changes_since(None))
    receipt_no = fresh.cancel_one()
    issued = next(c.record for c in before if c.record.source_id == receipt_no)
    assert not issued.cancelled and not any(
        c.record.cancelled and c.record.source_id == receipt_no for c in before
    )
    (change,) = adapter.changes_since(before[-1].watermark)
    assert change.record.source_id == receipt_no and change.record.cancelled
    assert change.record.holder == issued.holder and change.record.source_version != issued.source_version
    payments = adapter.lookup(CERTIFICATE, issued.holder, ["payments"])["payments"]
    assert receipt_no not in {p["receipt_no"] for p in payments}
    second = fresh.cancel_one()
    assert second != receipt_no
    assert [c.record.source_id for c in adapter.changes_since(change.watermark)] == [second]
