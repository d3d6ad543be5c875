"""A Jupyter server's session list, merged with its remotes', followed from a kernel.

:class:`ServerView` asks the server's ``/api/saga/sessions`` (:mod:`.serverclient`) on a
thread of its own every ``interval`` seconds and tells its listeners when the list changed,
as the local :class:`~.engine.Engine` does for this machine's sessions: the widgets take
either. While a host is stale, ``/api/saga/status`` says why (:attr:`ServerView.reasons`).
Every field of the answer is checked: a server is trusted no more than its answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .durations import parse_iso
from .engine import DEFAULT_INTERVAL
from .info import STATUSES, SessionInfo
from .saga.names import is_saga_name
from .saga.worker import TaskCounts, WorkerReading
from .serverclient import ServerClient, ServerError

logger = logging.getLogger(__name__)
Listener = Callable[[list[SessionInfo]], None]
TIMES = {"start_time": "startTime", "end_time": "endTime", "last_activity": "lastActivity"}
WORKER_FIELDS = {
    "cycle": (int, "cycle"), "last_result": (str, "lastResult"), "last_tool": (str, "lastTool"),
    "outcome": (str, "outcome"), "summary": (str, "summary"), "blocker": (str, "blocker"),
    "elapsed_minutes": (float, "elapsedMinutes"), "max_cycles": (int, "maxCycles"),
    "cost_usd": (float, "costUsd"), "turns": (int, "turns"), "worktree": (str, "worktree"),
    "pr": (str, "pr"),
}  # fmt: skip


def _typed(value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def worker_from_json(data: Any) -> WorkerReading | None:
    """The contract's ``worker`` object read back (a field of the wrong type: ``None``)."""
    if not isinstance(data, Mapping):
        return None
    found = {name: _typed(data.get(key), kind) for name, (kind, key) in WORKER_FIELDS.items()}
    tasks = data.get("tasks")
    if isinstance(tasks, Mapping):
        counts = {key: _typed(tasks.get(key), int) for key in ("completed", "inProgress", "total")}
        found["tasks"] = TaskCounts(counts["completed"] or 0, counts["inProgress"] or 0,
                                    counts["total"])  # fmt: skip
    return WorkerReading(**found)


def session_from_json(data: Any) -> SessionInfo | None:
    """A SessionInfo from its contract JSON (as REST gives it); ``None`` if it is not one."""
    if not isinstance(data, Mapping):
        return None
    name, story, status = data.get("name"), data.get("storySlug"), data.get("status")
    if not isinstance(name, str) or not isinstance(story, str) or status not in STATUSES:
        return None
    if not is_saga_name(name):
        return None  # a name that is not a SAGA one never reaches a viewer or a URL
    times: dict[str, Any] = {field: parse_iso(data.get(key)) for field, key in TIMES.items()}
    host = data.get("host")
    return SessionInfo(
        name=name,
        epic_slug=_typed(data.get("epicSlug"), str),
        story_slug=story,
        status=status,
        output_file=_typed(data.get("outputFile"), str) or "",
        output_available=data.get("outputAvailable") is True,
        output_preview=_typed(data.get("outputPreview"), str),
        worker=worker_from_json(data.get("worker")),
        host=host if isinstance(host, str) else None,
        stale=data.get("stale") is True,
        **times,
    )


class ServerLease:
    """One user's hold on a :class:`ServerView`'s thread: :meth:`close` it."""

    def __init__(self, view: ServerView) -> None:
        self.view = view

    def close(self) -> None:
        """Give the hold up: the thread stops with the last one."""
        self.view.release(self)


class ServerView:
    """The sessions a Jupyter server lists (its own and its remotes'), asked every ``interval``."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client
        self.sessions: list[SessionInfo] = []
        #: Why the last ask failed (``None``: it answered).
        self.error: str | None = None
        #: Each stale host's reason, from the server's ``/status``.
        self.reasons: dict[str, str] = {}
        self.interval = DEFAULT_INTERVAL
        self._listeners: list[tuple[Listener, bool]] = []
        self._leases: set[ServerLease] = set()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def where(self) -> str:
        """What it shows, for a person: the server's URL."""
        return self.client.url

    def use(self, interval: float | None = None) -> ServerLease:
        """Hold the asking thread (started by the first user); ask at least every ``interval``."""
        lease = ServerLease(self)
        with self._lock:
            if interval is not None:
                self.interval = min(self.interval, interval) if self._leases else interval
            self._leases.add(lease)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"saga-server-{self.client.url}", daemon=True
                )
                self._thread.start()
        return lease

    def release(self, lease: ServerLease) -> None:
        """End ``lease``; the thread ends once none is held."""
        with self._lock:
            self._leases.discard(lease)
            if not self._leases:
                self._thread = None
                self._wake.set()

    def add_listener(self, listener: Listener, *, every_scan: bool = False) -> list[SessionInfo]:
        """Call ``listener(sessions)`` when the list changed; the list as of now.

        ``every_scan``: after every ask (a timeline's running bars grow with time).
        """
        with self._lock:
            self._listeners = [*self._listeners, (listener, every_scan)]
            return self.sessions

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            self._listeners = [item for item in self._listeners if item[0] is not listener]

    def find(self, name: str, host: str | None) -> SessionInfo | None:
        """The session ``name`` of ``host`` (``None``: the server's own) as last listed."""
        # No lock: the list is replaced whole, never changed in place, and a listener called
        # under the lock may be waiting for a lock its caller holds.
        sessions = self.sessions
        return next((s for s in sessions if s.name == name and s.host == host), None)

    def refresh(self, *, always: bool = False) -> list[SessionInfo]:
        """Ask now, in the caller's thread; tell the listeners if it changed (or ``always``)."""
        try:
            listed = self.client.get("api/saga/sessions")
            sessions = [s for s in map(session_from_json, listed) if s is not None]
            error = None if isinstance(listed, list) else "the list is not a JSON array"
            reasons = self._reasons() if any(s.stale for s in sessions) else {}
        except (ServerError, TypeError) as failed:
            sessions, error, reasons = self.sessions, str(failed), self.reasons
        with self._lock:
            changed = (sessions, error, reasons) != (self.sessions, self.error, self.reasons)
            self.sessions, self.error, self.reasons = sessions, error, reasons
            for listener, every_scan in self._listeners:
                if not (changed or always or every_scan):
                    continue
                try:
                    listener(sessions)
                except Exception:  # one widget's bug must not stop the others
                    logger.exception("server view listener failed")
        return sessions

    def _reasons(self) -> dict[str, str]:
        status = self.client.get("api/saga/status")
        remotes = status.get("remotes") if isinstance(status, dict) else None
        return {
            str(remote.get("name")): str(remote.get("error") or remote.get("state"))[:500]
            for remote in remotes or []
            if isinstance(remote, dict) and remote.get("state") != "connected"
        }

    def _run(self) -> None:
        me = threading.current_thread()
        while self._thread is me:
            self.refresh()
            self._wake.wait(self.interval)
            self._wake.clear()
