"""The directory's rules: registration, search, deny-by-default grants and the application workflow."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from adapters.registry import DEPARTMENTS, declared_datasets
from directory import service
from directory.calendar import WorkCalendar
from directory.models import ResourceVersion
from directory.schemas import ApplicationCreate, ApplicationDecision, GrantCreate
from exchange.bootstrap import bootstrap
from exchange.config import Settings
from exchange.db.engine import engine_for, session_factory
from exchange.demo import DEMO_CLIENT_ID
from tests.conftest import NOW

PERSON = "301001001-000001"  # conditional
EMPLOYER = "303003001-000001"  # unconditional
PHOTO = "301003001-000001"  # none (不予共享)
FRIDAY = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, home):
    """A booted hub's session, on each backend the hub supports."""
    if request.param == "sqlite":
        settings = Settings(home=home, database_url="")  # SQLite, also under EXCHANGE_TEST_DATABASE
    else:
        settings = Settings(home=home, database_url=request.getfixturevalue("postgres_url"))
    engine = engine_for(settings)
    bootstrap(settings, engine, now=NOW)
    with session_factory(engine)() as session:
        yield session
        session.rollback()
    engine.dispose()


def _declared():
    return [(department, declared_datasets(department.id)) for department in DEPARTMENTS.values()]


def _apply(db, *, items=("name", "birth_date"), client_id=DEMO_CLIENT_ID, code=PERSON, now=FRIDAY):
    data = ApplicationCreate(
        client_id=client_id,
        resource_code=code,
        matter_code="330100-SCHOOL-01",
        purpose="小学入学资格审核 (school enrolment)",
        legal_basis="《义务教育法》第十二条",
        items=list(items),
        period_from=date(2026, 11, 20),
        period_to=date(2027, 11, 19),
    )
    return service.file_application(db, data=data, calendar=WorkCalendar(), now=now)


# --- registration -------------------------------------------------------------------------------


def test_start_up_registers_every_declared_dataset_once(db):
    items, total = service.search(db, limit=200)
    declared = [d.code for _, datasets in _declared() for d in datasets]
    assert total == len(declared) and sorted(r.code for r in items) == sorted(declared)
    again = service.register_declarations(db, declared=_declared(), now=NOW + timedelta(days=1))
    assert again.added == again.updated == again.withdrawn == []
    assert service.get_resource(db, code=PERSON).version == 1
    assert service.get_resource(db, code=PERSON).related_resources == ["301002001-000001"]


def test_a_changed_declaration_is_a_new_version_and_the_old_one_is_kept(db):
    household = DEPARTMENTS["household"]
    datasets = [
        replace(d, summary=d.summary + " (revised)") if d.code == PERSON else d
        for d in declared_datasets("household")
    ]
    report = service.register_declarations(db, declared=[(household, datasets)], now=NOW + timedelta(days=2))
    assert report.updated == [PERSON]
    resource = service.get_resource(db, code=PERSON)
    assert resource.version == 2 and resource.summary.endswith("(revised)")
    versions = db.query(ResourceVersion).filter_by(code=PERSON).order_by(ResourceVersion.version).all()
    assert [v.version for v in versions] == [1, 2]
    assert not versions[0].declaration["summary"].endswith("(revised)")
    assert resource.publish_date == date(2026, 11, 21)  # first publication stays


def test_a_dataset_no_longer_declared_is_withdrawn_not_deleted(db):
    household = DEPARTMENTS["household"]
    remaining = [d for d in declared_datasets("household") if d.code != PERSON]
    report = service.register_declarations(db, declared=[(household, remaining)], now=NOW)
    assert report.withdrawn == [PERSON]
    assert service.get_resource(db, code=PERSON).withdrawn
    assert PERSON not in [r.code for r in service.search(db, limit=200)[0]]
    assert PERSON in [r.code for r in service.search(db, limit=200, include_withdrawn=True)[0]]
    back = service.register_declarations(db, declared=[(household, declared_datasets("household"))], now=NOW)
    assert back.updated == [PERSON] and not service.get_resource(db, code=PERSON).withdrawn


# --- search ---------------------------------------------------------------------------------------


def test_search_filters_and_pages(db):
    everything, total = service.search(db, limit=200)
    assert total == len(everything) >= 10
    page, paged_total = service.search(db, limit=3, offset=3)
    assert paged_total == total and [r.code for r in page] == [r.code for r in everything[3:6]]
    by_provider, _ = service.search(db, provider="tax")
    assert by_provider and all(r.provider.id == "tax" for r in by_provider)
    unconditional, _ = service.search(db, sharing_type="unconditional")
    assert [r.code for r in unconditional] == [EMPLOYER]
    assert [r.code for r in service.search(db, q="完税")[0]] == ["302002001-000001"]
    assert service.search(db, q="100%_")[1] == 0  # LIKE wildcards are literal


# --- grants -----------------------------------------------------------------------------------------


def _grant(db, **changes):
    data = {
        "client_id": DEMO_CLIENT_ID,
        "resource_code": EMPLOYER,
        "items": ["employer_name", "insured_count"],
        "matter_codes": ["330100-BIZ-07"],
        "valid_from": date(2026, 11, 1),
        "valid_to": date(2027, 10, 31),
    } | changes
    return service.add_grant(db, data=GrantCreate(**data), granted_by="admin:test", now=NOW)


def test_nothing_is_authorised_without_a_grant(db):
    with pytest.raises(service.NoGrant, match="no grant"):
        service.authorise(
            db,
            client_id=DEMO_CLIENT_ID,
            resource_code=EMPLOYER,
            items=["employer_name"],
            matter_code="330100-BIZ-07",
            on=date(2026, 11, 21),
        )


def test_a_grant_covers_exactly_its_items_matters_and_days(db):
    grant = _grant(db)
    ok = dict(
        client_id=DEMO_CLIENT_ID, resource_code=EMPLOYER, matter_code="330100-BIZ-07", on=date(2026, 11, 21)
    )
    assert service.authorise(db, items=["insured_count"], **ok).id == grant.id
    with pytest.raises(service.NoGrant, match="si_number"):
        service.authorise(db, items=["insured_count", "si_number"], **ok)
    with pytest.raises(service.NoGrant, match="matter"):
        service.authorise(db, items=["insured_count"], **(ok | {"matter_code": "OTHER"}))
    with pytest.raises(service.NoGrant, match="valid on"):
        service.authorise(db, items=["insured_count"], **(ok | {"on": date(2027, 11, 1)}))


def test_a_revoked_grant_stops_at_the_next_request(db):
    grant = _grant(db)
    ok = dict(
        client_id=DEMO_CLIENT_ID,
        resource_code=EMPLOYER,
        items=["insured_count"],
        matter_code="330100-BIZ-07",
        on=date(2026, 11, 21),
    )
    service.authorise(db, **ok)
    service.revoke_grant(db, grant_id=grant.id, revoked_by="admin:test", reason="contract ended", now=NOW)
    with pytest.raises(service.NoGrant):
        service.authorise(db, **ok)
    with pytest.raises(service.Conflict, match="already revoked"):
        service.revoke_grant(db, grant_id=grant.id, revoked_by="admin:test", reason="again", now=NOW)
    with pytest.raises(service.Invalid, match="reason"):
        service.revoke_grant(db, grant_id=_grant(db).id, revoked_by="admin:test", reason="  ", now=NOW)


def test_the_administrator_cannot_grant_conditional_or_unshared_resources(db):
    with pytest.raises(service.Refused, match="files an application"):
        _grant(db, resource_code=PERSON, items=["name"])
    with pytest.raises(service.Refused, match="不予共享"):
        _grant(db, resource_code=PHOTO, items=["name"])


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"client_id": "nobody"}, service.NotFound, "consumer"),
        ({"resource_code": "309999999-000001"}, service.NotFound, "no resource"),
        ({"items": ["salary"]}, service.Invalid, "salary"),
    ],
)
def test_grants_name_what_is_wrong(db, changes, error, message):
    with pytest.raises(error, match=message):
        _grant(db, **changes)


def test_grant_input_is_validated_at_the_edge():
    with pytest.raises(ValidationError, match="valid_to is before valid_from"):
        GrantCreate(
            client_id="x",
            resource_code=EMPLOYER,
            items=["a"],
            matter_codes=["M"],
            valid_from=date(2027, 1, 1),
            valid_to=date(2026, 1, 1),
        )
    with pytest.raises(ValidationError, match="matter code"):
        GrantCreate(
            client_id="x",
            resource_code=EMPLOYER,
            items=["a"],
            matter_codes=["bad code!"],
            valid_from=date(2026, 1, 1),
            valid_to=date(2027, 1, 1),
        )


# --- applications ---------------------------------------------------------------------------------


def test_an_application_is_due_ten_working_days_later(db):
    application = _apply(db)
    assert application.status == "pending"
    assert application.due_on == date(2026, 12, 4)  # Friday -> two weekends later
    listed = service.list_applications(db, today=date(2026, 12, 4))
    assert [a.overdue for a in listed] == [False]
    late = service.list_applications(db, today=date(2026, 12, 5), overdue_only=True)
    assert [a.id for a in late] == [application.id] and late[0].overdue


def test_approval_may_grant_fewer_items_and_creates_the_grant(db):
    application = _apply(db, items=("name", "birth_date", "address"))
    decided = service.decide(
        db,
        application_id=application.id,
        provider_id="household",
        decision=ApplicationDecision(approve=True, items=["name", "birth_date"]),
        decided_by="department:household:王科长",
        now=FRIDAY + timedelta(days=3),
    )
    assert decided.status == "approved" and decided.approved_items == ["name", "birth_date"]
    grant = decided.grant
    assert grant.items == ["name", "birth_date"] and grant.matter_codes == ["330100-SCHOOL-01"]
    ok = dict(
        client_id=DEMO_CLIENT_ID, resource_code=PERSON, matter_code="330100-SCHOOL-01", on=date(2026, 12, 1)
    )
    service.authorise(db, items=["name"], **ok)
    with pytest.raises(service.NoGrant, match="address"):
        service.authorise(db, items=["address"], **ok)
    assert service.list_applications(db, today=date(2027, 1, 1), overdue_only=True) == []


def test_approval_cannot_add_items_that_were_not_applied_for(db):
    application = _apply(db)
    with pytest.raises(service.Invalid, match="address"):
        service.decide(
            db,
            application_id=application.id,
            provider_id="household",
            decision=ApplicationDecision(approve=True, items=["address"]),
            decided_by="d",
            now=FRIDAY,
        )


def test_a_rejection_needs_a_reason_and_grants_nothing(db):
    with pytest.raises(ValidationError, match="reason"):
        ApplicationDecision(approve=False, reason="   ")
    application = _apply(db)
    decided = service.decide(
        db,
        application_id=application.id,
        provider_id="household",
        decision=ApplicationDecision(approve=False, reason="无法定依据 (no legal basis)"),
        decided_by="department:household:王科长",
        now=FRIDAY,
    )
    assert decided.status == "rejected" and decided.grant is None and decided.decision_reason
    with pytest.raises(service.Conflict, match="already rejected"):
        service.decide(
            db,
            application_id=application.id,
            provider_id="household",
            decision=ApplicationDecision(approve=True),
            decided_by="d",
            now=FRIDAY,
        )


def test_only_the_providing_department_decides(db):
    application = _apply(db)
    with pytest.raises(service.Refused, match="household"):
        service.decide(
            db,
            application_id=application.id,
            provider_id="tax",
            decision=ApplicationDecision(approve=True),
            decided_by="department:tax:x",
            now=FRIDAY,
        )


def test_unshared_and_unconditional_resources_cannot_be_applied_for(db):
    with pytest.raises(service.Refused, match="不予共享"):
        _apply(db, code=PHOTO, items=("name",))
    with pytest.raises(service.Refused, match="hub administrator"):
        _apply(db, code=EMPLOYER, items=("employer_name",))
    with pytest.raises(service.Invalid, match="salary"):
        _apply(db, items=("salary",))
    with pytest.raises(service.NotFound, match="consumer"):
        _apply(db, client_id="nobody")
