"""The directory watch beyond Linux: watchdog's public observers (FSEvents, kqueue, polling).

An observer reads events on threads of its own; each event is handed to the event loop given
to :meth:`ObserverWatch.start` (the server), or told right there (a kernel). Writes are always
reported by these observers: the ones not wanted are dropped here. Further directories (a
SAGA project's) are not given to the observer, which would take a thread or a kernel handle
each, but to one :class:`~.dirpoll.DirectoryPoller`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from .dirpoll import DirectoryPoller

logger = logging.getLogger(__name__)

# watchdog's event types that the watch's listeners hear of, by the same names.
EVENT_TYPES = frozenset({"created", "deleted", "moved", "modified", "closed"})
WRITE_EVENT_TYPES = frozenset({"modified", "closed"})
POLL_INTERVAL = 0.25  # seconds between two looks of the polling observer

Tell = Callable[[str, str], None]
TellExtra = Callable[[Path, str, str], None]


def make_observer(kind: str) -> BaseObserver:
    """Watchdog's native observer for this system (``"native"``) or its polling one."""
    if kind == "polling":
        return PollingObserver(timeout=POLL_INTERVAL)
    observer: BaseObserver = Observer()
    return observer


class ObserverWatch(FileSystemEventHandler):
    """One watchdog observer watching one directory; ``tell(filename, event_type)`` per event."""

    def __init__(self, directory: Path, tell: Tell, kind: str = "native") -> None:
        self.directory = directory
        self.tell = tell
        self.kind = kind
        self._wants_writes = True
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observer: BaseObserver | None = None
        self._watch: ObservedWatch | None = None
        self._inode: int | None = None
        # Further directories (DirectoryWatch.add_directory): polled by one thread.
        self.tell_extra: TellExtra | None = None
        self._poller = DirectoryPoller(self._hand_over_extra)

    @property
    def inode(self) -> int | None:
        """The inode of the directory watched now, or ``None``."""
        return self._inode if self.watching else None

    @property
    def watching(self) -> bool:
        """Whether the directory is being watched right now."""
        return self._watch is not None

    def start(self, loop: asyncio.AbstractEventLoop | None) -> bool:
        """Start the observer's threads; events go to ``loop`` when given."""
        with self._lock:
            if self._observer is None:
                self._loop = loop
                self._observer = make_observer(self.kind)
                self._observer.name = "saga-dirwatch"
                self._observer.daemon = True
                self._observer.start()
        return True

    def ensure(self, wants_writes: bool) -> bool:
        """Watch the directory if it exists and is not watched yet (it may have been replaced).

        ``True`` when something changed: the directory watched anew, or the wish for writes.
        """
        with self._lock:
            changed, self._wants_writes = wants_writes != self._wants_writes, wants_writes
            observer = self._observer
            if observer is None:
                return False
            try:
                inode: int | None = os.stat(self.directory).st_ino
            except OSError:
                inode = None
            if self._watch is not None and inode != self._inode:
                with contextlib.suppress(KeyError, OSError):  # its emitter may be gone already
                    observer.unschedule(self._watch)
                self._watch = None
                logger.info("output directory watch closed: %s", self.directory)
            if inode is None or self._watch is not None:
                return changed
            try:
                self._watch = observer.schedule(self, os.fspath(self.directory), recursive=False)
            except OSError as error:
                logger.warning("cannot watch %s: %s", self.directory, error)
                return changed
            self._inode = inode
            for emitter in observer.emitters:  # named for what they are, in thread listings
                emitter.name = "saga-dirwatch-events"
            logger.info("output directory watch opened: %s (%s)", self.directory, self.kind)
            return True

    def stop(self) -> None:
        """Stop the observer and wait for its threads."""
        with self._lock:
            observer, self._observer = self._observer, None
            self._watch = self._inode = None
            self._loop = None
        self._poller.stop()
        if observer is not None:
            emitters = list(observer.emitters)  # stop() lets them go without waiting for them
            observer.stop()
            for thread in (observer, *emitters):
                thread.join(timeout=5)

    def dispatch(self, event: FileSystemEvent) -> None:
        """On the observer's thread: tell about the event of each file it names."""
        if event.is_directory or event.event_type not in EVENT_TYPES:
            return
        if event.event_type in WRITE_EVENT_TYPES and not self._wants_writes:
            return
        paths = [event.src_path, *([event.dest_path] if event.event_type == "moved" else [])]
        for path in paths:
            directory, filename = os.path.split(os.fsdecode(path))
            if filename and os.path.normpath(directory) == os.path.normpath(self.directory):
                self._hand_over(filename, event.event_type)

    def _hand_over(self, filename: str, event_type: str) -> None:
        loop = self._loop
        if loop is None:
            self.tell(filename, event_type)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens any more
            loop.call_soon_threadsafe(self.tell, filename, event_type)

    # -- further directories: one thread polls them all (see .dirpoll for why)

    @property
    def extras(self) -> set[Path]:
        """The further directories watched now."""
        return self._poller.directories

    def add_extra(self, directory: Path, writes: bool) -> bool:
        """Watch one more directory (not through a link); ``False`` if it cannot be."""
        if self._observer is None:
            return False
        return self._poller.add(directory, writes)

    def remove_extra(self, directory: Path) -> None:
        """Stop watching a further directory."""
        self._poller.remove(directory)

    def _hand_over_extra(self, directory: Path, filename: str, event_type: str) -> None:
        tell, loop = self.tell_extra, self._loop
        if tell is None:
            return
        if loop is None:
            tell(directory, filename, event_type)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens any more
            loop.call_soon_threadsafe(tell, directory, filename, event_type)
