"""`exchange bench`: the hub's throughput, latency and memory measured against this machine's limits.

Every figure is reported beside a raw rate measured in the same run on the same machine (Ed25519
signatures, SHA-256 hashes, database inserts), so a result is a ratio that can be compared across
shared and noisy machines (docs/performance.md).
"""
