"""The consumer side of the exchange protocol (DESIGN.md "Exchange protocol"): sign, send, verify.

Policy lives here (what to sign, which answers to trust, when a retry is allowed); I/O goes through
one ``httpx.Client`` whose transport a test replaces with ``httpx.MockTransport``.

A POST is never retried on its own: a request that timed out may have been answered and logged,
and resending it could double an exchange in the citizen's access log. The one exception is 429,
which the hub answers before doing anything, and only when the caller opts in
(``retries_on_429``); each retry is a newly signed request with a fresh ``jti``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

import exchange
from certs import jose
from certs.jwk import jwk_thumbprint
from certs.keys import PrivateKey, UnusableKey, algorithm_of, load_private_key
from exchange.client._errors import EvidenceRejected, HubError, HubUnreachable, RateLimited, hub_error
from exchange.client._evidence import (
    DEFAULT_CLOCK_SKEW,
    REQUEST_TYP,
    CertificateSource,
    CrlSource,
    Evidence,
    SentRequest,
    check_evidence,
    load_ca_certificate,
    revocation_state,
)
from exchange.client._licenses import LicenseSearch, StatusLists, license_search
from exchange.licenses.types import LICENSE_TYPES

DEFAULT_HUB_ID = "exchange-hub"
DEFAULT_LIFETIME = 60
MAX_LIFETIME = 300  # DESIGN.md: exp at most 300 s after iat
JWT_MEDIA_TYPE = "application/jwt"


class SubjectType(StrEnum):
    """Who a request is about (DESIGN.md ``subject.type``)."""

    ID_CARD = "id_card"  # 18-character citizen ID, GB 11643-1999
    USCC = "uscc"  # unified social credit code, GB 32100-2015
    PROPERTY_UNIT = "property_unit"  # real-estate unit number, GB/T 37346


class ExchangeClient:
    """A consumer system's client for ``POST /v1/query/{code}``, ``POST /v1/verify/{code}`` and
    ``POST /v1/licenses/search``.

    Every answer is returned only after it has been verified as evidence; use it as a context
    manager (or call :meth:`close`) to release the connection pool.
    """

    def __init__(
        self,
        client_id: str,
        private_key: PrivateKey | str | Path,
        hub_url: str,
        ca_certificate: CertificateSource,
        *,
        hub_id: str = DEFAULT_HUB_ID,
        timeout: float = 10,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
        lifetime: int = DEFAULT_LIFETIME,
        retries_on_429: int = 0,
        max_retry_wait: float = 60,
        crl: CrlSource | None = None,
        clock_skew: int = DEFAULT_CLOCK_SKEW,
        key_passphrase: bytes | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Prepare a client; nothing is sent until a request (:meth:`query`, :meth:`verify`, ...).

        Args:
            client_id: the consumer's registered ``client_id`` (the requests' ``iss``).
            private_key: its Ed25519 or P-256 private key, or the path of a PEM (PKCS#8) key file
                readable by its owner only.
            hub_url: the hub's base URL, e.g. ``http://127.0.0.1:8000``.
            ca_certificate: the hub CA certificate (object or PEM file path): the trust anchor of
                every evidence.
            hub_id: the hub's id, the requests' ``aud`` (``EXCHANGE_HUB_ID`` on the hub).
            timeout: seconds for each of connect, read, write and pool.
            transport: an httpx transport (``httpx.MockTransport`` in tests).
            clock: returns the current time (timezone-aware); defaults to the system clock.
            lifetime: seconds from ``iat`` to ``exp`` of each request, 1 to 300.
            retries_on_429: how many times to wait ``Retry-After`` and resend (newly signed) after
                a 429; 0 (the default) never retries.
            max_retry_wait: a 429 asking to wait longer than this many seconds is raised at once.
            crl: a CRL of the hub CA (object or PEM/DER file) to check department certificates
                against (those of evidence, credentials and status lists); without one,
                revocation is not checked.
            clock_skew: seconds of clock difference tolerated between this machine and the hub.
            key_passphrase: the passphrase of an encrypted key file.
            sleep: how to wait before a 429 retry (tests pass a recorder).

        Raises:
            ValueError: an argument is unusable (unknown key type, unreadable key or CA, bad URL).
        """
        if not client_id:
            raise ValueError("client_id must not be empty")
        if not 1 <= lifetime <= MAX_LIFETIME:
            raise ValueError(f"lifetime must be 1 to {MAX_LIFETIME} seconds, not {lifetime}")
        if retries_on_429 < 0:
            raise ValueError("retries_on_429 must not be negative")
        parts = urlsplit(hub_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"hub_url must be an http:// or https:// URL, not {hub_url!r}")
        self.client_id = client_id
        self.hub_url = hub_url.rstrip("/")
        self.hub_id = hub_id
        self._key = _load_key(private_key, key_passphrase)
        self.kid = jwk_thumbprint(self._key.public_key())
        self.ca_certificate = load_ca_certificate(ca_certificate)
        self._revocation = revocation_state(crl, self.ca_certificate)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lifetime = lifetime
        self._retries_on_429 = retries_on_429
        self._max_retry_wait = max_retry_wait
        self._clock_skew = clock_skew
        self._sleep = sleep
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": f"exchange-client/{exchange.__version__}"},
        )

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def query(
        self,
        resource_code: str,
        subject_type: str,
        subject_value: str,
        fields: Sequence[str],
        *,
        matter_code: str,
        purpose: str,
        operator_id: str,
        operator_name: str,
        legal_basis: str | None = None,
    ) -> Evidence:
        """Ask the providing department for data items about one subject.

        Args:
            resource_code: the resource (dataset) code, e.g. ``301001001-000001``.
            subject_type: ``id_card``, ``uscc`` or ``property_unit`` (see :class:`SubjectType`).
            subject_value: the identifier, e.g. an 18-character citizen ID.
            fields: the data items wanted; the evidence carries only those granted.
            matter_code: the approval matter this request serves.
            purpose: a short text saying why.
            operator_id: the clerk's id in the consumer system.
            operator_name: the clerk's name.
            legal_basis: optionally, the legal basis of the request.

        Returns:
            The verified :class:`Evidence`; ``evidence.data`` holds the items, ``evidence.token``
            is what to store as proof (with ``evidence.request_body``).

        Raises:
            ValueError: an argument is malformed (nothing was sent).
            HubError: the hub answered with a problem document (a subclass per status).
            HubUnreachable: no answer from the hub.
            EvidenceRejected: the answer failed a check; do not use its data.
        """
        return self._exchange(
            self._resource_url("query", resource_code),
            {"fields": _field_names(fields)},
            resource_code=resource_code,
            subject_type=subject_type,
            subject_value=subject_value,
            matter_code=matter_code,
            purpose=purpose,
            operator_id=operator_id,
            operator_name=operator_name,
            legal_basis=legal_basis,
        )

    def signed_query(
        self,
        resource_code: str,
        subject_type: str,
        subject_value: str,
        fields: Sequence[str],
        *,
        matter_code: str,
        purpose: str,
        operator_id: str,
        operator_name: str,
        legal_basis: str | None = None,
    ) -> bytes:
        """The signed body of a :meth:`query`, not sent: POST it to ``/v1/query/{resource_code}``
        within ``lifetime`` seconds (a queue, another process, a load generator), once.

        Raises:
            ValueError: an argument is malformed.
        """
        return self._sign(
            {"fields": _field_names(fields)},
            resource_code=resource_code,
            subject_type=subject_type,
            subject_value=subject_value,
            matter_code=matter_code,
            purpose=purpose,
            operator_id=operator_id,
            operator_name=operator_name,
            legal_basis=legal_basis,
        ).body

    def verify(
        self,
        resource_code: str,
        subject_type: str,
        subject_value: str,
        claims: Mapping[str, Any],
        *,
        matter_code: str,
        purpose: str,
        operator_id: str,
        operator_name: str,
        legal_basis: str | None = None,
    ) -> Evidence:
        """Ask whether claimed values match the department's records, without learning the values.

        Args:
            resource_code: the resource (dataset) code.
            subject_type: ``id_card``, ``uscc`` or ``property_unit``.
            subject_value: the identifier.
            claims: ``{item: claimed value}`` to check.
            matter_code: the approval matter this request serves.
            purpose: a short text saying why.
            operator_id: the clerk's id in the consumer system.
            operator_name: the clerk's name.
            legal_basis: optionally, the legal basis of the request.

        Returns:
            The verified :class:`Evidence`; ``evidence.results`` maps each claimed item to
            ``match``, ``mismatch`` or ``unknown``.

        Raises:
            ValueError: an argument is malformed (nothing was sent).
            HubError: the hub answered with a problem document (a subclass per status).
            HubUnreachable: no answer from the hub.
            EvidenceRejected: the answer failed a check; do not rely on it.
        """
        if not isinstance(claims, Mapping) or not claims:
            raise ValueError("claims must be a non-empty mapping of data item to claimed value")
        if not all(isinstance(item, str) and item for item in claims):
            raise ValueError("claim names must be non-empty strings")
        return self._exchange(
            self._resource_url("verify", resource_code),
            {"claims": dict(claims)},
            resource_code=resource_code,
            subject_type=subject_type,
            subject_value=subject_value,
            matter_code=matter_code,
            purpose=purpose,
            operator_id=operator_id,
            operator_name=operator_name,
            legal_basis=legal_basis,
        )

    def search_licenses(
        self,
        license_type: str,
        subject_type: str,
        subject_value: str,
        *,
        matter_code: str,
        purpose: str,
        operator_id: str,
        operator_name: str,
        legal_basis: str | None = None,
        check_status: bool = True,
    ) -> LicenseSearch:
        """Ask for a subject's e-licenses of one type (``POST /v1/licenses/search``).

        The answer is evidence like a query's, signed by the issuing department, whose
        ``credentials`` are SD-JWT VCs (RFC 9901). Each credential must be genuine (signature,
        chain, issuer, disclosures), of ``license_type``, issued by the signing department and held
        by the subject, or the whole answer is rejected. Whether each license is within its validity
        period and not revoked (Token Status List, draft-ietf-oauth-status-list) is reported per
        license, never raised: an expired license is a fact, not a forgery.

        Args:
            license_type: ``household_register``, ``tax_payment_certificate``,
                ``social_insurance_certificate`` or ``real_estate_title``.
            subject_type: ``id_card``, ``uscc`` or ``property_unit``.
            subject_value: the holder's identifier.
            matter_code: the approval matter this request serves.
            purpose: a short text saying why.
            operator_id: the clerk's id in the consumer system.
            operator_name: the clerk's name.
            legal_basis: optionally, the legal basis of the request.
            check_status: fetch each distinct status list once, from this hub only, and read each
                license's status; ``False`` leaves every status ``unknown`` (not consulted).

        Returns:
            A :class:`LicenseSearch`: the verified ``evidence`` (store ``evidence.token`` and
            ``evidence.request_body``) and one :class:`LicenseCredential` per credential with its
            full report (``validity_period`` and ``status`` included).

        Raises:
            ValueError: an argument is malformed, e.g. an unknown license type (nothing was sent).
            HubError: the hub answered with a problem document (a subclass per status).
            HubUnreachable: no answer from the hub.
            EvidenceRejected: the answer failed a check (``check`` ``credentials`` for a credential).
        """
        if not isinstance(license_type, str) or license_type not in LICENSE_TYPES:
            raise ValueError(f"license_type must be one of {', '.join(LICENSE_TYPES)}, not {license_type!r}")
        evidence = self._exchange(
            f"{self.hub_url}/v1/licenses/search",
            {"license_type": license_type},
            resource_code=None,
            subject_type=subject_type,
            subject_value=subject_value,
            matter_code=matter_code,
            purpose=purpose,
            operator_id=operator_id,
            operator_name=operator_name,
            legal_basis=legal_basis,
        )
        now = self._clock()
        status_of = (
            StatusLists(
                self._http,
                hub_url=self.hub_url,
                ca_certificate=self.ca_certificate,
                department_id=evidence.department_id,
                now=now,
                revocation=self._revocation,
            )
            if check_status
            else None
        )
        return license_search(
            evidence,
            ca_certificate=self.ca_certificate,
            now=now,
            status_of=status_of,
            revocation=self._revocation,
        )

    def _resource_url(self, kind: str, resource_code: str) -> str:
        return f"{self.hub_url}/v1/{kind}/{quote(resource_code, safe='')}"

    def _exchange(self, url: str, asked: dict[str, Any], **request: Any) -> Evidence:
        """Sign, send, and verify the answer: the whole exchange, top to bottom."""
        retries = 0
        while True:
            sent = self._sign(asked, **request)
            response = self._post(url, sent.body)
            if response.status_code == 200:
                return self._evidence(response, sent)
            error = hub_error(response, now=self._clock())
            if not self._should_retry(error, retries):
                raise error
            retries += 1
            self._sleep(float(error.retry_after if error.retry_after is not None else 1))

    def _sign(
        self,
        asked: dict[str, Any],
        *,
        resource_code: str | None,
        subject_type: str,
        subject_value: str,
        matter_code: str,
        purpose: str,
        operator_id: str,
        operator_name: str,
        legal_basis: str | None,
    ) -> SentRequest:
        """A newly signed request (fresh ``jti`` and ``iat``) after checking its arguments.

        ``resource_code`` is ``None`` for a license search, whose request names none.
        """
        if resource_code is not None:
            _require_text(resource_code=resource_code)
        _require_text(
            subject_value=subject_value,
            matter_code=matter_code,
            purpose=purpose,
            operator_id=operator_id,
            operator_name=operator_name,
        )
        if subject_type not in set(SubjectType):
            raise ValueError(f"subject_type must be one of {', '.join(SubjectType)}, not {subject_type!r}")
        if legal_basis is not None and not isinstance(legal_basis, str):
            raise ValueError("legal_basis must be a string")
        claims = self._claims(resource_code, subject_type, subject_value, asked)
        claims.update(
            matter_code=matter_code,
            purpose=purpose,
            operator={"id": operator_id, "name": operator_name},
        )
        if legal_basis is not None:
            claims["legal_basis"] = legal_basis
        body = jose.sign(claims, self._key, typ=REQUEST_TYP, kid=self.kid).encode("ascii")
        return SentRequest(
            jti=claims["jti"],
            body=body,
            issuer=self.client_id,
            issued_at=claims["iat"],
            resource=resource_code,
            subject=dict(claims["subject"]),
            fields=tuple(asked["fields"]) if "fields" in asked else None,
            claims=dict(asked["claims"]) if "claims" in asked else None,
            license_type=asked.get("license_type"),
        )

    def _claims(
        self, resource_code: str | None, subject_type: str, subject_value: str, asked: dict[str, Any]
    ) -> dict[str, Any]:
        iat = int(self._clock().timestamp())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "aud": self.hub_id,
            "iat": iat,
            "exp": iat + self._lifetime,
            "jti": uuid.uuid4().hex,
        }
        if resource_code is not None:  # a license search has none: the hub picks it by license_type
            claims["resource"] = resource_code
        claims["subject"] = {"type": str(subject_type), "value": subject_value}
        return claims | asked

    def _post(self, url: str, body: bytes) -> httpx.Response:
        try:
            return self._http.post(
                url,
                content=body,
                headers={
                    "Content-Type": JWT_MEDIA_TYPE,
                    "Accept": f"{JWT_MEDIA_TYPE}, application/problem+json",
                },
            )
        except httpx.HTTPError as exc:
            raise HubUnreachable(f"no answer from {url}: {type(exc).__name__}: {exc}") from exc

    def _evidence(self, response: httpx.Response, sent: SentRequest) -> Evidence:
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != JWT_MEDIA_TYPE:
            raise EvidenceRejected(
                "content_type", f"a 200 answer must be {JWT_MEDIA_TYPE}, not {media_type!r}"
            )
        try:
            token = response.content.decode("ascii")
        except UnicodeDecodeError:
            raise EvidenceRejected("header", "the answer is not a compact JWS (non-ASCII bytes)") from None
        return check_evidence(
            token,
            ca_certificate=self.ca_certificate,
            client_id=self.client_id,
            expected=sent,
            now=self._clock(),
            revocation=self._revocation,
            clock_skew=self._clock_skew,
        )

    def _should_retry(self, error: HubError, retries: int) -> bool:
        if not isinstance(error, RateLimited) or retries >= self._retries_on_429:
            return False
        return error.retry_after is None or error.retry_after <= self._max_retry_wait


def _load_key(source: PrivateKey | str | Path, passphrase: bytes | None) -> PrivateKey:
    if isinstance(source, str | Path):
        try:
            return load_private_key(Path(source), passphrase)
        except OSError as exc:
            raise ValueError(f"cannot read the private key {source}: {exc.strerror}") from None
        except TypeError:
            raise ValueError(f"{source} is encrypted: pass key_passphrase") from None
    try:
        algorithm_of(source)
    except UnusableKey as exc:
        raise ValueError(str(exc)) from None
    return source


def _field_names(fields: Sequence[str]) -> list[str]:
    if isinstance(fields, str) or not fields:
        raise ValueError("fields must be a non-empty list of data item names")
    items = list(fields)
    if not all(isinstance(item, str) and item for item in items) or len(set(items)) != len(items):
        raise ValueError("fields must be distinct, non-empty data item names")
    return items


def _require_text(**values: object) -> None:
    for name, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string")
