"""Persistence plumbing: the declarative base, engines and sessions, and Alembic migrations."""
