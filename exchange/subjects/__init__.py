"""Data subjects (citizens) seeing who used their data: authentication and the access record."""
