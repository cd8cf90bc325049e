"""Token Status List (draft-ietf-oauth-status-list): the draft's known answers, bit packing, tokens."""

from __future__ import annotations

import base64
import json
import random
import time
import zlib
from datetime import timedelta

import pytest
from cryptography import x509

from certs import jose
from certs.authority import CertificateAuthority
from certs.keys import generate_private_key
from certs.store import read_certificate
from exchange.licenses.status_list import (
    INVALID,
    SUSPENDED,
    VALID,
    StatusList,
    StatusListError,
    read_status_list_token,
    status_list_token,
)
from exchange.queries.evidence import DepartmentSigner
from tests.conftest import NOW

URI = "https://hub.example/v1/status-lists/household-1"

# Known answers from the draft, section 4.1 (the statuses and their packed bytes) and section 4.2 /
# its examples/status_list_encoding*_json (the lst), as published in oauth-wg/draft-ietf-oauth-status-list.
VECTORS = [
    {
        "bits": 1,
        "statuses": [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1],
        "bytes": "b9a3",
        "lst": "eNrbuRgAAhcBXQ",
    },
    {
        "bits": 2,
        "statuses": [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3],
        "bytes": "c944f9",
        "lst": "eNo76fITAAPfAgc",
    },
]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"bits{v['bits']}")
def test_the_drafts_examples_encode_and_decode(vector):
    bits, statuses = vector["bits"], vector["statuses"]
    made = StatusList(len(statuses), bits=bits)
    for index, status in enumerate(statuses):
        made.set(index, status)
    assert made.to_bytes().hex() == vector["bytes"]
    assert made.encoded() == vector["lst"]
    decoded = StatusList.from_encoded(vector["lst"], bits)
    assert [decoded.get(i) for i in range(len(statuses))] == statuses
    assert decoded == made and decoded.as_claim() == {"bits": bits, "lst": vector["lst"]}


def test_bits_are_counted_from_the_least_significant():
    one = StatusList(16, bits=1)
    one.set(0, 1)
    one.set(9, 1)
    assert one.to_bytes() == bytes([0b0000_0001, 0b0000_0010])
    four = StatusList(2, bits=4)
    four.set(1, 0xA)
    assert four.to_bytes() == bytes([0xA0])


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_set_and_get_keep_every_neighbour(bits):
    rng = random.Random(bits)
    size = 1001
    expected = [rng.randrange(1 << bits) for _ in range(size)]
    statuses = StatusList(size, bits=bits)
    assert all(statuses.get(i) == VALID for i in range(size))
    for index, value in enumerate(expected):
        statuses.set(index, value)
    for index in rng.sample(range(size), 200):  # overwrite in random order
        expected[index] = rng.randrange(1 << bits)
        statuses.set(index, expected[index])
    assert [statuses.get(i) for i in range(size)] == expected
    assert len(statuses.to_bytes()) == -(-size * bits // 8)
    again = StatusList.from_encoded(statuses.encoded(), bits)
    assert [again.get(i) for i in range(size)] == expected
    assert again.size == len(statuses.to_bytes()) * 8 // bits  # a decoded list holds what its bytes hold
    assert StatusList.from_bytes(statuses.to_bytes(), bits, size) == statuses


@pytest.mark.parametrize("bits", [0, 3, 16, True])
def test_only_1_2_4_8_bits_exist(bits):
    with pytest.raises(StatusListError, match="bits"):
        StatusList(8, bits=bits)
    with pytest.raises(StatusListError, match="bits"):
        StatusList.from_encoded("eNrbuRgAAhcBXQ", bits)


def test_out_of_range_indexes_and_values_are_refused():
    statuses = StatusList(10, bits=2)
    for index in (-1, 10, True):
        with pytest.raises(StatusListError, match="index"):
            statuses.get(index)
    for value in (-1, 4, SUSPENDED + 2):
        with pytest.raises(StatusListError, match="does not fit"):
            statuses.set(0, value)
    with pytest.raises(StatusListError, match="size"):
        StatusList(0)
    with pytest.raises(StatusListError, match="cannot hold"):
        StatusList.from_bytes(b"\x00\x00", 1, size=17)


@pytest.mark.parametrize(
    ("lst", "message"),
    [
        ("", "non-empty"),
        ("***", "base64url"),
        (base64.urlsafe_b64encode(b"not zlib!").decode(), "ZLIB"),
        (base64.urlsafe_b64encode(zlib.compress(b"\x00" * 100)[:-6]).decode(), "truncated"),
    ],
)
def test_malformed_lst_is_refused(lst, message):
    with pytest.raises(StatusListError, match=message):
        StatusList.from_encoded(lst, 1)


def test_inflating_stops_at_the_limit():
    bomb = base64.urlsafe_b64encode(zlib.compress(bytes(10_000_000), 9)).rstrip(b"=").decode()
    assert len(bomb) < 20_000
    with pytest.raises(StatusListError, match="more than 1000000 bytes"):
        StatusList.from_encoded(bomb, 1, max_bytes=1_000_000)


def test_a_million_entries_compress_small_and_decode_fast(capsys):
    statuses = StatusList(1_000_000, bits=1)
    started = time.perf_counter()
    empty = statuses.encoded()
    rng = random.Random(9901)
    for index in rng.sample(range(1_000_000), 10_000):  # 1% revoked, scattered
        statuses.set(index, INVALID)
    encode_started = time.perf_counter()
    lst = statuses.encoded()
    encode_seconds = time.perf_counter() - encode_started
    decode_started = time.perf_counter()
    decoded = StatusList.from_encoded(lst, 1)
    decode_seconds = time.perf_counter() - decode_started
    total = time.perf_counter() - started
    assert decoded == statuses
    assert len(empty) < 400  # 125,000 zero bytes
    assert len(lst) < 60_000  # about 1/2 of the raw 125,000 bytes, in base64
    assert decode_seconds < 0.5 and encode_seconds < 2
    with capsys.disabled():
        print(
            f"\n1,000,000 x 1 bit: all valid lst {len(empty)} chars; 1% revoked lst {len(lst)} chars, "
            f"encode {encode_seconds * 1000:.1f} ms, decode {decode_seconds * 1000:.1f} ms, total {total:.2f} s"
        )


# --- status list tokens ------------------------------------------------------------------------


@pytest.fixture
def signer(initialised) -> DepartmentSigner:
    return DepartmentSigner.load(initialised, "household")


@pytest.fixture
def ca(initialised) -> x509.Certificate:
    return read_certificate(initialised.ca_cert)


def _claims(token: str) -> tuple[dict, dict]:
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(head))), json.loads(base64.urlsafe_b64decode(pad(body)))


def test_a_token_round_trips(signer, ca):
    statuses = StatusList(4096, bits=2)
    statuses.set(3, INVALID)
    statuses.set(4095, SUSPENDED)
    token = status_list_token(
        statuses,
        uri=URI,
        signer=signer,
        now=NOW,
        ttl=timedelta(hours=1),
        issuer="urn:dxh:department:household",
    )
    header, claims = _claims(token)
    assert header["typ"] == "statuslist+jwt" and len(header["x5c"]) == 2 and header["kid"]
    assert claims["sub"] == URI and claims["iat"] == int(NOW.timestamp())
    assert claims["exp"] == claims["iat"] + 86400 and claims["ttl"] == 3600
    assert claims["status_list"] == {"bits": 2, "lst": statuses.encoded()}
    read = read_status_list_token(
        token, ca_certificate=ca, uri=URI, now=NOW, issuer="urn:dxh:department:household"
    )
    assert read == statuses and read.get(3) == INVALID and read.get(4095) == SUSPENDED


def test_a_token_for_another_uri_is_refused(signer, ca):
    token = status_list_token(StatusList(8), uri=URI, signer=signer, now=NOW, ttl=60)
    with pytest.raises(StatusListError, match="sub"):
        read_status_list_token(token, ca_certificate=ca, uri=URI.replace("-1", "-2"), now=NOW)


def test_a_token_from_another_ca_is_refused(signer):
    token = status_list_token(StatusList(8), uri=URI, signer=signer, now=NOW, ttl=60)
    elsewhere = CertificateAuthority.create("elsewhere", generate_private_key(), now=NOW).certificate
    with pytest.raises(StatusListError, match="chain"):
        read_status_list_token(token, ca_certificate=elsewhere, uri=URI, now=NOW)


def test_an_expired_token_is_refused(signer, ca):
    token = status_list_token(
        StatusList(8), uri=URI, signer=signer, now=NOW, ttl=60, valid_for=timedelta(hours=1)
    )
    read_status_list_token(token, ca_certificate=ca, uri=URI, now=NOW + timedelta(minutes=59))
    with pytest.raises(StatusListError, match="expired"):
        read_status_list_token(token, ca_certificate=ca, uri=URI, now=NOW + timedelta(hours=2))


def test_a_token_of_another_type_or_issuer_or_tampered_is_refused(signer, ca):
    claims = {"sub": URI, "iat": int(NOW.timestamp()), "status_list": StatusList(8).as_claim()}
    other_typ = jose.sign(claims, signer.key, typ="JWT", x5c=signer.chain)
    with pytest.raises(StatusListError, match="typ"):
        read_status_list_token(other_typ, ca_certificate=ca, uri=URI, now=NOW)
    token = status_list_token(
        StatusList(8), uri=URI, signer=signer, now=NOW, ttl=60, issuer="urn:dxh:department:tax"
    )
    with pytest.raises(StatusListError, match="iss"):
        read_status_list_token(
            token, ca_certificate=ca, uri=URI, now=NOW, issuer="urn:dxh:department:household"
        )
    head, body, signature = token.split(".")
    revoked = StatusList(8)
    revoked.set(0, INVALID)
    forged_claims = _claims(token)[1] | {"status_list": revoked.as_claim()}
    forged_body = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    with pytest.raises(StatusListError, match="signature"):
        read_status_list_token(f"{head}.{forged_body}.{signature}", ca_certificate=ca, uri=URI, now=NOW)


def test_ttl_must_be_positive_and_within_the_validity(signer):
    with pytest.raises(StatusListError, match="ttl"):
        status_list_token(StatusList(8), uri=URI, signer=signer, now=NOW, ttl=0)
    with pytest.raises(StatusListError, match="cached"):
        status_list_token(
            StatusList(8), uri=URI, signer=signer, now=NOW, ttl=7200, valid_for=timedelta(hours=1)
        )
    with pytest.raises(StatusListError, match="timezone-aware"):
        status_list_token(StatusList(8), uri=URI, signer=signer, now=NOW.replace(tzinfo=None), ttl=60)
