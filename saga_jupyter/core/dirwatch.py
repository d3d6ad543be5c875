"""One inotify watch on the output directory, serving every listener.

inotify watches a directory, so one watch covers every output file. The watch is made with
watchdog's inotify bindings and its events are read here, in one of two places:

- on an asyncio event loop (the server): the inotify descriptor is one more file the loop
  waits on, so a write costs the loop one wake-up and no thread hand-over. Under load that
  hand-over, not the work, was most of a log line's latency (see ``server/logstreams.py``).
- on a thread of the watch's own (a kernel's widgets, which have no loop to share).

Each watch has its own inotify instance, so two watches of one directory in one process (a
session table and a log viewer in a kernel) cannot change each other's event mask. Listeners
are called with ``(filename, event_type)`` where the events are read. The directory may not
exist yet, or be deleted and recreated: :meth:`DirectoryWatch.ensure` (called on every poll)
re-arms the watch. What happened in between was seen by nobody, so each file found in the new
directory is told as ``created`` then: a stream waiting for a file written in that gap reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import select
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from watchdog.observers.inotify_c import (
    InotifyConstants,
    WatchDescriptor,
    inotify_add_watch,
    inotify_init,
    inotify_rm_watch,
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

# struct inotify_event: wd, mask, cookie, len, then len bytes of NUL-padded name.
EVENT_HEADER = struct.Struct("iIII")
EVENT_BUFFER = 64 * 1024


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
        self._watch_lock = threading.Lock()  # the descriptor, the watch and its mask
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._wake_w: int | None = None  # the own thread's wake-up: to tell, or to stop
        self._stopping = False
        self._found: list[str] = []  # files found on re-arming, not yet told
        self._ensured = False  # ensure() has looked at the directory before
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

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start reading events, on ``loop`` or on a thread of the watch's own.

        Without a loop, this also watches the directory if it exists. With one, call it from
        the loop's thread; the directory is watched from the next :meth:`ensure` (which
        blocks briefly, so belongs off the loop).
        """
        with self._watch_lock:
            if self._fd is not None:
                return
            fd = inotify_init()
            if fd < 0:  # the per-user limit of inotify instances
                error = os.strerror(ctypes.get_errno())
                logger.warning("cannot watch %s: %s", self.directory, error)
                return
            os.set_blocking(fd, False)
            self._fd = fd
            if loop is not None:
                self._loop = loop
                loop.add_reader(fd, self._read_events)
                return
            wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_w, False)  # a full pipe already holds a wake-up
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, args=(fd, wake_r), name="saga-dirwatch", daemon=True
            )
            self._thread.start()
        self.ensure()

    def ensure(self) -> bool:
        """Re-arm the watch if the directory or the wish for writes changed; cheap otherwise.

        Blocks briefly (a stat and an inotify call): call it off the event loop.
        """
        with self._watch_lock:
            if self._fd is None:
                return False
            seen_before, self._ensured = self._ensured, True
            try:
                inode: int | None = os.stat(self.directory).st_ino
            except OSError:
                inode = None
            mask = LIST_MASK | (WRITE_MASK if self.wants_writes() else 0)
            if self._wd is not None and inode != self._inode:
                inotify_rm_watch(self._fd, self._wd)  # fails harmlessly if already gone
                self._wd = None
                logger.info("output directory watch closed: %s", self.directory)
            if inode is None or (self._wd is not None and mask == self._mask):
                return False
            # On a directory already watched, the new mask replaces the old one at once, on
            # the same watch: no event is missed or told twice.
            wd = inotify_add_watch(
                self._fd, os.fsencode(self.directory), mask | InotifyConstants.IN_ONLYDIR
            )
            if wd < 0:
                error = os.strerror(ctypes.get_errno())
                logger.warning("cannot watch %s: %s", self.directory, error)
                return False
            if self._wd is None:
                logger.info("output directory watch opened: %s", self.directory)
                if seen_before:  # created or replaced since: its files came unannounced
                    self._announce(self._files())
            self._wd, self._inode, self._mask = wd, inode, mask
            return True

    def stop(self) -> None:
        """Stop watching; join the own thread (with a loop: call from the loop's thread)."""
        with self._watch_lock:
            fd, self._fd = self._fd, None
            self._wd = self._inode = None
            loop, self._loop = self._loop, None
            thread, self._thread = self._thread, None
            wake_w, self._wake_w = self._wake_w, None
            self._stopping, self._ensured, self._found = True, False, []
        if loop is not None and fd is not None:
            loop.remove_reader(fd)
        if thread is not None and wake_w is not None:
            with contextlib.suppress(BlockingIOError):
                os.write(wake_w, b"x")
            thread.join(timeout=5)  # outside the lock: the thread may be taking it
            os.close(wake_w)
        if fd is not None:
            os.close(fd)  # and with it the watch

    def _run(self, fd: int, wake_r: int) -> None:
        """The own thread: read events, and tell files found on re-arming, until stopped."""
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        poll.register(wake_r, select.POLLIN)
        try:
            while True:
                ready = {ready for ready, _ in poll.poll()}
                if wake_r in ready:
                    os.read(wake_r, 4096)
                    if self._stopping:
                        return
                    self._tell_found()
                if fd in ready:
                    self._read_events()
        finally:
            os.close(wake_r)

    def _files(self) -> list[str]:
        """The names of the files in the directory now (what a listing can tell of it)."""
        try:
            with os.scandir(self.directory) as entries:
                return [entry.name for entry in entries if not entry.is_dir(follow_symlinks=False)]
        except OSError:
            return []

    def _announce(self, names: list[str]) -> None:
        """Tell ``names`` as ``created`` where events are read (called with the watch lock)."""
        if not names:
            return
        self._found.extend(names)
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody to tell
                self._loop.call_soon_threadsafe(self._tell_found)
        elif self._wake_w is not None:
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"a")

    def _tell_found(self) -> None:
        with self._watch_lock:
            found, self._found = self._found, []
        for filename in found:
            self._tell(filename, "created")

    def _read_events(self) -> None:
        """Read what inotify has and tell the listeners about each file's event."""
        fd = self._fd
        if fd is None:
            return
        try:
            buffer = os.read(fd, EVENT_BUFFER)
        except BlockingIOError:
            return
        for wd, mask, name in _parse(buffer):
            if mask & InotifyConstants.IN_Q_OVERFLOW:
                logger.warning("output directory watch: inotify queue overflowed, events lost")
            elif mask & InotifyConstants.IN_IGNORED:
                self._watch_gone(wd)
            elif wd == self._wd and name and not mask & InotifyConstants.IN_ISDIR:
                event_type = ALL_EVENT_TYPES.get(mask & (LIST_MASK | WRITE_MASK))
                if event_type is not None:
                    self._tell(os.fsdecode(name), event_type)

    def _tell(self, filename: str, event_type: str) -> None:
        for listener in self._listeners:
            try:
                listener(filename, event_type)
            except Exception:  # one listener's bug must not stop the others
                logger.exception("directory watch listener failed")

    def _watch_gone(self, wd: int) -> None:
        """The directory went away: :meth:`ensure` watches its replacement."""
        with self._watch_lock:
            if wd == self._wd:
                self._wd = None


def _parse(buffer: bytes) -> Iterator[tuple[int, int, bytes]]:
    """The ``(wd, mask, name)`` of each event in what one read of inotify gave."""
    at = 0
    while at + EVENT_HEADER.size <= len(buffer):
        wd, mask, _cookie, length = EVENT_HEADER.unpack_from(buffer, at)
        at += EVENT_HEADER.size
        yield wd, mask, buffer[at : at + length].rstrip(b"\0")
        at += length
