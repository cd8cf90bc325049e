"""A consumer's signed query request (DESIGN.md "Signed request"), for tests that need real audit entries."""

from __future__ import annotations

import time
import uuid
from typing import Any

from certs import jose
from certs.jwk import jwk_thumbprint
from certs.keys import PrivateKey
from exchange.demo import DEMO_CLIENT_ID


def signed_query_body(
    key: PrivateKey,
    *,
    resource: str,
    citizen: str,
    matter_code: str,
    purpose: str,
    operator: dict[str, str] | None = None,
    **changes: Any,
) -> bytes:
    """The JWT body of a query for the ``name`` of one citizen, signed by the demo consumer's key."""
    now = int(time.time())
    claims = {
        "iss": DEMO_CLIENT_ID,
        "aud": "exchange-hub",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "resource": resource,
        "subject": {"type": "id_card", "value": citizen},
        "fields": ["name"],
        "matter_code": matter_code,
        "purpose": purpose,
        "operator": operator or {"id": "clerk-1", "name": "李窗口"},
    } | changes
    return jose.sign(claims, key, typ="exchange-request+jwt", kid=jwk_thumbprint(key.public_key())).encode()
