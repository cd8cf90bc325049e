"""Data Docs are built from the gate's results under EXCHANGE_HOME/quality-docs, with real GX."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from exchange.quality import build_data_docs, check_batch, docs_index
from tests.exchange.quality.conftest import NOW, batch, wrong_last

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:great_expectations.*", "ignore::FutureWarning:great_expectations.*"
)


def _result(license_type: str, size: int = 30) -> dict:
    records = batch(license_type, size)
    records[2] = replace(records[2], holder_code=wrong_last(records[2].holder_code, "0123456789X"))
    return check_batch(license_type, records, now=NOW).result_json


def test_data_docs_are_written_and_updated_per_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tax = _result("tax_payment_certificate")
    estate = _result("real_estate_title")

    index = build_data_docs(home, [("sync-0001", "tax_payment_certificate", tax)])

    assert index == docs_index(home) == home / "quality-docs" / "site" / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "license_tax_payment_certificate" in html and "sync-0001" in html
    pages = list((home / "quality-docs" / "site" / "validations").rglob("*.html"))
    assert [p.relative_to(home / "quality-docs" / "site" / "validations").parts[:2] for p in pages] == [
        ("license_tax_payment_certificate", "sync-0001")
    ]
    for license_type in ("household_register", "real_estate_title", "social_insurance_certificate"):
        assert (home / "quality-docs" / "site" / "expectations" / f"license_{license_type}.html").is_file()
    stored = list((home / "quality-docs" / "gx" / "uncommitted" / "validations").rglob("*.json"))
    assert len(stored) == 1

    # A later run adds its pages; the earlier run stays listed; storing the same result again is idempotent.
    build_data_docs(
        home,
        [("sync-0002", "real_estate_title", estate), ("sync-0001", "tax_payment_certificate", tax)],
    )

    html = index.read_text(encoding="utf-8")
    assert "sync-0001" in html and "sync-0002" in html and "license_real_estate_title" in html
    assert len(list((home / "quality-docs" / "gx" / "uncommitted" / "validations").rglob("*.json"))) == 2
    page = next(
        (home / "quality-docs" / "site" / "validations" / "license_real_estate_title").rglob("*.html")
    )
    text = page.read_text(encoding="utf-8")
    assert "sync-0002" in text and "holder_code_check_valid" in text
    assert "张三" not in text  # no personal values in the docs


def test_a_result_must_belong_to_its_license_type(tmp_path: Path) -> None:
    tax = _result("tax_payment_certificate", 3)
    with pytest.raises(ValueError, match="not household_register's"):
        build_data_docs(tmp_path, [("sync-0001", "household_register", tax)])
    with pytest.raises(KeyError):
        build_data_docs(tmp_path, [("sync-0001", "driving_licence", tax)])
    assert not (tmp_path / "quality-docs").exists()  # checked before anything is written
