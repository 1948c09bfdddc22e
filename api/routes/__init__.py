"""One router per resource."""

from api.routes import locate, maps, ogc

__all__ = ["locate", "maps", "ogc"]
