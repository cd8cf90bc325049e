"""The hub with its tax department behind a gateway: what consumers get, and what the gateway refuses."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certs import jose
from certs.keys import load_private_key
from certs.store import PkiPaths, read_certificate
from exchange.api.app import create_app
from exchange.audit import service as audit
from exchange.client import ExchangeClient, LegacyError, NotFound, verify_evidence
from exchange.db.engine import engine_for, session_factory
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER
from exchange.gateways import protocol
from exchange.licenses import store
from exchange.licenses.status_list import read_status_list_token
from tests.exchange.gateways.conftest import DEPARTMENT, invoke, someone_everywhere

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
CERTIFICATE = "302002001-000001"  # 完税证明, the tax bureau's
REGISTRATION = "302001001-000001"  # 纳税人登记信息


def _client(gatewayed) -> ExchangeClient:
    settings = gatewayed.settings
    return ExchangeClient(
        DEMO_CLIENT_ID,
        settings.demo_dir / "consumer.key",
        "http://testserver",
        settings.ca_cert_path,
        transport=gatewayed.hub._transport,
    )


def _ask(client: ExchangeClient, citizen: str, code: str = CERTIFICATE, fields=("total_amount",)):
    return client.query(
        code,
        "id_card",
        citizen,
        list(fields),
        matter_code=DEMO_MATTER,
        purpose="核验完税",
        operator_id="clerk-1",
        operator_name="演示窗口",
    )


def _spki(key) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _entry(settings, index: int):
    engine = engine_for(settings)
    try:
        with session_factory(engine)() as session:
            return audit.get_entry(session, index).fields, audit.tree_size(session)
    finally:
        engine.dispose()


def test_the_gateway_signs_the_answer_with_a_key_the_hub_never_held(gatewayed_hub):
    settings = gatewayed_hub.settings
    hub_pki, gateway_pki = PkiPaths(settings.pki_dir), PkiPaths(gatewayed_hub.gateway_home / "pki")
    assert not hub_pki.department_key(DEPARTMENT).exists()
    assert hub_pki.department_key("household").exists()  # the other departments stay local
    evidence = _ask(_client(gatewayed_hub), someone_everywhere())
    assert set(evidence.data) == {"total_amount"}
    assert evidence.department_id == DEPARTMENT
    gateway_key = load_private_key(gateway_pki.department_key(DEPARTMENT))
    assert _spki(evidence.certificate.public_key()) == _spki(gateway_key.public_key())
    again = verify_evidence(
        evidence.token,
        ca_certificate=settings.ca_cert_path,
        client_id=DEMO_CLIENT_ID,
        request_body=evidence.request_body,
    )
    entry, size = _entry(settings, evidence.log_index)
    assert again.log_index == evidence.log_index == size - 1
    assert entry["decision"] == "allow" and entry["provider_id"] == DEPARTMENT
    assert entry["items_returned"] == ["total_amount"]


def test_a_verify_question_goes_through_the_gateway(gatewayed_hub):
    client = _client(gatewayed_hub)
    citizen = someone_everywhere()
    known = _ask(client, citizen, REGISTRATION, ("taxpayer_name",)).data["taxpayer_name"]
    evidence = client.verify(
        REGISTRATION,
        "id_card",
        citizen,
        {"taxpayer_name": known},
        matter_code=DEMO_MATTER,
        purpose="核验",
        operator_id="clerk-1",
        operator_name="演示窗口",
    )
    assert evidence.results == {"taxpayer_name": "match"}
    assert evidence.department_id == DEPARTMENT


def _last_entry(settings) -> dict:
    engine = engine_for(settings)
    try:
        with session_factory(engine)() as session:
            return audit.get_entry(session, audit.tree_size(session) - 1).fields
    finally:
        engine.dispose()


def test_an_unknown_subject_is_a_404_from_the_gateway_and_audited(gatewayed_hub):
    unknown = "11010519491231002X"  # a valid citizen ID nobody in the population has
    with pytest.raises(NotFound):
        _ask(_client(gatewayed_hub), unknown)
    entry = _last_entry(gatewayed_hub.settings)
    assert (entry["decision"], entry["http_status"], entry["provider_id"]) == ("deny", 404, DEPARTMENT)


def test_a_gateway_that_is_down_is_a_503_and_the_denial_is_audited(gatewayed_hub):
    provider = gatewayed_hub.hub.app.state.hub.exchange.providers[DEPARTMENT]
    provider._http = httpx.Client(base_url="http://127.0.0.1:9", timeout=2)  # nothing listens there
    with pytest.raises(LegacyError) as raised:
        _ask(_client(gatewayed_hub), someone_everywhere())
    assert raised.value.status == 503
    entry = _last_entry(gatewayed_hub.settings)
    assert (entry["decision"], entry["http_status"]) == ("deny", 503)
    assert "unreachable" in entry["reason"]


def test_the_tax_status_list_is_signed_by_the_gateway(gatewayed_hub):
    settings = gatewayed_hub.settings
    engine = engine_for(settings)
    with session_factory(engine)() as session:
        [(list_id, _index)] = store.allocate_statuses(
            session, department_id=DEPARTMENT, count=1, now=datetime.now(UTC)
        )
        session.commit()
    engine.dispose()
    response = gatewayed_hub.hub.get(f"/v1/status-lists/{list_id}")
    assert response.status_code == 200, response.text
    uri = settings.base_url + store.status_list_uri(list_id)
    status_list = read_status_list_token(
        response.text, ca_certificate=read_certificate(settings.ca_cert_path), uri=uri, now=datetime.now(UTC)
    )
    assert status_list.get(0) == 0
    leaf = jose.certificates_from_x5c(jose.header(response.text)["x5c"])[0]
    gateway_key = load_private_key(PkiPaths(gatewayed_hub.gateway_home / "pki").department_key(DEPARTMENT))
    assert _spki(leaf.public_key()) == _spki(gateway_key.public_key())


def test_the_hub_refuses_to_start_holding_a_gateway_departments_key(gatewayed_hub):
    settings = gatewayed_hub.settings
    key = PkiPaths(settings.pki_dir).department_key(DEPARTMENT)
    key.write_bytes((PkiPaths(gatewayed_hub.gateway_home / "pki").department_key(DEPARTMENT)).read_bytes())
    from fastapi.testclient import TestClient

    with (
        pytest.raises(RuntimeError, match="must not hold a gateway department's key"),
        TestClient(create_app(settings)),
    ):
        pass


# --- what the gateway refuses -------------------------------------------------------------------


def _hub_signed(gatewayed, claims: dict, path: str = protocol.ANSWERS_PATH, **changes) -> str:
    pki = PkiPaths(gatewayed.settings.pki_dir)
    token, _ = protocol.sign_request(
        claims,
        key=changes.pop("key", None) or load_private_key(pki.hub_key),
        chain=changes.pop("chain", None) or (read_certificate(pki.hub_cert), read_certificate(pki.ca_cert)),
        hub_id=changes.pop("hub_id", gatewayed.settings.hub_id),
        department_id=changes.pop("department_id", DEPARTMENT),
        path=path,
        now=changes.pop("now", datetime.now(UTC)),
    )
    return token


def _question(citizen: str | None = None, **changes) -> dict:
    return {
        "operation": "query",
        "resource": CERTIFICATE,
        "subject": {"type": "id_card", "value": citizen or someone_everywhere()},
        "client_id": DEMO_CLIENT_ID,
        "req": "a" * 32,
        "req_hash": "b" * 43,
        "items": ["total_amount"],
        "asked": None,
        "credentials": [],
    } | changes


def _post(gatewayed, token: str, path: str = protocol.ANSWERS_PATH) -> httpx.Response:
    return gatewayed.gateway.post(path, content=token, headers={"Content-Type": "application/jwt"})


def test_the_gateway_answers_the_hub_with_a_draft_it_signed(gatewayed_hub):
    response = _post(gatewayed_hub, _hub_signed(gatewayed_hub, _question()))
    assert response.status_code == 200, response.text
    header = jose.header(response.text)
    assert header["typ"] == protocol.DRAFT_TYP
    assert jose.certificates_from_x5c(header["x5c"])[0].subject.rfc4514_string().startswith("CN=tax")


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda g: "not a token", id="not-a-jws"),
        pytest.param(lambda g: _hub_signed(g, _question(), department_id="household"), id="other-audience"),
        pytest.param(lambda g: _hub_signed(g, _question(), hub_id="another-hub"), id="other-issuer"),
        pytest.param(lambda g: _hub_signed(g, _question(), path=protocol.EVIDENCE_PATH), id="other-endpoint"),
        pytest.param(
            lambda g: _hub_signed(g, _question(), now=datetime.now(UTC) - timedelta(minutes=5)), id="expired"
        ),
        pytest.param(
            lambda g: _hub_signed(
                g,
                _question(),
                key=load_private_key(PkiPaths(g.settings.pki_dir).department_key("household")),
                chain=(
                    read_certificate(PkiPaths(g.settings.pki_dir).department_cert("household")),
                    read_certificate(PkiPaths(g.settings.pki_dir).ca_cert),
                ),
            ),
            id="a-department-not-the-hub",
        ),
    ],
)
def test_the_gateway_answers_only_the_hub(gatewayed_hub, forge):
    response = _post(gatewayed_hub, forge(gatewayed_hub))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "adapter_error" not in response.json()


def test_a_hub_request_is_accepted_once(gatewayed_hub):
    token = _hub_signed(gatewayed_hub, _question())
    assert _post(gatewayed_hub, token).status_code == 200
    replayed = _post(gatewayed_hub, token)
    assert replayed.status_code == 401 and "replay" in replayed.json()["detail"]


def test_a_malformed_question_is_a_400(gatewayed_hub):
    token = _hub_signed(gatewayed_hub, _question(subject={"type": "id_card", "value": "123"}))
    response = _post(gatewayed_hub, token)
    assert response.status_code == 400 and response.json()["type"].endswith("malformed")


def test_the_gateway_names_the_adapter_error_for_an_unknown_subject(gatewayed_hub):
    response = _post(gatewayed_hub, _hub_signed(gatewayed_hub, _question("11010519491231002X")))
    assert response.status_code == 404
    assert response.json()["adapter_error"] == "SubjectNotFound"


def test_evidence_only_for_a_draft_the_gateway_signed_itself_and_only_once(gatewayed_hub):
    draft = _post(gatewayed_hub, _hub_signed(gatewayed_hub, _question())).text
    sign = {"draft": draft, "log_index": 7}
    first = _post(
        gatewayed_hub, _hub_signed(gatewayed_hub, sign, protocol.EVIDENCE_PATH), protocol.EVIDENCE_PATH
    )
    assert first.status_code == 200, first.text
    payload = json.loads(base64.urlsafe_b64decode(first.text.split(".")[1] + "=="))
    assert payload["log"] == {"index": 7} and payload["data"].keys() == {"total_amount"}
    again = _post(
        gatewayed_hub, _hub_signed(gatewayed_hub, sign, protocol.EVIDENCE_PATH), protocol.EVIDENCE_PATH
    )
    assert again.status_code == 409
    # A draft with made-up data, signed by the hub: the gateway does not vouch for it.
    pki = PkiPaths(gatewayed_hub.settings.pki_dir)
    forged = jose.sign(
        {"aud": gatewayed_hub.settings.hub_id, "exp": 2**31, "jti": "x", "question": _question(), "data": {}},
        load_private_key(pki.hub_key),
        typ=protocol.DRAFT_TYP,
        x5c=(read_certificate(pki.hub_cert), read_certificate(pki.ca_cert)),
    )
    forged_sign = {"draft": forged, "log_index": 8}
    refused = _post(
        gatewayed_hub, _hub_signed(gatewayed_hub, forged_sign, protocol.EVIDENCE_PATH), protocol.EVIDENCE_PATH
    )
    assert refused.status_code == 400 and refused.json()["type"].endswith("invalid-draft")


def test_a_license_search_answer_lists_only_credentials_the_gateway_sealed(gatewayed_hub):
    question = _question(operation="license", items=[], credentials=["eyJhbGciOiJFZERTQSJ9.e30.c2ln~"])
    response = _post(gatewayed_hub, _hub_signed(gatewayed_hub, question))
    assert response.status_code == 400 and response.json()["type"].endswith("foreign-credential")


def test_install_refuses_a_certificate_for_another_key(gatewayed_hub, tmp_path):
    other = tmp_path / "other"
    invoke(other, "gateway", "request", "--department", DEPARTMENT)
    from typer.testing import CliRunner

    from exchange.cli.main import app as cli
    from exchange.config import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(
        cli,
        [
            "gateway",
            "install",
            "--department",
            DEPARTMENT,
            "--certificate",
            str(PkiPaths(gatewayed_hub.settings.pki_dir).department_cert(DEPARTMENT)),
            "--ca",
            str(gatewayed_hub.settings.ca_cert_path),
        ],
        env={"EXCHANGE_HOME": str(other)},
    )
    assert result.exit_code == 1 and "certifies another key" in result.output


def test_the_license_sync_of_a_gateway_department_is_sealed_at_the_gateway(gatewayed_hub, monkeypatch):
    import exchange.gateways.client as gateway_client
    from exchange.licenses.models import License
    from exchange.licenses.runner import sync_departments
    from exchange.licenses.sealing import verify_credential

    settings = gatewayed_hub.settings
    connect = gateway_client.connect

    def connect_in_process(*args, **kwargs):
        provider = connect(*args, **kwargs)
        provider._http = gatewayed_hub.gateway  # the network, in-process
        return provider

    monkeypatch.setattr(gateway_client, "connect", connect_in_process)
    [run] = sync_departments(settings, [DEPARTMENT])
    assert run.status == "succeeded" and run.counts["created"] > 0
    engine = engine_for(settings)
    with session_factory(engine)() as session:
        stored = session.query(License).filter_by(department_id=DEPARTMENT).all()
    engine.dispose()
    assert len(stored) == run.counts["created"]
    gateway_key = load_private_key(PkiPaths(gatewayed_hub.gateway_home / "pki").department_key(DEPARTMENT))
    for row in stored[:5]:
        report = verify_credential(
            row.credential,
            ca_certificate=read_certificate(settings.ca_cert_path),
            now=datetime.now(UTC),
            status_of=None,
        )
        assert report.check("signature").ok and report.check("issuer").ok, report
        leaf = jose.certificates_from_x5c(jose.header(row.credential.split("~")[0])["x5c"])[0]
        assert _spki(leaf.public_key()) == _spki(gateway_key.public_key())


def test_the_gateway_seals_only_records_of_a_change_page_it_signed(gatewayed_hub):
    page = _post(
        gatewayed_hub,
        _hub_signed(gatewayed_hub, {"watermark": None, "limit": 3}, protocol.CHANGES_PATH),
        protocol.CHANGES_PATH,
    )
    assert page.status_code == 200, page.text
    item = {"position": 0, "version": 1, "status_uri": "http://hub/v1/status-lists/tax-1", "status_index": 5}
    sealed = _post(
        gatewayed_hub,
        _hub_signed(gatewayed_hub, {"changes": page.text, "items": [item]}, protocol.SEAL_PATH),
        protocol.SEAL_PATH,
    )
    assert sealed.status_code == 200, sealed.text
    [credential] = sealed.json()["credentials"]
    claims = json.loads(base64.urlsafe_b64decode(credential.split(".")[1] + "=="))
    assert claims["status"]["status_list"] == {"idx": 5, "uri": "http://hub/v1/status-lists/tax-1"}
    # A page the hub made up (signed with the hub's key) is refused, and so is a position off the page.
    pki = PkiPaths(gatewayed_hub.settings.pki_dir)
    forged = jose.sign(
        {"aud": gatewayed_hub.settings.hub_id, "exp": 2**31, "changes": []},
        load_private_key(pki.hub_key),
        typ=protocol.CHANGES_TYP,
        x5c=(read_certificate(pki.hub_cert), read_certificate(pki.ca_cert)),
    )
    for changes, wanted, slug in (
        (forged, item, "invalid-changes"),
        (page.text, item | {"position": 3}, "malformed"),
    ):
        refused = _post(
            gatewayed_hub,
            _hub_signed(gatewayed_hub, {"changes": changes, "items": [wanted]}, protocol.SEAL_PATH),
            protocol.SEAL_PATH,
        )
        assert refused.status_code == 400 and refused.json()["type"].endswith(slug), refused.text


def test_certificate_records_cross_the_wire_with_their_types():
    from datetime import date
    from decimal import Decimal

    from adapters.base import CertificateRecord, Subject

    record = CertificateRecord(
        license_type="tax_payment_certificate",
        source_id="WSZM-1",
        source_version="3",
        holder=Subject.parse("id_card", someone_everywhere()),
        holder_name="张三",
        issued_on=date(2026, 1, 2),
        valid_from=date(2026, 1, 2),
        valid_to=None,
        fields={"amount": Decimal("12.30"), "periods": [{"from": date(2025, 1, 1)}], "code": "A"},
    )
    wire = json.loads(json.dumps(protocol.certificate_to_json(record)))
    assert protocol.certificate_from_json(wire) == record
    with pytest.raises(ValueError):
        protocol.certificate_from_json(wire | {"holder": {"type": "id_card", "value": "123"}})
