"""The Merkle tree against the RFC 6962 reference vectors and an independent verifier.

The verifier and the reference proofs below are written from RFC 6962 section 2.1 with hashlib
only: nothing here but the functions under test comes from ``exchange.audit.merkle``.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from exchange.audit import merkle

VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text())
LEAVES = [merkle.leaf_hash(bytes.fromhex(data)) for data in VECTORS["leaf_inputs"]]


# --- an independent RFC 6962 implementation, for cross-checking ----------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 section 2.1, over leaf hashes, by the recursive definition."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return _h(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 section 2.1.1."""
    if len(leaves) <= 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_mth(leaves[:k])]


def ref_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 6962 section 2.1.2."""

    def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
        if m == len(d):
            return [] if b else [ref_mth(d)]
        k = _k(len(d))
        if m <= k:
            return subproof(m, d[:k], b) + [ref_mth(d[k:])]
        return subproof(m - k, d[k:], False) + [ref_mth(d[:k])]

    return subproof(m, leaves, True)


def independent_root_from_path(m: int, n: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """Rebuild the root from an audit path by walking the RFC 6962 tree shape top-down."""

    def walk(m: int, n: int, path: list[bytes]) -> bytes | None:
        if n == 1:
            return leaf if not path else None
        if not path:
            return None
        k = _k(n)
        sibling, rest = path[-1], path[:-1]
        if m < k:
            left = walk(m, k, rest)
            return None if left is None else _h(b"\x01" + left + sibling)
        right = walk(m - k, n - k, rest)
        return None if right is None else _h(b"\x01" + sibling + right)

    return walk(m, n, path)


def independent_consistency_check(
    m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes], leaves: list[bytes]
) -> bool:
    """A consistency proof is right when it equals SUBPROOF's list and both roots are MTHs."""
    return (
        proof == ref_proof(m, leaves[:n])
        and old_root == ref_mth(leaves[:m])
        and new_root == ref_mth(leaves[:n])
    )


# --- known answers --------------------------------------------------------------------------------


def test_leaf_hashes_match_the_vectors():
    assert [leaf.hex() for leaf in LEAVES] == VECTORS["leaf_hashes"]
    assert merkle.EMPTY_ROOT.hex() == VECTORS["roots"]["0"]


@pytest.mark.parametrize("size", range(0, 9))
def test_roots_for_sizes_0_to_8(size):
    assert merkle.root(LEAVES[:size]).hex() == VECTORS["roots"][str(size)]
    assert merkle.root_of(size, LEAVES).hex() == VECTORS["roots"][str(size)]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}of{c['size']}")
def test_inclusion_vectors(case):
    proof = merkle.inclusion_proof(case["index"], case["size"], LEAVES)
    assert [value.hex() for value in proof] == case["path"]
    root = bytes.fromhex(VECTORS["roots"][str(case["size"])])
    assert merkle.verify_inclusion(case["index"], case["size"], LEAVES[case["index"]], proof, root)


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['first']}to{c['second']}")
def test_consistency_vectors(case):
    proof = merkle.consistency_proof(case["first"], case["second"], LEAVES)
    assert [value.hex() for value in proof] == case["path"]
    first = bytes.fromhex(VECTORS["roots"][str(case["first"])])
    second = bytes.fromhex(VECTORS["roots"][str(case["second"])])
    assert merkle.verify_consistency(case["first"], case["second"], first, second, proof)


def test_the_node_hashes_of_the_vectors():
    nodes = VECTORS["node_hashes"]
    assert [merkle.node_hash(LEAVES[2 * i], LEAVES[2 * i + 1]).hex() for i in range(4)] == nodes["level1"]
    assert merkle.split_point(8) == 4 and merkle.split_point(5) == 4 and merkle.split_point(2) == 1


# --- every size 1..64 against the independent implementation -------------------------------------

BIG = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(64)]


@pytest.mark.parametrize("size", range(1, 65))
def test_every_inclusion_proof_up_to_64_checks_independently(size):
    leaves = BIG[:size]
    root = ref_mth(leaves)
    assert merkle.root(leaves) == root
    for index in range(size):
        proof = merkle.inclusion_proof(index, size, leaves)
        assert proof == ref_path(index, leaves)
        assert independent_root_from_path(index, size, leaves[index], proof) == root
        assert merkle.verify_inclusion(index, size, leaves[index], proof, root)
        assert not merkle.verify_inclusion(index, size, BIG[-1] if index != 63 else BIG[0], proof, root)
        if size > 1:
            assert not merkle.verify_inclusion((index + 1) % size, size, leaves[index], proof, root)


@pytest.mark.parametrize("second", range(1, 65))
def test_every_consistency_proof_up_to_64_checks_independently(second):
    leaves = BIG[:second]
    new_root = ref_mth(leaves)
    for first in range(1, second + 1):
        proof = merkle.consistency_proof(first, second, leaves)
        old_root = ref_mth(leaves[:first])
        assert independent_consistency_check(first, second, old_root, new_root, proof, leaves)
        assert merkle.verify_consistency(first, second, old_root, new_root, proof)
        if first < second:
            assert not merkle.verify_consistency(first, second, new_root, old_root, proof)
            assert not merkle.verify_consistency(first, second, old_root, new_root, proof[:-1])


# --- corrupted proofs are refused (the probes of transparency-dev/merkle's verifier tests) -------


def _flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 8]) + value[1:]


@pytest.mark.parametrize(
    "case", [c for c in VECTORS["inclusion"] if c["path"]], ids=lambda c: f"{c['index']}of{c['size']}"
)
def test_corrupted_inclusion_proofs_fail(case):
    index, size = case["index"], case["size"]
    proof = [bytes.fromhex(value) for value in case["path"]]
    root = bytes.fromhex(VECTORS["roots"][str(size)])
    leaf = LEAVES[index]
    probes = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, b"WrongLeaf", proof, root),
        (index, size, leaf, proof, merkle.EMPTY_ROOT),
        (index, size, leaf, [*proof, b""], root),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [b"", *proof], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, proof[:-1], root),
        *[
            (index, size, leaf, [*proof[:i], _flip(proof[i]), *proof[i + 1 :]], root)
            for i in range(len(proof))
        ],
    ]
    for probe in probes:
        assert not merkle.verify_inclusion(*probe), probe


@pytest.mark.parametrize(
    "case", [c for c in VECTORS["consistency"] if c["path"]], ids=lambda c: f"{c['first']}to{c['second']}"
)
def test_corrupted_consistency_proofs_fail(case):
    first, second = case["first"], case["second"]
    proof = [bytes.fromhex(value) for value in case["path"]]
    r1, r2 = bytes.fromhex(VECTORS["roots"][str(first)]), bytes.fromhex(VECTORS["roots"][str(second)])
    probes = [
        (first - 1, second, r1, r2, proof),
        (first + 1, second, r1, r2, proof),
        (first ^ 2, second, r1, r2, proof),
        (first, second * 2, r1, r2, proof),
        (first, second // 2, r1, r2, proof),
        (first, second, b"WrongRoot", r2, proof),
        (first, second, r1, b"WrongRoot", proof),
        (first, second, r2, r1, proof),
        (first, second, r1, r2, []),
        (first, second, r1, r2, [*proof, r1]),
        (first, second, r1, r2, [r2, *proof]),
        (first, second, r1, r2, [proof[0], *proof]),
        (first, second, r1, r2, proof[:-1]),
        *[(first, second, r1, r2, [*proof[:i], _flip(proof[i]), *proof[i + 1 :]]) for i in range(len(proof))],
    ]
    for probe in probes:
        assert not merkle.verify_consistency(*probe), probe


def test_trivial_and_impossible_sizes():
    assert merkle.verify_consistency(0, 5, b"x", LEAVES[0], [])
    assert merkle.verify_consistency(3, 3, LEAVES[0], LEAVES[0], [])
    assert not merkle.verify_consistency(3, 3, LEAVES[0], LEAVES[1], [])
    assert not merkle.verify_consistency(4, 3, LEAVES[0], LEAVES[0], [])
    assert not merkle.verify_inclusion(0, 0, LEAVES[0], [], LEAVES[0])
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_ranges(5, 5)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_ranges(0, 5)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_ranges(6, 5)


# --- the cached reader gives the same hashes as the leaves ---------------------------------------


class CountingCache:
    """A subtree cache in a dict, filled as appends complete subtrees, counting what is read."""

    def __init__(self, leaves: list[bytes], level: int) -> None:
        self.leaves = leaves
        self.cache: dict[tuple[int, int], bytes] = {}
        self.leaf_reads = 0
        for index in range(len(leaves)):
            for lvl, pos in merkle.completed_subtrees(index, level):
                self.cache[(lvl, pos)] = ref_mth(leaves[pos << lvl : (pos + 1) << lvl])

    def fetch_leaves(self, start: int, end: int) -> list[bytes]:
        self.leaf_reads += end - start
        return self.leaves[start:end]

    def fetch_subtrees(self, keys):
        return {key: self.cache[key] for key in keys if key in self.cache}


@pytest.mark.parametrize("size", [1, 2, 3, 15, 16, 17, 100, 255, 256, 257, 1000, 1023, 1024, 1025])
def test_cached_tree_agrees_with_the_leaves(size):
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    store = CountingCache(leaves, level=4)
    tree = merkle.CachedTree(store.fetch_leaves, store.fetch_subtrees, 4)
    rng = random.Random(size)
    assert merkle.root_of(size, tree) == merkle.root(leaves)
    for index in {0, size - 1, *(rng.randrange(size) for _ in range(10))}:
        store.leaf_reads = 0
        assert merkle.inclusion_proof(index, size, tree) == merkle.inclusion_proof(index, size, leaves)
        assert store.leaf_reads <= 2 * 16  # at most the leaf's block and the tail block
    for first in {1, size, *(rng.randrange(1, size + 1) for _ in range(10))}:
        assert merkle.consistency_proof(first, size, tree) == merkle.consistency_proof(first, size, leaves)


def test_cached_tree_rebuilds_missing_cache_entries():
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(300)]
    store = CountingCache(leaves, level=4)
    store.cache = {key: value for key, value in store.cache.items() if key[0] != 6}  # lose one level
    tree = merkle.CachedTree(store.fetch_leaves, store.fetch_subtrees, 4)
    assert merkle.root_of(300, tree) == merkle.root(leaves)
    assert merkle.inclusion_proof(7, 300, tree) == merkle.inclusion_proof(7, 300, leaves)


def test_a_leaf_fetch_callable_is_a_source():
    assert merkle.inclusion_proof(3, 7, lambda start, end: LEAVES[start:end]) == merkle.inclusion_proof(
        3, 7, LEAVES
    )


def test_compact_range_reports_completed_subtrees():
    compact = merkle.CompactRange()
    completed = []
    for leaf in BIG[:8]:
        completed += compact.append(leaf)
    assert (3, 0, ref_mth(BIG[:8])) in completed and (2, 1, ref_mth(BIG[4:8])) in completed
    assert compact.root() == ref_mth(BIG[:8]) and compact.size == 8
    assert merkle.completed_subtrees(255, 8) == [(8, 0)]
    assert merkle.completed_subtrees(1023, 8) == [(8, 3), (9, 1), (10, 0)]
    assert merkle.completed_subtrees(254, 8) == []
