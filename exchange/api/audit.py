"""The audit log over HTTP: the latest signed checkpoint and RFC 9162-style proofs.

Public on purpose: checkpoints and proofs disclose hashes only, never an entry's content, and anyone
(a consumer holding evidence, a citizen, an outside monitor) must be able to check them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from exchange.api.deps import db_session
from exchange.api.problems import Problem, documented
from exchange.audit import merkle, service
from exchange.audit.schemas import CheckpointRead, ConsistencyProofRead, InclusionProofRead

router = APIRouter()
Db = Annotated[Session, Depends(db_session)]
# Indexes and sizes fit the audit_entries INTEGER primary key; larger numbers are malformed (400).
Size = Query(ge=0, le=2**31 - 1)


@router.get("/v1/audit/checkpoint", tags=["audit"], response_model=CheckpointRead, responses=documented(404))
def latest_checkpoint(db: Db) -> CheckpointRead:
    """The latest checkpoint the hub signed: tree size, base64 root hash, timestamp (milliseconds since
    the epoch) and the compact JWS (``typ`` exchange-checkpoint+jwt, ``x5c`` hub certificate then CA)
    that signs ``{"origin", "tree_size", "root_hash", "timestamp"}``. 404 before the first one."""
    found = service.latest_checkpoint(db)
    if found is None:
        raise Problem(404, "no-checkpoint", "No checkpoint yet", "the hub has not signed a checkpoint yet")
    return found


@router.get(
    "/v1/audit/proof/inclusion", tags=["audit"], response_model=InclusionProofRead, responses=documented(500)
)
def inclusion_proof(
    db: Db,
    index: Annotated[int, Size],
    tree_size: Annotated[int, Size],
) -> InclusionProofRead:
    """The audit path of entry ``index`` in the tree of size ``tree_size`` (RFC 9162 section 2.1.3):
    recompute the root from ``leaf_hash`` and ``inclusion_path`` and compare it with a signed
    checkpoint of that size. 400 when ``index >= tree_size`` or ``tree_size`` exceeds the log."""
    try:
        return service.inclusion(db, index, tree_size)
    except service.OutOfRange as exc:
        raise Problem(400, "out-of-range", "Out of range", str(exc)) from None
    except merkle.ProofError:
        raise _damaged() from None


@router.get(
    "/v1/audit/proof/consistency",
    tags=["audit"],
    response_model=ConsistencyProofRead,
    responses=documented(500),
)
def consistency_proof(
    db: Db,
    first: Annotated[int, Size],
    second: Annotated[int, Size],
) -> ConsistencyProofRead:
    """The proof that the tree of size ``first`` is a prefix of the tree of size ``second`` (RFC 9162
    section 2.1.4), with both roots. 400 unless ``1 <= first <= second <=`` the log's size."""
    try:
        return service.consistency(db, first, second)
    except service.OutOfRange as exc:
        raise Problem(400, "out-of-range", "Out of range", str(exc)) from None
    except merkle.ProofError:
        raise _damaged() from None


def _damaged() -> Problem:
    """Entries the tree needs are not there: the log was damaged (``exchange audit verify`` says how)."""
    return Problem(
        500,
        "audit-log-damaged",
        "Audit log damaged",
        "the audit log is missing entries this proof needs; the operator must run `exchange audit verify`",
    )
