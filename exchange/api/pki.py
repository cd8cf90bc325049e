"""GET /v1/pki/ca and /v1/pki/crl: the hub CA certificate and its current CRL, for gateways and
relying parties that verify evidence offline (RFC 5280; media types of RFC 2585)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request, Response

from exchange.api.problems import Problem, documented

router = APIRouter(tags=["pki"])


@router.get(
    "/v1/pki/ca",
    response_class=Response,
    responses={200: {"content": {"application/pkix-cert": {}}}} | documented(503),
)
def ca_certificate(request: Request) -> Response:
    """The hub CA certificate (DER): the one trust anchor every signature of the hub chains to."""
    certificate = request.app.state.hub.ca_certificate
    if certificate is None:
        raise Problem(
            503, "not-initialised", "Hub not initialised", "the hub has no PKI yet: run `exchange up`"
        )
    return Response(certificate.public_bytes(serialization.Encoding.DER), media_type="application/pkix-cert")


@router.get(
    "/v1/pki/crl",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}} | documented(503),
)
def crl(request: Request) -> Response:
    """The current CRL (DER), signed by the hub CA; verify its signature before trusting it."""
    path = request.app.state.hub.pki.crl
    try:
        loaded = x509.load_pem_x509_crl(path.read_bytes())
    except (FileNotFoundError, ValueError):
        raise Problem(503, "no-crl", "No CRL", "the hub has no usable CRL; run `exchange pki crl`") from None
    return Response(
        loaded.public_bytes(serialization.Encoding.DER),
        media_type="application/pkix-crl",
        headers={"Cache-Control": "max-age=300"},
    )
