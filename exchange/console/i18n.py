"""The console's two languages: Chinese (the default) and English, chosen per browser.

Messages are keyed by short ids (``page.what``) and kept one module per page in
:mod:`exchange.console.messages`, each with a ``ZH`` and an ``EN`` dict. A key missing in a language
falls back to Chinese, then to the key itself, so a page never breaks over a missing translation
(tests/console check that both languages hold the same keys).
"""

from __future__ import annotations

import importlib
import pkgutil

from exchange.console import messages

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


def _catalogues() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {"zh": {}, "en": {}}
    for module in sorted(m.name for m in pkgutil.iter_modules(messages.__path__)):
        catalogue = importlib.import_module(f"{messages.__name__}.{module}")
        merged["zh"].update(catalogue.ZH)
        merged["en"].update(catalogue.EN)
    return merged


MESSAGES: dict[str, dict[str, str]] = _catalogues()


def translate(language: str, key: str, **values: object) -> str:
    """The message ``key`` in ``language`` (falling back to Chinese, then the key), formatted."""
    text = MESSAGES.get(language, {}).get(key) or MESSAGES[DEFAULT_LANGUAGE].get(key) or key
    return text.format(**values) if values else text


def pick_language(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """``?lang=`` first, then the remembered choice, then the browser's first preference; else Chinese."""
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return choice
    first = (accept_language or "").split(",", 1)[0].strip().lower()
    return "en" if first.startswith("en") else DEFAULT_LANGUAGE
