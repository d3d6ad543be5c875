"""One watchdog observer on the output directory, serving every listener (inotify watches dirs).

Listeners are called on the observer's thread with ``(filename, event_type)``; a server hands
them to its event loop, a kernel to its own thread. The directory may not exist yet, or be
deleted and recreated: :meth:`DirectoryWatch.ensure` (called on every poll) re-arms the watch.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

logger = logging.getLogger(__name__)


def _not_a_stopping_emitter(record: logging.LogRecord) -> bool:
    # watchdog logs this at error level when a watch stops while events are queued, which is
    # what unscheduling is: harmless, yet red in a notebook or the server log.
    return "called when the thread is inactive" not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_not_a_stopping_emitter)

Listener = Callable[[str, str], None]
# Asked of inotify always; writes only while someone follows output (a busy writer's every
# write is an event: thousands a second that nobody needs while no log is streamed).
LIST_EVENTS: list[type[FileSystemEvent]] = [FileCreatedEvent, FileDeletedEvent, FileMovedEvent]
# The listeners' event types that add or remove a file (the rest: its content changed).
MEMBERSHIP_EVENTS = frozenset({"created", "deleted", "moved"})
WRITE_EVENTS: list[type[FileSystemEvent]] = [FileModifiedEvent, FileClosedEvent]


class DirectoryWatch(FileSystemEventHandler):
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
        self._observer: Any = None
        self._watch: Any = None
        self._inode: int | None = None
        self._writes = False

    @property
    def watching(self) -> bool:
        """Whether the directory is being watched right now."""
        return self._watch is not None

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(filename, event_type)`` for every event on a file in the directory."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            self._listeners = [item for item in self._listeners if item is not listener]

    def start(self) -> None:
        """Start the observer thread and watch the directory if it exists."""
        if self._observer is None:
            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()
        self.ensure()

    def ensure(self) -> bool:
        """Re-arm the watch if the directory or the wish for writes changed; cheap otherwise.

        Blocks briefly (watchdog starts and stops threads): call it off the event loop.
        """
        with self._watch_lock:
            if self._observer is None:
                return False
            try:
                inode: int | None = os.stat(self.directory).st_ino
            except OSError:
                inode = None
            writes = self.wants_writes()
            if self._watch is not None and (inode != self._inode or writes != self._writes):
                self._observer.unschedule(self._watch)
                self._watch = None
                if inode != self._inode:
                    logger.info("output directory watch closed: %s", self.directory)
            if self._watch is None and inode is not None:
                events = LIST_EVENTS + WRITE_EVENTS if writes else LIST_EVENTS
                try:
                    self._watch = self._observer.schedule(
                        self, str(self.directory), recursive=False, event_filter=events
                    )
                except OSError as error:
                    logger.warning("cannot watch %s: %s", self.directory, error)
                    return False
                if inode != self._inode:
                    logger.info("output directory watch opened: %s", self.directory)
                self._inode, self._writes = inode, writes
                return True
            return False

    def stop(self) -> None:
        """Stop watching and join the observer thread."""
        with self._watch_lock:
            if self._observer is not None:
                self._observer.stop()
                self._observer.join(timeout=5)
                self._observer = None
            self._watch = None
            self._inode = None

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Dispatch a watchdog event to every listener, once per file it names.

        Only file events arrive: ``ensure`` schedules the watch with an ``event_filter``.
        """
        paths = [event.src_path]
        if event.dest_path:
            paths.append(event.dest_path)
        for path in paths:
            filename = os.path.basename(os.fsdecode(path))
            for listener in self._listeners:
                try:
                    listener(filename, event.event_type)
                except Exception:  # one listener's bug must not stop the others
                    logger.exception("directory watch listener failed")
