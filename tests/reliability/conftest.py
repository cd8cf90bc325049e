"""The database of each hub a reliability test starts, on the backend the suite runs on.

As everywhere in the suite (tests/conftest.py): a SQLite file in the hub's EXCHANGE_HOME by default,
or, with ``EXCHANGE_TEST_DATABASE=postgresql``, a fresh database on the test server, so these
process-level tests crash and restart the hub on both backends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.conftest import TEST_DATABASE


@pytest.fixture
def new_database(request: pytest.FixtureRequest) -> Iterator[Callable[[], dict[str, str]]]:
    """Each call: the environment naming a new, empty hub database (nothing for SQLite, whose file
    lives in the hub's home); PostgreSQL databases are dropped after the test."""
    with ExitStack() as stack:

        def fresh() -> dict[str, str]:
            if TEST_DATABASE == "sqlite":
                return {}
            databases = request.getfixturevalue("postgres_databases")
            return {"EXCHANGE_DATABASE_URL": stack.enter_context(databases.fresh())}

        yield fresh
