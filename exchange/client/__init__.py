"""The consumer SDK: sign a request, send it to the hub, keep the verified evidence.

::

    from exchange.client import ExchangeClient

    with ExchangeClient("demo-approval", "var/demo/consumer.key", "http://127.0.0.1:8000",
                        "var/pki/ca.pem") as client:
        evidence = client.query("301001001-000001", "id_card", "110101199003074514", ["name"],
                                matter_code="M001", purpose="enrolment", operator_id="c1",
                                operator_name="Clerk One")
    evidence.data        # the granted items
    evidence.token       # the signed evidence to store as proof (with evidence.request_body)

    search = client.search_licenses("household_register", "id_card", "110101199003074514", ...)
    search.licenses      # each credential (SD-JWT VC) with its checks, validity and status

The protocol itself (for Java, .NET, ...) is documented in docs/protocol.md.
"""

from exchange.client._client import DEFAULT_HUB_ID, MAX_LIFETIME, ExchangeClient, SubjectType
from exchange.client._errors import (
    BadRequest,
    EvidenceRejected,
    ExchangeClientError,
    Forbidden,
    HubError,
    HubUnreachable,
    InvalidIdentifier,
    LegacyError,
    NotFound,
    RateLimited,
    Replay,
    TooLarge,
    Unauthenticated,
)
from exchange.client._evidence import (
    EVIDENCE_TYP,
    REQUEST_TYP,
    RESULT_VALUES,
    Evidence,
    request_hash,
    verify_evidence,
)
from exchange.client._licenses import LicenseCredential, LicenseSearch

__all__ = [
    "DEFAULT_HUB_ID",
    "EVIDENCE_TYP",
    "MAX_LIFETIME",
    "REQUEST_TYP",
    "RESULT_VALUES",
    "BadRequest",
    "Evidence",
    "EvidenceRejected",
    "ExchangeClient",
    "ExchangeClientError",
    "Forbidden",
    "HubError",
    "HubUnreachable",
    "InvalidIdentifier",
    "LegacyError",
    "LicenseCredential",
    "LicenseSearch",
    "NotFound",
    "RateLimited",
    "Replay",
    "SubjectType",
    "TooLarge",
    "Unauthenticated",
    "request_hash",
    "verify_evidence",
]
