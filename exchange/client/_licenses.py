"""License search results: each credential of verified evidence, with its own report and status.

The evidence checks (:func:`exchange.client._evidence.check_evidence`) already proved every credential
genuine. What is left is a fact about each license, not about the answer: whether it is within its
validity period today and whether its issuer has revoked or suspended it in a Token Status List
(draft-ietf-oauth-status-list). Those are reported here, never raised.

Status lists are fetched from the hub the client talks to and nowhere else: a credential's status
``uri`` (the hub's public URL may differ from ours, behind a proxy) only lends the list id at the end
of its path, ``.../v1/status-lists/<id>`` (a hub may be published under a path prefix); the token
fetched from ``hub_url + "/v1/status-lists/<id>"`` must then name exactly that
``uri`` as its ``sub`` (draft section 8.3) and be signed by the department that issued the credential.
So a credential can never make the client fetch an arbitrary URL (SSRF), and a list served for
another URI is refused. Any failure to learn a status fails closed (the ``status`` check fails).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509

from certs import jose
from certs.revocation import RevocationState
from certs.verification import Check
from exchange.client._errors import EvidenceRejected
from exchange.client._evidence import Evidence, department_id_of
from exchange.licenses.sealing import CredentialReport, verify_credential
from exchange.licenses.status_list import StatusList, read_status_list_token

STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"
# The list id ends the path; any prefix before /v1 is the publisher's and is never fetched. No dots in
# the id: no "..", ever.
STATUS_LIST_PATH = re.compile(r"(?:/(?!\.+/)[A-Za-z0-9_.~-]+)*(/v1/status-lists/[A-Za-z0-9_-]{1,128})")
MAX_STATUS_LIST_TOKEN = 4 * 1024 * 1024  # bytes; a list of 2**20 statuses is well under 1 MiB


class StatusListUnavailable(Exception):
    """A status list could not be fetched or did not verify; the license's status fails closed."""


@dataclass(frozen=True)
class LicenseCredential:
    """One license of a search: the credential as the hub sent it and every check of it.

    Attributes:
        credential: the SD-JWT VC (RFC 9901) compact string, with every Disclosure; present only
            what a verifier needs (``exchange.licenses.sealing.present``).
        report: :func:`~exchange.licenses.sealing.verify_credential`'s report at the search's time:
            ``signature``, ``chain``, ``issuer``, ``disclosures`` (all passed, or the evidence would
            have been rejected), ``validity_period`` and ``status``.
    """

    credential: str
    report: CredentialReport

    @property
    def identifier(self) -> str | None:
        """The license's GB/T 36904 identifier."""
        return self.report.identifier

    @property
    def claims(self) -> dict[str, Any]:
        """The disclosed claims (holder, metadata, ``fields``)."""
        return self.report.claims

    @property
    def ok(self) -> bool:
        """Every check passed: genuine, within its validity period and known to be valid now."""
        return self.report.ok

    @property
    def status(self) -> str:
        """``valid``, ``invalid`` (revoked), ``suspended`` or ``unknown`` (not consulted, or unavailable)."""
        return self.report.status

    @property
    def checks(self) -> list[Check]:
        return self.report.checks

    @property
    def failed(self) -> list[str]:
        """The names of the failed checks (``validity_period``, ``status``, or none)."""
        return self.report.failed


@dataclass(frozen=True)
class LicenseSearch:
    """The answer of a license search: the evidence to keep, and each license found.

    Attributes:
        evidence: the verified evidence; ``evidence.credentials`` are the credentials of ``licenses``
            in the same order. Store ``evidence.token`` and ``evidence.request_body``.
        licenses: one :class:`LicenseCredential` per credential (empty: the subject holds none).
    """

    evidence: Evidence
    licenses: list[LicenseCredential]


def license_search(
    evidence: Evidence,
    *,
    ca_certificate: x509.Certificate,
    now: datetime,
    status_of: Callable[[str, int], int] | None,
    revocation: RevocationState | None,
) -> LicenseSearch:
    """Report each credential of verified license-search evidence at ``now``."""
    return LicenseSearch(
        evidence=evidence,
        licenses=[
            LicenseCredential(
                credential,
                verify_credential(
                    credential,
                    ca_certificate=ca_certificate,
                    now=now,
                    status_of=status_of,
                    revocation=revocation,
                ),
            )
            for credential in evidence.credentials or []
        ],
    )


class StatusLists:
    """``status_of(uri, idx)`` for :func:`verify_credential`: each list fetched once, from the hub only.

    One instance serves one search: the lists are read at that search's ``now`` and never cached
    beyond it (a status list token's ``ttl`` is about reuse across searches, which we do not do).
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        hub_url: str,
        ca_certificate: x509.Certificate,
        department_id: str,
        now: datetime,
        revocation: RevocationState | None,
    ) -> None:
        self._http = http
        self._hub_url = hub_url.rstrip("/")
        self._ca = ca_certificate
        self._department_id = department_id
        self._now = now
        self._revocation = revocation
        self._tokens: dict[str, str | StatusListUnavailable] = {}  # by path: one GET per list
        self._lists: dict[str, StatusList | StatusListUnavailable] = {}  # by the credential's uri

    def __call__(self, uri: str, idx: int) -> int:
        if uri not in self._lists:
            try:
                self._lists[uri] = self._read(uri)
            except StatusListUnavailable as exc:
                self._lists[uri] = exc
        found = self._lists[uri]
        if isinstance(found, StatusListUnavailable):
            raise StatusListUnavailable(str(found))  # a fresh exception per credential
        return found.get(idx)

    def _read(self, uri: str) -> StatusList:
        token = self._token(status_list_path(uri))
        try:
            statuses = read_status_list_token(
                token, ca_certificate=self._ca, uri=uri, now=self._now, revocation=self._revocation
            )
        except ValueError as exc:  # StatusListError (and JoseError) are ValueErrors
            raise StatusListUnavailable(str(exc)) from None
        signer = jose.certificates_from_x5c(jose.header(token).get("x5c"))[0]  # the one that just verified
        try:
            department: str | None = department_id_of(signer)
        except EvidenceRejected:  # not a department certificate
            department = None
        if department != self._department_id:
            raise StatusListUnavailable(
                f"the list is signed by {department or 'no department'}, not {self._department_id}"
            )
        return statuses

    def _token(self, path: str) -> str:
        if path not in self._tokens:
            try:
                self._tokens[path] = self._fetch(self._hub_url + path)
            except StatusListUnavailable as exc:
                self._tokens[path] = exc
        found = self._tokens[path]
        if isinstance(found, StatusListUnavailable):
            raise StatusListUnavailable(str(found))
        return found

    def _fetch(self, url: str) -> str:
        try:
            with self._http.stream("GET", url, headers={"Accept": STATUS_LIST_MEDIA_TYPE}) as response:
                if response.status_code != 200:
                    raise StatusListUnavailable(f"GET {url} answered {response.status_code}")
                media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if media_type != STATUS_LIST_MEDIA_TYPE:
                    raise StatusListUnavailable(
                        f"GET {url} answered {media_type!r}, not {STATUS_LIST_MEDIA_TYPE}"
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_STATUS_LIST_TOKEN:
                        raise StatusListUnavailable(f"GET {url}: more than {MAX_STATUS_LIST_TOKEN} bytes")
        except httpx.HTTPError as exc:
            raise StatusListUnavailable(f"no answer from {url}: {type(exc).__name__}: {exc}") from None
        try:
            return body.decode("ascii").strip()
        except UnicodeDecodeError:
            raise StatusListUnavailable(f"GET {url}: not a compact JWS (non-ASCII bytes)") from None


def status_list_path(uri: str) -> str:
    """The path to fetch, under our ``hub_url``, for a credential's status ``uri``: ``/v1/status-lists/<id>``.

    Raises:
        StatusListUnavailable: the ``uri`` is not an http(s) URI of that form (no user info, query or
            fragment): it is never fetched.
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or (matched := STATUS_LIST_PATH.fullmatch(parts.path)) is None
    ):
        raise StatusListUnavailable(f"{uri!r} is not a status list of this hub (/v1/status-lists/<id>)")
    return matched.group(1)
