"""A booted hub for the license tests: migrations, PKI, the directory and the simulated departments."""

from __future__ import annotations

import pytest

from exchange.bootstrap import bootstrap


@pytest.fixture
def booted(settings, engine):
    bootstrap(settings, engine)
    return settings
