"""The Merkle tree of the audit log (RFC 6962 section 2.1 / RFC 9162 section 2.1). Dangerous layer.

- leaf hash ``SHA-256(0x00 || data)``, interior node ``SHA-256(0x01 || left || right)``, the root of
  the empty tree ``SHA-256("")``; a tree of ``n > 1`` leaves splits at ``k``, the largest power of
  two smaller than ``n`` (RFC 6962 section 2.1).
- proofs are lists of subtree hashes in the order of RFC 9162 sections 2.1.3.1 (PATH) and 2.1.4.1
  (PROOF/SUBPROOF); :func:`verify_inclusion` and :func:`verify_consistency` are the verification
  algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2.

Where the hashes come from. Every proof is a list of hashes of *ranges* of leaves, and every range
RFC 6962 asks for starts at a multiple of a power of two at least as long as the range, so it is
the right fold of O(log n) *complete* aligned subtrees (its length written in binary). A proof
function therefore first lists the ranges it needs (:func:`inclusion_ranges`,
:func:`consistency_ranges`), then asks a :class:`TreeReader` for their hashes. Three readers:

- a list of leaf hashes in memory (tests, small trees): O(n) hashing per proof;
- a callable ``fetch(start, end)`` returning leaf hashes (:class:`LeafReader`): the same, streamed;
- :class:`CachedTree`: complete subtrees of ``2**cache_level`` leaves or more are looked up in a
  cache (the database keeps them, written as appends complete them); smaller ones are hashed from
  at most two blocks of leaves. A proof in a tree of ``n`` leaves then costs O(log n) cache
  look-ups (one batched query per round, normally one round), reading at most
  ``2 * 2**cache_level`` leaf hashes and O(2**cache_level + log n) SHA-256 calls, whatever ``n``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import methodcaller
from typing import Protocol

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]  # leaves [start, end)
# (level, index): the complete subtree over leaves [index << level, (index + 1) << level)
SubtreeKey = tuple[int, int]


class ProofError(ValueError):
    """A proof was asked for sizes or indexes the tree does not have."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 section 2.1: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 section 2.1: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


_digest = methodcaller("digest")


def leaf_hashes(items: Iterable[bytes]) -> list[bytes]:
    """:func:`leaf_hash` of each item, looped in C (verify_log hashes every entry of the log)."""
    return list(map(_digest, map(hashlib.sha256, map(LEAF_PREFIX.__add__, items))))


def subtree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every complete subtree of a block of leaves that starts at a multiple of a power of two at least
    its length: ``levels[l][i]`` is the hash of leaves ``[i * 2**l, (i + 1) * 2**l)`` of the block.

    Level by level, each node ``SHA-256(0x01 || left || right)`` (RFC 6962 section 2.1), looped in C;
    an unpaired last node of a level has no parent.
    """
    levels = [list(leaves)]
    while len(level := levels[-1]) > 1:
        pairs = map(bytes.__add__, level[0::2], level[1::2])
        levels.append(list(map(_digest, map(hashlib.sha256, map(NODE_PREFIX.__add__, pairs)))))
    return levels


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    if n < 2:
        raise ValueError("a split needs at least two leaves")
    return 1 << ((n - 1).bit_length() - 1)


# --- roots ---------------------------------------------------------------------------------------


@dataclass
class CompactRange:
    """The hashes of the complete subtrees covering leaves ``[0, size)``: O(log n) memory.

    Appending leaf hashes one by one and asking :meth:`root` gives the RFC 6962 Merkle Tree Hash of
    every prefix without keeping the leaves (the tree's left subtrees are complete, so the MTH is the
    right fold of these peaks).
    """

    size: int = 0
    peaks: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the complete subtrees it finished as ``(level, index, hash)``,
        level 1 and up, lowest first."""
        return self.append_subtree(0, leaf)

    def append_subtree(self, level: int, value: bytes) -> list[tuple[int, int, bytes]]:
        """Add the hash of a complete subtree of ``2**level`` leaves (the size must be a multiple of
        that); return the larger subtrees it finished, as :meth:`append` does."""
        if self.size % (1 << level):
            raise ValueError(f"a subtree of 2**{level} leaves cannot follow {self.size} leaves")
        completed: list[tuple[int, int, bytes]] = []
        current = value
        position = self.size >> level
        self.size += 1 << level
        while position & 1:
            current = node_hash(self.peaks.pop(), current)
            level += 1
            position >>= 1
            completed.append((level, position, current))
        self.peaks.append(current)
        return completed

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        result = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            result = node_hash(peak, result)
        return result

    def copy(self) -> CompactRange:
        return CompactRange(self.size, list(self.peaks))


def root(leaf_hashes: Iterable[bytes]) -> bytes:
    """The Merkle Tree Hash of a list of leaf hashes (RFC 6962 section 2.1), in O(n)."""
    compact = CompactRange()
    compact.extend(leaf_hashes)
    return compact.root()


# --- which ranges a proof needs ------------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose hashes form PATH(index, D[size]) (RFC 9162 section 2.1.3.1), leaf first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = split_point(end - start)
        if m < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m = start + k, m - k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The leaf ranges whose hashes form PROOF(first, D[second]) (RFC 9162 section 2.1.4.1).

    ``first == second`` gives the empty proof; ``first`` must be at least 1.
    """
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}: need 0 < first <= second")
    if first == second:
        return []
    ranges: list[Range] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def decompose(start: int, end: int) -> list[SubtreeKey]:
    """The complete aligned subtrees whose right fold is the hash of ``[start, end)``, largest first.

    The range must be one RFC 6962 builds (``start`` a multiple of a power of two >= its length).
    """
    length = end - start
    if length <= 0:
        raise ValueError(f"empty range [{start}, {end})")
    keys: list[SubtreeKey] = []
    position = start
    for level in range(length.bit_length() - 1, -1, -1):
        if length >> level & 1:
            if position % (1 << level):
                raise ValueError(f"[{start}, {end}) is not a subtree of an RFC 6962 tree")
            keys.append((level, position >> level))
            position += 1 << level
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    """The right fold ``node(h0, node(h1, ... node(h[-2], h[-1])))`` of a range's complete subtrees."""
    result = hashes[-1]
    for value in reversed(hashes[:-1]):
        result = node_hash(value, result)
    return result


# --- where hashes come from ----------------------------------------------------------------------


class TreeReader(Protocol):
    def range_hashes(self, ranges: Sequence[Range]) -> list[bytes]:
        """The Merkle Tree Hash of each leaf range, in order."""
        ...


LeafFetch = Callable[[int, int], Sequence[bytes]]
HashSource = Sequence[bytes] | LeafFetch | TreeReader


class LeafReader:
    """Hashes ranges from their leaf hashes, read through ``fetch(start, end)``: O(range length)."""

    def __init__(self, fetch: LeafFetch) -> None:
        self.fetch = fetch

    def range_hashes(self, ranges: Sequence[Range]) -> list[bytes]:
        results = []
        for start, end in ranges:
            leaves = self.fetch(start, end)
            if len(leaves) != end - start:
                raise ProofError(f"leaves {start}..{end - 1} are not all there ({len(leaves)} found)")
            results.append(root(leaves))
        return results


SubtreeFetch = Callable[[Sequence[SubtreeKey]], Mapping[SubtreeKey, bytes]]


class CachedTree:
    """Range hashes from a cache of complete subtrees at ``cache_level`` and above, plus leaves.

    ``fetch_subtrees(keys)`` returns the cached hashes it has (missing ones are rebuilt from their
    two children, then from leaves); ``fetch_leaves(start, end)`` returns leaf hashes.
    """

    def __init__(self, fetch_leaves: LeafFetch, fetch_subtrees: SubtreeFetch, cache_level: int) -> None:
        self.fetch_leaves = fetch_leaves
        self.fetch_subtrees = fetch_subtrees
        self.cache_level = cache_level

    def range_hashes(self, ranges: Sequence[Range]) -> list[bytes]:
        plans = [decompose(start, end) for start, end in ranges]
        known = self.subtree_hashes({key for plan in plans for key in plan})
        return [fold([known[key] for key in plan]) for plan in plans]

    def subtree_hashes(self, keys: Iterable[SubtreeKey]) -> dict[SubtreeKey, bytes]:
        """Hashes of complete subtrees: cached ones looked up, the others rebuilt."""
        wanted = set(keys)
        known: dict[SubtreeKey, bytes] = {}
        small = {key for key in wanted if key[0] < self.cache_level}
        pending = wanted - small
        expanded: set[SubtreeKey] = set()  # asked for, not cached: rebuilt from children
        while pending:
            found = self.fetch_subtrees(sorted(pending))
            known.update((key, value) for key, value in found.items() if key in pending)
            missing = pending - found.keys()
            expanded |= missing
            pending = set()
            for level, index in missing:
                for child in ((level - 1, 2 * index), (level - 1, 2 * index + 1)):
                    if child[0] < self.cache_level:
                        small.add(child)
                    elif child not in known:
                        pending.add(child)
        known.update(self._from_leaves(small))
        for level, index in sorted(expanded):  # children before parents: lower levels first
            left, right = known[(level - 1, 2 * index)], known[(level - 1, 2 * index + 1)]
            known[(level, index)] = node_hash(left, right)
        return known

    def _from_leaves(self, keys: Iterable[SubtreeKey]) -> dict[SubtreeKey, bytes]:
        spans = sorted((index << level, (index + 1) << level, (level, index)) for level, index in keys)
        results: dict[SubtreeKey, bytes] = {}
        for start, end, members in _merge_spans(spans):
            leaves = self.fetch_leaves(start, end)
            if len(leaves) != end - start:
                raise ProofError(f"leaves {start}..{end - 1} are not all there ({len(leaves)} found)")
            for level, index in members:
                first = (index << level) - start
                results[(level, index)] = root(leaves[first : first + (1 << level)])
        return results


def _merge_spans(spans: Sequence[tuple[int, int, SubtreeKey]]) -> list[tuple[int, int, list[SubtreeKey]]]:
    merged: list[tuple[int, int, list[SubtreeKey]]] = []
    for start, end, key in spans:
        if merged and start <= merged[-1][1]:
            first, last, members = merged[-1]
            merged[-1] = (first, max(last, end), [*members, key])
        else:
            merged.append((start, end, [key]))
    return merged


def reader_for(source: HashSource) -> TreeReader:
    if hasattr(source, "range_hashes"):
        return source  # type: ignore[return-value]
    if callable(source):
        return LeafReader(source)
    leaves = source
    return LeafReader(lambda start, end: leaves[start:end])


def completed_subtrees(index: int, min_level: int) -> list[SubtreeKey]:
    """The complete subtrees of level ``min_level`` or more that leaf ``index`` finishes, lowest first."""
    completed = []
    level = min_level
    while (index + 1) % (1 << level) == 0:
        completed.append((level, (index + 1 >> level) - 1))
        level += 1
    return completed


# --- proofs ---------------------------------------------------------------------------------------


def inclusion_proof(index: int, size: int, source: HashSource) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 section 2.1.3.1: the audit path, leaf end first."""
    return reader_for(source).range_hashes(inclusion_ranges(index, size))


def consistency_proof(first: int, second: int, source: HashSource) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 section 2.1.4.1 (empty when ``first == second``)."""
    return reader_for(source).range_hashes(consistency_ranges(first, second))


def root_of(size: int, source: HashSource) -> bytes:
    """The Merkle Tree Hash of the first ``size`` leaves of ``source``."""
    if size == 0:
        return EMPTY_ROOT
    return reader_for(source).range_hashes([(0, size)])[0]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` show leaf ``index`` with hash ``leaf`` in the tree?"""
    if not 0 <= index < size or any(len(value) != HASH_SIZE for value in proof):
        return False
    fn, sn, result = index, size - 1, leaf
    for value in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(value, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, value)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == root_hash


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: does ``proof`` show the tree of size ``first`` is a prefix of ``second``?

    Sizes equal: the proof must be empty and the roots equal. ``first == 0``: the empty tree is a
    prefix of every tree, with an empty proof.
    """
    if not 0 <= first <= second or any(len(value) != HASH_SIZE for value in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a subtree of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for value in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(value, fr)
            sr = node_hash(value, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, value)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
