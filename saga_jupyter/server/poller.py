"""The poller: scans tmux and the output directory off the event loop; says when the list changed.

A scan runs on every ``poll_interval`` tick (a Tornado ``PeriodicCallback``, the backstop) and
soon after an output file appears, disappears or is renamed (one watchdog inotify watch on the
directory, debounced). At most one scan runs at a time; a request during a scan runs one more.
The scan's thread also compares the list with the last one and encodes it: with thousands of
sessions that took the event loop seconds per poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

from tornado.ioloop import PeriodicCallback

from ..core.discovery import Discovery
from ..core.info import SessionInfo
from ..core.saga.names import name_from_output_file, output_format
from ..core.store import MetadataStore
from ..core.tmux.launch import Launched
from ..core.tmux.panes import PaneKeeper
from ..core.watch.dirwatch import MEMBERSHIP_EVENTS, OVERFLOW, DirectoryWatch


class ListUpdate(NamedTuple):
    """The session list after a change, as listeners need it."""

    sessions: list[SessionInfo]  # newest first, every one
    by_name: dict[str, SessionInfo]
    body: bytes  # the JSON list of the first MAX_LISTED (and every running one), encoded once
    total: int  # how many sessions there are, listed in body or not
    json: list[dict[str, Any]]  # the JSON of every session, in the order of sessions


SessionsListener = Callable[[ListUpdate], None]
DEBOUNCE = 0.05
# Longer than a tmux call may take (its timeout), far shorter than a user waits for a stop.
STOP_TIMEOUT = 10.0
LISTED_TIMEOUT = 10.0  # longer than a first scan takes, with tmux at its call timeout
# Sessions one list carries (REST, a channel frame), newest first, besides every running one:
# 10,000 remembered sessions made a 5 MiB frame per connect and per change.
MAX_LISTED = 1000
T = TypeVar("T")
S = TypeVar("S", bound=tuple[SessionInfo, Any])


def newest(found: Sequence[S]) -> list[S]:
    """The first :data:`MAX_LISTED` ``(session, ...)`` pairs, and every running one after them."""
    head = list(found[:MAX_LISTED])
    return head + [pair for pair in found[MAX_LISTED:] if pair[0].status == "running"]


class Poller:
    """Holds the current session list; every read of it is served from here, never recomputed."""

    def __init__(
        self, discovery: Discovery, store: MetadataStore, interval: float, log: logging.Logger
    ) -> None:
        self.discovery = discovery
        self.store = store
        self.store_writes = 0
        self.interval = interval
        self.log = log
        self.watch = DirectoryWatch(discovery.output_dir)
        # Today's SAGA writes a worker's fatal error only to its pane: kept in <name>.pane.
        self.panes = PaneKeeper(discovery.tmux, discovery.output_dir)
        self.sessions: list[SessionInfo] = []
        self.sessions_json: list[dict[str, Any]] = []
        # sessions_json (its newest) encoded once per change, not once per request or per client.
        self.sessions_body = b"[]"
        self.total = 0  # sessions listed in all, sessions_body holding the newest of them
        self.by_name: dict[str, SessionInfo] = {}
        self.last_poll: float | None = None
        #: Set once the first scan listed the sessions: what clients are served until then
        #: would be an empty list (see :meth:`wait_listed`).
        self.listed = asyncio.Event()
        self.output_dir_exists = False
        self.output_dir_warning: str | None = None
        self.tmux_version: str | None = None
        self._json: dict[SessionInfo, dict[str, Any]] = {}
        self._listeners: list[SessionsListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: PeriodicCallback | None = None
        self._scan: asyncio.Future[None] | None = None
        self._rescan = False
        self._debounce: asyncio.TimerHandle | None = None
        #: Applied to each scan's list off the loop: today's workers meet their stories there
        #: (server/projects.py).
        self.enrich: Callable[[list[SessionInfo]], list[SessionInfo]] = lambda found: found
        self._launched: list[Launched] = []
        self._stopped: list[str] = []

    def add_listener(self, listener: SessionsListener) -> None:
        """Call ``listener(update)`` (a :class:`ListUpdate`) whenever the list changes."""
        self._listeners.append(listener)

    def launched(self, launched: Launched) -> None:
        """Remember what a launch started; the next scan records it."""
        self._launched.append(launched)

    def stopping(self, name: str) -> None:
        """Remember that a session is being stopped on request; the next scan records it."""
        self._stopped.append(name)

    def find(self, name: str) -> SessionInfo | None:
        """The listed session of that name, or ``None``."""
        return self.by_name.get(name)

    async def start(self) -> None:
        """Watch the directory, scan once, then scan every ``interval`` seconds."""
        self._loop = asyncio.get_running_loop()
        self.discovery.memory = await asyncio.to_thread(self.store.load)
        self.discovery.changed = True  # so the first scan saves: a write only if load asked for one
        self.watch.add_listener(self._on_file_event)
        self.watch.start(self._loop)  # armed by the scan, off the loop
        await self.request_scan()
        self._timer = PeriodicCallback(self.request_scan, self.interval * 1000)
        self._timer.start()

    async def stop(self) -> None:
        """Stop the timer and the watch; wait for a scan under way."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._debounce is not None:
            self._debounce.cancel()
            self._debounce = None
        self._loop = None
        self.panes.close()
        self.discovery.tmux.close()  # a tmux call under way (hung, say) ends now
        if self._scan is not None:
            # Bounded: a scan stuck in the kernel (a hung file system) must not hold up shutdown.
            done, _ = await asyncio.wait([self._scan], timeout=STOP_TIMEOUT)
            if not done:
                self.log.warning("saga_jupyter: stopping without the scan under way, stuck")
        self.watch.stop()

    def request_scan(self) -> asyncio.Future[None]:
        """Scan now, or once more right after the scan under way."""
        if self._scan is not None and not self._scan.done():
            self._rescan = True
        else:
            self._scan = asyncio.ensure_future(self._run_scans())
        return asyncio.shield(self._scan)

    async def _run_scans(self) -> None:
        self._rescan = True
        while self._rescan and self._loop is not None:
            self._rescan = False
            try:
                update = await in_daemon_thread(self._scan_blocking)
            except Exception:  # a bug in a scan must not stop the poller
                self.log.exception("saga_jupyter: scan failed")
                return
            self._update(update)

    def _scan_blocking(self) -> ListUpdate | None:
        # Discovery's memory changes only here, one scan at a time.
        while self._launched:
            self.discovery.remember_launch(self._launched.pop())
        while self._stopped:
            self.discovery.remember_stop(self._stopped.pop())
        self.watch.ensure()
        sessions = self.enrich(self.discovery.scan())
        for info in sessions:  # one started before this server, or missed by the watch
            if info.status == "running" and info.output_format == "messages":
                self.panes.keep(info.name)
        # Written when what is remembered changed, or when the last write failed (a full disk).
        if self.discovery.changed or self.store.save_error is not None:
            self.discovery.changed = False
            self.store_writes += self.store.save(self.discovery.memory)
        self.output_dir_exists = self.discovery.output_dir_exists
        self.output_dir_warning = self.discovery.output_dir_warning
        if self.tmux_version is None and self.discovery.tmux_error is None:
            self.tmux_version = self.discovery.tmux.version()
        return self._listing(sessions)

    def _listing(self, sessions: list[SessionInfo]) -> ListUpdate | None:
        """The list as listeners take it, or ``None`` when it did not change; on the scan's thread.

        ``self.sessions`` changes only on the loop, between two scans: it is not changing here.
        """
        if sessions == self.sessions:
            return None
        old = self._json
        self._json = {info: old.get(info) or info.to_json() for info in sessions}
        everything = [self._json[info] for info in sessions]
        listed = newest(list(zip(sessions, everything, strict=True)))
        body = json.dumps([body for _, body in listed]).encode()
        by_name = {info.name: info for info in sessions}
        return ListUpdate(sessions, by_name, body, len(sessions), everything)

    async def wait_listed(self, timeout: float = LISTED_TIMEOUT) -> None:
        """Wait (at most ``timeout`` seconds) until the first scan listed the sessions.

        Jupyter takes connections before extensions start: a client that reconnects at once
        after a restart must not be told its sessions do not exist.
        """
        if not self.listed.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.listed.wait(), timeout)

    def _update(self, update: ListUpdate | None) -> None:
        # On the loop: only assignments, everything was computed on the scan's thread.
        self.last_poll = time.time()
        self.listed.set()
        if update is None:
            return
        self.sessions, self.by_name, self.sessions_json = (
            update.sessions,
            update.by_name,
            update.json,
        )
        self.sessions_body, self.total = update.body, update.total
        for listener in self._listeners:
            listener(update)

    def _on_file_event(self, filename: str, event_type: str) -> None:
        # On the loop (the watch reads its events there): only what can change the list.
        if self._loop is None:
            return
        if event_type != OVERFLOW:  # events lost: a file may have come or gone unannounced
            if event_type not in MEMBERSHIP_EVENTS:
                return
            name = name_from_output_file(filename)
            if name is None:
                return
            if output_format(name) == "messages":  # a worker of today's SAGA: its pane, at once
                self.panes.keep(name)
        if self._debounce is None:
            self._debounce = self._loop.call_later(DEBOUNCE, self._debounce_elapsed)

    def _debounce_elapsed(self) -> None:
        self._debounce = None
        self.request_scan()


def in_daemon_thread(function: Callable[[], T], name: str = "saga-scan") -> asyncio.Future[T]:
    """Run ``function`` on a thread of its own that never holds up the process's exit.

    The executor's threads are joined at exit: one stuck in a system call (a hung file system)
    would keep a stopped server alive. A scan every few seconds can afford its own thread.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = function(), None
        except BaseException as caught:
            result, error = None, caught
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
