"""`exchange demo-data` and `exchange demo subjects`: a demo population every department knows."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from adapters.base import AccessMethod, Subject, SubjectType
from adapters.errors import SubjectNotFound
from adapters.simulation import read_manifest, running
from exchange.cli.context import console, errors
from exchange.cli.main import app
from exchange.identifiers import validate_citizen_id

runner = CliRunner()
# Wide enough for long temporary paths, also under pytest-xdist (whose workers set COLUMNS=80).
console.width = errors.width = 200


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXCHANGE_HOME", str(home))
        from exchange.config import get_settings

        get_settings.cache_clear()
        result = invoke("demo-data", "--persons", "150", "--seed", "7")
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "150 persons" in result.output and "seed 7" in result.output
    return home


@pytest.fixture
def in_demo_home(demo_home, monkeypatch):
    monkeypatch.setenv("EXCHANGE_HOME", str(demo_home))
    from exchange.config import get_settings

    get_settings.cache_clear()
    return demo_home


def test_demo_data_writes_every_department_and_a_manifest(in_demo_home):
    manifest = read_manifest(in_demo_home / "legacy")
    assert manifest is not None and manifest.persons == 150 and manifest.seed == 7
    assert sorted(p.name for p in (in_demo_home / "legacy").iterdir() if p.is_dir()) == [
        "household",
        "real_estate",
        "social_insurance",
        "tax",
    ]


def test_demo_subjects_are_known_to_every_department(in_demo_home):
    result = invoke("demo", "subjects", "--count", "3")
    assert result.exit_code == 0, result.output
    ids = result.output.split()
    assert len(ids) == 3 and len(set(ids)) == 3
    with running(in_demo_home / "legacy") as systems:
        for department_id, system in systems.items():
            adapter = system.adapter()
            for citizen_id in ids:
                subject = Subject.parse("id_card", validate_citizen_id(citizen_id).value)
                answered = []
                for dataset in adapter.datasets():
                    if (
                        SubjectType.ID_CARD in dataset.subject_types
                        and AccessMethod.QUERY in dataset.access_methods
                    ):
                        names = [item.name for item in dataset.items]
                        try:
                            answered.append(adapter.lookup(dataset.code, subject, names))
                        except SubjectNotFound:
                            pytest.fail(f"{department_id} does not know {citizen_id} in {dataset.code}")
                assert answered, department_id
                if department_id == "real_estate":
                    assert any(values.get("has_property") for values in answered)


def test_asking_for_more_shared_subjects_than_exist_is_an_error(in_demo_home):
    result = invoke("demo", "subjects", "--count", "5000")
    assert result.exit_code == 1
    assert "generate more" in result.output


def test_subjects_without_demo_data_say_how_to_get_it(home):
    result = invoke("demo", "subjects")
    assert result.exit_code == 1
    assert "exchange demo-data" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--as-of", "2026-02-30"), "not a date"),
        (("--as-of", "2999-01-01"), "in the future"),
        (("--department", "police"), "unknown department"),
        (("--persons", "0"), "greater than or equal to 1"),
    ],
)
def test_bad_demo_data_options_are_refused_and_nothing_is_written(home, args, message):
    result = invoke("demo-data", "--persons", "10", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert read_manifest(home / "legacy") is None
