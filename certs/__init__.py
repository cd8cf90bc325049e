"""The hub's PKI: root CA, department, hub and consumer certificates, revocation (X.509, RFC 5280).

Dangerous layer: :mod:`certs.keys` (private keys on disk) and :mod:`certs.authority` (signing
certificates and CRLs). Everything else calls the recipes in :mod:`certs.service`.
"""
