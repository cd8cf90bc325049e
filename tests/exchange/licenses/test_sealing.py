"""Sealed licenses (SD-JWT VC, RFC 9901): round trips, an independent verifier, selective disclosure,
and tampering that fails exactly the check it should."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jws as rfc_jws
from joserfc.jwk import ECKey, OKPKey
from jwcrypto.jwk import JWK
from jwcrypto.jws import InvalidJWSSignature
from sd_jwt.verifier import SDJWTVerifier

from adapters.registry import DEPARTMENTS
from certs import jose
from certs.authority import CertificateAuthority
from certs.jwk import jwk_thumbprint, public_jwk
from certs.keys import generate_private_key
from certs.revocation import RevocationState
from certs.store import read_certificate
from exchange.identifiers import make_citizen_id, make_license_id
from exchange.licenses import sealing
from exchange.licenses.sealing import present, seal, verify_credential
from exchange.licenses.status_list import StatusList, read_status_list_token, status_list_token
from exchange.licenses.types import ALWAYS_DISCLOSED, HOLDER_CODE_TYPES, LICENSE_TYPES, LicenseRecord
from exchange.queries.evidence import DepartmentSigner
from tests.conftest import NOW

STATUS_URI = "https://hub.example/v1/status-lists/household-1"
HOLDER = make_citizen_id("330106", date(1985, 3, 2), 123)
MEMBER = make_citizen_id("330106", date(2012, 7, 9), 456)

# Type-specific fields as the departments' adapters deliver them (JSON-ready).
FIELDS = {
    "household_register": {
        "household_no": "330106004417",
        "address": "浙江省杭州市西湖区文三路478号",
        "household_type": "家庭户",
        "members": [
            {"name": "王建国", "id_number": HOLDER, "relation": "户主"},
            {"name": "王小雨", "id_number": MEMBER, "relation": "女"},
        ],
    },
    "tax_payment_certificate": {
        "receipt_no": "332016260004417",
        "levy_item": "个人所得税",
        "levy_detail": "工资薪金所得",
        "period_from": "2026-01-01",
        "period_to": "2026-01-31",
        "amount": "1234.56",
        "paid_on": "2026-02-15",
        "tax_office": "国家税务总局杭州市西湖区税务局",
    },
    "social_insurance_certificate": {
        "si_number": "330106198503021235",
        "history": [
            {
                "from": "2010-07",
                "to": "2026-10",
                "insurance_type": "110",
                "base": "8123.00",
                "employer_name": "杭州示例科技有限公司",
            }
        ],
    },
    "real_estate_title": {
        "unit_number": "330106007003GB00012F00010023",
        "certificate_no": "浙(2019)杭州市不动产权第0004417号",
        "location": "西湖区文三路478号2幢1单元302室",
        "use": "住宅",
        "area": "89.37",
        "right_type": "国有建设用地使用权/房屋所有权",
        "owners": [{"name": "王建国", "id_number": HOLDER, "share": "1"}],
        "registered_on": "2019-04-30",
        "mortgaged": False,
        "status": "现势",  # a field named like the registered claim "status": fine inside "fields"
    },
}


@pytest.fixture
def signers(initialised) -> dict[str, DepartmentSigner]:
    return {department_id: DepartmentSigner.load(initialised, department_id) for department_id in DEPARTMENTS}


@pytest.fixture
def ca(initialised) -> x509.Certificate:
    return read_certificate(initialised.ca_cert)


def record_of(license_type: str, **changes) -> LicenseRecord:
    kind = LICENSE_TYPES[license_type]
    department = DEPARTMENTS[kind.department_id]
    record = LicenseRecord(
        license_type=kind.key,
        type_code=kind.type_code,
        license_name=kind.name,
        number=f"NO-{kind.type_code}-4417",
        identifier=make_license_id(kind.type_code, department.uscc, "H7Q2K9", 1),
        version=1,
        issuer_name=department.name,
        issuer_code=department.uscc,
        issue_date=date(2019, 5, 6),
        holder_name="王建国",
        holder_code=HOLDER,
        holder_code_type=HOLDER_CODE_TYPES["id_card"],
        valid_from=date(2019, 5, 6),
        valid_to=None,
        fields=FIELDS[license_type],
    )
    return replace(record, **changes)


def sealed_for(signers, license_type="household_register", *, index=7, **changes) -> sealing.Sealed:
    record = record_of(license_type, **changes)
    signer = signers[LICENSE_TYPES[license_type].department_id]
    return seal(record, signer=signer, status_uri=STATUS_URI, status_index=index, now=NOW)


def always_valid(_uri: str, _idx: int) -> int:
    return 0


# --- an independent reading of RFC 9901 (nothing from exchange.licenses.sealing) ---------------


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def payload_of(compact: str) -> dict:
    return json.loads(b64url_decode(compact.split("~")[0].split(".")[1]))


def header_of(compact: str) -> dict:
    return json.loads(b64url_decode(compact.split("~")[0].split(".")[0]))


def leaf_of(compact: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(header_of(compact)["x5c"][0]))


def issuer_key(_iss, header) -> JWK:
    """sd-jwt's key callback: the leaf of x5c (trust in it is the chain check's business)."""
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    pem = leaf.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return JWK.from_pem(pem)


def all_sd_digests(node) -> list[str]:
    if isinstance(node, dict):
        return list(node.get("_sd", [])) + [d for v in node.values() for d in all_sd_digests(v)]
    if isinstance(node, list):
        return [d for v in node for d in all_sd_digests(v)]
    return []


def disclosures_of(compact: str) -> list[str]:
    return compact.split("~")[1:-1]


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("license_type", list(LICENSE_TYPES))
def test_every_license_type_round_trips(signers, ca, license_type):
    record = record_of(license_type)
    sealed = sealed_for(signers, license_type)
    report = verify_credential(sealed.compact, ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.ok, report.checks
    assert [c.name for c in report.checks] == list(sealing.CHECKS)
    assert report.vct == LICENSE_TYPES[license_type].vct and report.identifier == record.identifier
    assert report.status == "valid"
    claims = report.claims
    for name in ("holder_name", "holder_code", "holder_code_type", "number"):
        assert claims[name] == getattr(record, name)
    assert claims["fields"] == dict(record.fields)
    assert claims["issue_date"] == "2019-05-06" and claims["issuer_code"] == record.issuer_code
    assert "_sd" not in claims and "_sd" not in claims["fields"] and "_sd_alg" not in claims
    assert set(sealed.disclosures) == {"holder_name", "holder_code", "holder_code_type", "number"} | {
        f"fields.{name}" for name in record.fields
    }
    assert sealed.compact == sealed.issuer_jwt + "~" + "".join(d + "~" for d in sealed.disclosures.values())
    assert sealed.digest == hashlib.sha256(sealed.compact.encode()).hexdigest()


def test_header_and_clear_claims_follow_sd_jwt_vc(signers):
    sealed = sealed_for(signers, valid_to=date(2029, 12, 31))
    signer = signers["household"]
    header, payload = header_of(sealed.compact), payload_of(sealed.compact)
    assert header["typ"] == "dc+sd-jwt" and header["alg"] == "EdDSA"
    assert header["kid"] == jwk_thumbprint(signer.key.public_key())
    assert [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]] == list(signer.chain)
    assert payload["iss"] == "urn:dxh:department:household" and payload["iat"] == int(NOW.timestamp())
    assert payload["vct"] == "urn:dxh:license:household_register:1" and payload["_sd_alg"] == "sha-256"
    assert payload["status"] == {"status_list": {"idx": 7, "uri": STATUS_URI}}
    # nbf: 00:00 Beijing time on valid_from; exp: 00:00 Beijing time the day after valid_to.
    assert payload["nbf"] == int(datetime(2019, 5, 5, 16, 0, tzinfo=UTC).timestamp())
    assert payload["exp"] == int(datetime(2029, 12, 31, 16, 0, tzinfo=UTC).timestamp())
    assert "cnf" not in payload  # no holder binding in this version
    for name in ALWAYS_DISCLOSED:
        assert name in payload
    for hidden in ("holder_name", "holder_code", "holder_code_type", "number", "household_no"):
        assert hidden not in payload and hidden not in payload["fields"]
    # decoys: each _sd is padded to a multiple of 8, at least 2 decoys, sorted (RFC 9901 4.2.4.1, 4.2.5)
    for sd, real in ((payload["_sd"], 4), (payload["fields"]["_sd"], len(FIELDS["household_register"]))):
        assert len(sd) % sealing.DECOY_BLOCK == 0 and len(sd) >= real + sealing.MIN_DECOYS
        assert sd == sorted(sd) and len(set(sd)) == len(sd)


def test_a_credential_without_an_end_date_has_no_exp(signers):
    assert "exp" not in payload_of(sealed_for(signers).compact)


def test_the_same_salts_seal_the_same_credential(signers):
    def counter():
        numbers = itertools.count()
        return lambda: next(numbers).to_bytes(16, "big")

    record, signer = record_of("household_register"), signers["household"]
    first, second = (
        seal(record, signer=signer, status_uri=STATUS_URI, status_index=1, now=NOW, salt=counter())
        for _ in range(2)
    )
    assert first == second  # Ed25519 is deterministic; only the salts vary between seals
    third = seal(record, signer=signer, status_uri=STATUS_URI, status_index=1, now=NOW)
    assert third.digest != first.digest


# --- an independent verifier: sd-jwt (the IETF reference implementation) and joserfc -------------


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("license_type", list(LICENSE_TYPES))
def test_an_independent_verifier_accepts_the_signature_and_every_disclosure(signers, ca, license_type):
    sealed = sealed_for(signers, license_type)
    ours = verify_credential(sealed.compact, ca_certificate=ca, now=NOW, status_of=always_valid)

    # The issuer signature, checked by joserfc with the x5c leaf key (x5c makes the header > 512 bytes).
    registry = rfc_jws.JWSRegistry(algorithms=["EdDSA", "ES256"])
    registry.max_header_length = 8192
    jwk = public_jwk(leaf_of(sealed.compact).public_key())
    key = OKPKey.import_key(jwk) if jwk["kty"] == "OKP" else ECKey.import_key(jwk)
    verified = rfc_jws.deserialize_compact(
        sealed.issuer_jwt, key, algorithms=["EdDSA", "ES256"], registry=registry
    )
    assert verified.headers()["typ"] == "dc+sd-jwt"

    # Every disclosure digest: SHA-256 over the ASCII of the encoded Disclosure (RFC 9901 4.2.3).
    digests = all_sd_digests(json.loads(verified.payload))
    for encoded in disclosures_of(sealed.compact):
        digest = base64.urlsafe_b64encode(hashlib.sha256(encoded.encode("ascii")).digest()).rstrip(b"=")
        assert digests.count(digest.decode()) == 1
        salt, name, _value = json.loads(b64url_decode(encoded))
        assert len(b64url_decode(salt)) == 16 and name not in ("_sd", "...")

    # The IETF reference implementation restores exactly the claims we do.
    assert SDJWTVerifier(sealed.compact, issuer_key).get_verified_payload() == ours.claims
    shown = present(sealed.compact, ["holder_name", "fields." + next(iter(FIELDS[license_type]))])
    assert (
        SDJWTVerifier(shown, issuer_key).get_verified_payload()
        == verify_credential(shown, ca_certificate=ca, now=NOW, status_of=always_valid).claims
    )


def test_the_reference_implementation_refuses_a_forged_signature(signers):
    compact = sealed_for(signers).compact
    other = sealed_for(signers, "tax_payment_certificate").compact
    forged = compact.split(".")[0] + "." + compact.split(".")[1] + "." + other.split(".")[2]
    with pytest.raises(InvalidJWSSignature):
        SDJWTVerifier(forged, issuer_key)


# --- selective disclosure ----------------------------------------------------------------------


def test_a_presentation_hides_every_value_it_does_not_disclose(signers, ca):
    record = record_of("real_estate_title")
    sealed = sealed_for(signers, "real_estate_title")
    shown = present(sealed.compact, ["holder_name", "fields.area"])
    report = verify_credential(shown, ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.ok and report.claims["holder_name"] == "王建国"
    assert report.claims["fields"] == {"area": "89.37"}
    for name in ("holder_code", "holder_code_type", "number"):
        assert name not in report.claims
    hidden = [record.holder_code, record.number] + [
        json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
        for k, v in record.fields.items()
        if k != "area"
    ]
    segments = shown.replace("~", ".").split(".")
    readable = shown + "".join(b64url_decode(s).decode("utf-8", "replace") for s in segments if s)
    for value in hidden:
        if len(value) >= 4:  # shorter strings may occur by chance in base64 text
            assert value not in readable, value
    assert len(disclosures_of(shown)) == 2


def test_presenting_nothing_still_verifies_the_clear_metadata(signers, ca):
    shown = present(sealed_for(signers).compact, [])
    report = verify_credential(shown, ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.ok and report.claims["fields"] == {} and "holder_name" not in report.claims
    assert shown.endswith("~") and shown.count("~") == 1


def test_presenting_an_unknown_name_is_refused(signers):
    sealed = sealed_for(signers)
    with pytest.raises(ValueError, match="no disclosure for fields.nope"):
        present(sealed.compact, ["fields.nope"])
    with pytest.raises(ValueError, match="no disclosure for holder_code"):
        present(present(sealed.compact, ["holder_name"]), ["holder_code"])


# --- tampering: each fails exactly its own check ----------------------------------------------


def _replace_disclosure(compact: str, name: str, value) -> str:
    for encoded in disclosures_of(compact):
        salt, claim, _ = json.loads(b64url_decode(encoded))
        if claim == name:
            changed = base64.urlsafe_b64encode(json.dumps([salt, claim, value]).encode()).rstrip(b"=")
            return compact.replace(encoded, changed.decode())
    raise AssertionError(name)


def _change_payload(compact: str) -> str:
    head, body, signature = compact.split("~")[0].split(".")
    payload = json.loads(b64url_decode(body))
    payload["issuer_name"] = "某市假冒局"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return compact.replace(body, forged)


def test_a_changed_disclosure_fails_only_the_disclosures(signers, ca):
    tampered = _replace_disclosure(sealed_for(signers).compact, "holder_name", "李四")
    report = verify_credential(tampered, ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.failed == ["disclosures"] and "not referenced" in report.check("disclosures").detail
    assert "holder_name" not in report.claims


def test_a_removed_disclosure_is_fine(signers, ca):
    compact = sealed_for(signers).compact
    removed = compact.replace(disclosures_of(compact)[0] + "~", "", 1)
    assert verify_credential(removed, ca_certificate=ca, now=NOW, status_of=always_valid).ok


def test_a_duplicated_disclosure_fails_only_the_disclosures(signers, ca):
    compact = sealed_for(signers).compact
    doubled = compact + disclosures_of(compact)[0] + "~"
    report = verify_credential(doubled, ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.failed == ["disclosures"] and "twice" in report.check("disclosures").detail


def test_an_unreferenced_disclosure_fails_only_the_disclosures(signers, ca):
    compact = sealed_for(signers).compact
    stranger = disclosures_of(sealed_for(signers, "tax_payment_certificate").compact)[0]
    report = verify_credential(compact + stranger + "~", ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.failed == ["disclosures"]


def test_a_changed_payload_fails_only_the_signature(signers, ca):
    tampered = _change_payload(sealed_for(signers).compact)
    report = verify_credential(tampered, ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.failed == ["signature"] and report.claims["issuer_name"] == "某市假冒局"


def test_another_ca_fails_only_the_chain(signers):
    elsewhere = CertificateAuthority.create("elsewhere", generate_private_key(), now=NOW).certificate
    report = verify_credential(
        sealed_for(signers).compact, ca_certificate=elsewhere, now=NOW, status_of=always_valid
    )
    assert report.failed == ["chain"] and "hub CA" in report.check("chain").detail


def test_a_revoked_department_certificate_fails_only_the_chain(signers, ca):
    sealed = sealed_for(signers)
    crl = RevocationState(
        serials=frozenset({signers["household"].chain[0].serial_number}),
        last_update=NOW,
        next_update=NOW + timedelta(days=7),
        number=2,
    )
    report = verify_credential(
        sealed.compact, ca_certificate=ca, now=NOW, status_of=always_valid, revocation=crl
    )
    assert report.failed == ["chain"] and "revoked" in report.check("chain").detail
    clean = replace(crl, serials=frozenset())
    assert verify_credential(
        sealed.compact, ca_certificate=ca, now=NOW, status_of=always_valid, revocation=clean
    ).ok


def test_the_certificate_is_checked_when_the_credential_was_sealed(signers, ca):
    """A license outlives the department certificate that sealed it (825 days)."""
    later = NOW + timedelta(days=3650)
    report = verify_credential(
        sealed_for(signers).compact, ca_certificate=ca, now=later, status_of=always_valid
    )
    assert report.ok, report.checks


def test_another_departments_key_fails_only_the_issuer(signers, ca):
    """A tax key sealing a household register: signature and chain hold, the issuer does not."""
    compact = sealed_for(signers).compact
    tax = signers["tax"]
    resigned = jose.sign(
        payload_of(compact), tax.key, typ="dc+sd-jwt", kid=jwk_thumbprint(tax.key.public_key()), x5c=tax.chain
    )
    forged = resigned + compact[compact.index("~") :]
    report = verify_credential(forged, ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.failed == ["issuer"] and "urn:dxh:department:tax" in report.check("issuer").detail


def test_an_expired_license_fails_only_the_validity_period(signers, ca):
    sealed = sealed_for(signers, valid_from=date(2020, 1, 1), valid_to=date(2025, 12, 31))
    report = verify_credential(sealed.compact, ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.failed == ["validity_period"] and "expired" in report.check("validity_period").detail


def test_a_license_is_valid_through_its_last_day_in_beijing_time(signers, ca):
    sealed = sealed_for(signers, valid_to=date(2026, 11, 21))
    last_second = datetime(2026, 11, 21, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Beijing
    assert verify_credential(sealed.compact, ca_certificate=ca, now=last_second, status_of=always_valid).ok
    midnight = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
    report = verify_credential(sealed.compact, ca_certificate=ca, now=midnight, status_of=always_valid)
    assert report.failed == ["validity_period"]


def test_a_license_not_valid_yet_fails_only_the_validity_period(signers, ca):
    sealed = sealed_for(signers, valid_from=date(2027, 1, 1))
    report = verify_credential(sealed.compact, ca_certificate=ca, now=NOW, status_of=always_valid)
    assert (
        report.failed == ["validity_period"] and "not valid before" in report.check("validity_period").detail
    )


@pytest.mark.parametrize(
    ("value", "status", "word"), [(1, "invalid", "revoked"), (2, "suspended", "suspended")]
)
def test_a_revoked_or_suspended_status_fails_only_the_status(signers, ca, value, status, word):
    asked = []

    def status_of(uri, idx):
        asked.append((uri, idx))
        return value

    report = verify_credential(sealed_for(signers).compact, ca_certificate=ca, now=NOW, status_of=status_of)
    assert report.failed == ["status"] and report.status == status and word in report.check("status").detail
    assert asked == [(STATUS_URI, 7)]


def test_without_a_status_list_the_status_is_unknown_not_failed(signers, ca):
    report = verify_credential(sealed_for(signers).compact, ca_certificate=ca, now=NOW, status_of=None)
    assert report.ok and report.status == "unknown" and report.check("status").detail.startswith("unknown")


def test_an_unreadable_status_list_fails_closed(signers, ca):
    def broken(_uri, _idx):
        raise LookupError("no such list")

    report = verify_credential(sealed_for(signers).compact, ca_certificate=ca, now=NOW, status_of=broken)
    assert report.failed == ["status"] and "no such list" in report.check("status").detail


def test_the_status_comes_from_a_signed_status_list_token(signers, ca):
    sealed = sealed_for(signers, index=5)
    lists = StatusList(1024, bits=2)
    token = status_list_token(lists, uri=STATUS_URI, signer=signers["household"], now=NOW, ttl=3600)

    def status_of(uri, idx):
        return read_status_list_token(token, ca_certificate=ca, uri=uri, now=NOW).get(idx)

    assert (
        verify_credential(sealed.compact, ca_certificate=ca, now=NOW, status_of=status_of).status == "valid"
    )
    lists.set(5, 1)
    token = status_list_token(lists, uri=STATUS_URI, signer=signers["household"], now=NOW, ttl=3600)
    report = verify_credential(sealed.compact, ca_certificate=ca, now=NOW, status_of=status_of)
    assert report.failed == ["status"] and report.status == "invalid"


def test_garbage_fails_every_check(ca):
    report = verify_credential("not-an-sd-jwt", ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.failed == list(sealing.CHECKS) and "not an SD-JWT" in report.check("signature").detail


def test_a_key_binding_jwt_is_not_accepted(signers, ca):
    report = verify_credential(
        sealed_for(signers).compact + "eyJhbGciOiJFZERTQSJ9.e30.c2ln",
        ca_certificate=ca,
        now=NOW,
        status_of=always_valid,
    )
    assert report.failed == ["disclosures"] and "Key Binding" in report.check("disclosures").detail


# --- what seal refuses -------------------------------------------------------------------------


def test_a_department_seals_only_its_own_license_types(signers):
    with pytest.raises(ValueError, match="tax does not issue household_register"):
        seal(
            record_of("household_register"),
            signer=signers["tax"],
            status_uri=STATUS_URI,
            status_index=0,
            now=NOW,
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"issuer_code": DEPARTMENTS["tax"].uscc}, "issuer_code"),
        ({"type_code": "2210001"}, "type code"),
        ({"version": 2}, "does not match"),
        ({"identifier": "1.2.156.3005.2.1110001.X"}, "identifier"),
        ({"valid_from": date(2030, 1, 1), "valid_to": date(2029, 1, 1)}, "before valid_from"),
        ({"fields": {"_sd": "x"}}, "cannot be a disclosable field name"),
        ({"fields": {"amount": Decimal("1.50")}}, "not a JSON value"),
    ],
)
def test_seal_refuses_records_that_do_not_fit(signers, changes, message):
    with pytest.raises(ValueError, match=message):
        sealed_for(signers, **changes)


def test_seal_needs_a_status_reference_and_an_aware_clock(signers):
    record, signer = record_of("household_register"), signers["household"]
    with pytest.raises(ValueError, match="status list"):
        seal(record, signer=signer, status_uri=STATUS_URI, status_index=-1, now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        seal(record, signer=signer, status_uri=STATUS_URI, status_index=0, now=NOW.replace(tzinfo=None))


def test_dates_in_fields_become_iso_text(signers, ca):
    sealed = sealed_for(signers, "tax_payment_certificate", fields={"paid_on": date(2026, 2, 15)})
    report = verify_credential(sealed.compact, ca_certificate=ca, now=NOW, status_of=always_valid)
    assert report.claims["fields"] == {"paid_on": "2026-02-15"}


# --- the fast encodings are the reference ones ---------------------------------------------------

# Values as the departments' records hold them, and the corners of JSON text: every string that
# JSON escapes, characters outside the BMP, numbers of every kind, nesting.
AWKWARD_VALUES = [
    "王建国",
    'a "quote", a \\ backslash, a / slash',
    "\t\n\r\b\f and \x00\x01\x1f\x7f",
    "\u2028\u2029 line separators, \ufeff BOM, 😀 emoji",
    "",
    0,
    -17,
    10**30,
    1.5,
    1e-7,
    -0.0,
    float("nan"),
    float("inf"),
    True,
    False,
    None,
    [],
    {},
    [{"name": "王小雨", "id_number": MEMBER, "relation": "女", "share": 0.5}],
    {"nested": {"deeper": ["x", 1, None, {"键": "值"}]}, "": "empty key"},
]


def reference_disclosure(salt: bytes, name: str, value) -> str:
    """RFC 9901 section 4.2.1 with the standard library, as sealing did before it wrote the JSON out."""
    salt_text = base64.urlsafe_b64encode(salt).rstrip(b"=").decode("ascii")
    text = json.dumps([salt_text, name, value], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


# Code points a string may hold: control characters, ASCII, the BMP without surrogates, beyond the BMP.
CODE_POINT_RANGES = ((0, 0x20), (0x20, 0x7F), (0x80, 0xD800), (0xE000, 0x110000))


def random_json(rng, depth=0):
    """A random JSON value (nesting stops at depth 3): strings from every range, numbers, nesting."""
    kind = rng.randrange(7 if depth < 3 else 5)
    if kind == 0:
        return "".join(chr(rng.randrange(*rng.choice(CODE_POINT_RANGES))) for _ in range(rng.randrange(12)))
    if kind == 1:
        return rng.randrange(-(10**12), 10**12)
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return rng.choice(["", "户主", "浙(2019)杭州市不动产权第0004417号"])
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(random_json(rng, 3)): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


@pytest.mark.parametrize("value", AWKWARD_VALUES, ids=repr)
def test_a_disclosure_is_byte_for_byte_what_json_dumps_gives(value):
    salt = bytes(range(16))
    for name in ("holder_name", "名称", 'odd "name"\n'):
        assert sealing._encode_disclosure(salt, name, value).decode("ascii") == reference_disclosure(
            salt, name, value
        )


def test_random_json_values_encode_like_json_dumps():
    import random

    rng = random.Random(20261122)
    for _ in range(2000):
        salt, name, value = rng.randbytes(16), str(random_json(rng, 3)), random_json(rng)
        assert sealing._encode_disclosure(salt, name, value).decode("ascii") == reference_disclosure(
            salt, name, value
        )


def test_type_specific_values_are_made_json_before_they_are_encoded():
    value = {"paid_on": date(2026, 2, 15), "members": ({"name": "王建国", "since": date(2019, 5, 6)},)}
    expected = {"paid_on": "2026-02-15", "members": [{"name": "王建国", "since": "2019-05-06"}]}
    assert sealing._jsonable(value) == expected
    with pytest.raises(ValueError, match="Decimal"):
        sealing._jsonable({"amount": Decimal("1.5")})


def test_salts_and_decoys_are_drawn_in_a_fixed_order(signers):
    """Disclosures first (holder claims, then fields, in order), then the decoys of fields' _sd,
    then those of the top-level _sd: the order the credential was always built in."""
    numbers = itertools.count()
    record = record_of("household_register")
    sealed = seal(
        record,
        signer=signers["household"],
        status_uri=STATUS_URI,
        status_index=1,
        now=NOW,
        salt=lambda: next(numbers).to_bytes(16, "big"),
    )
    salts = [json.loads(b64url_decode(d))[0] for d in disclosures_of(sealed.compact)]
    drawn = [base64.urlsafe_b64encode(n.to_bytes(16, "big")).rstrip(b"=").decode() for n in range(len(salts))]
    assert salts == drawn  # one per disclosure, in order

    def decoy(number: int) -> str:
        return (
            base64.urlsafe_b64encode(hashlib.sha256(number.to_bytes(16, "big")).digest())
            .rstrip(b"=")
            .decode()
        )

    payload = payload_of(sealed.compact)
    nested_decoys = len(payload["fields"]["_sd"]) - len(record.fields)
    top_decoys = len(payload["_sd"]) - len(sealing.HOLDER_CLAIMS)
    first = len(salts)
    assert {decoy(n) for n in range(first, first + nested_decoys)} <= set(payload["fields"]["_sd"])
    assert {decoy(n) for n in range(first + nested_decoys, first + nested_decoys + top_decoys)} <= set(
        payload["_sd"]
    )
    assert next(numbers) == first + nested_decoys + top_decoys  # nothing else was drawn


def test_default_salts_are_fresh_128_bit_values(signers):
    sealed = sealed_for(signers)
    salts = [b64url_decode(json.loads(b64url_decode(d))[0]) for d in disclosures_of(sealed.compact)]
    assert all(len(s) == 16 for s in salts) and len(set(salts)) == len(salts)
    again = [
        b64url_decode(json.loads(b64url_decode(d))[0]) for d in disclosures_of(sealed_for(signers).compact)
    ]
    assert not set(salts) & set(again)
