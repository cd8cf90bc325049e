"""E-licenses over HTTP (DESIGN.md "E-licenses"): status lists, a license by identifier, verification,
and the signed, audited, granted search (which goes through the same path as query and verify)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.calendar import today
from exchange.api.deps import db_session
from exchange.api.problems import Problem, adapter_problem, documented
from exchange.api.queries import SIGNED_EXCHANGE, SIGNED_RESPONSES, exchange_endpoint
from exchange.identifiers import InvalidIdentifier, validate_license_id
from exchange.licenses import store
from exchange.licenses.models import License
from exchange.licenses.models import StatusList as StatusListRow

router = APIRouter(tags=["licenses"])
Db = Annotated[Session, Depends(db_session)]
STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"


@router.post(
    "/v1/licenses/search", openapi_extra=SIGNED_EXCHANGE, responses=SIGNED_RESPONSES, response_class=Response
)
async def search(request: Request) -> Response:
    """A consumer's signed request for a subject's licenses of one type (claims ``subject``,
    ``license_type``, ``matter_code``, ``purpose``, ``operator``): audited, needs a grant, answered
    with a JWS signed by the issuing department that lists the credentials."""
    return await exchange_endpoint("license", None, request)


@router.get(
    "/v1/status-lists/{list_id}",
    response_class=Response,
    responses={200: {"content": {STATUS_LIST_MEDIA_TYPE: {}}}} | documented(404, 502, 503, 504),
)
def status_list(list_id: str, request: Request, db: Db) -> Response:
    """The Token Status List (IETF OAuth status list) the credentials' ``status`` claims point to,
    as a JWT signed by the department that issued them."""
    from adapters.errors import AdapterError
    from exchange.licenses.status_list import StatusList

    row = db.get(StatusListRow, list_id)
    if row is None:
        raise Problem(404, "not-found", "Not found", f"no status list {list_id}")
    exchange = request.app.state.hub.exchange
    provider = exchange.providers.get(row.department_id) if exchange else None
    if provider is None:
        raise Problem(
            503, "signer-unavailable", "Signer unavailable", f"{row.department_id} cannot sign here"
        )
    try:
        token = provider.status_list_token(
            StatusList.from_bytes(row.statuses, bits=row.bits),
            uri=request.app.state.hub.settings.base_url + store.status_list_uri(list_id),
            now=datetime.now(UTC),
            ttl=300,
        )
    except AdapterError as exc:  # the department's gateway is down or answered garbage
        raise adapter_problem(exc) from None
    return Response(token, media_type=STATUS_LIST_MEDIA_TYPE, headers={"Cache-Control": "max-age=300"})


class LicenseRead(BaseModel):
    identifier: str
    license_type: str
    license_name: str
    version: int
    status: str
    issuer_name: str
    issuer_code: str
    issue_date: str
    valid_from: str
    valid_to: str | None
    credential_without_disclosures: str = Field(
        description="The issuer-signed SD-JWT with no disclosures: metadata only, no personal data"
    )


def _stored(db: Session, identifier: str) -> License:
    """The license of a GB/T 36904 identifier: 422 for one that is not well formed (DESIGN.md: every
    identifier is validated before any lookup), 404 for one no license has."""
    try:
        validate_license_id(identifier)
    except InvalidIdentifier as exc:
        raise Problem(422, "invalid-identifier", "Invalid identifier", str(exc)) from None
    row = db.scalars(select(License).where(License.identifier == identifier)).first()
    if row is None:
        raise Problem(404, "not-found", "Not found", f"no license {identifier}")
    return row


@router.get("/v1/licenses/{identifier}", response_model=LicenseRead, responses=documented(404, 422))
def get_license(identifier: str, db: Db) -> LicenseRead:
    """A license's public metadata and status by its GB/T 36904 identifier (no personal data)."""
    row = _stored(db, identifier)
    record = row.record
    return LicenseRead(
        identifier=row.identifier,
        license_type=row.license_type,
        license_name=record["license_name"],
        version=row.version,
        status=store.effective_status(row, today=today()),
        issuer_name=record["issuer_name"],
        issuer_code=record["issuer_code"],
        issue_date=record["issue_date"],
        valid_from=record["valid_from"],
        valid_to=record["valid_to"],
        credential_without_disclosures=row.credential.split("~", 1)[0] + "~",
    )


class VerifyRequest(BaseModel):
    credential: str | None = Field(default=None, max_length=200_000)
    identifier: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _one(self) -> VerifyRequest:
        if (self.credential is None) == (self.identifier is None):
            raise ValueError("give exactly one of credential or identifier")
        return self


@router.post("/v1/licenses/verify", responses=documented(404, 422))
def verify(body: VerifyRequest, request: Request, db: Db) -> dict[str, Any]:
    """Check a presented credential (or the stored one of an identifier): signature, chain, issuer,
    disclosures, validity period and status, each reported."""
    from exchange.licenses.sealing import verify_credential

    credential = body.credential
    if credential is None:
        credential = _stored(db, body.identifier).credential.split("~", 1)[0] + "~"
    state = request.app.state.hub

    def status_of(uri: str, index: int) -> int:
        list_id = uri.rstrip("/").rsplit("/", 1)[-1]
        row = db.get(StatusListRow, list_id)
        if row is None:
            raise LookupError(f"unknown status list {uri}")
        from exchange.licenses.status_list import StatusList

        return StatusList.from_bytes(row.statuses, bits=row.bits).get(index)

    report = verify_credential(
        credential, ca_certificate=state.ca_certificate, now=datetime.now(UTC), status_of=status_of
    )
    return {
        "valid": report.ok,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks],
        "vct": report.vct,
        "identifier": report.identifier,
    }
