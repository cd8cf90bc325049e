"""What every department adapter shares: the providing department's identity."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Department:
    """A provider department, as its certificate and the resource directory name it.

    ``id`` is the short code used in URLs, key file names and certificates (CN); ``uscc`` is the
    department's unified social credit code (GB 32100-2015), carried in its certificate subject.
    """

    id: str
    name: str
    name_en: str
    uscc: str
