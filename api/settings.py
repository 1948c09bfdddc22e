"""Settings of the web service, read from ``GEOGRID_*`` environment variables.

Never read at import time: :func:`api.main.create_app` takes a :class:`ApiSettings` (tests
build their own); ``create_app()`` without one reads the environment when it is called.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pydantic import Field

from geogrid.errors import InvalidIncidentError
from geogrid.incidents import DEFAULT_TAXONOMY, DeadlinePolicy, Taxonomy
from geogrid.settings import Settings

__all__ = ["ApiSettings"]


class ApiSettings(Settings):
    """The library's :class:`~geogrid.settings.Settings` plus what only the service needs.

    Attributes
    ----------
    plan_check_seconds
        ``GEOGRID_PLAN_CHECK_SECONDS``: how often a worker asks the store which plan version
        is active (a one-row query) and rebuilds its locate index when it changed; every
        worker process does this, so all answer from the same version within this delay.
        0 checks on every request. With PostGIS and ``plan_listen``, when not set,
        ``listening_check_seconds`` applies instead.
    plan_listen
        ``GEOGRID_PLAN_LISTEN`` (default true): on PostGIS, every server process listens for
        the store's notices of plan and staff changes (``LISTEN geogrid_plans``,
        :mod:`api.notify`) and refreshes at once, whichever process or host wrote.
    listening_check_seconds
        ``GEOGRID_LISTENING_CHECK_SECONDS`` (default 30): the periodic check while listening,
        a fallback only.
    max_batch_points
        ``GEOGRID_MAX_BATCH_POINTS``: points per ``POST /locate`` (more: 413).
    max_body_bytes
        ``GEOGRID_MAX_BODY_BYTES``: request body cap (more: 413).
    max_upload_bytes
        ``GEOGRID_MAX_UPLOAD_BYTES``: cap of a plan file uploaded to ``POST /plans``.
    index_cache_size
        ``GEOGRID_INDEX_CACHE_SIZE``: locate indexes kept for ``?at=`` queries on past
        versions, besides the active one.
    open_locate
        ``GEOGRID_OPEN_LOCATE``: ``/locate``, ``/ogc`` and ``/maps`` answer without an API
        key (grid boundaries and staff contacts are public, on every 公示牌); ``false`` asks
        for a key with a role that may locate.
    key_cache_seconds
        ``GEOGRID_KEY_CACHE_SECONDS``: how long a worker trusts a key it checked; a revoked
        key stops working within this delay. 0 checks the store on every request.
    red_hours, yellow_hours, blue_hours
        ``GEOGRID_RED_HOURS`` … : time allowed to close a case of each urgency (24, 72, 168).
    escalate_after
        ``GEOGRID_ESCALATE_AFTER``: failed attempts after which a blue case becomes yellow.
    basemap_url
        ``GEOGRID_BASEMAP_URL``: a tile URL template (``https://…/{z}/{x}/{y}.png``) the
        workbench draws under the grids; unset (the default): a plain background, nothing
        fetched from anywhere but this service.
    tiles_above_grids
        ``GEOGRID_TILES_ABOVE_GRIDS``: a map of more grids than this draws them from the
        vector tiles of ``/tiles`` instead of one GeoJSON (5000; 0: always tiles).
    taxonomy_file
        ``GEOGRID_TAXONOMY_FILE``: a JSON list of incident categories (``code``, ``name``,
        ``urgency``, ``focus``, ``name_en``) replacing the default taxonomy.

    Examples
    --------
    >>> ApiSettings(data_dir="/tmp/geogrid-doc", plan_check_seconds=0).max_batch_points
    10000
    """

    plan_check_seconds: float = Field(default=1.0, ge=0)
    plan_listen: bool = True
    listening_check_seconds: float = Field(default=30.0, ge=0)
    max_batch_points: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=2_000_000, ge=1_000)
    max_upload_bytes: int = Field(default=200_000_000, ge=1_000)
    index_cache_size: int = Field(default=4, ge=0)
    open_locate: bool = True
    key_cache_seconds: float = Field(default=5.0, ge=0)
    taxonomy_file: Path | None = None
    basemap_url: str | None = Field(default=None, max_length=2000)
    tiles_above_grids: int = Field(default=5000, ge=0)
    red_hours: float = Field(default=24, gt=0)
    yellow_hours: float = Field(default=72, gt=0)
    blue_hours: float = Field(default=168, gt=0)
    escalate_after: int = Field(default=3, ge=1)

    def policy(self) -> DeadlinePolicy:
        """Deadlines per urgency and the escalation rule."""
        return DeadlinePolicy(
            red=dt.timedelta(hours=self.red_hours),
            yellow=dt.timedelta(hours=self.yellow_hours),
            blue=dt.timedelta(hours=self.blue_hours),
            escalate_after=self.escalate_after,
        )

    def taxonomy(self) -> Taxonomy:
        """The incident categories: from ``taxonomy_file``, else the default taxonomy."""
        if self.taxonomy_file is None:
            return DEFAULT_TAXONOMY
        try:
            records = json.loads(Path(self.taxonomy_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidIncidentError(
                f"cannot read the taxonomy file {self.taxonomy_file}: {exc}"
            ) from exc
        if not isinstance(records, list):
            raise InvalidIncidentError(
                f"the taxonomy file {self.taxonomy_file} must hold a JSON list of categories"
            )
        return Taxonomy.from_records(records)
