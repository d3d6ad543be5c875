"""The kernel's engine: one per output directory and tmux socket in a process, for every user.

Widgets, ``follow()`` and the plain functions of a notebook all go through the engine of their
settings (:func:`engine_for`). It holds the one :class:`~.discovery.Discovery` (so a session that
completes between two calls gets its real end time) and, while anyone uses it
(:meth:`Engine.use`), one directory watch and two threads. One reads for every
:class:`~.follower.Follower` when its file is written, and followers' callbacks run on it; the
other scans every ``interval`` seconds and soon after an output file comes or goes (the watch
wakes it), and listeners run on it: reads never wait for tmux, which may be slow or hang.
Widgets only set traits and send messages from either. The last user's
:meth:`Lease.close` (or its garbage collection) stops the threads and the watch.

>>> from saga_jupyter.core.settings import resolve
>>> engine = engine_for(resolve("/nonexistent", "saga-doctest"))
>>> engine.refresh()
[]
>>> with engine.use():
...     engine.running
True
>>> engine.running
False
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from math import inf
from types import TracebackType
from typing import Any

from .discovery import Discovery
from .info import SessionInfo
from .saga.names import name_from_output_file, output_path, parse_name
from .settings import Settings, state_file
from .store import peek
from .tmux.client import Tmux
from .watch.dirwatch import MEMBERSHIP_EVENTS, OVERFLOW, DirectoryWatch
from .watch.follower import Follower, has_ended

logger = logging.getLogger(__name__)

Listener = Callable[[list[SessionInfo]], None]
DEFAULT_INTERVAL = 2.0
DEBOUNCE = 0.1  # a burst of files coming or going becomes one scan
JOIN_TIMEOUT = 10.0

_engines: dict[Settings, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(settings: Settings) -> Engine:
    """The engine of these settings in this process, made on first use and kept."""
    with _engines_lock:
        engine = _engines.get(settings)
        if engine is None:
            engine = _engines[settings] = Engine(settings)
        return engine


class Lease:
    """One user's hold on an engine's thread and watch: :meth:`close` it, or let it go."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.key = id(self)
        self._release = weakref.finalize(self, engine._release, self.key)

    def close(self) -> None:
        """Give the hold up (once; later calls do nothing)."""
        self._release()

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Engine:
    """Every SAGA session of one output directory and tmux server, and their followers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.default_interval = DEFAULT_INTERVAL
        self.discovery = Discovery(settings.output_dir, Tmux(settings.tmux_socket_name))
        # What the server remembers: sessions that ended before this process keep their times.
        self.discovery.memory = peek(state_file(), settings.output_dir)
        #: The list as of the last scan, newest first, and by name.
        self.sessions: list[SessionInfo] = []
        self.by_name: dict[str, SessionInfo] = {}
        #: Why tmux could not be asked at the last scan, or ``None`` when it answered.
        self.tmux_error: str | None = None
        self._scanned = False
        # Reentrant: a listener may call refresh(). Held while scanning and notifying, so that
        # listeners see lists in the order they were scanned.
        self._lock = threading.RLock()
        # The followers. Never held while calling out: a widget holding its own lock may add a
        # follower while a listener call holds self._lock and waits for that widget's lock.
        self._followers_lock = threading.Lock()
        self._changes: list[Listener] = []
        self._scans: list[Listener] = []
        self._followers: dict[str, list[Follower]] = {}  # by file name
        # Each follower's hold on the engine, and how many scans had begun when it was added.
        self._held: dict[Follower, tuple[Lease, int]] = {}
        self._reading: Follower | None = None  # the one being read on the engine's thread
        self._scans_begun = 0
        self._users: dict[int, float] = {}  # each lease's interval
        self._users_lock = threading.Lock()
        self._watch: DirectoryWatch
        self._stop: threading.Event
        self._thread: threading.Thread | None = None  # reads
        self._scan_thread: threading.Thread | None = None  # scans
        self._wake = threading.Event()  # wakes the reading thread
        self._scan_wake = threading.Event()  # wakes the scanning thread
        self._scan_by = inf  # a scan is wanted by then (monotonic): sooner than the next

    # -- users

    def use(self, interval: float | None = None) -> Lease:
        """Hold the engine's thread and watch (started by the first user).

        ``interval``: scan at least this often while the lease is held.
        """
        if interval is not None and not interval > 0:
            raise ValueError(f"interval must be positive: {interval!r}")
        with self._users_lock:
            lease = Lease(self)
            self._users[lease.key] = interval or self.default_interval
            if len(self._users) == 1:
                self._start()
        return lease

    @property
    def interval(self) -> float:
        """Seconds between two scans: the shortest any user asked for."""
        return min(self._users.values(), default=self.default_interval)

    @property
    def watching(self) -> bool:
        """Whether the output directory is being watched right now."""
        return self.running and self._watch.watching

    @property
    def running(self) -> bool:
        """Whether the thread runs (someone uses the engine)."""
        return self._thread is not None and self._thread.is_alive()

    def _release(self, key: int) -> None:
        with self._users_lock:
            self._users.pop(key, None)
            if self._users or self._thread is None:
                return
            thread, self._thread = self._thread, None
            scan_thread, self._scan_thread = self._scan_thread, None
            watch, stop = self._watch, self._stop
        # Outside the lock: the thread may be releasing a follower's lease as it ends.
        stop.set()
        self._wake.set()
        self._scan_wake.set()
        for ending in (thread, scan_thread):
            if ending is not None and ending is not threading.current_thread():
                ending.join(JOIN_TIMEOUT)  # a scan's tmux call ends within its timeout
        watch.stop()
        logger.info("engine stopped: %s", self.settings.output_dir)

    def _start(self) -> None:
        self._stop = stop = threading.Event()
        self._watch = watch = DirectoryWatch(self.settings.output_dir, self._wants_writes)
        watch.add_listener(self._on_file_event)
        watch.start()
        self._thread = threading.Thread(
            target=self._run, args=(stop,), name="saga-engine", daemon=True
        )
        self._scan_thread = threading.Thread(
            target=self._run_scans, args=(watch, stop), name="saga-engine", daemon=True
        )
        self._thread.start()
        self._scan_thread.start()
        logger.info("engine started: %s", self.settings.output_dir)

    # -- sessions

    @property
    def tmux_server_running(self) -> bool:
        """Whether a tmux server answered on the socket at the last scan."""
        return self.discovery.tmux.server_running

    @property
    def output_dir_exists(self) -> bool:
        """Whether the output directory existed at the last scan."""
        return self.discovery.output_dir_exists

    def add_listener(self, listener: Listener, *, every_scan: bool = False) -> list[SessionInfo]:
        """Call ``listener(sessions)`` when the list (or tmux's health) changed, or every scan.

        Returns the list as of the last scan: what the listener starts from, none missed.
        """
        with self._lock:
            if every_scan:
                self._scans = [*self._scans, listener]
            else:
                self._changes = [*self._changes, listener]
            return self.sessions

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            self._changes = [item for item in self._changes if item is not listener]
            self._scans = [item for item in self._scans if item is not listener]

    def refresh(self, *, always: bool = False) -> list[SessionInfo]:
        """Scan now, in the caller's thread; tell listeners if it changed (or ``always``)."""
        with self._lock:
            self._scans_begun += 1
            scan = self._scans_begun
            sessions = self.discovery.scan()
            error = self.discovery.tmux_error
            changed = not self._scanned or (sessions, error) != (self.sessions, self.tmux_error)
            self.sessions, self.tmux_error, self._scanned = sessions, error, True
            self.by_name = {info.name: info for info in sessions}
            listeners = self._scans + self._changes if changed or always else self._scans
            for listener in listeners:
                try:
                    listener(sessions)
                except Exception:  # one widget's bug must not stop the others or the thread
                    logger.exception("engine listener failed")
            self._mark_ended(scan)
            return sessions

    def find(self, name: str) -> SessionInfo | None:
        """The session ``name`` as of a scan made now."""
        parse_name(name)
        self.refresh()
        return self.by_name.get(name)

    # -- followers

    def follower(self, name: str, offset: int | None = None, **options: Any) -> Follower:
        """A :class:`Follower` of ``name``'s output from ``offset`` (``None``: the tail window).

        Its file is opened now (``options`` go to it); it reads once given to :meth:`follow`.
        """
        return Follower(name, output_path(self.settings.output_dir, name), offset, **options)

    def follow(self, follower: Follower, interval: float | None = None) -> None:
        """Read for ``follower`` from now on: at once, then whenever its file is written.

        It holds the engine (scanning at least every ``interval`` seconds: how soon its end is
        seen) until it ends or is closed.
        """
        lease = self.use(interval)
        with self._followers_lock:
            if follower.closed:  # closed before it started
                lease.close()
                return
            self._held[follower] = lease, self._scans_begun
            self._followers.setdefault(follower.filename, []).append(follower)
            follower.forget = self._forget
            self._scan_by = 0.0  # it ends on a scan made after it started: one now
        self._wake.set()
        self._scan_wake.set()

    def _forget(self, follower: Follower) -> None:
        """Stop reading for ``follower``, release its file and its hold (in the caller's thread).

        A follower being read right now keeps its file until that read is done: the engine's
        thread closes it then (a descriptor closed under a read could be reused by another).
        """
        with self._followers_lock:
            follower.closed = True
            held = self._held.pop(follower, None)
            if held is None:
                return  # forgotten already
            followers = self._followers[follower.filename]
            followers.remove(follower)
            if not followers:
                del self._followers[follower.filename]
            reading = follower is self._reading
        if not reading:
            follower.tailer.close()
        held[0].close()  # the last hold given up stops the engine

    def poke(self) -> None:
        """Read for every follower and scan now, on the engine's thread."""
        with self._followers_lock:
            self._scan_by = 0.0
            for followers in self._followers.values():
                for follower in followers:
                    follower.written = True
        self._wake.set()
        self._scan_wake.set()

    def _wants_writes(self) -> bool:
        return bool(self._followers)

    def _mark_ended(self, scan: int) -> None:
        """Tell followers added before scan number ``scan`` began whether their session ended.

        One added during the scan waits for the next: its session may have been launched
        after this scan asked tmux.
        """
        if self.tmux_error is not None:
            return  # not knowing is not having ended
        with self._followers_lock:
            for followers in self._followers.values():
                for follower in followers:
                    if self._held[follower][1] < scan:
                        follower.ended = has_ended(self.by_name.get(follower.name))

    # -- the thread

    def _on_file_event(self, filename: str, event_type: str) -> None:
        # On the watch's thread: mark, and wake the engine's.
        if event_type == OVERFLOW:
            self._on_overflow()
            return
        with self._followers_lock:
            followers = self._followers.get(filename, ())
            for follower in followers:
                follower.written = True
        if followers:
            self._wake.set()
        if event_type in MEMBERSHIP_EVENTS and name_from_output_file(filename) is not None:
            # Soon, not at once: the rest of a burst of files coming or going joins that scan.
            self._scan_by = min(self._scan_by, time.monotonic() + DEBOUNCE)
            self._scan_wake.set()

    def _on_overflow(self) -> None:
        """Events were lost: every followed file may have been written, any file come or gone."""
        with self._followers_lock:
            for followers in self._followers.values():
                for follower in followers:
                    follower.written = True
        self._scan_by = min(self._scan_by, time.monotonic() + DEBOUNCE)
        self._wake.set()
        self._scan_wake.set()

    def _run(self, stop: threading.Event) -> None:
        """The reading thread: for each follower whose file was written, or is due."""
        while not stop.is_set():
            wait = self._next_read() - time.monotonic()
            if wait > 0:
                self._wake.wait(None if wait == inf else wait)  # inf: until woken
            self._wake.clear()
            if stop.is_set():
                break
            try:
                self._read_due()
            except Exception:
                logger.exception("engine of %s failed; going on", self.settings.output_dir)

    def _run_scans(self, watch: DirectoryWatch, stop: threading.Event) -> None:
        """The scanning thread: every ``interval`` seconds, and soon when asked."""
        next_scan = 0.0
        while not stop.is_set():
            wait = min(next_scan, self._scan_by) - time.monotonic()
            if wait > 0:
                self._scan_wake.wait(wait)
            self._scan_wake.clear()
            if stop.is_set():
                break
            if time.monotonic() < min(next_scan, self._scan_by):
                continue
            self._scan_by = inf
            try:
                watch.ensure()  # the directory may have appeared or been replaced
                self.refresh()
            except Exception:
                logger.exception("engine of %s failed; going on", self.settings.output_dir)
            next_scan = time.monotonic() + self.interval
            self._wake.set()  # followers of sessions that ended read their last and end

    def _next_read(self) -> float:
        with self._followers_lock:
            return min((f.due() for fs in self._followers.values() for f in fs), default=inf)

    def _read_due(self) -> None:
        now = time.monotonic()
        with self._followers_lock:
            followers = [f for fs in self._followers.values() for f in fs if f.due() <= now]
        for follower in followers:
            with self._followers_lock:
                if follower not in self._held:
                    continue  # closed meanwhile
                self._reading = follower
            try:
                follower.pump()
            except Exception:  # a bad read must not end the others: try again later
                logger.exception("following %s failed", follower.name)
            with self._followers_lock:
                self._reading = None
                forgotten = follower not in self._held
            if forgotten:  # closed during the read: its file was left to us
                follower.tailer.close()
            elif follower.closed:  # it ended
                self._forget(follower)
