"""Settings of the library and the service, read from ``GEOGRID_*`` environment variables.

Nothing reads them at import time: build a :class:`Settings` where you need one (tests pass
their own), e.g. ``open_store(settings=Settings(data_dir=tmp_path))``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "geogrid"


class Settings(BaseSettings):
    """Where geogrid keeps its data.

    Attributes
    ----------
    database_url
        ``GEOGRID_DATABASE_URL``: the plan store, e.g.
        ``postgresql+psycopg://geogrid@db:5432/geogrid``; unset: the embedded GeoPackage.
    data_dir
        ``GEOGRID_DATA_DIR``: folder of the embedded store (default ``~/.local/share/geogrid``).
    roles_file
        ``GEOGRID_ROLES_FILE``: a TOML or JSON file of staff roles (网格长, 专职网格员 … and
        their order) replacing the default ones; see :func:`geogrid.roles.load_roles`.
    dask_scheduler
        ``GEOGRID_DASK_SCHEDULER``: the address of a running ``dask.distributed`` scheduler
        (``tcp://host:8786``) that partition jobs asking for ``cluster`` run on, one task per
        area (:mod:`geogrid.cluster`); unset, such jobs are refused. Set by the operator,
        never by a request.
    max_jobs
        ``GEOGRID_MAX_JOBS``: most jobs (partitions …) running at once in the store, each in
        its own process (:mod:`geogrid.jobs`); the others wait, queued.

    Examples
    --------
    >>> Settings(database_url=None, data_dir="/tmp/geogrid-doc").store_url
    'sqlite:////tmp/geogrid-doc/geogrid.gpkg'
    """

    model_config = SettingsConfigDict(env_prefix="GEOGRID_", extra="ignore")

    database_url: str | None = None
    data_dir: Path = Field(default_factory=_default_data_dir)
    roles_file: Path | None = None
    max_jobs: int = Field(default=2, ge=1, le=64)
    dask_scheduler: str | None = Field(default=None, max_length=500)

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("roles_file", mode="before")
    @classmethod
    def _blank_path_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", mode="after")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def store_url(self) -> str:
        """``database_url``, else ``sqlite:///{data_dir}/geogrid.gpkg`` (creating ``data_dir``)."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'geogrid.gpkg'}"
