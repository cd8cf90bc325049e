"""The Data Exchange Hub: signed, audited exchange of government data between departments."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("data-exchange-hub")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
