"""geogrid's FastAPI service: locate points in grids (``/locate``), grids as OGC API Features.

Build it with :func:`api.main.create_app`. It uses the ``geogrid`` library; the library never
imports it.
"""
