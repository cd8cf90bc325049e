"""The console's pages, one module each; every module here exposes a FastAPI ``router``."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """Every page module's router, in module-name order (the menu order is web.NAVIGATION)."""
    found = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        found.append(importlib.import_module(f"{__name__}.{module}").router)
    return found
