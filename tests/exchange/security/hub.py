"""One embedded hub per test module: the corpus and the fuzzer send hundreds of requests each, and a
fresh hub per request would spend minutes on set-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exchange.bootstrap import bootstrap
from exchange.config import Settings, get_settings
from exchange.db.engine import engine_for


def bootstrapped_hub(home: Path, database_env: dict[str, str], *, demo_grants: bool) -> Settings:
    """Settings of a bootstrapped hub in ``home`` on the suite's database, none of the developer's
    EXCHANGE_* variables, and a rate limit no test reaches (429 is tested on its own)."""
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("EXCHANGE_") and name != "EXCHANGE_TEST_POSTGRES_URL":
                env.delenv(name)
        for name, value in database_env.items():
            env.setenv(name, value)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            home=home,
            demo_persons=60,
            demo_grants=demo_grants,
            rate_limit_per_second=10_000,
            rate_limit_burst=10_000,
        )
        get_settings.cache_clear()
    bootstrap(settings, engine_for(settings))
    return settings
