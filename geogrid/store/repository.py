"""The plan store: versioned grid plans in PostGIS or an embedded GeoPackage.

:class:`PlanStore` is the one repository interface; both backends run the same SQL through
the SQLAlchemy Core tables of :mod:`geogrid.store.schema`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.access import Caller
from geogrid.county import union_plan
from geogrid.errors import (
    AccessDeniedError,
    InvalidInputError,
    InvalidPlanError,
    NotFoundError,
    PreconditionFailedError,
    VersionStateError,
)
from geogrid.incidents import DEFAULT_POLICY, DEFAULT_TAXONOMY, DeadlinePolicy, Taxonomy
from geogrid.plan import GRID_COLUMNS, STAFF_COLUMNS, UNIT_COLUMNS, GridPlan
from geogrid.store import schema
from geogrid.store.access import AccessStore, insert_audit
from geogrid.store.database import create_engine, describe, translate_errors, upgrade, writing
from geogrid.store.generalised import write_generalised
from geogrid.store.incidents import IncidentStore
from geogrid.store.jurisdictions import (
    Jurisdiction,
    ancestors,
    check_neighbours,
    ensure_registered,
    jurisdiction_of,
    listing,
    register,
)
from geogrid.store.people import link_people
from geogrid.store.plan_reads import (
    in_force_digest,
    load_plans,
    sort_plan,
)
from geogrid.store.plan_reads import in_force_rows as _in_force_rows
from geogrid.store.plan_reads import instant as _instant
from geogrid.store.plan_reads import load_plan as _load_plan
from geogrid.store.plan_reads import now as _now
from geogrid.store.plan_reads import read_table as _read_table
from geogrid.store.plan_reads import sorted_frame as _sorted
from geogrid.store.plan_reads import staff_in_force as _staff_in_force
from geogrid.store.staff import StaffStore
from geogrid.store.unit_measures import (
    KeptMeasures,
    keep_measures,
    plan_measures,
    read_measures,
)
from geogrid.store.versions import VersionInfo, VersionStatus, check_transition

if TYPE_CHECKING:
    from geogrid.settings import Settings

__all__ = ["PlanStore", "open_store", "sort_plan", "union_plan"]

_STAFF_ORDER = ["grid_code", "role", "name"]
_CHUNK = 5000  # bound parameters per IN (...) query


def open_store(url: str | None = None, *, settings: Settings | None = None) -> PlanStore:
    """Open (and create or migrate) the plan store at ``url``.

    Parameters
    ----------
    url
        ``postgresql+psycopg://user@host:5432/dbname`` (PostGIS must be enabled in the
        database) or ``sqlite:///path/to/plans.gpkg`` (a GeoPackage, created if missing).
        ``None``: ``settings.store_url``.
    settings
        Where ``url`` comes from when it is ``None``; default: :class:`geogrid.settings.Settings`
        read from the environment now.

    Returns
    -------
    PlanStore
        Open store; pending migrations have run. Close it, or use it as a context manager.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with open_store(f"sqlite:///{folder}/plans.gpkg") as store:
    ...         store.plans()
    []
    """
    if url is None:
        if settings is None:
            from geogrid.settings import Settings

            settings = Settings()
        url = settings.store_url
    engine = create_engine(url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return PlanStore(engine)


class PlanStore:
    """Versioned grid plans in one database (PostGIS or a GeoPackage file).

    Use :func:`open_store` to get one. Each :meth:`save` adds a draft version; a version is
    approved, then activated; one version in the store is active at a time.

    Parameters
    ----------
    engine
        A migrated engine from :func:`geogrid.store.database.create_engine`.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __repr__(self) -> str:
        return f"PlanStore({describe(self._engine)!r})"

    def __enter__(self) -> PlanStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return describe(self._engine)

    @property
    def backend(self) -> str:
        """``"postgis"`` or ``"geopackage"``."""
        return "postgis" if self._engine.dialect.name == "postgresql" else "geopackage"

    def close(self) -> None:
        """Close every connection of the store."""
        self._engine.dispose()

    def incidents(
        self, *, taxonomy: Taxonomy | None = None, policy: DeadlinePolicy | None = None
    ) -> IncidentStore:
        """The incidents kept in this store (:class:`geogrid.store.incidents.IncidentStore`).

        ``taxonomy`` and ``policy`` configure categories, deadlines and escalation (default:
        :data:`geogrid.incidents.DEFAULT_TAXONOMY` and :data:`~geogrid.incidents.DEFAULT_POLICY`).
        """
        return IncidentStore(
            self._engine, taxonomy=taxonomy or DEFAULT_TAXONOMY, policy=policy or DEFAULT_POLICY
        )

    def access(self) -> AccessStore:
        """API keys and the audit log of this store (:class:`geogrid.store.access.AccessStore`)."""
        return AccessStore(self._engine)

    def staff(self) -> StaffStore:
        """Staff of the active version changed in place, with history (:mod:`geogrid.store.staff`)."""
        return StaffStore(self._engine)

    # -- writing -------------------------------------------------------------------------

    def save(
        self,
        plan: GridPlan,
        *,
        by: str,
        note: str = "",
        warnings: Sequence[Mapping[str, Any]] = (),
        caller: Caller | None = None,
        jurisdiction: str | None = None,
    ) -> VersionInfo:
        """Store ``plan`` as a new draft version of ``plan.name``; all or nothing.

        Parameters
        ----------
        plan
            The plan; its ``version`` is ignored (the store numbers versions 1, 2, ...).
        by
            Who saves it (user name), recorded as ``created_by``.
        note
            Free text kept with the version, e.g. why it was redrawn.
        warnings
            The plan's validation warnings, kept with the version as
            :meth:`geogrid.validate.Problem.to_dict` gives them (JSON-ready mappings);
            :func:`geogrid.store.publish.save_checked` passes them.
        caller
            When given, an audit row ``plan.save`` is written in the same transaction; a
            caller bound to a code must cover the jurisdiction.
        jurisdiction
            The code of the area the plan governs; default: its one top-level grid's code,
            else its name (:func:`~geogrid.store.jurisdictions.jurisdiction_of`). A code not
            yet registered is registered, named after the plan's top grid.

        Returns
        -------
        VersionInfo
            The new version, in state ``draft``.
        """
        _check_plan(plan)
        by = _check_by(by)
        now = _now()
        area = jurisdiction.strip() if jurisdiction else jurisdiction_of(plan)
        measures = plan_measures(plan)  # what the workbench opens it with; before any lock
        with self._writing(f"save plan {plan.name!r}") as connection:
            _check_series(connection, plan.name, area)
            ensure_registered(connection, plan, area, now)
            _require_covers(connection, caller, area)
            version_id, number = _insert_version(connection, plan, by, note, warnings, now, area)
            _insert_tables(connection, plan, version_id, now)
            if measures is not None:
                keep_measures(connection, version_id, measures)
            _register_codes(connection, plan, number, now)
            if self.backend == "geopackage":
                _touch_geopackage(connection, plan, now)
            info = VersionInfo.from_row(connection.execute(_by_id(version_id)).one())
            _audit(connection, caller, "plan.save", info)
        return info

    def approve(
        self,
        name: str,
        version: int,
        *,
        by: str,
        expect: Collection[str] | None = None,
        caller: Caller | None = None,
    ) -> VersionInfo:
        """Approve draft ``version`` of plan ``name`` (审核); it may then be activated.

        ``expect``: ETags (:attr:`VersionInfo.etag`) the version must still have, checked
        under a row lock (:class:`PreconditionFailedError` otherwise); ``caller``: write an
        audit row ``plan.approve`` in the same transaction.
        """
        by = _check_by(by)
        with self._writing(f"approve plan {name!r}") as connection:
            row = _locked_version(connection, name, version, expect)
            _require_covers(connection, caller, row.jurisdiction)
            check_transition(VersionInfo.from_row(row), VersionStatus.APPROVED)
            values = {"status": "approved", "approved_by": by, "approved_at": _now()}
            _update(connection, row.id, values)
            info = VersionInfo.from_row(connection.execute(_by_id(row.id)).one())
            _audit(connection, caller, "plan.approve", info)
            return info

    def activate(
        self,
        name: str,
        version: int,
        *,
        by: str,
        expect: Collection[str] | None = None,
        caller: Caller | None = None,
        valid_from: dt.datetime | None = None,
    ) -> VersionInfo:
        """Make approved ``version`` of plan ``name`` its jurisdiction's plan (启用).

        The version active before in the same jurisdiction is retired, its period in force
        ending when this one's begins, in the same transaction; other jurisdictions keep
        theirs. Raises :class:`VersionStateError` unless the version is approved, and
        :class:`~geogrid.errors.JurisdictionConflictError` when its top-level grids overlap
        another jurisdiction's plan in force or share a grid code with it. The version's
        levels generalised per zoom band (:mod:`geogrid.store.generalised`, for low-zoom
        tiles) are written in the same transaction, if not there from an earlier activation.

        Parameters
        ----------
        valid_from
            When the version comes into force: now by default; a past date (the redraw took
            effect before it was entered) or a future one (announced ahead). It may not lie
            before the start of the version it replaces.
        expect, caller
            As in :meth:`approve`.
        """
        by = _check_by(by)
        with self._writing(f"activate plan {name!r}") as connection:
            _serialise_activations(connection)
            row = _locked_version(connection, name, version, expect)
            info = VersionInfo.from_row(row)
            _require_covers(connection, caller, info.jurisdiction)
            check_transition(info, VersionStatus.ACTIVE)
            now = _now()
            start = now if valid_from is None else _instant(valid_from)
            plan = _load_plan(connection, row)
            check_neighbours(connection, plan, info.jurisdiction, start)
            write_generalised(connection, row.id, plan)  # what low-zoom tiles are cut from
            _retire_active(connection, info, start, now)
            values = {
                "status": "active",
                "activated_by": by,
                "activated_at": now,
                "valid_from": start,
                "valid_to": None,
            }
            _update(connection, row.id, values)
            info = VersionInfo.from_row(connection.execute(_by_id(row.id)).one())
            _audit(connection, caller, "plan.activate", info)
            return info

    # -- reading -------------------------------------------------------------------------

    def get(
        self, name: str, version: int | None = None, *, at: dt.datetime | None = None
    ) -> GridPlan:
        """Version ``version`` of plan ``name`` (``None``: the latest), in store row order.

        Staff are those in force now, or at instant ``at``. Raises :class:`NotFoundError`
        when the plan or version does not exist.
        """
        with self._reading("read plan " + repr(name)) as connection:
            row = _find_version(connection, name, version)
            return _load_plan(connection, row, at)

    def unit_measures(self, name: str, version: int) -> KeptMeasures | None:
        """The unit measures kept for version ``version`` of plan ``name`` (``None``: none).

        See :mod:`geogrid.store.unit_measures`.
        """
        with self._reading(f"read unit measures of plan {name!r}") as connection:
            row = _find_version(connection, name, version)
            return read_measures(connection, row.id)

    def keep_unit_measures(self, name: str, version: int, kept: KeptMeasures) -> None:
        """Keep ``kept`` as the unit measures of version ``version`` of plan ``name``.

        For a version saved before its measures were kept at saving (migration 0013); a
        version with measures keeps those.
        """
        with self._writing(f"keep unit measures of plan {name!r}") as connection:
            row = _find_version(connection, name, version)
            keep_measures(connection, row.id, kept)

    def versions(self, name: str | None = None) -> list[VersionInfo]:
        """Every version of plan ``name`` (``None``: of all plans), by plan name and version."""
        query = sa.select(schema.plan_versions)
        if name is not None:
            query = query.where(schema.plan_versions.c.plan_name == name)
        query = query.order_by(schema.plan_versions.c.plan_name, schema.plan_versions.c.version)
        with self._reading("list versions") as connection:
            return [VersionInfo.from_row(row) for row in connection.execute(query)]

    def in_force(
        self, at: dt.datetime | None = None, *, jurisdiction: str | None = None
    ) -> list[VersionInfo]:
        """The versions in force now (or at instant ``at``), one per jurisdiction, by code.

        ``jurisdiction``: only that jurisdiction's (a list of at most one).
        """
        with self._reading("list the plans in force") as connection:
            rows = _in_force_rows(connection, at, jurisdiction)
            return [VersionInfo.from_row(row) for row in rows]

    def in_force_digest(self, at: dt.datetime | None = None) -> tuple[int, ...]:
        """What changes when a version comes into or out of force or its staff change.

        One aggregate row: cheap to poll (a service asks every second) before :meth:`in_force`.
        """
        with self._reading("check the plans in force") as connection:
            return in_force_digest(connection, at)

    def plans_in_force(
        self, at: dt.datetime | None = None
    ) -> Iterator[tuple[VersionInfo, GridPlan]]:
        """Every version in force now (or at ``at``) and its plan, one query per table.

        Streamed (consume it whole): plans come in version order as their grids are read.
        """
        with self._reading("read the plans in force") as connection:
            for row, plan in load_plans(connection, at):
                yield VersionInfo.from_row(row), plan

    def active(self, at: dt.datetime | None = None) -> GridPlan | None:
        """The plan in force now, or at ``at``; ``None`` when none was.

        With several jurisdictions in force, their union (:func:`union_plan`): every grid of
        every plan, named after the jurisdictions, with the deepest plan's level names.
        """
        found = sorted(self.plans_in_force(at), key=lambda pair: pair[0].jurisdiction)
        plans = [plan for _, plan in found]
        if not plans:
            return None
        return plans[0] if len(plans) == 1 else union_plan(plans)

    def active_info(self, at: dt.datetime | None = None) -> VersionInfo | None:
        """The :class:`VersionInfo` in force now (or at ``at``); with several, the latest started.

        Prefer :meth:`in_force`, which lists every jurisdiction's.
        """
        infos = self.in_force(at)
        if not infos:
            return None
        return max(infos, key=lambda info: (info.valid_from or info.created_at, info.plan))

    def staff_at(self, name: str, version: int, at: dt.datetime | None = None) -> pd.DataFrame:
        """The staff table of a version as it was at ``at`` (default: now), in store order."""
        with self._reading(f"read the staff of plan {name!r}") as connection:
            row = _find_version(connection, name, version)
            staff = _read_table(
                connection, schema.staff, row.id, list(STAFF_COLUMNS), where=_staff_in_force(at)
            )
            return _sorted(staff, _STAFF_ORDER)

    def staff_periods(self, name: str, version: int) -> pd.DataFrame:
        """Every staff row a version ever had, with its period, in store order.

        The staff table's columns plus ``valid_from`` / ``valid_to`` (``None``: from the
        version's start / still in force): what locating past reports needs
        (:class:`geogrid.cluster.history.History`).
        """
        with self._reading(f"read the staff of plan {name!r}") as connection:
            row = _find_version(connection, name, version)
            columns = [*STAFF_COLUMNS, "valid_from", "valid_to"]
            return _sorted(_read_table(connection, schema.staff, row.id, columns), _STAFF_ORDER)

    def register_jurisdiction(
        self,
        code: str,
        name: str,
        *,
        parent: str | None = None,
        level_name: str = "",
        caller: Caller | None = None,
    ) -> Jurisdiction:
        """Register ``code`` (a county, township, street …) with its name and parent code.

        Jurisdictions of saved plans are registered by :meth:`save`; register the codes above
        them (the county over its townships) so that a key bound to the county covers them.
        """
        with self._writing(f"register jurisdiction {code!r}") as connection:
            entry = register(
                connection, code, name, parent=parent, level_name=level_name, now=_now()
            )
            if caller is not None:
                details = {"name": entry.name, "parent": entry.parent_code}
                insert_audit(
                    connection, caller, "jurisdiction.register", "jurisdiction", code, details
                )
            return entry

    def jurisdictions(self, *, caller: Caller | None = None) -> list[Jurisdiction]:
        """The registered jurisdictions, by code (those ``caller`` covers, when given)."""
        with self._reading("list jurisdictions") as connection:
            found = listing(connection)
            if caller is None or caller.grid_code is None:
                return found
            return [j for j in found if _covers(connection, caller, j.code)]

    def covers(self, caller: Caller, jurisdiction: str) -> bool:
        """Whether ``caller`` covers ``jurisdiction`` (bound to it, or to a code above it)."""
        with self._reading("check a jurisdiction") as connection:
            return _covers(connection, caller, jurisdiction)

    def plans(self) -> list[str]:
        """Names of the stored plans, sorted."""
        query = sa.select(schema.plan_versions.c.plan_name).distinct()
        with self._reading("list plans") as connection:
            return sorted(connection.scalars(query))

    def used_codes(self) -> set[str]:
        """Every grid code ever saved in this store, by any plan or version.

        A code, once used, keeps naming the same area; numbering new grids skips these.
        """
        with self._reading("list grid codes") as connection:
            return set(connection.scalars(sa.select(schema.grid_codes.c.code)))

    @contextmanager
    def _writing(self, action: str) -> Iterator[sa.Connection]:
        with translate_errors(self._engine, action), writing(self._engine) as connection:
            yield connection

    @contextmanager
    def _reading(self, action: str) -> Iterator[sa.Connection]:
        with translate_errors(self._engine, action), self._engine.connect() as connection:
            yield connection


# -- save helpers --------------------------------------------------------------------------


def _check_plan(plan: GridPlan) -> None:
    if not isinstance(plan, GridPlan):
        raise InvalidInputError(f"save() takes a GridPlan, got {type(plan).__name__}")
    if not plan.name or not str(plan.name).strip():
        raise InvalidPlanError("the plan has no name: set plan.name (plans are stored by name)")


def _check_by(by: str) -> str:
    if not isinstance(by, str) or not by.strip():
        raise InvalidInputError(
            "say who does this: pass by='user name' (recorded with the version)"
        )
    return by.strip()


def _insert_version(
    connection: sa.Connection,
    plan: GridPlan,
    by: str,
    note: str,
    warnings: Sequence[Mapping[str, Any]],
    now: dt.datetime,
    jurisdiction: str,
) -> tuple[int, int]:
    table = schema.plan_versions
    latest = connection.scalar(
        sa.select(sa.func.max(table.c.version)).where(table.c.plan_name == plan.name)
    )
    number = int(latest or 0) + 1
    values = {
        "plan_name": plan.name,
        "version": number,
        "levels": list(plan.levels),
        "attribution": plan.attribution or "",
        "note": note or "",
        "warnings": [{k: _finite(v) for k, v in w.items()} for w in warnings],
        "status": VersionStatus.DRAFT.value,
        "jurisdiction": jurisdiction,
        "created_by": by,
        "created_at": now,
    }
    version_id = connection.execute(
        table.insert().values(values).returning(table.c.id)
    ).scalar_one()
    return int(version_id), number


def _finite(value: object) -> object:
    """``value``, a non-finite float as ``None`` (PostgreSQL's JSON has no NaN)."""
    return None if isinstance(value, float) and not np.isfinite(value) else value


def _insert_tables(
    connection: sa.Connection, plan: GridPlan, version_id: int, now: dt.datetime
) -> None:
    grids = _records(plan.grids, list(GRID_COLUMNS), geometry=True)
    staff = _records(plan.staff, list(STAFF_COLUMNS))
    for row in staff:  # in force for the version's whole period, until changed in place
        row.update(valid_from=None, valid_to=None)
    link_people(connection, staff, now)  # staff.person_id: the same person across versions
    units = _records(plan.units, list(UNIT_COLUMNS), geometry=True)
    for table, rows in ((schema.grids, grids), (schema.staff, staff), (schema.units, units)):
        if rows:
            for row in rows:
                row["version_id"] = version_id
            connection.execute(table.insert(), rows)


def _records(
    frame: pd.DataFrame, columns: list[str], *, geometry: bool = False
) -> list[dict[str, Any]]:
    records = []
    geoms = list(frame.geometry) if geometry else [None] * len(frame)
    for values, geom in zip(frame[columns].itertuples(index=False), geoms, strict=True):
        row = {column: _native(value) for column, value in zip(columns, values, strict=True)}
        if geometry:
            row["geom"] = geom
        records.append(row)
    return records


def _native(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _register_codes(
    connection: sa.Connection, plan: GridPlan, version: int, now: dt.datetime
) -> None:
    codes = sorted(set(plan.grids["code"].dropna()))
    table = schema.grid_codes
    known: set[str] = set()
    for chunk in _chunks(codes):
        known.update(connection.scalars(sa.select(table.c.code).where(table.c.code.in_(chunk))))
    rows = [
        {"code": code, "plan_name": plan.name, "version": version, "first_seen_at": now}
        for code in codes
        if code not in known
    ]
    if rows:
        connection.execute(table.insert(), rows)


def _touch_geopackage(connection: sa.Connection, plan: GridPlan, now: dt.datetime) -> None:
    """Record the change time and grow the layer extents in ``gpkg_contents``."""
    contents = schema.gpkg_contents
    for name, frame in (("grids", plan.grids), ("units", plan.units)):
        values: dict[str, Any] = {"last_change": now}
        geoms = frame.geometry[~frame.geometry.is_empty] if len(frame) else frame.geometry
        if len(geoms):
            minx, miny, maxx, maxy = (float(v) for v in geoms.total_bounds)
            values |= {
                "min_x": sa.func.min(sa.func.coalesce(contents.c.min_x, minx), minx),
                "min_y": sa.func.min(sa.func.coalesce(contents.c.min_y, miny), miny),
                "max_x": sa.func.max(sa.func.coalesce(contents.c.max_x, maxx), maxx),
                "max_y": sa.func.max(sa.func.coalesce(contents.c.max_y, maxy), maxy),
            }
        connection.execute(contents.update().where(contents.c.table_name == name).values(values))


# -- state helpers -------------------------------------------------------------------------


def _by_id(version_id: int) -> sa.Select[Any]:
    return sa.select(schema.plan_versions).where(schema.plan_versions.c.id == version_id)


def _locked_version(
    connection: sa.Connection, name: str, version: int, expect: Collection[str] | None = None
) -> sa.Row[Any]:
    table = schema.plan_versions
    query = (
        sa.select(table)
        .where(table.c.plan_name == name, table.c.version == int(version))
        .with_for_update()
    )
    row = connection.execute(query).one_or_none()
    if row is None:
        raise _not_found(connection, name, version)
    current = VersionInfo.from_row(row).etag
    if expect is not None and current not in expect:
        raise PreconditionFailedError(
            f"version {version} of plan {name!r} changed since it was read (its ETag is now "
            f'"{current}"): read it again, check it, and retry with the new ETag'
        )
    return row


def _audit(
    connection: sa.Connection, caller: Caller | None, action: str, info: VersionInfo
) -> None:
    if caller is not None:
        details = {"status": info.status.value, "etag": info.etag}
        insert_audit(
            connection, caller, action, "plan_version", f"{info.plan}/{info.version}", details
        )


def _update(connection: sa.Connection, version_id: int, values: Mapping[str, object]) -> None:
    table = schema.plan_versions
    connection.execute(table.update().where(table.c.id == version_id).values(dict(values)))


def _serialise_activations(connection: sa.Connection) -> None:
    """One activation at a time: the later of two racing ones waits, then wins.

    Without it, two activations of different versions on PostgreSQL both retire the version
    they saw active and then collide on the one-active-version index. SQLite writers are
    serial already (``BEGIN IMMEDIATE``).
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('geogrid.activate'))")


def _retire_active(
    connection: sa.Connection, info: VersionInfo, start: dt.datetime, now: dt.datetime
) -> None:
    """Retire the jurisdiction's active version; its period in force ends at ``start``."""
    table = schema.plan_versions
    same = sa.and_(
        table.c.status == VersionStatus.ACTIVE.value,
        table.c.jurisdiction == info.jurisdiction,
    )
    current = connection.execute(sa.select(table).where(same)).one_or_none()
    if current is None:
        return
    before = VersionInfo.from_row(current)
    if before.valid_from is not None and start <= before.valid_from:
        raise VersionStateError(
            f"version {before.version} of plan {before.plan!r} is in force in jurisdiction "
            f"{info.jurisdiction!r} from {before.valid_from:%Y-%m-%d %H:%M} UTC: a version "
            f"replacing it must start later than that, not {start:%Y-%m-%d %H:%M} UTC"
        )
    connection.execute(
        table.update()
        .where(table.c.id == current.id)
        .values(status=VersionStatus.RETIRED.value, deactivated_at=now, valid_to=start)
    )


def _check_series(connection: sa.Connection, name: str, jurisdiction: str) -> None:
    """A plan's versions stay in one jurisdiction: a plan name is one area's series."""
    table = schema.plan_versions
    earlier = connection.scalar(
        sa.select(table.c.jurisdiction).where(table.c.plan_name == name).limit(1)
    )
    if earlier is not None and earlier != jurisdiction:
        raise InvalidPlanError(
            f"plan {name!r} governs jurisdiction {earlier!r}, but this version's would be "
            f"{jurisdiction!r}: save it under another name, or keep its top-level grid "
            f"{earlier!r}"
        )


def _covers(connection: sa.Connection, caller: Caller, jurisdiction: str) -> bool:
    if caller.grid_code is None:
        return True
    return caller.grid_code in (*ancestors(connection, jurisdiction), jurisdiction)


def _require_covers(connection: sa.Connection, caller: Caller | None, jurisdiction: str) -> None:
    """Refuse a caller bound to a code whose subtree does not hold ``jurisdiction``."""
    if caller is None or _covers(connection, caller, jurisdiction):
        return
    if caller.grid_code is not None:
        raise AccessDeniedError(
            f"{caller.name} is bound to {caller.grid_code!r}, which does not hold "
            f"jurisdiction {jurisdiction!r}"
        )


def _find_version(connection: sa.Connection, name: str, version: int | None) -> sa.Row[Any]:
    table = schema.plan_versions
    query = sa.select(table).where(table.c.plan_name == name)
    if version is None:
        query = query.order_by(table.c.version.desc()).limit(1)
    else:
        query = query.where(table.c.version == int(version))
    row = connection.execute(query).one_or_none()
    if row is None:
        raise _not_found(connection, name, version)
    return row


def _not_found(connection: sa.Connection, name: str, version: int | None) -> NotFoundError:
    table = schema.plan_versions
    numbers = list(
        connection.scalars(
            sa.select(table.c.version).where(table.c.plan_name == name).order_by(table.c.version)
        )
    )
    if numbers:
        listed = ", ".join(map(str, numbers))
        return NotFoundError(f"plan {name!r} has no version {version}; it has {listed}")
    names = sorted(connection.scalars(sa.select(table.c.plan_name).distinct()))
    known = ", ".join(map(repr, names)) if names else "none yet: save one first"
    return NotFoundError(f"no plan named {name!r} in the store; stored plans: {known}")


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
