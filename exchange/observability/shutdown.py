"""The last act of a hub worker: sign a checkpoint over every audit entry it leaves behind.

uvicorn drains first (on SIGTERM it stops accepting, lets in-flight requests finish for up to
``EXCHANGE_SHUTDOWN_GRACE_SECONDS``), then runs the application's lifespan shutdown, which calls
:func:`final_checkpoint`. With several workers each one does it as it stops: the checkpoint takes the
audit log's append lock and a tree size already signed is not signed again, so the last worker to
stop covers every entry any worker appended, and the others cost a lock and a lookup.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exchange.api.app import HubState

logger = logging.getLogger("exchange.shutdown")


def final_checkpoint(state: HubState) -> int | None:
    """Sign a checkpoint if entries are unsigned; the tree size it covers (None: nothing to sign,
    no hub key, or it failed, which is logged: shutdown goes on, ``exchange audit verify`` and the
    next start's checkpoint cover the gap)."""
    from exchange.api.app import sign_checkpoint  # the same signing as the periodic checkpoints

    try:
        signed = sign_checkpoint(state, every_entries=1, every_seconds=0)
    except Exception:
        logger.exception("could not sign the final audit checkpoint; `exchange audit verify` shows the gap")
        return None
    if signed is None:
        logger.info("audit log already covered by a checkpoint at shutdown")
        return None
    logger.info("signed the final audit checkpoint", extra={"tree_size": signed.tree_size})
    return signed.tree_size
