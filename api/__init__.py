"""geogrid's FastAPI service (incident location, plans over HTTP, OGC API Features).

It uses the ``geogrid`` library; the library never imports it. The service arrives with the
incident-location work; this package keeps its place in the layout.
"""
