"""One router per resource."""

from api.routes import locate, ogc

__all__ = ["locate", "ogc"]
