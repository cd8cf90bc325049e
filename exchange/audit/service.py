"""The audit log: append entries, sign checkpoints, serve proofs, verify everything.

Entries are only ever appended: no function here (or in the repository) updates or deletes one.
Services never commit; the caller owns the transaction, so an exchange's audit entry commits with
the exchange or not at all.

Entries form an RFC 6962 Merkle tree (see ``merkle.py``): leaf ``i`` is SHA-256(0x00 || the RFC 8785
canonical bytes of entry ``i`` without its ``leaf_hash``). A checkpoint is the hub's JWS over
``{"origin", "tree_size", "root_hash", "timestamp"}``; an attacker with database access can rewrite
entries and their leaf hashes but cannot sign, so :func:`verify_log` judges the entries against the
signed checkpoints.
"""

from __future__ import annotations

import base64
import hashlib
import multiprocessing
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.orm import Session

from certs import jose
from certs.authority import hub_name
from certs.keys import PrivateKey
from certs.verification import verify_certificate
from exchange.audit import bulk, merkle, repository
from exchange.audit.models import AuditCheckpoint
from exchange.audit.schemas import (
    ENTRY_FIELDS,
    AuditRecord,
    CheckpointRead,
    ConsistencyProofRead,
    EntryView,
    InclusionProofRead,
    LogProblem,
    LogReport,
    canonical_entry,
)

CHECKPOINT_TYP = "exchange-checkpoint+jwt"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Complete subtrees of 2**8 = 256 leaves and more are cached (about one row per 128 entries); the
# rest of any proof is hashed from at most two blocks of 256 leaf hashes.
CACHE_LEVEL = 8
# verify_log tries "one entry was inserted here" on a checkpoint range of at most this many entries.
INSERTION_SEARCH_LIMIT = 512
# Mismatching entries kept for analysis; beyond this they are only counted (bounded memory).
MISMATCH_LIMIT = 100_000
# Entries compared pairwise to find swaps (mismatching ones, or a checkpoint range this long).
PAIRWISE_LIMIT = 64
# Entries a worker process of verify_log hashes at a time: a power of two, so each block is a
# complete subtree of the log's tree and the blocks' roots combine in order (RFC 6962 section 2.1).
PARALLEL_BLOCK = 1 << 15


class AuditError(ValueError):
    """An audit-log request that cannot be answered as asked; the message says why."""


class OutOfRange(AuditError):
    """An index or tree size the log does not have."""


# --- appending ------------------------------------------------------------------------------------


def append(session: Session, record: AuditRecord | Callable[[int], AuditRecord], now: datetime) -> int:
    """Append one entry and return its index (0 for the first).

    ``record`` may be a function of the new index returning the record, for an entry whose fields
    depend on its own index (the hash of evidence that names its log index): it is called once,
    inside the turn, so the index it is given is the one the entry gets.

    Appends take turns on the lock row (``repository.take_append_lock``) until the caller's
    transaction ends, so two transactions never pick the same index and a rolled-back append leaves
    no gap. The complete subtrees of ``2**CACHE_LEVEL`` leaves and more that this entry finishes are
    cached in the same transaction.
    """
    repository.take_append_lock(session, now=now)
    index = repository.next_index(session)
    if not isinstance(record, AuditRecord):
        record = record(index)
    values = entry_values(index, record, now)
    values["leaf_hash"] = merkle.leaf_hash(canonical_entry(values))
    repository.add_entry(session, values)
    completed = merkle.completed_subtrees(index, CACHE_LEVEL)
    if completed:
        tree = _tree(session)
        for level, position in completed:  # lowest first: each one's right child is the one before
            value = tree.subtree_hashes([(level, position)])[(level, position)]
            repository.add_subtree(session, level, position, value)
    return index


def entry_values(index: int, record: AuditRecord, now: datetime) -> dict[str, Any]:
    """The columns of entry ``index`` (without ``leaf_hash``): ``recorded_at`` in UTC, ``now`` if unset."""
    values = record.model_dump()
    recorded_at = values["recorded_at"] or now
    if recorded_at.tzinfo is None:
        raise AuditError("recorded_at must be timezone-aware")
    values["recorded_at"] = recorded_at.astimezone(UTC)
    values["index"] = index
    return values


def leaf_of(fields: Mapping[str, Any]) -> bytes:
    """The leaf hash an entry's fields give (RFC 6962 leaf over the RFC 8785 bytes)."""
    return merkle.leaf_hash(canonical_entry(dict(fields)))


def get_entry(session: Session, index: int) -> EntryView | None:
    """Entry ``index`` with its stored leaf hash and the one its fields give (None if unhashable)."""
    row = repository.get_entry(session, index)
    if row is None:
        return None
    fields = {name: row[name] for name in ENTRY_FIELDS}
    try:
        recomputed: bytes | None = leaf_of(fields)
    except (ValueError, TypeError):
        recomputed = None
    return EntryView(fields=fields, leaf_hash=bytes(row["leaf_hash"]), recomputed=recomputed)


def tree_size(session: Session) -> int:
    """The number of entries (the last index plus one)."""
    return repository.next_index(session)


def _tree(session: Session) -> merkle.CachedTree:
    return merkle.CachedTree(
        lambda start, end: repository.leaf_hashes(session, start, end),
        lambda keys: repository.subtree_hashes(session, keys),
        CACHE_LEVEL,
    )


# --- checkpoints ----------------------------------------------------------------------------------


def checkpoint(
    session: Session,
    *,
    signer_key: PrivateKey,
    signer_chain: Sequence[x509.Certificate],
    hub_id: str,
    now: datetime,
) -> CheckpointRead:
    """Sign the current tree: a compact JWS (``typ`` exchange-checkpoint+jwt, ``x5c`` = chain) over
    ``{"origin": hub_id, "tree_size", "root_hash": base64, "timestamp": milliseconds}``.

    Takes the append lock, so the size signed is the size committed before us. A tree size already
    signed is not signed twice: its checkpoint is returned. Raises ``AuditError`` for an empty log or
    a key that does not belong to the chain's first certificate.
    """
    if not signer_chain or _spki(signer_chain[0].public_key()) != _spki(signer_key.public_key()):
        raise AuditError("the signing key does not belong to the first certificate of the chain")
    repository.take_append_lock(session, now=now)
    size = tree_size(session)
    if size == 0:
        raise AuditError("the audit log is empty: there is nothing to sign yet")
    existing = repository.get_checkpoint(session, size)
    if existing is not None:
        return _checkpoint_read(existing)
    root_hash = _b64(merkle.root_of(size, _tree(session)))
    timestamp = _millis(now)
    claims = {"origin": hub_id, "tree_size": size, "root_hash": root_hash, "timestamp": timestamp}
    token = jose.sign(claims, signer_key, typ=CHECKPOINT_TYP, x5c=signer_chain)
    row = repository.add_checkpoint(
        session,
        AuditCheckpoint(
            tree_size=size,
            root_hash=root_hash,
            signed_at=_from_millis(timestamp),
            signature=token,
            signer=signer_chain[0].subject.rfc4514_string(),
        ),
    )
    return _checkpoint_read(row)


def checkpoint_due(session: Session, *, every_entries: int, every_seconds: float, now: datetime) -> bool:
    """Is a new checkpoint due: entries are unsigned and there are ``every_entries`` of them, or the
    last checkpoint is ``every_seconds`` old (or there is none)?"""
    size = tree_size(session)
    latest = repository.latest_checkpoint(session)
    if size == 0 or (latest is not None and size <= latest.tree_size):
        return False
    if latest is None:
        return True
    return (
        size - latest.tree_size >= every_entries or (now - latest.signed_at).total_seconds() >= every_seconds
    )


def latest_checkpoint(session: Session) -> CheckpointRead | None:
    row = repository.latest_checkpoint(session)
    return _checkpoint_read(row) if row is not None else None


def covering_checkpoint(session: Session, index: int) -> CheckpointRead | None:
    """The first checkpoint that commits to entry ``index``, if one was signed after it."""
    row = repository.first_checkpoint_covering(session, index)
    return _checkpoint_read(row) if row is not None else None


def _checkpoint_read(row: AuditCheckpoint) -> CheckpointRead:
    return CheckpointRead(
        tree_size=row.tree_size,
        root_hash=row.root_hash,
        timestamp=_millis(row.signed_at),
        signed_at=row.signed_at,
        signer=row.signer,
        jws=row.signature,
    )


def _millis(moment: datetime) -> int:
    """Milliseconds since the epoch, in integers (a float product could round down a millisecond)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _from_millis(timestamp: int) -> datetime:
    seconds, millis = divmod(timestamp, 1000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)


def _spki(key: Any) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# --- proofs ---------------------------------------------------------------------------------------


def inclusion(session: Session, index: int, tree_size: int) -> InclusionProofRead:
    """The inclusion proof of entry ``index`` in the tree of size ``tree_size`` (RFC 9162 section
    2.1.3), with the leaf hash and that tree's root. Raises ``OutOfRange``."""
    current = repository.next_index(session)
    if not 1 <= tree_size <= current:
        raise OutOfRange(
            f"tree_size must be between 1 and {current}, the log's size" if current else "the log is empty"
        )
    if not 0 <= index < tree_size:
        raise OutOfRange(f"index must be between 0 and {tree_size - 1} for a tree of size {tree_size}")
    ranges = merkle.inclusion_ranges(index, tree_size)
    hashes = _tree(session).range_hashes([*ranges, (0, tree_size), (index, index + 1)])
    return InclusionProofRead(
        leaf_index=index,
        tree_size=tree_size,
        leaf_hash=_b64(hashes[-1]),
        inclusion_path=[_b64(value) for value in hashes[:-2]],
        root_hash=_b64(hashes[-2]),
    )


def consistency(session: Session, first: int, second: int) -> ConsistencyProofRead:
    """The consistency proof from tree size ``first`` to ``second`` (RFC 9162 section 2.1.4), with
    both roots; empty when the sizes are equal. Raises ``OutOfRange``."""
    current = repository.next_index(session)
    if not 1 <= second <= current:
        raise OutOfRange(
            f"second must be between 1 and {current}, the log's size" if current else "the log is empty"
        )
    if not 1 <= first <= second:
        raise OutOfRange(f"first must be between 1 and second ({second})")
    ranges = merkle.consistency_ranges(first, second)
    hashes = _tree(session).range_hashes([*ranges, (0, first), (0, second)])
    return ConsistencyProofRead(
        first=first,
        second=second,
        consistency_path=[_b64(value) for value in hashes[:-2]],
        first_root=_b64(hashes[-2]),
        second_root=_b64(hashes[-1]),
    )


# --- verification ---------------------------------------------------------------------------------

Progress = Callable[[int, int], None]
_UNHASHABLE = hashlib.sha256(b"exchange-audit: entry fields cannot be canonicalised").digest()


@dataclass
class _Head:
    """A checkpoint whose signature verified: what the hub committed to."""

    tree_size: int
    root: bytes
    label: str
    recomputed_ok: bool | None = None  # the entries' fields hash to the signed root
    stored_ok: bool | None = None  # the stored leaf_hash column hashes to the signed root
    snapshot: merkle.CompactRange | None = None


@dataclass
class _Mismatch:
    position: int
    index: int
    fields: dict[str, Any]
    stored: bytes
    error: str | None
    origin: int | None = None


def verify_log(
    session: Session,
    *,
    ca_certificate: x509.Certificate | None = None,
    hub_id: str | None = None,
    progress: Progress | None = None,
    chunk: int = 8192,
    processes: int = 1,
) -> LogReport:
    """Recompute every leaf from its fields, every checkpoint's signature and root, and name the
    first entry that was changed, removed, inserted or reordered.

    Evidence, weakest first: the index sequence (a gap is a removal), each entry's fields against its
    own stored ``leaf_hash`` (which an attacker can rewrite too), an unchanged entry's fields hashed
    under a neighbour's index (a renumbering), the cached subtrees, and the signed checkpoints, which
    nobody without the hub key can forge. With ``ca_certificate`` every checkpoint must be signed by
    the hub's certificate issued by that CA (and with ``hub_id``, for that origin); without it only
    the certificate each JWS carries is used, and the report says so.

    Entries are read ``chunk`` at a time (the fast path: the power of two at most ``chunk``). The
    regular stretch from the start (indexes 0, 1, 2, ... each hashing to its stored leaf) goes
    through the fast path (``bulk.py``), in ``processes`` worker processes on connections of their
    own when more than one and the log is large enough (:func:`verify_processes`; they see what is
    committed, not this session's uncommitted writes). From the first batch holding anything else,
    every entry is judged one by one by the reference loop, which names what is wrong: the report
    is the same as the reference loop's over the whole log (tests/exchange/audit/test_service.py).
    """
    report = LogReport()
    heads, problems = _verify_checkpoints(repository.checkpoints(session), ca_certificate, hub_id, report)
    report.checkpoints = len(heads)
    heads.sort(key=lambda head: head.tree_size)
    total = repository.count_entries(session)
    cache = repository.all_subtrees(session)
    scan = _Scan(iter(heads))
    scan.head = next(scan.heads, None)
    batch = 1 << (max(chunk, 1).bit_length() - 1)
    sizes = [head.tree_size for head in heads]

    def advance(done: int) -> None:
        if progress is not None:
            progress(done, max(total, done))

    pool = _pool(session, processes, total)
    try:
        if pool is None:
            block = bulk.scan(
                session,
                start=0,
                limit=None,
                batch=batch,
                sizes=sizes,
                cache_level=CACHE_LEVEL,
                progress=advance,
            )
            _take_block(scan, block, cache)
        else:
            for block in _parallel_blocks(pool, session, total, batch, sizes):
                _take_block(scan, block, cache)
                advance(scan.position)
                if not block.complete or block.size < PARALLEL_BLOCK:
                    break
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    _reference_scan(session, scan, cache, chunk, progress, total)
    position = scan.position
    report.entries = position
    if progress is not None:
        progress(position, max(total, position))

    mismatches, gaps, bad_cache, unanalysed = scan.mismatches, scan.gaps, scan.bad_cache, scan.unanalysed
    problems += scan.problems
    _find_origins(mismatches)
    problems += [
        LogProblem(
            "removed",
            f"{_entries(a, b)} missing: "
            + (f"the index jumps from {a - 1} to {b + 1}" if a else f"the log starts at entry {b + 1}"),
            a,
            b,
        )
        for a, b in gaps
    ]
    problems += _mismatch_problems(mismatches, heads)
    if unanalysed:
        problems.append(
            LogProblem(
                "changed",
                f"{len(unanalysed):,} more entries between {unanalysed[0]} and {unanalysed[-1]} do not hash "
                "to their leaves (not analysed one by one)",
                unanalysed[0],
                unanalysed[-1],
            )
        )
    problems += _head_problems(session, heads, problems, scan.expected, position)
    problems += [
        LogProblem(
            "cache",
            f"the cached hash of the subtree over entries {a}..{b} does not match their stored leaf hashes: "
            "a leaf hash there was rewritten after it was appended, or the cache was altered "
            "(proofs over these entries are wrong)",
            a,
            b,
        )
        for a, b in bad_cache
    ]
    report.problems = sorted(problems, key=_problem_order)
    _add_notes(report, heads, position)
    return report


@dataclass
class _Scan:
    """verify_log's state after the first ``position`` entries (in index order): what the fast path
    hands over to the reference loop, exactly as the reference loop would have left it."""

    heads: Iterator[_Head]
    head: _Head | None = None
    position: int = 0
    expected: int = 0  # the next index the sequence should hold
    recomputed: merkle.CompactRange = field(default_factory=merkle.CompactRange)  # leaves from fields
    stored: merkle.CompactRange = field(default_factory=merkle.CompactRange)  # stored leaf hashes
    mismatches: list[_Mismatch] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    bad_cache: list[tuple[int, int]] = field(default_factory=list)
    unanalysed: list[int] = field(default_factory=list)
    problems: list[LogProblem] = field(default_factory=list)


def _take_block(scan: _Scan, block: bulk.Block, cache: Mapping[tuple[int, int], bytes]) -> None:
    """Advance the scan over a regular block: its leaves are the stored ones, its indexes the positions."""
    if block.start != scan.position or scan.position != scan.expected or scan.mismatches:
        raise AssertionError("a fast block can only follow a regular stretch")
    while scan.head is not None and block.start < scan.head.tree_size <= block.start + block.size:
        head = scan.head
        at = scan.recomputed.copy()
        for level, value in block.at[head.tree_size]:
            at.append_subtree(level, value)
        head.recomputed_ok = head.stored_ok = at.root() == head.root
        head.snapshot = at
        scan.head = next(scan.heads, None)
    completed = list(block.subtrees)
    for level, value in block.peaks:
        scan.stored.append_subtree(level, value)
        completed += scan.recomputed.append_subtree(level, value)
    for level, at_index, value in completed:
        cached = cache.get((level, at_index)) if level >= CACHE_LEVEL else None
        if cached is not None and cached != value:
            scan.bad_cache.append((at_index << level, ((at_index + 1) << level) - 1))
    scan.position = scan.expected = block.start + block.size


def _reference_scan(
    session: Session,
    scan: _Scan,
    cache: Mapping[tuple[int, int], bytes],
    chunk: int,
    progress: Progress | None,
    total: int,
) -> None:
    """The reference: every entry from ``scan.position`` on, one by one, every irregularity noted."""
    recomputed, stored = scan.recomputed, scan.stored
    after = scan.position - 1 if scan.position else None
    for row in repository.iter_entries(session, chunk=chunk, after=after):
        fields = dict(row)
        index = fields["index"]
        if index < scan.expected:  # only a negative index can sort before the one we expect
            scan.problems.append(
                LogProblem("inserted", f"entry {index} has an index below 0: it was inserted", index, index)
            )
        elif index != scan.expected:
            scan.gaps.append((scan.expected, index - 1))
        scan.expected = max(scan.expected, index + 1)
        stored_leaf = bytes(fields["leaf_hash"])
        try:
            leaf, error = leaf_of(fields), None
        except (ValueError, TypeError, KeyError) as exc:
            leaf, error = _UNHASHABLE, str(exc)
        if leaf != stored_leaf:
            if len(scan.mismatches) < MISMATCH_LIMIT:
                scan.mismatches.append(_Mismatch(scan.position, index, fields, stored_leaf, error))
            else:
                scan.unanalysed.append(index)
        recomputed.append(leaf)
        for level, at, value in stored.append(stored_leaf):
            cached = cache.get((level, at)) if level >= CACHE_LEVEL else None
            if cached is not None and cached != value:
                scan.bad_cache.append((at << level, ((at + 1) << level) - 1))
        scan.position += 1
        while scan.head is not None and scan.head.tree_size == scan.position:
            scan.head.recomputed_ok = recomputed.root() == scan.head.root
            scan.head.stored_ok = stored.root() == scan.head.root
            scan.head.snapshot = recomputed.copy()
            scan.head = next(scan.heads, None)
        if progress is not None and scan.position % chunk == 0:
            progress(scan.position, total)


def verify_processes(session: Session, processes: int, total: int | None = None) -> int:
    """How many worker processes :func:`verify_log` uses when given ``processes``: only for a log of
    two blocks or more (``total`` entries, counted if not given), in a database other processes can
    open (not an in-memory SQLite); 1 means none, the caller's process does it all."""
    if processes <= 1:
        return 1
    if total is None:
        total = repository.count_entries(session)
    url = session.get_bind().url
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    return 1 if in_memory or total < 2 * PARALLEL_BLOCK else processes


def _pool(session: Session, processes: int, total: int) -> ProcessPoolExecutor | None:
    workers = verify_processes(session, processes, total)
    if workers == 1:
        return None
    # fork starts at once, with everything imported; but a thread of ours (a progress bar) could hold a
    # lock at that moment, forever in the child: then spawn, which starts a fresh interpreter
    methods = multiprocessing.get_all_start_methods()
    method = "fork" if "fork" in methods and threading.active_count() == 1 else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def _parallel_blocks(
    pool: ProcessPoolExecutor, session: Session, total: int, batch: int, sizes: Sequence[int]
) -> Iterator[bulk.Block]:
    """Blocks of ``PARALLEL_BLOCK`` entries (runs of complete subtrees), verified by the workers,
    in order; the caller stops at the first that is short or irregular."""
    url = session.get_bind().url.render_as_string(hide_password=False)
    tasks = [
        bulk.Task(
            url=url,
            start=start,
            limit=PARALLEL_BLOCK,
            batch=min(batch, PARALLEL_BLOCK),
            sizes=tuple(size for size in sizes if start < size <= start + PARALLEL_BLOCK),
            cache_level=CACHE_LEVEL,
        )
        for start in range(0, total, PARALLEL_BLOCK)
    ]
    yield from pool.map(bulk.run_task, tasks)


def _entries(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}..{last} are"


def _problem_order(problem: LogProblem) -> tuple[int, int]:
    entry_level = problem.kind in ("changed", "removed", "inserted", "reordered")
    first = problem.first if problem.first is not None else -1
    return (0 if entry_level else 1, first)


def _verify_checkpoints(
    rows: Sequence[AuditCheckpoint],
    ca_certificate: x509.Certificate | None,
    hub_id: str | None,
    report: LogReport,
) -> tuple[list[_Head], list[LogProblem]]:
    heads: list[_Head] = []
    problems: list[LogProblem] = []
    if rows and ca_certificate is None:
        report.notes.append(
            "checkpoint signatures were checked against the certificate each one carries, not against "
            "the hub CA: give the CA certificate to anchor them"
        )
    for row in rows:
        label = f"the checkpoint of size {row.tree_size} signed at {row.signed_at.isoformat()}"
        try:
            claims = checkpoint_claims(row.signature, ca_certificate, hub_id)
        except jose.JoseError as exc:
            problems.append(LogProblem("checkpoint", f"{label} does not verify: {exc}", row.tree_size - 1))
            continue
        differences = [
            name
            for name, column in (
                ("tree_size", row.tree_size),
                ("root_hash", row.root_hash),
                ("timestamp", _millis(row.signed_at)),
            )
            if claims[name] != column
        ]
        if differences:
            problems.append(
                LogProblem(
                    "checkpoint",
                    f"{label}: the row's {', '.join(differences)} differ from what was signed; the signed "
                    "values are used",
                    row.tree_size - 1,
                )
            )
        signed_at = _from_millis(claims["timestamp"])
        label = f"the checkpoint of size {claims['tree_size']} signed at {signed_at.isoformat()}"
        heads.append(_Head(claims["tree_size"], base64.b64decode(claims["root_hash"]), label))
    return heads, problems


def checkpoint_claims(
    token: str, ca_certificate: x509.Certificate | None, hub_id: str | None
) -> dict[str, Any]:
    """The claims of a checkpoint JWS whose signature, signer and shape are right; ``JoseError`` if not."""
    header = jose.header(token)
    chain = jose.certificates_from_x5c(header.get("x5c"))
    claims = jose.verify(token, chain[0].public_key(), typ=CHECKPOINT_TYP)  # type: ignore[arg-type]
    shapes = {"origin": str, "tree_size": int, "root_hash": str, "timestamp": int}
    if any(not isinstance(claims.get(name), kind) for name, kind in shapes.items()):
        raise jose.JoseError("the claims are not origin, tree_size, root_hash and timestamp")
    try:
        root = base64.b64decode(claims["root_hash"], validate=True)
    except ValueError:
        root = b""
    if len(root) != merkle.HASH_SIZE or claims["tree_size"] < 0:
        raise jose.JoseError("root_hash is not a base64 SHA-256 hash")
    if hub_id is not None and claims["origin"] != hub_id:
        raise jose.JoseError(f"signed for origin {claims['origin']!r}, not {hub_id!r}")
    if ca_certificate is not None:
        signer = chain[0]
        if signer.subject != hub_name(claims["origin"]):
            raise jose.JoseError(f"signed by {signer.subject.rfc4514_string()}, not by the hub's certificate")
        checks = verify_certificate(
            signer, ca_certificate=ca_certificate, revocation=None, now=_from_millis(claims["timestamp"])
        ).checks
        failed = [check for check in checks if not check.ok and check.name != "revocation"]
        if failed:
            raise jose.JoseError(f"signing certificate: {failed[0].name}: {failed[0].detail}")
    return claims


def _find_origins(mismatches: list[_Mismatch]) -> None:
    """For entries whose fields miss their leaf: find the index under which they were logged.

    An entry moved to another index keeps its leaf hash, so its fields hash to that leaf under the old
    index: neighbours (renumbering after an insertion or removal), and among few mismatches any
    other mismatching index (a swap, or contents exchanged while the leaf hashes stayed).
    """
    stored_at = {m.index: m.stored for m in mismatches}
    pairwise = len(mismatches) <= PAIRWISE_LIMIT
    for m in mismatches:
        if m.error is not None:
            continue
        candidates = [m.index - 1, m.index + 1]
        if pairwise:
            candidates += [other.index for other in mismatches if abs(other.index - m.index) > 1]
        for candidate in candidates:
            if candidate < 0:
                continue
            leaf = leaf_of({**m.fields, "index": candidate})
            if leaf == m.stored or leaf == stored_at.get(candidate):
                m.origin = candidate
                break


def _mismatch_problems(mismatches: list[_Mismatch], heads: list[_Head]) -> list[LogProblem]:
    """Group entries whose fields miss their leaf into swaps, renumbered runs and plain changes."""
    problems: list[LogProblem] = []
    by_index = {m.index: m for m in mismatches}
    done: set[int] = set()
    for m in mismatches:
        if m.index in done:
            continue
        partner = by_index.get(m.origin) if m.origin is not None else None
        if partner is not None and partner.origin == m.index and partner.index not in done:
            done.update((m.index, partner.index))
            problems.append(
                LogProblem(
                    "reordered",
                    f"entries {m.index} and {partner.index} were swapped: each holds the record logged "
                    "as the other",
                    m.index,
                    partner.index,
                )
            )
        elif m.origin is not None and abs(m.origin - m.index) == 1:
            shift = m.origin - m.index
            run = _run(by_index, m.index, shift)
            done.update(run)
            held = _holds(run[0], run[-1], shift)
            if shift == -1:
                inserted = run[0] - 1
                problems.append(
                    LogProblem("inserted", f"entry {inserted} was inserted: {held}", inserted, inserted)
                )
            else:
                problems.append(LogProblem("removed", f"entry {run[0]} was removed: {held}", run[0], run[0]))
        elif m.origin is not None:
            done.add(m.index)
            problems.append(
                LogProblem(
                    "reordered",
                    f"entry {m.index} was moved: it holds the record logged as entry {m.origin}",
                    m.index,
                    m.index,
                )
            )
        else:
            done.add(m.index)
            following = by_index.get(m.index + 1)
            if following is not None and following.origin == m.index:
                continue  # the inserted entry itself, reported with the run that follows it
            problems.append(LogProblem("changed", _changed_message(m, heads), m.index, m.index))
    return problems


def _holds(first: int, last: int, shift: int) -> str:
    how = "minus" if shift < 0 else "plus"
    if first == last:
        return (
            f"entry {first} holds the record logged as entry {first + shift} (its fields hash to its "
            f"stored leaf under its index {how} one)"
        )
    return (
        f"entries {first}..{last} hold the records logged as {first + shift}..{last + shift} (each hashes "
        f"to its stored leaf under its index {how} one)"
    )


def _run(by_index: Mapping[int, _Mismatch], start: int, shift: int) -> list[int]:
    """Consecutive mismatching entries from ``start`` on that were all logged at their index + shift."""
    run = []
    index = start
    while index in by_index and by_index[index].origin == index + shift:
        run.append(index)
        index += 1
    return run


def _changed_message(m: _Mismatch, heads: list[_Head]) -> str:
    if m.error is not None:
        return f"entry {m.index} was changed: its fields cannot be put in canonical form ({m.error})"
    covering = next(
        (head for head in heads if head.tree_size > m.position and head.recomputed_ok is not None), None
    )
    if covering is not None and covering.recomputed_ok:
        return (
            f"entry {m.index} had its stored leaf_hash changed: its fields are intact (they hash into "
            f"{covering.label})"
        )
    if covering is not None and covering.stored_ok:
        return (
            f"entry {m.index} was changed: its fields do not hash to its leaf, which still matches "
            f"{covering.label}"
        )
    return f"entry {m.index} was changed: its fields do not hash to its leaf"


def _head_problems(
    session: Session, heads: list[_Head], found: list[LogProblem], end_index: int, size: int
) -> list[LogProblem]:
    problems: list[LogProblem] = []
    entry_problems = [p for p in found if p.kind != "checkpoint"]
    last_good: _Head | None = None
    unexplained = False
    for head in heads:
        if head.recomputed_ok is None:  # the log is shorter than this checkpoint
            if end_index < head.tree_size:
                problems.append(
                    LogProblem(
                        "removed",
                        f"{_entries(end_index, head.tree_size - 1)} missing: {head.label} covers "
                        f"{head.tree_size} entries, the log ends at entry {end_index - 1}",
                        end_index,
                        head.tree_size - 1,
                    )
                )
            else:
                problems.append(
                    LogProblem(
                        "checkpoint",
                        f"{head.label} covers {head.tree_size} entries but the log holds only {size}",
                        head.tree_size - 1,
                    )
                )
            continue
        if head.recomputed_ok:
            last_good = head
            continue
        start = last_good.tree_size if last_good is not None else 0
        explained = any(p.first is not None and p.first < head.tree_size for p in entry_problems + problems)
        if explained or unexplained:
            problems.append(
                LogProblem(
                    "checkpoint",
                    f"the tree of size {head.tree_size} does not match {head.label} (explained above)",
                    head.tree_size - 1,
                )
            )
            continue
        unexplained = True
        hypothesis = _explain_range(session, last_good, start, head)
        if hypothesis is not None:
            problems.append(hypothesis)
            continue
        since = f", while the checkpoint of size {start} matches" if last_good is not None else ""
        problems.append(
            LogProblem(
                "changed",
                f"the tree of size {head.tree_size} does not match {head.label}{since}: one or more of "
                f"entries {start}..{head.tree_size - 1} were changed, removed or reordered with their leaf "
                "hashes rewritten",
                start,
                head.tree_size - 1,
            )
        )
    return problems


def _explain_range(session: Session, last_good: _Head | None, start: int, head: _Head) -> LogProblem | None:
    """Try the undoings that a rewrite of leaf hashes cannot hide from a signed root.

    Entries ``start..tree_size-1`` no longer hash to ``head``'s root. If removing one entry ``k`` and
    numbering the ones after it back down (their fields hashed under index - 1) gives that root, ``k``
    was inserted; if exchanging two entries (each hashed under the other's index) gives it, they were
    swapped. O(n^2) hashing over the range, so only for ranges of at most ``INSERTION_SEARCH_LIMIT``
    (insertion) and ``PAIRWISE_LIMIT`` (swap) entries.
    """
    size = head.tree_size
    if size - start > INSERTION_SEARCH_LIMIT:
        return None
    rows = [dict(row) for row in repository.entries_between(session, start, size + 1)]
    if len(rows) < size - start or any(row["index"] != start + i for i, row in enumerate(rows)):
        return None
    try:
        own = [leaf_of(row) for row in rows]
        down = [leaf_of({**row, "index": row["index"] - 1}) for row in rows]
    except (ValueError, TypeError, KeyError):
        return None
    base = last_good.snapshot if last_good is not None and last_good.snapshot else merkle.CompactRange()
    if len(rows) == size + 1 - start:
        prefix = base.copy()
        for skip in range(len(rows)):  # prefix holds [0, start + skip): drop that entry, renumber the rest
            candidate = prefix.copy()
            candidate.extend(down[skip + 1 :])
            if candidate.root() == head.root:
                inserted = start + skip
                return LogProblem(
                    "inserted",
                    f"entry {inserted} was inserted: without it, and with the entries after it numbered "
                    f"back, the first {size} entries match {head.label} (their leaf hashes were rewritten)",
                    inserted,
                    inserted,
                )
            prefix.append(own[skip])
    if size - start <= PAIRWISE_LIMIT:
        count = size - start
        for a in range(count):
            for b in range(a + 1, count):
                leaves = list(own[:count])
                leaves[a] = leaf_of({**rows[b], "index": start + a})
                leaves[b] = leaf_of({**rows[a], "index": start + b})
                candidate = base.copy()
                candidate.extend(leaves)
                if candidate.root() == head.root:
                    return LogProblem(
                        "reordered",
                        f"entries {start + a} and {start + b} were swapped: exchanging them back makes the "
                        f"first {size} entries match {head.label} (their leaf hashes were rewritten)",
                        start + a,
                        start + b,
                    )
    return None


def _add_notes(report: LogReport, heads: list[_Head], size: int) -> None:
    if not heads:
        report.notes.append(
            "no signed checkpoint: the entries are protected only by their own leaf hashes, which anyone "
            "with database access can rewrite"
        )
        return
    latest = heads[-1]
    if size > latest.tree_size:
        report.notes.append(
            f"{_entries(latest.tree_size, size - 1)} newer than the latest checkpoint (size "
            f"{latest.tree_size}): only their own leaf hashes protect them until the next one"
        )
