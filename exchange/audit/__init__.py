"""The audit log: every exchange as an entry of an RFC 6962 Merkle tree, signed checkpoints, proofs.

``merkle`` is the tree (dangerous layer), ``schemas`` the entry and its RFC 8785 canonical form,
``models``/``repository`` the tables and their queries, ``service`` the recipes callers use
(``append``, ``checkpoint``, ``inclusion``, ``consistency``, ``verify_log``), ``bulk`` the fast path
of ``verify_log`` (many leaves at once, in worker processes). See docs/audit.md.
"""
