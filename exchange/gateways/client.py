"""The hub's side of a department gateway: a :class:`~exchange.queries.providers.Provider` that
asks the gateway over HTTP, authenticated by the hub's key, and checks everything it gets back.

Network failures become the adapters' own errors (httpx-style translation at the boundary), so the
query path maps them to problem documents exactly as it does for a local legacy system: a gateway
that cannot be reached is 503, one that does not answer in time is 504, one that answers something
that does not verify is 502.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography import x509

from adapters import errors as adapter_errors
from adapters.base import Change, Department
from adapters.registry import get_department
from certs import jose
from certs.keys import PrivateKey
from certs.revocation import RevocationChecker
from exchange.config import Settings
from exchange.gateways import protocol
from exchange.licenses.sealing import SD_JWT_VC_TYP, ToSeal
from exchange.licenses.status_list import StatusList
from exchange.queries.evidence import EVIDENCE_TYP
from exchange.queries.providers import Draft, Question


class GatewayProvider:
    """A department reached through its gateway at ``base_url``."""

    def __init__(
        self,
        department_id: str,
        base_url: str,
        *,
        hub_id: str,
        hub_key: PrivateKey,
        hub_chain: Sequence[x509.Certificate],
        ca_certificate: x509.Certificate,
        revocation: RevocationChecker,
        timeout: float,
        http: httpx.Client | None = None,
        page_size: int = 5000,
    ) -> None:
        self.department_id = department_id
        self.base_url = base_url
        self.page_size = page_size
        self._pages: dict[tuple[str, str, str], tuple[str, int]] = {}
        self._hub_id = hub_id
        self._key = hub_key
        self._chain = tuple(hub_chain)
        self._ca = ca_certificate
        self._revocation = revocation
        # ``http`` lets a test put the gateway app itself behind the client (a Starlette TestClient).
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def answer(self, question: Question) -> Draft:
        token, jti = self._post_claims(protocol.ANSWERS_PATH, protocol.question_claims(question))
        claims = self._verified(token, typ=protocol.DRAFT_TYP, audience=self._hub_id)
        if claims.get("in_reply_to") != jti or claims.get("question") != protocol.question_claims(question):
            raise adapter_errors.BadLegacyData(f"the {self.department_id} gateway answered another question")
        draft = Draft(
            data=claims.get("data"),
            results=claims.get("results"),
            credentials=claims.get("credentials"),
            token=token,
        )
        self._check_answer_shape(draft, question)
        return draft

    def evidence(self, draft: Draft, question: Question, *, log_index: int, now: datetime) -> str:
        if draft.token is None:
            raise adapter_errors.BadLegacyData("a gateway signs evidence only for its own draft")
        token, _ = self._post_claims(protocol.EVIDENCE_PATH, {"draft": draft.token, "log_index": log_index})
        claims = self._verified(token, typ=EVIDENCE_TYP, audience=question.client_id)
        expected = {
            "iss": self.department_id,
            "req": question.request_jti,
            "req_hash": question.request_hash,
            "resource": question.resource_code,
            "log": {"index": log_index},
            "data": draft.data,
            "results": draft.results,
            "credentials": draft.credentials,
        }
        wrong = [name for name, value in expected.items() if claims.get(name) != value]
        if wrong:
            raise adapter_errors.BadLegacyData(
                f"the {self.department_id} gateway's evidence differs in {', '.join(wrong)}"
            )
        return token

    def status_list_token(self, status_list: StatusList, *, uri: str, now: datetime, ttl: int) -> str:
        claims = {"uri": uri, "status_list": status_list.as_claim(), "ttl": ttl}
        token, _ = self._post_claims(protocol.STATUS_LIST_PATH, claims)
        verified = self._verified(token, typ="statuslist+jwt", audience=None)
        if verified.get("sub") != uri or verified.get("status_list") != status_list.as_claim():
            raise adapter_errors.BadLegacyData(f"the {self.department_id} gateway signed another status list")
        return token

    # --- license sync -----------------------------------------------------------------------------

    @property
    def department(self) -> Department:
        return get_department(self.department_id)

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        """The gateway's change feed, a signed page at a time (:class:`~exchange.licenses.sync.ChangeFeed`).

        The pages read are kept until the next call: :meth:`seal_licenses` sends each record's page
        back, so the gateway seals only what its legacy system gave.
        """
        self._pages = {}
        while True:
            token, jti = self._post_claims(
                protocol.CHANGES_PATH, {"watermark": watermark, "limit": self.page_size}
            )
            page = self._verified(token, typ=protocol.CHANGES_TYP, audience=self._hub_id)
            if page.get("in_reply_to") != jti or page.get("after") != watermark:
                raise adapter_errors.BadLegacyData(f"the {self.department_id} gateway answered another page")
            entries = page.get("changes")
            if not isinstance(entries, list):
                raise adapter_errors.BadLegacyData(f"the {self.department_id} gateway's page has no changes")
            for position, entry in enumerate(entries):
                try:
                    record = protocol.certificate_from_json(entry["record"])
                    watermark = str(entry["watermark"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise adapter_errors.BadLegacyData(
                        f"the {self.department_id} gateway's change {position} is malformed: {exc}"
                    ) from None
                self._pages[(record.license_type, record.source_id, record.source_version)] = (
                    token,
                    position,
                )
                yield Change(record, watermark)
            if len(entries) < self.page_size:
                return

    def seal_licenses(self, items: Sequence[ToSeal], *, now: datetime) -> list[str]:
        """Have the gateway seal licenses of records it gave (a ``LicenseSealer``)."""
        by_page: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for number, item in enumerate(items):
            key = (item.certificate.license_type, item.certificate.source_id, item.certificate.source_version)
            if key not in self._pages:
                raise adapter_errors.BadLegacyData(
                    f"{key} was not read from the {self.department_id} gateway"
                )
            token, position = self._pages[key]
            wanted = {
                "position": position,
                "version": item.record.version,
                "status_uri": item.status_uri,
                "status_index": item.status_index,
            }
            by_page.setdefault(token, []).append((number, wanted))
        credentials: list[str | None] = [None] * len(items)
        for token, numbered in by_page.items():
            answer, _ = self._post_claims(
                protocol.SEAL_PATH, {"changes": token, "items": [w for _, w in numbered]}
            )
            try:
                sealed = json.loads(answer)["credentials"]
            except (ValueError, KeyError, TypeError):
                sealed = None
            if not isinstance(sealed, list) or len(sealed) != len(numbered):
                raise adapter_errors.BadLegacyData(f"the {self.department_id} gateway sealed another batch")
            for (number, wanted), credential in zip(numbered, sealed, strict=True):
                self._check_sealed(credential, wanted)
                credentials[number] = credential
        return [credential for credential in credentials if credential is not None]

    def _check_sealed(self, credential: Any, wanted: dict[str, Any]) -> None:
        if not isinstance(credential, str):
            raise adapter_errors.BadLegacyData(f"the {self.department_id} gateway sealed something else")
        claims = self._verified(credential.split("~", 1)[0], typ=SD_JWT_VC_TYP, audience=None, leeway=10**11)
        reference = {"idx": wanted["status_index"], "uri": wanted["status_uri"]}
        if claims.get("status", {}).get("status_list") != reference:
            raise adapter_errors.BadLegacyData(
                f"the {self.department_id} gateway sealed another status entry"
            )

    # --- the wire ---------------------------------------------------------------------------------

    def _post_claims(self, path: str, claims: dict[str, Any]) -> tuple[str, str]:
        body, jti = protocol.sign_request(
            claims,
            key=self._key,
            chain=self._chain,
            hub_id=self._hub_id,
            department_id=self.department_id,
            path=path,
            now=datetime.now(UTC),
        )
        try:
            response = self._http.post(path, content=body, headers={"Content-Type": protocol.MEDIA_TYPE})
        except httpx.TimeoutException:
            raise adapter_errors.LegacyTimeout(
                f"the {self.department_id} gateway did not answer in time"
            ) from None
        except httpx.TransportError as exc:
            raise adapter_errors.LegacyUnavailable(
                f"the {self.department_id} gateway at {self.base_url} is unreachable: {exc}"
            ) from None
        if response.status_code != 200:
            raise self._failure(response)
        return response.text, jti

    def _failure(self, response: httpx.Response) -> adapter_errors.AdapterError:
        try:
            problem = json.loads(response.content)
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        detail = str(problem.get("detail") or f"HTTP {response.status_code}")[:500]
        if problem.get("adapter_error"):
            return protocol.adapter_error(problem["adapter_error"], detail)
        # The gateway refused the hub itself (authentication, a malformed call): a fault of the
        # deployment, not of the consumer's request.
        return adapter_errors.BadLegacyData(
            f"the {self.department_id} gateway refused the hub: {response.status_code} {detail}"
        )

    def _verified(
        self, token: str, *, typ: str, audience: str | None, leeway: float = protocol.CLOCK_SKEW
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        try:
            leaf = protocol.signer_certificate(
                token,
                ca_certificate=self._ca,
                revocation=self._revocation,
                common_name=self.department_id,
                now=now,
            )
            return jose.verify(
                token,
                leaf.public_key(),  # type: ignore[arg-type]
                typ=typ,
                audience=audience,
                leeway=leeway,
                now=now,
            )
        except (protocol.GatewayAuthError, jose.JoseError) as exc:
            raise adapter_errors.BadLegacyData(
                f"the {self.department_id} gateway's answer does not verify: {exc}"
            ) from None

    def _check_answer_shape(self, draft: Draft, question: Question) -> None:
        expected = {"query": "data", "verify": "results", "license": "credentials"}[question.operation]
        given = [name for name in ("data", "results", "credentials") if getattr(draft, name) is not None]
        if given != [expected]:
            raise adapter_errors.BadLegacyData(f"the {self.department_id} gateway's draft carries {given}")
        if question.operation == "query" and set(draft.data or {}) != set(question.items):
            raise adapter_errors.BadLegacyData(f"the {self.department_id} gateway answered other items")
        if question.operation == "license" and draft.credentials != list(question.credentials):
            raise adapter_errors.BadLegacyData(f"the {self.department_id} gateway changed the credentials")


def connect(
    settings: Settings, department_id: str, *, revocation: RevocationChecker | None = None
) -> GatewayProvider:
    """The gateway of ``department_id`` named in ``EXCHANGE_GATEWAYS``, signed for with the hub's key."""
    from certs.keys import load_private_key
    from certs.store import PkiPaths, read_certificate

    paths = PkiPaths(settings.pki_dir)
    ca = read_certificate(paths.ca_cert)
    return GatewayProvider(
        department_id,
        settings.gateways[department_id],
        hub_id=settings.hub_id,
        hub_key=load_private_key(paths.hub_key),
        hub_chain=(read_certificate(paths.hub_cert), ca),
        ca_certificate=ca,
        revocation=revocation or RevocationChecker(paths.crl, ca),
        timeout=settings.gateway_timeout_seconds,
    )
