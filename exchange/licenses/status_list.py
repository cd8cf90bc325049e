"""Token Status List (draft-ietf-oauth-status-list): the revocation register behind sealed licenses.

A status list is a byte array holding one status of ``bits`` bits (1, 2, 4 or 8) per credential; the
status of index ``i`` sits in byte ``i * bits // 8`` starting at bit ``i * bits % 8``, counted from the
least significant bit (draft section 4.1). On the wire it is DEFLATE-compressed in the ZLIB format at
the highest level and base64url-encoded without padding: the ``lst`` of ``{"bits": n, "lst": ...}``.

Status values (draft section 7.1): 0 ``VALID``, 1 ``INVALID`` (revoked, irreversible), 2 ``SUSPENDED``
(reversible); 3 and up are application specific and unused here. A status list token is a JWT with
``typ`` ``statuslist+jwt`` whose ``sub`` is the list's URI (draft section 5.1), signed like every JWS of
the hub (:mod:`certs.jose`: ``x5c`` = [signer certificate, hub CA]).
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography import x509

from certs import jose
from certs.jwk import jwk_thumbprint
from certs.keys import PrivateKey
from certs.revocation import RevocationState
from certs.verification import verify_certificate

STATUS_LIST_TYP = "statuslist+jwt"
VALID, INVALID, SUSPENDED = 0, 1, 2
STATUS_NAMES = {VALID: "valid", INVALID: "invalid", SUSPENDED: "suspended"}
ALLOWED_BITS = (1, 2, 4, 8)
MAX_DECODED_BYTES = 16 * 1024 * 1024  # refuse larger inflated lists (a ZLIB bomb): 16 Mi 8-bit statuses
DEFAULT_VALIDITY = timedelta(days=1)
CLOCK_SKEW = 60  # seconds tolerated between the signer's clock and ours
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class StatusListError(ValueError):
    """A status list or status list token that is malformed, out of range or does not verify."""


class StatusList:
    """A mutable array of ``size`` statuses of ``bits`` bits each, all ``VALID`` at first."""

    __slots__ = ("_bits", "_data", "_size")

    def __init__(self, size: int, bits: int = 1) -> None:
        _check_bits(bits)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise StatusListError(f"size must be a positive integer, not {size!r}")
        self._bits = bits
        self._size = size
        self._data = bytearray(-(-size * bits // 8))

    @property
    def bits(self) -> int:
        return self._bits

    @property
    def size(self) -> int:
        """How many statuses the list holds (a decoded list holds as many as its bytes can)."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return (self._bits, self._size, self._data) == (other._bits, other._size, other._data)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"StatusList(size={self._size}, bits={self._bits})"

    def get(self, idx: int) -> int:
        """The status at ``idx``."""
        self._check_index(idx)
        offset = idx * self._bits
        return (self._data[offset >> 3] >> (offset & 7)) & ((1 << self._bits) - 1)

    def set(self, idx: int, value: int) -> None:
        """Set the status at ``idx`` to ``value`` (0 .. 2**bits - 1)."""
        self._check_index(idx)
        mask = (1 << self._bits) - 1
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= mask:
            raise StatusListError(f"status {value!r} does not fit in {self._bits} bit(s)")
        offset = idx * self._bits
        shift = offset & 7
        byte = offset >> 3
        self._data[byte] = (self._data[byte] & ~(mask << shift) & 0xFF) | (value << shift)

    def to_bytes(self) -> bytes:
        """The uncompressed byte array of draft section 4.1."""
        return bytes(self._data)

    @classmethod
    def from_bytes(cls, data: bytes, bits: int, size: int | None = None) -> StatusList:
        """A list over an uncompressed byte array; ``size`` defaults to every status the bytes hold."""
        _check_bits(bits)
        if not data:
            raise StatusListError("a status list holds at least one byte")
        capacity = len(data) * 8 // bits
        size = capacity if size is None else size
        if not 1 <= size <= capacity or -(-size * bits // 8) != len(data):
            raise StatusListError(f"{len(data)} bytes cannot hold exactly {size} statuses of {bits} bit(s)")
        made = cls.__new__(cls)
        made._bits, made._size, made._data = bits, size, bytearray(data)
        return made

    def encoded(self) -> str:
        """The ``lst``: ZLIB (RFC 1950/1951) at level 9, then base64url without padding."""
        compressed = zlib.compress(bytes(self._data), 9)
        return base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")

    @classmethod
    def from_encoded(cls, lst: str, bits: int, *, max_bytes: int = MAX_DECODED_BYTES) -> StatusList:
        """Decode an ``lst``; inflating stops at ``max_bytes`` so a crafted list cannot exhaust memory."""
        _check_bits(bits)
        if not isinstance(lst, str) or not lst:
            raise StatusListError("lst must be a non-empty base64url string")
        if not _BASE64URL.fullmatch(lst):
            raise StatusListError("lst is not base64url (RFC 7515 section 2: A-Z a-z 0-9 - _, no padding)")
        try:
            compressed = base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4))
        except (binascii.Error, ValueError):
            raise StatusListError("lst is not base64url") from None
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(compressed, max_bytes)
        except zlib.error as exc:
            raise StatusListError(f"lst is not ZLIB data: {exc}") from None
        if inflater.unconsumed_tail:
            raise StatusListError(f"lst inflates to more than {max_bytes} bytes")
        if not inflater.eof:
            raise StatusListError("lst is truncated ZLIB data")
        return cls.from_bytes(data, bits)

    def as_claim(self) -> dict[str, Any]:
        """The JSON Status List of draft section 4.2: ``{"bits": n, "lst": ...}``."""
        return {"bits": self._bits, "lst": self.encoded()}

    def _check_index(self, idx: int) -> None:
        if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < self._size:
            raise StatusListError(f"index {idx!r} is outside 0..{self._size - 1}")


class KeyAndChain(Protocol):
    """What signs a status list token: a key and its chain (signer certificate first, then the CA).

    :class:`exchange.queries.evidence.DepartmentSigner` is one.
    """

    @property
    def key(self) -> PrivateKey: ...

    @property
    def chain(self) -> Sequence[x509.Certificate]: ...


def status_list_token(
    status_list: StatusList,
    *,
    uri: str,
    signer: KeyAndChain,
    now: datetime,
    ttl: int | timedelta,
    valid_for: timedelta = DEFAULT_VALIDITY,
    issuer: str | None = None,
) -> str:
    """A signed Status List Token (draft section 5.1).

    Args:
        status_list: the list to publish.
        uri: the list's URI, as the credentials' ``status.status_list.uri`` names it (becomes ``sub``).
        signer: the key and chain that sign it (``x5c``; ``kid`` is the key's RFC 7638 thumbprint).
        now: issue time (``iat``); timezone-aware.
        ttl: seconds (or a timedelta) a relying party may cache the token before fetching it again.
        valid_for: ``exp`` - ``iat``; at least ``ttl``.
        issuer: the ``iss`` to include (the credentials' issuer); omitted when None.

    Raises:
        StatusListError: ``ttl`` or ``valid_for`` is not positive, or ``valid_for`` is shorter than ``ttl``.
    """
    ttl_seconds = int(ttl.total_seconds()) if isinstance(ttl, timedelta) else ttl
    if not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
        raise StatusListError("ttl must be a positive number of seconds")
    if valid_for.total_seconds() < ttl_seconds:
        raise StatusListError("the token must stay valid at least as long as it may be cached (ttl)")
    if not uri:
        raise StatusListError("a status list token needs the list's URI")
    iat = _timestamp(now)
    claims: dict[str, Any] = {"sub": uri, "iat": iat, "exp": iat + int(valid_for.total_seconds())}
    if issuer is not None:
        claims["iss"] = issuer
    claims["ttl"] = ttl_seconds
    claims["status_list"] = status_list.as_claim()
    kid = jwk_thumbprint(signer.key.public_key())
    return jose.sign(claims, signer.key, typ=STATUS_LIST_TYP, kid=kid, x5c=tuple(signer.chain))


def read_status_list_token(
    token: str,
    *,
    ca_certificate: x509.Certificate,
    uri: str,
    now: datetime,
    issuer: str | None = None,
    revocation: RevocationState | None = None,
) -> StatusList:
    """Verify a Status List Token and return its list (draft section 8.3 steps, JWT form).

    Checks: ``typ`` ``statuslist+jwt``; the signature with the ``x5c`` signer certificate; that certificate
    issued by ``ca_certificate`` and valid at ``now`` (and not revoked, when ``revocation`` is given);
    ``sub`` equal to ``uri``; ``iat``/``exp`` against ``now`` (with ``CLOCK_SKEW``); ``iss`` equal to
    ``issuer`` when given; a well-formed ``status_list``.

    Raises:
        StatusListError: naming the first check that failed.
    """
    try:
        chain = jose.certificates_from_x5c(jose.header(token).get("x5c"))
        signer = chain[0]
        claims = jose.verify(
            token,
            signer.public_key(),  # type: ignore[arg-type]  # jose refuses keys it does not accept
            typ=STATUS_LIST_TYP,
            require=("sub", "iat", "status_list"),
            leeway=CLOCK_SKEW,
            now=now,
        )
    except jose.JoseError as exc:
        raise StatusListError(f"signature: {exc}") from None
    report = verify_certificate(signer, ca_certificate=ca_certificate, revocation=revocation, now=now)
    for check in report.checks:
        if check.name == "revocation" and revocation is None:
            continue  # no CRL given: revocation is the caller's choice
        if not check.ok:
            raise StatusListError(f"chain: {check.name}: {check.detail}")
    if claims["sub"] != uri:
        raise StatusListError(f"sub: the token is for {claims['sub']!r}, not {uri!r}")
    if issuer is not None and claims.get("iss") != issuer:
        raise StatusListError(f"iss: the token was issued by {claims.get('iss')!r}, not {issuer!r}")
    body = claims["status_list"]
    if not isinstance(body, dict) or not isinstance(body.get("lst"), str):
        raise StatusListError('status_list must be {"bits": 1|2|4|8, "lst": "<base64url>"}')
    return StatusList.from_encoded(body["lst"], body.get("bits"))  # type: ignore[arg-type]  # checked there


def _check_bits(bits: object) -> None:
    if isinstance(bits, bool) or bits not in ALLOWED_BITS:
        raise StatusListError(f"bits must be one of {ALLOWED_BITS}, not {bits!r}")


def _timestamp(now: datetime) -> int:
    if now.tzinfo is None:
        raise StatusListError("now must be timezone-aware")
    return int(now.timestamp())
