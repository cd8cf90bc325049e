"""The last act of a hub worker: sign a checkpoint over every audit entry it leaves behind.

uvicorn drains first (on SIGTERM it stops accepting, lets in-flight requests finish for up to
``EXCHANGE_SHUTDOWN_GRACE_SECONDS``), then runs the application's lifespan shutdown, which calls
:func:`final_checkpoint`. With several workers each one does it as it stops: the checkpoint takes the
audit log's append lock and a tree size already signed is not signed again, so the last worker to
stop covers every entry any worker appended, and the others cost a lock and a lookup.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from certs.keys import load_private_key
from certs.store import read_certificate
from exchange.audit import service as audit
from exchange.db.engine import session_scope

if TYPE_CHECKING:
    from exchange.api.app import HubState

logger = logging.getLogger("exchange.shutdown")


def final_checkpoint(state: HubState, *, now: datetime | None = None) -> int | None:
    """Sign a checkpoint if entries are unsigned; the tree size now covered (None: nothing to sign,
    no hub key, or it failed, which is logged: shutdown goes on, ``exchange audit verify`` and the
    next start's checkpoint cover the gap)."""
    if not state.pki.hub_key.exists():
        return None
    moment = now or datetime.now(UTC)
    try:
        with session_scope(state.sessions) as session:
            size = audit.tree_size(session)
            latest = audit.latest_checkpoint(session)
            if size == 0 or (latest is not None and latest.tree_size >= size):
                logger.info(
                    "audit log already covered by a checkpoint at shutdown",
                    extra={"tree_size": size},
                )
                return latest.tree_size if latest is not None else None
            signed = audit.checkpoint(
                session,
                signer_key=load_private_key(state.pki.hub_key),
                signer_chain=[read_certificate(state.pki.hub_cert), read_certificate(state.pki.ca_cert)],
                hub_id=state.settings.hub_id,
                now=moment,
            )
    except Exception:
        logger.exception("could not sign the final audit checkpoint; `exchange audit verify` shows the gap")
        return None
    logger.info(
        "signed the final audit checkpoint",
        extra={
            "tree_size": signed.tree_size,
            "unsigned_before": signed.tree_size - (latest.tree_size if latest else 0),
        },
    )
    return signed.tree_size
