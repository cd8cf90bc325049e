"""Sealing licenses as SD-JWT VCs (RFC 9901; SD-JWT VC draft, ``typ`` ``dc+sd-jwt``) and checking them.

This module signs: keep its callers few (the license store). A sealed license is

``<issuer-signed JWT>~<disclosure>~...~<disclosure>~``

(RFC 9901 section 4, no Key Binding JWT: licenses are not bound to a holder key in this version, so
there is no ``cnf``). The issuer-signed JWT carries, in clear: ``iss`` (``urn:dxh:department:<id>``),
``iat``, ``nbf`` (start of ``valid_from``), ``exp`` (end of ``valid_to``, when there is one), ``vct``,
``status`` (Token Status List reference), ``_sd_alg`` and the always-disclosed GB/T 36901 metadata
(:data:`~exchange.licenses.types.ALWAYS_DISCLOSED`). Selectively disclosable, as object-property
Disclosures ``[salt, name, value]`` (RFC 9901 section 4.2.1): ``holder_name``, ``holder_code``,
``holder_code_type`` and ``number`` at the top level, and every type-specific field inside the object
claim ``fields`` (a nested ``_sd``; RFC 9901 allows one at any level), so that no field name can collide
with a registered claim such as ``status``. Each ``_sd`` array is padded with decoy digests (RFC 9901
section 4.2.5) to a multiple of :data:`DECOY_BLOCK` and sorted, hiding how many claims there are.

Dates are calendar dates in China Standard Time (UTC+8): ``nbf`` is 00:00 on ``valid_from`` and ``exp``
is 00:00 on the day after ``valid_to``, so a license is valid through the whole of its last day.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, Protocol, runtime_checkable

from cryptography import x509
from cryptography.x509.oid import NameOID

from adapters.base import CertificateRecord
from certs import jose
from certs.authority import uscc_of
from certs.revocation import RevocationState
from certs.verification import Check, verify_certificate
from exchange.identifiers import InvalidIdentifier, validate_license_id
from exchange.licenses.status_list import INVALID, STATUS_NAMES, SUSPENDED, VALID
from exchange.licenses.types import ALWAYS_DISCLOSED, LICENSE_TYPES, LicenseRecord, LicenseType
from exchange.queries.evidence import DepartmentSigner

SD_JWT_VC_TYP = "dc+sd-jwt"
SD_ALG = "sha-256"
ISSUER_PREFIX = "urn:dxh:department:"
FIELDS_CLAIM = "fields"
HOLDER_CLAIMS = ("holder_name", "holder_code", "holder_code_type", "number")
DECOY_BLOCK = 8  # each _sd array is padded with decoys to a multiple of this
MIN_DECOYS = 2
SALT_BYTES = 16  # 128 bits, RFC 9901 section 4.2.1
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
CLOCK_SKEW = 60  # seconds an iat may lie in the verifier's future
CHECKS = ("signature", "chain", "issuer", "disclosures", "validity_period", "status")

# certs.jose.verify also checks exp/nbf/iat; here those are the separate validity_period check, so the
# signature check switches them off with a leeway larger than any timestamp.
_NO_TIME_CHECK = 10**11
_RESERVED_NAMES = frozenset({"_sd", "..."})
# RFC 9901 section 4.2.1 / SD-JWT VC draft: claims that must stay in clear.
_NEVER_DISCLOSABLE = frozenset({"iss", "iat", "nbf", "exp", "vct", "status", "cnf", "_sd_alg", "_sd", "..."})


@dataclass(frozen=True)
class ToSeal:
    """One license to seal: the department's certificate it comes from, the record the hub derived
    from it, and the credential's entry in a Token Status List."""

    certificate: CertificateRecord
    record: LicenseRecord
    status_uri: str
    status_index: int


class LicenseSealer(Protocol):
    """Who seals a department's licenses: its key in this process (:class:`DepartmentSigner`), or
    the department's gateway (:class:`exchange.gateways.client.GatewayProvider`)."""

    department_id: str

    def seal_licenses(self, items: Sequence[ToSeal], *, now: datetime) -> list[str]:
        """The SD-JWT VCs (compact, every Disclosure) of ``items``, in order.

        Raises:
            ValueError: a record does not fit the department (see :func:`seal`).
            adapters.errors.LegacyFailure: a gateway could not seal them.
        """
        ...


@runtime_checkable
class BackgroundSealer(LicenseSealer, Protocol):
    """A sealer that seals in other processes (:mod:`exchange.licenses.sealing_workers`), so the sync
    can read its next batch meanwhile."""

    def start_sealing(self, items: Sequence[ToSeal], *, now: datetime) -> Callable[[], list[str]]:
        """Start sealing ``items`` and return at once; calling the result waits for the credentials
        (as :meth:`LicenseSealer.seal_licenses` returns them) and raises what it would."""
        ...


@dataclass(frozen=True)
class Sealed:
    """A sealed license.

    Attributes:
        compact: the SD-JWT with every Disclosure, as issued: ``<jwt>~<d1>~...~<dn>~``.
        disclosures: claim path -> encoded Disclosure; top-level claims by name (``holder_name``),
            type-specific fields as ``fields.<name>``.
        issuer_jwt: the issuer-signed JWT alone.
        digest: lowercase hex SHA-256 of ``compact`` (ASCII), for storage and integrity checks.
    """

    compact: str
    disclosures: Mapping[str, str]
    issuer_jwt: str
    digest: str


@dataclass(frozen=True)
class CredentialReport:
    """Every check of :func:`verify_credential`, each reported on its own.

    ``claims`` is the processed payload (disclosed values restored, ``_sd``/``_sd_alg`` removed). It is
    filled even when a check fails, so the report can say which credential failed: trust it only when
    ``ok``. ``status`` is ``valid``, ``invalid``, ``suspended`` or ``unknown`` (no status list
    consulted, or it could not be read).
    """

    checks: list[Check]
    claims: dict[str, Any] = field(default_factory=dict)
    vct: str | None = None
    identifier: str | None = None
    status: str = "unknown"

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]


def issuer_of(department_id: str) -> str:
    """The ``iss`` of a department's credentials and status lists: ``urn:dxh:department:<id>``."""
    return ISSUER_PREFIX + department_id


def seal(
    record: LicenseRecord,
    *,
    signer: DepartmentSigner,
    status_uri: str,
    status_index: int,
    now: datetime,
    salt: Callable[[], bytes] | None = None,
) -> Sealed:
    """Seal ``record`` as an SD-JWT VC signed by its issuing department.

    Args:
        record: the license; its type must be one the signer's department issues, ``issuer_code`` the
            USCC in the signer's certificate and ``identifier`` a valid GB/T 36904 identifier of the same
            type, issuer and version.
        signer: the issuing department's key and chain (``x5c``; ``kid`` = RFC 7638 thumbprint).
        status_uri: the Token Status List holding this credential's status.
        status_index: its index in that list.
        now: the sealing time (``iat``), timezone-aware.
        salt: random bytes for each salt and decoy, called in a fixed order (tests); by default 16
            bytes of ``os.urandom`` each (RFC 9901 recommends 128 bits of salt), read in one call.

    Raises:
        ValueError: the record does not fit the signer or the rules above.
    """
    kind = _check_record(record, signer)
    if (
        not status_uri
        or not isinstance(status_index, int)
        or isinstance(status_index, bool)
        or status_index < 0
    ):
        raise ValueError("a credential needs a status list URI and a non-negative index")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    names = [(name, name, getattr(record, name)) for name in HOLDER_CLAIMS]
    fields = [(f"{FIELDS_CLAIM}.{name}", name, _jsonable(value)) for name, value in record.fields.items()]
    nested_total = _padded(len(fields))
    top_total = _padded(len(names))
    # Every random value of the credential, in the order the salts and decoys are used: the
    # Disclosures' salts (top level, then fields), the decoys of fields' _sd, those of the top _sd.
    salts = _salts(salt, nested_total + top_total)

    disclosures: dict[str, str] = {}
    digests: list[str] = []
    for position, (path, name, value) in enumerate(names + fields):
        encoded = _encode_disclosure(salts[position], name, value)
        disclosures[path] = encoded.decode("ascii")
        digests.append(_b64url_of(hashlib.sha256(encoded).digest()))
    top, nested = digests[: len(names)], digests[len(names) :]
    decoys = [_b64url_of(hashlib.sha256(random).digest()) for random in salts[len(digests) :]]
    nested_decoys = nested_total - len(nested)

    claims: dict[str, Any] = {"iss": issuer_of(signer.department_id), "iat": int(now.timestamp())}
    claims["nbf"] = _start_of(record.valid_from)
    if record.valid_to is not None:
        claims["exp"] = _start_of(record.valid_to + timedelta(days=1))
    claims["vct"] = kind.vct
    claims["status"] = {"status_list": {"idx": status_index, "uri": status_uri}}
    for name in ALWAYS_DISCLOSED:
        value = getattr(record, name)
        if value is not None:
            claims[name] = value.isoformat() if isinstance(value, date) else value
    claims[FIELDS_CLAIM] = {"_sd": sorted(nested + decoys[:nested_decoys])}
    claims["_sd"] = sorted(top + decoys[nested_decoys:])
    claims["_sd_alg"] = SD_ALG

    issuer_jwt = signer.jws_signer(SD_JWT_VC_TYP).sign(claims)
    compact = issuer_jwt + "~" + "".join(d + "~" for d in disclosures.values())
    return Sealed(
        compact=compact,
        disclosures=disclosures,
        issuer_jwt=issuer_jwt,
        digest=hashlib.sha256(compact.encode("ascii")).hexdigest(),
    )


def present(compact: str, disclose: Collection[str]) -> str:
    """A presentation keeping only the Disclosures named in ``disclose`` (no Key Binding JWT).

    Names are the keys of :attr:`Sealed.disclosures` (``holder_name``, ``fields.area`` ...).

    Raises:
        ValueError: ``compact`` is not an SD-JWT, or a name has no Disclosure in it.
    """
    issuer_jwt, encoded, key_binding = _split(compact)
    if key_binding:
        raise ValueError("the credential carries a Key Binding JWT; present from the issued credential")
    paths = _paths(_unverified_payload(issuer_jwt), {_digest(e): e for e in encoded})
    wanted = set(disclose)
    unknown = wanted - set(paths)
    if unknown:
        raise ValueError(f"no disclosure for {', '.join(sorted(unknown))} in this credential")
    keep = {paths[path] for path in wanted}
    return issuer_jwt + "~" + "".join(e + "~" for e in encoded if e in keep)


def verify_credential(
    presentation: str,
    *,
    ca_certificate: x509.Certificate,
    now: datetime,
    status_of: Callable[[str, int], int] | None,
    revocation: RevocationState | None = None,
) -> CredentialReport:
    """Check an SD-JWT VC (issued or presented) and report each check separately.

    - ``signature``: ``typ`` ``dc+sd-jwt``, an accepted ``alg``, the signature with the ``x5c`` leaf key;
    - ``chain``: that certificate is a department certificate issued by ``ca_certificate`` and valid at
      the credential's ``iat`` (a license outlives its sealing certificate); when ``revocation`` (an
      authenticated CRL) is given, a revoked certificate fails whatever the dates;
    - ``issuer``: ``iss`` names the certificate's department, ``issuer_code`` is its USCC, and the
      ``vct`` is a license type that department issues;
    - ``disclosures``: RFC 9901 section 7.1: ``_sd_alg`` supported, every Disclosure well formed and
      referenced exactly once, no digest twice, no claim overwritten;
    - ``validity_period``: ``nbf`` <= now < ``exp``, ``iat`` not in the future;
    - ``status``: ``status_of(uri, idx)``: 0 valid, 1 invalid (revoked), 2 suspended; ``unknown`` and
      not failed when ``status_of`` is None (a failed lookup fails closed).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        issuer_jwt, encoded, key_binding = _split(presentation)
        payload = _unverified_payload(issuer_jwt)
    except ValueError as exc:
        reason = f"not an SD-JWT: {exc}"
        return CredentialReport(
            [Check("signature", False, reason)] + [Check(n, False, "not checked") for n in CHECKS[1:]]
        )
    claims, disclosure_check = _disclosures_check(payload, encoded, key_binding)
    signature_check, leaf = _signature_check(issuer_jwt)
    iat = payload.get("iat")
    issued = datetime.fromtimestamp(iat, UTC) if _is_number(iat) else now
    status_check, status = _status_check(payload.get("status"), status_of)
    checks = [
        signature_check,
        _chain_check(leaf, ca_certificate, revocation, issued, now),
        _issuer_check(claims, leaf),
        disclosure_check,
        _validity_check(payload, now),
        status_check,
    ]
    identifier = claims.get("identifier")
    vct = claims.get("vct")
    return CredentialReport(
        checks=checks,
        claims=claims,
        vct=vct if isinstance(vct, str) else None,
        identifier=identifier if isinstance(identifier, str) else None,
        status=status,
    )


# --- sealing helpers ---------------------------------------------------------------------------


def _check_record(record: LicenseRecord, signer: DepartmentSigner) -> LicenseType:
    kind = LICENSE_TYPES.get(record.license_type)
    if kind is None:
        raise ValueError(f"unknown license type {record.license_type!r}")
    if kind.department_id != signer.department_id:
        raise ValueError(f"{signer.department_id} does not issue {record.license_type}")
    if record.type_code != kind.type_code:
        raise ValueError(f"type code {record.type_code} is not {kind.type_code} of {kind.key}")
    certified = signer.uscc
    if record.issuer_code != certified:
        raise ValueError(f"issuer_code {record.issuer_code} is not the signer's USCC {certified}")
    try:
        parts = validate_license_id(record.identifier)
    except InvalidIdentifier as exc:
        raise ValueError(f"identifier: {exc}") from None
    if (parts.type_code, parts.issuer_uscc, int(parts.version)) != (
        record.type_code,
        record.issuer_code,
        record.version,
    ):
        raise ValueError(f"identifier {record.identifier} does not match the type, issuer and version")
    if record.valid_to is not None and record.valid_to < record.valid_from:
        raise ValueError("valid_to is before valid_from")
    for name in record.fields:
        if not isinstance(name, str) or not name or name in _RESERVED_NAMES:
            raise ValueError(f"{name!r} cannot be a disclosable field name")
    return kind


def _padded(real: int) -> int:
    """Digests in an ``_sd`` array of ``real`` claims with its decoys (RFC 9901 section 4.2.5): a
    multiple of :data:`DECOY_BLOCK`, at least :data:`MIN_DECOYS` decoys; sorted afterwards (4.2.4.1)."""
    return -(-(real + MIN_DECOYS) // DECOY_BLOCK) * DECOY_BLOCK


def _salts(salt: Callable[[], bytes] | None, count: int) -> list[bytes]:
    """``count`` random values: one ``os.urandom`` call cut in 16-byte pieces, or ``salt()`` each."""
    if salt is not None:
        return [salt() for _ in range(count)]
    random = os.urandom(SALT_BYTES * count)
    return [random[start : start + SALT_BYTES] for start in range(0, len(random), SALT_BYTES)]


def _start_of(day: date) -> int:
    return int(datetime.combine(day, time(0), CHINA_STANDARD_TIME).timestamp())


def _jsonable(value: Any) -> Any:
    """Type-specific values as JSON: dates as ISO 8601 text, anything else must already be JSON."""
    if type(value) is str:  # the common case, first; a str is none of the kinds below
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"a {type(value).__name__} is not a JSON value; the record must be JSON-ready")


# --- parsing -----------------------------------------------------------------------------------


def _split(sd_jwt: str) -> tuple[str, list[str], str]:
    """Issuer-signed JWT, Disclosures and Key Binding JWT ('' if none) of ``<jwt>~<d>~...~[<kb>]``."""
    if not isinstance(sd_jwt, str) or "~" not in sd_jwt:
        raise ValueError("no '~' separator")
    parts = sd_jwt.strip().split("~")
    issuer_jwt, encoded, key_binding = parts[0], parts[1:-1], parts[-1]
    if issuer_jwt.count(".") != 2:
        raise ValueError("the issuer-signed part is not a compact JWS")
    return issuer_jwt, encoded, key_binding


def _unverified_payload(issuer_jwt: str) -> dict[str, Any]:
    try:
        payload = json.loads(_b64url_decode(issuer_jwt.split(".")[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"the JWT payload is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise ValueError("the JWT payload is not a JSON object")
    return payload


def _paths(payload: Mapping[str, Any], by_digest: Mapping[str, str]) -> dict[str, str]:
    """Claim path -> Disclosure for the Disclosures present (top level and ``fields``)."""
    found: dict[str, str] = {}
    levels: list[tuple[str, Any]] = [("", payload), (FIELDS_CLAIM + ".", payload.get(FIELDS_CLAIM))]
    for prefix, level in levels:
        if not isinstance(level, dict) or not isinstance(level.get("_sd"), list):
            continue
        for digest in level["_sd"]:
            if isinstance(digest, str) and digest in by_digest:
                decoded = _decode_disclosure(by_digest[digest])
                if isinstance(decoded, list) and len(decoded) == 3 and isinstance(decoded[1], str):
                    found[prefix + decoded[1]] = by_digest[digest]
    return found


# --- the checks --------------------------------------------------------------------------------


def _signature_check(issuer_jwt: str) -> tuple[Check, x509.Certificate | None]:
    try:
        chain = jose.certificates_from_x5c(jose.header(issuer_jwt).get("x5c"))
    except jose.JoseError as exc:
        return Check("signature", False, str(exc)), None
    leaf = chain[0]
    try:
        jose.verify(issuer_jwt, leaf.public_key(), typ=SD_JWT_VC_TYP, leeway=_NO_TIME_CHECK)  # type: ignore[arg-type]
    except jose.JoseError as exc:
        return Check("signature", False, str(exc)), leaf
    return Check("signature", True, f"signed by {leaf.subject.rfc4514_string()}"), leaf


def _chain_check(
    leaf: x509.Certificate | None,
    ca: x509.Certificate,
    revocation: RevocationState | None,
    issued: datetime,
    now: datetime,
) -> Check:
    if leaf is None:
        return Check("chain", False, "no certificate in x5c")
    if uscc_of(leaf) is None:
        return Check("chain", False, "the signing certificate is not a department certificate")
    for check in verify_certificate(leaf, ca_certificate=ca, revocation=None, now=issued).checks:
        if check.name != "revocation" and not check.ok:
            return Check("chain", False, f"{check.name}: {check.detail} (at iat {issued.isoformat()})")
    if revocation is not None:
        if leaf.serial_number in revocation.serials:
            return Check("chain", False, f"the department certificate {leaf.serial_number:x} is revoked")
        if revocation.is_stale(now):
            return Check("chain", False, "the CRL is past its nextUpdate; refusing (fail closed)")
    checked = "not revoked" if revocation is not None else "revocation not checked"
    return Check("chain", True, f"department certificate issued by the hub CA, valid at iat; {checked}")


def _issuer_check(claims: Mapping[str, Any], leaf: x509.Certificate | None) -> Check:
    if leaf is None:
        return Check("issuer", False, "no certificate to compare with")
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    department = str(names[0].value) if len(names) == 1 else None
    if department is None:
        return Check("issuer", False, "the certificate names no single department (CN)")
    if claims.get("iss") != issuer_of(department):
        return Check("issuer", False, f"iss {claims.get('iss')!r} is not {issuer_of(department)!r}")
    uscc = uscc_of(leaf)
    if claims.get("issuer_code") != uscc:
        return Check(
            "issuer", False, f"issuer_code {claims.get('issuer_code')!r} is not the certificate's {uscc}"
        )
    kind = next((t for t in LICENSE_TYPES.values() if t.vct == claims.get("vct")), None)
    if kind is None:
        return Check("issuer", False, f"vct {claims.get('vct')!r} is not a license type of this hub")
    if kind.department_id != department:
        return Check("issuer", False, f"{department} does not issue {kind.key}")
    return Check("issuer", True, f"{department} ({uscc}) issues {kind.key}")


def _disclosures_check(
    payload: Mapping[str, Any], encoded: list[str], key_binding: str
) -> tuple[dict[str, Any], Check]:
    """RFC 9901 section 7.1 (processing the Disclosures); returns the processed claims and the check."""
    problems: list[str] = []
    if key_binding:
        problems.append("a Key Binding JWT is present but these credentials are not holder-bound")
    alg = payload.get("_sd_alg", SD_ALG)
    if alg != SD_ALG:
        problems.append(f"_sd_alg {alg!r} is not supported (only {SD_ALG})")
    by_digest: dict[str, str] = {}
    for item in encoded:
        digest = _digest(item)
        if digest in by_digest:
            problems.append("the same Disclosure is present twice")
        by_digest[digest] = item
    seen: set[str] = set()
    used: set[str] = set()
    claims = _process(payload, by_digest, seen, used, problems, top=True)
    if not isinstance(claims, dict):
        claims = {}
    claims.pop("_sd_alg", None)
    if set(by_digest) - used:
        problems.append(f"{len(set(by_digest) - used)} Disclosure(s) not referenced by any digest")
    if problems:
        return claims, Check("disclosures", False, "; ".join(dict.fromkeys(problems)))
    return claims, Check("disclosures", True, f"{len(used)} disclosed, every digest unique")


def _process(
    node: Any,
    by_digest: Mapping[str, str],
    seen: set[str],
    used: set[str],
    problems: list[str],
    *,
    top: bool = False,
) -> Any:
    """Restore the Disclosures of ``node`` recursively (objects' ``_sd``, arrays' ``{"...": digest}``)."""
    if isinstance(node, list):
        out = []
        for element in node:
            if isinstance(element, dict) and list(element) == ["..."]:
                digest = element["..."]
                if _take(digest, seen, problems) and digest in by_digest:
                    used.add(digest)
                    decoded = _decode_disclosure(by_digest[digest])
                    if not (isinstance(decoded, list) and len(decoded) == 2 and isinstance(decoded[0], str)):
                        problems.append("an array-element Disclosure is not [salt, value]")
                        continue
                    out.append(_process(decoded[1], by_digest, seen, used, problems))
            else:
                out.append(_process(element, by_digest, seen, used, problems))
        return out
    if not isinstance(node, dict):
        return node
    result = {k: _process(v, by_digest, seen, used, problems) for k, v in node.items() if k != "_sd"}
    digests = node.get("_sd", [])
    if not isinstance(digests, list):
        problems.append("_sd is not an array")
        return result
    for digest in digests:
        if not _take(digest, seen, problems) or digest not in by_digest:
            continue
        used.add(digest)
        decoded = _decode_disclosure(by_digest[digest])
        if not (
            isinstance(decoded, list) and len(decoded) == 3 and all(isinstance(x, str) for x in decoded[:2])
        ):
            problems.append("an object-property Disclosure is not [salt, name, value]")
            continue
        _, name, value = decoded
        if name in _RESERVED_NAMES:
            problems.append(f"a Disclosure uses the reserved name {name!r}")
        elif name in result:
            problems.append(f"a Disclosure would overwrite the claim {name!r}")
        elif top and name in _NEVER_DISCLOSABLE:
            problems.append(f"{name!r} must not be selectively disclosed")
        else:
            result[name] = _process(value, by_digest, seen, used, problems)
    return result


def _take(digest: Any, seen: set[str], problems: list[str]) -> bool:
    if not isinstance(digest, str):
        problems.append("a digest is not a string")
        return False
    if digest in seen:
        problems.append("a digest appears more than once in the payload")
        return False
    seen.add(digest)
    return True


def _validity_check(payload: Mapping[str, Any], now: datetime) -> Check:
    moment = now.timestamp()
    for name in ("iat", "nbf", "exp"):
        if name in payload and not _is_number(payload[name]):
            return Check("validity_period", False, f"{name} is not a NumericDate")
    if "iat" in payload and payload["iat"] > moment + CLOCK_SKEW:
        return Check("validity_period", False, "issued in the future (iat)")
    if "nbf" in payload and payload["nbf"] > moment:
        return Check("validity_period", False, f"not valid before {_iso(payload['nbf'])}")
    if "exp" in payload and payload["exp"] <= moment:
        return Check("validity_period", False, f"expired at {_iso(payload['exp'])}")
    until = _iso(payload["exp"]) if "exp" in payload else "no end date"
    return Check("validity_period", True, f"valid now (until {until})")


def _status_check(reference: Any, status_of: Callable[[str, int], int] | None) -> tuple[Check, str]:
    entry = reference.get("status_list") if isinstance(reference, dict) else None
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("uri"), str)
        or not isinstance(entry.get("idx"), int)
        or isinstance(entry.get("idx"), bool)
        or entry["idx"] < 0
    ):
        return Check("status", False, 'no status.status_list {"idx", "uri"} reference'), "unknown"
    uri, idx = entry["uri"], entry["idx"]
    if status_of is None:
        return Check("status", True, f"unknown: status list {uri} #{idx} not consulted"), "unknown"
    try:
        value = status_of(uri, idx)
    except Exception as exc:  # any failure to learn the status fails closed
        return Check("status", False, f"status list {uri} #{idx} unavailable: {exc}"), "unknown"
    name = STATUS_NAMES.get(value, "unknown")
    if value == VALID:
        return Check("status", True, f"valid ({uri} #{idx})"), name
    if value == INVALID:
        return Check("status", False, f"revoked: INVALID in {uri} #{idx}"), name
    if value == SUSPENDED:
        return Check("status", False, f"suspended in {uri} #{idx}"), name
    return Check("status", False, f"unknown status value {value!r} in {uri} #{idx}"), "unknown"


# --- encodings ---------------------------------------------------------------------------------


# One encoder for every Disclosure: json.dumps with options would build a new one per call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_json = _JSON.encode
# What _JSON uses for a str (JSONEncoder.encode returns encode_basestring(o) for a str itself).
_json_string = json.encoder.encode_basestring
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _encode_disclosure(salt: bytes, name: str, value: Any) -> bytes:
    """The base64url of ``_json([_b64url(salt), name, value])`` (RFC 9901 section 4.2.1), as ASCII bytes.

    The JSON array is written out rather than handed to the encoder, which would do the same: ``[``,
    the items joined by the item separator ``,``, ``]``, each str item through ``encode_basestring``
    (the salt is base64url, so it only gains quotes). Other values go through ``_json`` itself.
    ``tests/exchange/licenses/test_sealing.py`` holds the two to the same bytes.
    """
    encoded_value = _json_string(value) if type(value) is str else _json(value)
    text = '["' + _b64url_of(salt) + '",' + _json_string(name) + "," + encoded_value + "]"
    return _b64url_bytes(text.encode("utf-8"))


def _b64url_bytes(data: bytes) -> bytes:
    """base64url without padding; what ``base64.urlsafe_b64encode(data).rstrip(b"=")`` gives."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def _b64url_of(data: bytes) -> str:
    return _b64url_bytes(data).decode("ascii")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def _digest(encoded: str) -> str:
    """RFC 9901 section 4.2.3: base64url SHA-256 over the ASCII of the encoded Disclosure."""
    return _b64url(hashlib.sha256(encoded.encode("utf-8")).digest())


def _decode_disclosure(encoded: str) -> Any:
    try:
        return json.loads(_b64url_decode(encoded).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, CHINA_STANDARD_TIME).isoformat()
