"""One router per resource."""

from api.routes import incidents, keys, locate, maps, ogc, plans

__all__ = ["incidents", "keys", "locate", "maps", "ogc", "plans"]
