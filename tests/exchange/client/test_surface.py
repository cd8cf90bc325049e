"""The public surface of the client SDK is a contract: adding to it is a decision, removing breaks users."""

from __future__ import annotations

import inspect

import exchange.client
from exchange.client import ExchangeClient, verify_evidence

PUBLIC = [
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


def test_the_public_surface_is_pinned():
    assert exchange.client.__all__ == PUBLIC
    public = {name for name in vars(exchange.client) if not name.startswith("_")}
    assert public == set(PUBLIC)
    assert all(
        getattr(exchange.client, name).__module__.startswith("exchange.client._")
        for name in PUBLIC
        if name[0].isupper() and not name.isupper()
    )


def test_the_documented_signatures_hold():
    assert list(inspect.signature(ExchangeClient).parameters)[:4] == [
        "client_id",
        "private_key",
        "hub_url",
        "ca_certificate",
    ]
    parameters = inspect.signature(ExchangeClient).parameters
    assert parameters["hub_id"].default == "exchange-hub" and parameters["timeout"].default == 10
    assert parameters["retries_on_429"].default == 0
    for method in (ExchangeClient.query, ExchangeClient.verify, ExchangeClient.search_licenses):
        names = inspect.signature(method).parameters
        assert [n for n, p in names.items() if p.kind is p.KEYWORD_ONLY][:5] == [
            "matter_code",
            "purpose",
            "operator_id",
            "operator_name",
            "legal_basis",
        ]
    search = inspect.signature(ExchangeClient.search_licenses).parameters
    assert list(search)[1:4] == ["license_type", "subject_type", "subject_value"]
    assert search["check_status"].kind is inspect.Parameter.KEYWORD_ONLY and search["check_status"].default
    keyword_only = [
        n for n, p in inspect.signature(verify_evidence).parameters.items() if p.kind is p.KEYWORD_ONLY
    ]
    assert keyword_only[:4] == ["ca_certificate", "client_id", "request_body", "now"]


def test_the_exception_tree():
    from exchange.client import EvidenceRejected, ExchangeClientError, HubError, HubUnreachable, LegacyError

    assert issubclass(HubError, ExchangeClientError)
    assert issubclass(HubUnreachable, ExchangeClientError) and not issubclass(HubUnreachable, HubError)
    assert issubclass(EvidenceRejected, ExchangeClientError) and not issubclass(EvidenceRejected, HubError)
    assert issubclass(LegacyError, HubError)
