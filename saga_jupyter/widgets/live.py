"""The kernel's live view of the sessions: a thread scanning tmux and the output directory.

It scans every ``interval`` seconds, and soon after an output file appears or disappears (the
directory watch wakes it; a short debounce turns a burst of events into one scan). Listeners
run on that thread: widgets only set traits from them, never ``display``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from ..core.api import discovery_for
from ..core.dirwatch import DirectoryWatch
from ..core.info import SessionInfo
from ..core.names import name_from_output_file
from ..core.settings import Settings, resolve

logger = logging.getLogger(__name__)

Listener = Callable[[list[SessionInfo]], None]
DEFAULT_INTERVAL = 2.0
DEBOUNCE = 0.1


class LiveSessions:
    """Every SAGA session of one tmux server and output directory, kept current in a thread.

    >>> live = LiveSessions("/nonexistent", "saga-doctest")
    >>> live.refresh()
    []
    >>> live.close()
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str] | None = None,
        tmux_socket_name: str | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
        debounce: float = DEBOUNCE,
    ) -> None:
        if not interval > 0 or debounce < 0:
            raise ValueError(f"interval must be positive, debounce not negative: {interval}")
        self.settings: Settings = resolve(output_dir, tmux_socket_name)
        self.interval = interval
        self.debounce = debounce
        #: The list as of the last scan, newest first.
        self.sessions: list[SessionInfo] = []
        #: Why tmux could not be asked at the last scan, or ``None`` when it answered.
        self.tmux_error: str | None = None
        self._discovery = discovery_for(self.settings)
        self._tmux = self._discovery.tmux
        # Files coming and going only: a write is seen by the next periodic scan.
        self._watch = DirectoryWatch(self.settings.output_dir, wants_writes=lambda: False)
        self._watch.add_listener(self._on_file_event)
        self._changes: list[Listener] = []
        self._scans: list[Listener] = []
        # Reentrant: a listener may call refresh(). Held while notifying, so listeners see
        # lists in the order they were scanned.
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scanned = False

    @property
    def tmux_server_running(self) -> bool:
        """Whether a tmux server answered on the socket at the last scan."""
        return self._tmux.server_running

    @property
    def output_dir_exists(self) -> bool:
        """Whether the output directory existed at the last scan."""
        return self._discovery.output_dir_exists

    @property
    def running(self) -> bool:
        """Whether the background thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def add_listener(self, listener: Listener, *, every_scan: bool = False) -> None:
        """Call ``listener(sessions)`` when the list (or tmux's health) changed, or every scan."""
        with self._lock:
            if every_scan:
                self._scans = [*self._scans, listener]
            else:
                self._changes = [*self._changes, listener]

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            self._changes = [item for item in self._changes if item is not listener]
            self._scans = [item for item in self._scans if item is not listener]

    def start(self) -> None:
        """Scan now (in this thread, so the first list is there at once), then keep scanning."""
        if self._stop.is_set():
            raise RuntimeError("LiveSessions was closed")
        if self._thread is not None:
            return
        self._watch.start()
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="saga-live-sessions", daemon=True)
        self._thread.start()

    def refresh(self, *, always: bool = False) -> list[SessionInfo]:
        """Scan now and tell listeners if something changed (every listener when ``always``)."""
        with self._lock:
            sessions = self._discovery.scan()
            error = self._discovery.tmux_error
            changed = not self._scanned or (sessions, error) != (self.sessions, self.tmux_error)
            self.sessions, self.tmux_error, self._scanned = sessions, error, True
            listeners = self._scans + self._changes if changed or always else self._scans
            for listener in listeners:
                try:
                    listener(sessions)
                except Exception:  # one widget's bug must not stop the others or the thread
                    logger.exception("live sessions listener failed")
            return sessions

    def close(self) -> None:
        """Stop the thread and the directory watch, and wait for both to end."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._watch.remove_listener(self._on_file_event)
        self._watch.stop()
        with self._lock:
            self._changes, self._scans = [], []

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self.interval)
            if self._stop.is_set():
                break
            if woken:
                self._stop.wait(self.debounce)  # let the rest of a burst of events arrive
                self._wake.clear()  # before scanning: an event during the scan wakes us again
            self._watch.ensure()  # the directory may have appeared or been replaced
            try:
                self.refresh()
            except Exception:
                logger.exception("scanning SAGA sessions failed")

    def _on_file_event(self, filename: str, event_type: str) -> None:
        # On the watch's thread: just wake the scanning thread (only membership events come:
        # the watch does not ask for writes).
        if name_from_output_file(filename) is not None:
            self._wake.set()
