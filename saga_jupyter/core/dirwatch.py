"""One watchdog inotify watch on the output directory, serving every listener.

inotify watches a directory, so one watch covers every output file. It is watchdog's inotify
reader (``InotifyFD``: one thread that reads the inotify descriptor and calls back with each
event), used without the observer's emitter and dispatcher threads: at 4,000 writes a second
the whole observer spent 158 µs of Python per event, the reader alone 37 µs.
Each watch has its own inotify instance, so two watches of one directory in one process (a
session table and a log viewer in a kernel) cannot change each other's event mask.

Listeners are called on the reader thread with ``(filename, event_type)``; a server hands them
to its event loop, a kernel to its own thread. The directory may not exist yet, or be deleted
and recreated: :meth:`DirectoryWatch.ensure` (called on every poll) re-arms the watch.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.observers.inotify_c import (
    CallbackId,
    InotifyConstants,
    InotifyEvent,
    InotifyFD,
    Mask,
    WatchDescriptor,
)

logger = logging.getLogger(__name__)

Listener = Callable[[str, str], None]

# Asked of inotify always; writes only while someone follows output (a busy writer's every
# write is an event: thousands a second that nobody needs while no log is streamed).
EVENT_TYPES: dict[int, str] = {
    InotifyConstants.IN_CREATE: "created",
    InotifyConstants.IN_DELETE: "deleted",
    InotifyConstants.IN_MOVED_FROM: "moved",
    InotifyConstants.IN_MOVED_TO: "moved",
}
WRITE_EVENT_TYPES: dict[int, str] = {
    InotifyConstants.IN_MODIFY: "modified",
    InotifyConstants.IN_CLOSE_WRITE: "closed",
}
LIST_MASK = sum(EVENT_TYPES)
WRITE_MASK = sum(WRITE_EVENT_TYPES)
ALL_EVENT_TYPES: dict[int, str] = {**EVENT_TYPES, **WRITE_EVENT_TYPES}
# The listeners' event types that add or remove a file (the rest: its content changed).
MEMBERSHIP_EVENTS = frozenset(EVENT_TYPES.values())


class DirectoryWatch:
    """Watches one directory (not recursively) and tells listeners about its files."""

    def __init__(
        self, directory: str | os.PathLike[str], wants_writes: Callable[[], bool] = lambda: True
    ) -> None:
        self.directory = Path(directory)
        #: Asked on every :meth:`ensure`: whether modifications are wanted now, or only
        #: creations, deletions and renames.
        self.wants_writes = wants_writes
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._watch_lock = threading.Lock()
        self._inotify: InotifyFD | None = None
        self._wd: WatchDescriptor | None = None
        self._inode: int | None = None
        self._mask = 0

    @property
    def watching(self) -> bool:
        """Whether the directory is being watched right now."""
        return self._wd is not None

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(filename, event_type)`` for every event on a file in the directory."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            self._listeners = [item for item in self._listeners if item is not listener]

    def start(self) -> None:
        """Start the reader thread and watch the directory if it exists."""
        if self._inotify is None:
            try:
                self._inotify = InotifyFD()
            except OSError as error:  # the per-user limit of inotify instances
                logger.warning("cannot watch %s: %s", self.directory, error)
                return
            self._inotify.start()
        self.ensure()

    def ensure(self) -> bool:
        """Re-arm the watch if the directory or the wish for writes changed; cheap otherwise.

        Blocks briefly (a stat and an inotify call): call it off the event loop.
        """
        with self._watch_lock:
            if self._inotify is None:
                return False
            try:
                inode: int | None = os.stat(self.directory).st_ino
            except OSError:
                inode = None
            mask = LIST_MASK | (WRITE_MASK if self.wants_writes() else 0)
            if self._wd is not None and inode != self._inode:
                self._remove_watch()
                logger.info("output directory watch closed: %s", self.directory)
            if inode is None or (self._wd is not None and mask == self._mask):
                return False
            # A new mask on the same watch replaces the old one at once: no event is missed.
            # The callback id is the mask, so the old id can be dropped once the new one is in.
            old = (self._wd, CallbackId(self._mask)) if self._wd is not None else None
            try:
                self._wd = self._inotify.add_callback(
                    os.fsencode(self.directory),
                    Mask(mask | InotifyConstants.IN_ONLYDIR),
                    self,
                    CallbackId(mask),
                )
            except OSError as error:
                logger.warning("cannot watch %s: %s", self.directory, error)
                return False
            if old is not None and old[0] == self._wd:
                self._inotify.remove_callbacks([old])
            elif inode != self._inode:
                logger.info("output directory watch opened: %s", self.directory)
            self._inode, self._mask = inode, mask
            return True

    def stop(self) -> None:
        """Stop watching and join the reader thread."""
        with self._watch_lock:
            if self._inotify is not None:
                self._inotify.stop()
                self._inotify.join(timeout=5)
                self._inotify = None
            self._wd = None
            self._inode = None

    def _remove_watch(self) -> None:
        assert self._inotify is not None and self._wd is not None
        self._inotify.remove_callbacks([(self._wd, CallbackId(self._mask))])
        self._wd = None

    # watchdog's WatchCallback: called on the reader thread.

    def on_event(self, event: InotifyEvent) -> None:
        """Dispatch an event on a file in the directory to every listener."""
        event_type = ALL_EVENT_TYPES.get(event.mask & (LIST_MASK | WRITE_MASK))
        if event_type is None or not event.name or event.mask & InotifyConstants.IN_ISDIR:
            return
        filename = os.fsdecode(event.name)
        for listener in self._listeners:
            try:
                listener(filename, event_type)
            except Exception:  # one listener's bug must not stop the others
                logger.exception("directory watch listener failed")

    def on_watch_deleted(self, wd: WatchDescriptor) -> None:
        """The directory went away: :meth:`ensure` watches its replacement."""
        if wd == self._wd:
            self._wd = None

    def on_queue_overflow(self) -> None:
        """The kernel dropped events: say so (a scan still sees every file)."""
        logger.warning("output directory watch: inotify queue overflowed, events were lost")
