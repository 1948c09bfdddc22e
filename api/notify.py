"""Every server process hears when plans or staff change: PostgreSQL ``LISTEN geogrid_plans``.

The store's triggers (migration ``0009_plan_notify``) send ``NOTIFY geogrid_plans`` when a
version is saved, approved, activated or retired, or staff change, whichever process wrote.
A :class:`PlanListener` thread per server process listens on its own connection and, on a
notice, has the :class:`~api.plans.PlanSource` ask the store at once (in the listener's
thread: requests meanwhile answer from the plans in hand). A burst of notices (an activation
retires one version and activates another) is one refresh. After a lost connection it
reconnects, refreshing once (notices sent meanwhile were lost), so the periodic check
(``GEOGRID_PLAN_CHECK_SECONDS``) is only a fallback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

__all__ = ["CHANNEL", "PlanListener"]

CHANNEL = "geogrid_plans"
_log = logging.getLogger("geogrid.api")


class PlanListener:
    """A daemon thread running ``on_change`` whenever the store notifies a plan change.

    Parameters
    ----------
    store_url
        The PostGIS store's SQLAlchemy URL (``postgresql+psycopg://…``).
    on_change
        Called in the listener's thread after each burst of notices, and after every
        (re)connection.
    retry_seconds
        Wait before reconnecting after the connection is lost.
    """

    def __init__(
        self, store_url: str, on_change: Callable[[], None], *, retry_seconds: float = 1.0
    ) -> None:
        url = make_url(store_url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._on_change = on_change
        self._retry = retry_seconds
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="geogrid-plan-listener", daemon=True)
        self.notices = 0

    @property
    def connected(self) -> bool:
        """True while the listener holds its connection (readiness)."""
        return self._connected.is_set()

    def start(self) -> None:
        """Start listening in the background."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening (the thread ends within about a second)."""
        self._stop.set()
        self._thread.join(timeout)

    def wait_connected(self, timeout: float) -> bool:
        """Wait until listening; False when ``timeout`` passed first."""
        return self._connected.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except (psycopg.Error, OSError) as exc:
                _log.warning("plan listener: %s; reconnecting in %.0f s", exc, self._retry)
            finally:
                self._connected.clear()
            self._stop.wait(self._retry)

    def _listen(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self._connected.set()
            self._changed()  # catch up on whatever changed while not listening
            while not self._stop.is_set():
                heard = sum(1 for _ in connection.notifies(timeout=1.0, stop_after=1))
                if heard:
                    # a burst (retire + activate, a roster of many grids): one refresh
                    for _ in connection.notifies(timeout=0.05):
                        heard += 1
                    self.notices += heard
                    self._changed()

    def _changed(self) -> None:
        start = time.perf_counter()
        try:
            self._on_change()
        except Exception as exc:  # the next request reports it; listening goes on
            _log.warning("plan listener: refreshing failed: %s", exc)
        else:
            _log.info("plan listener: refreshed in %.2f s", time.perf_counter() - start)
