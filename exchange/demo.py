"""The embedded default's demo consumer: an approval system whose key lives in $EXCHANGE_HOME/demo.

Clearly a demo: its key is generated on this machine and printed by `exchange up`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from adapters.registry import DEPARTMENTS
from certs.jwk import jwk_thumbprint
from certs.keys import KeyAlgorithm, generate_private_key, load_private_key, write_private_key
from certs.store import PkiPaths
from directory import service as directory
from directory.calendar import WorkCalendar
from directory.schemas import ApplicationCreate, ApplicationDecision, GrantCreate
from exchange.console import accounts
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


DEMO_MATTER = "DEMO-0001"  # 演示事项: the matter code the demo grants cover
DEMO_PURPOSE = "演示：核验申请材料 (demo: checking application materials)"


def ensure_demo_grants(session: Session, *, calendar: WorkCalendar, now: datetime) -> list[int]:
    """Give the demo consumer every shareable item of every resource, the way a real one gets it:
    the administrator grants unconditional resources, each department approves an application for
    its conditional ones. Idempotent; returns the ids of grants made now."""
    made = []
    held = {grant.resource_code for grant in directory.list_grants(session, client_id=DEMO_CLIENT_ID)}
    resources, _ = directory.search(session, limit=200)
    start = now.date()
    end = start + timedelta(days=5 * 365)
    for resource in resources:
        if resource.code in held or resource.sharing_type == "none":
            continue
        items = [item.name for item in resource.data_items]
        if resource.sharing_type == "unconditional":
            grant = directory.add_grant(
                session,
                data=GrantCreate(
                    client_id=DEMO_CLIENT_ID,
                    resource_code=resource.code,
                    items=items,
                    matter_codes=[DEMO_MATTER],
                    valid_from=start,
                    valid_to=end,
                ),
                granted_by="admin:demo",
                now=now,
            )
            made.append(grant.id)
            continue
        application = directory.file_application(
            session,
            data=ApplicationCreate(
                client_id=DEMO_CLIENT_ID,
                resource_code=resource.code,
                matter_code=DEMO_MATTER,
                purpose=DEMO_PURPOSE,
                legal_basis="演示环境，无真实数据 (demo environment, synthetic data only)",
                items=items,
                period_from=start,
                period_to=end,
            ),
            calendar=calendar,
            now=now,
        )
        decided = directory.decide(
            session,
            application_id=application.id,
            decision=ApplicationDecision(approve=True),
            provider_id=resource.provider.id,
            decided_by=f"department:{resource.provider.id}:demo",
            now=now,
        )
        made.append(decided.grant_id)
    return made


CONSOLE_ACCOUNTS_FILE = "console-accounts.txt"


def ensure_demo_console_accounts(session: Session, *, demo_dir: Path, now: datetime) -> Path | None:
    """Demo console accounts, once: governance, one administrator per department, the demo consumer's.

    Their random passwords go to ``demo_dir/console-accounts.txt`` (mode 0600), which `exchange up`
    points to; nothing is created when the console already has accounts (a real deployment adds its
    own with `exchange console users add`). Returns the file when it exists.
    """
    target = demo_dir / CONSOLE_ACCOUNTS_FILE
    if accounts.list_users(session):
        return target if target.exists() else None
    wanted = [("governance", "数据治理演示账户 (demo governance)", "governance", None, None)]
    wanted += [
        (f"{department.id}-admin", f"{department.name}管理员 (demo)", "department", department.id, None)
        for department in DEPARTMENTS.values()
    ]
    wanted.append((f"{DEMO_CLIENT_ID}-admin", "演示受理系统管理员 (demo)", "consumer", None, DEMO_CLIENT_ID))
    lines = ["# Demo console accounts (exchange up): sign in at /console. Not for production.\n"]
    for username, name, role, department_id, client_id in wanted:
        password = secrets.token_urlsafe(12)
        accounts.create_user(
            session,
            username=username,
            display_name=name,
            role=role,
            password=password,
            department_id=department_id,
            client_id=client_id,
            now=now,
        )
        lines.append(f"{username}\t{role}\t{department_id or client_id or '-'}\t{password}\n")
    demo_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    return target
