"""All tables, imported in one place so Alembic and tests see the whole schema."""

from certs.models import IssuedCertificate
from directory.models import Application, Grant, Resource, ResourceVersion
from exchange.access.models import AccessToken
from exchange.audit import models as audit_models  # noqa: F401  (registers the audit_* tables)
from exchange.console.models import ConsoleSession, ConsoleUser
from exchange.consumers.models import Consumer
from exchange.db.base import Base
from exchange.licenses.models import License, QualityResult, QuarantinedRecord, StatusList, SyncRun
from exchange.queries.models import SeenRequest

metadata = Base.metadata

__all__ = [
    "AccessToken",
    "Application",
    "ConsoleSession",
    "ConsoleUser",
    "Consumer",
    "Grant",
    "IssuedCertificate",
    "License",
    "QualityResult",
    "QuarantinedRecord",
    "Resource",
    "ResourceVersion",
    "SeenRequest",
    "StatusList",
    "SyncRun",
    "metadata",
]
