"""The signed answer (DESIGN.md "Signed response"): a JWS by the providing department, bound to the
request it answers and naming its audit entry, verifiable offline with only the hub CA certificate."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from certs import jose
from certs.authority import uscc_of
from certs.jwk import jwk_thumbprint
from certs.keys import PrivateKey, load_private_key
from certs.store import PkiPaths, read_certificate

if TYPE_CHECKING:
    from exchange.licenses.sealing import ToSeal

EVIDENCE_TYP = "exchange-evidence+jwt"


def body_hash(body: bytes) -> str:
    """base64url (no padding) of SHA-256 over the exact bytes: the ``req_hash`` of DESIGN.md."""
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class DepartmentSigner:
    """A department's sealing key and the chain that proves it (department certificate, hub CA)."""

    department_id: str
    key: PrivateKey
    chain: tuple[x509.Certificate, x509.Certificate]

    @classmethod
    def load(cls, paths: PkiPaths, department_id: str, passphrase: bytes | None = None) -> DepartmentSigner:
        key = load_private_key(paths.department_key(department_id), passphrase)
        chain = (read_certificate(paths.department_cert(department_id)), read_certificate(paths.ca_cert))
        return cls(department_id, key, chain)

    @classmethod
    def available(cls, paths: PkiPaths, department_ids: list[str]) -> dict[str, DepartmentSigner]:
        """The signers whose key this process holds (all of them in the embedded default)."""
        return {
            department_id: cls.load(paths, department_id)
            for department_id in department_ids
            if Path(paths.department_key(department_id)).exists()
        }

    @cached_property
    def kid(self) -> str:
        """The key's RFC 7638 thumbprint, computed once: every JWS the department signs names it."""
        return jwk_thumbprint(self.key.public_key())

    @cached_property
    def uscc(self) -> str | None:
        """The department's USCC, as its certificate carries it."""
        return uscc_of(self.chain[0])

    @cached_property
    def _jws_signers(self) -> dict[str, jose.JwsSigner]:
        return {}

    def jws_signer(self, typ: str) -> jose.JwsSigner:
        """This key's :class:`certs.jose.JwsSigner` for ``typ`` (``kid`` and ``x5c`` in the header),
        made once: its header is encoded once for every license the department seals."""
        if typ not in self._jws_signers:
            self._jws_signers[typ] = jose.JwsSigner(self.key, typ=typ, kid=self.kid, x5c=self.chain)
        return self._jws_signers[typ]

    def seal_licenses(self, items: Sequence[ToSeal], *, now: datetime) -> list[str]:
        """Seal licenses with this key (:class:`exchange.licenses.sealing.LicenseSealer`)."""
        from exchange.licenses.sealing import seal

        return [
            seal(
                item.record, signer=self, status_uri=item.status_uri, status_index=item.status_index, now=now
            ).compact
            for item in items
        ]

    def sign(
        self,
        *,
        client_id: str,
        request_jti: str,
        request_hash: str,
        resource_code: str,
        subject: Mapping[str, str],
        log_index: int,
        now: datetime,
        data: Mapping[str, Any] | None = None,
        results: Mapping[str, str] | None = None,
        credentials: list[str] | None = None,
    ) -> str:
        answers = {"data": data, "results": results, "credentials": credentials}
        given = [name for name, value in answers.items() if value is not None]
        if len(given) != 1:
            raise ValueError("evidence carries exactly one of data (query), results (verify), credentials")
        claims: dict[str, Any] = {
            "iss": self.department_id,
            "aud": client_id,
            "iat": int(now.timestamp()),
            "jti": uuid.uuid4().hex,
            "req": request_jti,
            "req_hash": request_hash,
            "resource": resource_code,
            "subject": dict(subject),
            "log": {"index": log_index},
        }
        answer = answers[given[0]]
        claims[given[0]] = list(answer) if given[0] == "credentials" else dict(answer)  # type: ignore[arg-type]
        return jose.sign(claims, self.key, typ=EVIDENCE_TYP, kid=self.kid, x5c=self.chain)
