"""All tables, imported in one place so Alembic and tests see the whole schema."""

from certs.models import IssuedCertificate
from directory.models import Application, Grant, Resource, ResourceVersion
from exchange.access.models import AccessToken
from exchange.consumers.models import Consumer
from exchange.db.base import Base

metadata = Base.metadata

__all__ = [
    "AccessToken",
    "Application",
    "Consumer",
    "Grant",
    "IssuedCertificate",
    "Resource",
    "ResourceVersion",
    "metadata",
]
