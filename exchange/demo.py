"""The embedded default's demo consumer: an approval system whose key lives in $EXCHANGE_HOME/demo.

Clearly a demo: its key is generated on this machine and printed by `exchange up`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from certs.jwk import jwk_thumbprint
from certs.keys import KeyAlgorithm, generate_private_key, load_private_key, write_private_key
from certs.store import PkiPaths
from exchange.consumers import repository
from exchange.consumers import service as consumers
from exchange.consumers.schemas import ConsumerCreate

DEMO_CLIENT_ID = "demo-approval"
DEMO_NAME = "演示一窗受理系统 (demo one-window approval system)"


@dataclass
class DemoConsumer:
    client_id: str
    kid: str
    key_path: Path
    certificate_path: Path
    created: bool


def ensure_demo_consumer(
    session: Session, *, paths: PkiPaths, demo_dir: Path, passphrase: bytes | None, now: datetime
) -> DemoConsumer:
    """Register the demo consumer once; later runs find it and report where its key is."""
    key_path = demo_dir / "consumer.key"
    existing = repository.get(session, client_id=DEMO_CLIENT_ID)
    if existing is not None:
        return DemoConsumer(
            DEMO_CLIENT_ID, existing.kid, key_path, paths.consumer_cert(DEMO_CLIENT_ID), False
        )
    if key_path.exists():
        key = load_private_key(key_path)
    else:
        key = generate_private_key(KeyAlgorithm.ED25519)
        write_private_key(key_path, key)
    registered = consumers.register(
        session,
        paths=paths,
        data=ConsumerCreate(client_id=DEMO_CLIENT_ID, name=DEMO_NAME),
        public_key=key.public_key(),
        passphrase=passphrase,
        now=now,
    )
    assert registered.kid == jwk_thumbprint(key.public_key())
    return DemoConsumer(DEMO_CLIENT_ID, registered.kid, key_path, Path(registered.certificate_path), True)
