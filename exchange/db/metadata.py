"""All tables, imported in one place so Alembic and tests see the whole schema."""

from certs.models import IssuedCertificate
from exchange.consumers.models import Consumer
from exchange.db.base import Base

metadata = Base.metadata

__all__ = ["Consumer", "IssuedCertificate", "metadata"]
