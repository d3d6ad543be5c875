"""The Linux fast path of the directory watch: inotify, read where the events are wanted.

The watch is made with watchdog's inotify bindings (a private module of watchdog: imported
only here, and guarded, so that a watchdog without it falls back to its public observers).
Events are read in one of two places:

- on an asyncio event loop (the server): the inotify descriptor is one more file the loop
  waits on, so a write costs the loop one wake-up and no thread hand-over. Under load that
  hand-over, not the work, was most of a log line's latency (see ``server/logstreams.py``).
- on a thread of the watch's own (a kernel, which has no loop to share).

Each watch has its own inotify instance, so two watches of one directory in one process cannot
change each other's event mask.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import select
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

try:  # Linux only, and a private module: anything else falls back to the public observers
    from watchdog.observers.inotify_c import (
        InotifyConstants,
        WatchDescriptor,
        inotify_add_watch,
        inotify_init,
        inotify_rm_watch,
    )
except Exception:
    AVAILABLE = False
else:
    AVAILABLE = True
    # Asked of inotify always; writes only while wanted (a busy writer's every write is an
    # event: thousands a second that nobody needs while no log is streamed).
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

# struct inotify_event: wd, mask, cookie, len, then len bytes of NUL-padded name.
EVENT_HEADER = struct.Struct("iIII")
EVENT_BUFFER = 64 * 1024

Tell = Callable[[str, str], None]
TellExtra = Callable[[Path, str, str], None]


class InotifyWatch:
    """One inotify instance watching one directory; ``tell(filename, event_type)`` per event."""

    def __init__(self, directory: Path, tell: Tell) -> None:
        self.directory = directory
        self.tell = tell
        self._lock = threading.Lock()  # the descriptor, the watch and its mask
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_w: int | None = None  # the own thread's stop signal
        self._wd: WatchDescriptor | None = None
        self._inode: int | None = None
        self._mask = 0
        # Further directories on the same descriptor (DirectoryWatch.add_directory): by path
        # (wd, inode, mask) and by wd. Replaced whole under the lock, read without it.
        self.tell_extra: TellExtra | None = None
        self._extras: dict[Path, tuple[int, int, int]] = {}
        self._extras_by_wd: dict[int, Path] = {}

    @property
    def inode(self) -> int | None:
        """The inode of the directory watched now, or ``None``."""
        return self._inode if self.watching else None

    @property
    def watching(self) -> bool:
        """Whether the directory is being watched right now."""
        return self._wd is not None

    def start(self, loop: asyncio.AbstractEventLoop | None) -> bool:
        """Read events on ``loop``, or on a thread of its own; ``False`` if inotify refused."""
        with self._lock:
            if self._fd is not None:
                return True
            fd = inotify_init()
            if fd < 0:  # the per-user limit of inotify instances
                error = os.strerror(ctypes.get_errno())
                logger.warning("cannot watch %s: %s", self.directory, error)
                return False
            os.set_blocking(fd, False)
            self._fd = fd
            if loop is not None:
                self._loop = loop
                loop.add_reader(fd, self._read_events)
                return True
            stop_r, self._stop_w = os.pipe()
            self._thread = threading.Thread(
                target=self._run, args=(fd, stop_r), name="saga-dirwatch", daemon=True
            )
            self._thread.start()
            return True

    def ensure(self, wants_writes: bool) -> bool:
        """Re-arm the watch if the directory or the wish for writes changed; cheap otherwise."""
        with self._lock:
            if self._fd is None:
                return False
            try:
                inode: int | None = os.stat(self.directory).st_ino
            except OSError:
                inode = None
            mask = LIST_MASK | (WRITE_MASK if wants_writes else 0)
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
            self._wd, self._inode, self._mask = wd, inode, mask
            return True

    def stop(self) -> None:
        """Stop watching; join the own thread (with a loop: call from the loop's thread)."""
        with self._lock:
            fd, self._fd = self._fd, None
            self._wd = self._inode = None
            self._extras, self._extras_by_wd = {}, {}
            loop, self._loop = self._loop, None
            thread, self._thread = self._thread, None
            stop_w, self._stop_w = self._stop_w, None
        if loop is not None and fd is not None:
            loop.remove_reader(fd)
        if thread is not None and stop_w is not None:
            os.write(stop_w, b"x")
            thread.join(timeout=5)  # outside the lock: the thread may be taking it
            os.close(stop_w)
        if fd is not None:
            os.close(fd)  # and with it the watch

    def _run(self, fd: int, stop_r: int) -> None:
        """The own thread: read events until told to stop."""
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        poll.register(stop_r, select.POLLIN)
        try:
            while stop_r not in {ready for ready, _ in poll.poll()}:
                self._read_events()
        finally:
            os.close(stop_r)

    def _read_events(self) -> None:
        """Read what inotify has and tell about each file's event."""
        fd = self._fd
        if fd is None:
            return
        try:
            buffer = os.read(fd, EVENT_BUFFER)
        except BlockingIOError:
            return
        for wd, mask, name in _parse(buffer):
            if wd in self._extras_by_wd and self._tell_extra_event(wd, mask, name):
                continue
            if mask & InotifyConstants.IN_Q_OVERFLOW:
                # A write's event may be among those lost: without a word, its line would wait
                # for the file's next write.
                logger.warning("output directory watch: inotify queue overflowed, events lost")
                self.tell("", "overflow")
            elif mask & InotifyConstants.IN_IGNORED:
                self._watch_gone(wd)
            elif wd == self._wd and name and not mask & InotifyConstants.IN_ISDIR:
                event_type = ALL_EVENT_TYPES.get(mask & (LIST_MASK | WRITE_MASK))
                if event_type is not None:
                    self.tell(os.fsdecode(name), event_type)

    # -- further directories, on the same descriptor

    @property
    def extras(self) -> set[Path]:
        """The further directories watched now."""
        return set(self._extras)

    def add_extra(self, directory: Path, writes: bool) -> bool:
        """Watch one more directory (never through a link); ``False`` if it cannot be.

        Cheap when it is watched already: a stat. A directory replaced is watched anew.
        """
        with self._lock:
            if self._fd is None:
                return False
            try:
                info = os.lstat(directory)
            except OSError:
                info = None
            mask = LIST_MASK | (WRITE_MASK if writes else 0)
            held = self._extras.get(directory)
            if info is not None and held is not None and held[1:] == (info.st_ino, mask):
                return True
            if info is None:
                self._drop_extra(directory)
                return False
            # IN_DONT_FOLLOW: a link planted in its place is not watched; IN_MASK_ADD: a
            # directory watched under two names keeps what each asked for.
            flags = InotifyConstants.IN_ONLYDIR | InotifyConstants.IN_DONT_FOLLOW
            wd = inotify_add_watch(self._fd, os.fsencode(directory), mask | flags)
            if wd < 0:
                logger.debug("cannot watch %s: %s", directory, os.strerror(ctypes.get_errno()))
                self._drop_extra(directory)
                return False
            if held is not None and held[0] != wd:  # replaced: the old one (moved away) unwatched
                if held[0] != self._wd:
                    inotify_rm_watch(self._fd, WatchDescriptor(held[0]))
                self._drop_extra(directory)
            self._extras = {**self._extras, directory: (wd, info.st_ino, mask)}
            self._extras_by_wd = {**self._extras_by_wd, wd: directory}
            return True

    def remove_extra(self, directory: Path) -> None:
        """Stop watching a further directory."""
        with self._lock:
            held = self._extras.get(directory)
            if held is not None and self._fd is not None and held[0] != self._wd:
                inotify_rm_watch(self._fd, WatchDescriptor(held[0]))  # fails harmlessly if gone
            self._drop_extra(directory)

    def _drop_extra(self, directory: Path) -> None:
        """Forget a further directory (under the lock)."""
        held = self._extras.get(directory)
        if held is not None:
            self._extras = {k: v for k, v in self._extras.items() if k != directory}
            self._extras_by_wd = {k: v for k, v in self._extras_by_wd.items() if k != held[0]}

    def _tell_extra_event(self, wd: int, mask: int, name: bytes) -> bool:
        """Tell a further directory's event (its subdirectories' too); whether it was one."""
        directory = self._extras_by_wd.get(wd)
        if directory is None:
            return False
        if mask & InotifyConstants.IN_IGNORED:
            with self._lock:
                if self._extras_by_wd.get(wd) == directory:
                    self._drop_extra(directory)
        elif name and self.tell_extra is not None:
            event_type = ALL_EVENT_TYPES.get(mask & (LIST_MASK | WRITE_MASK))
            if event_type is not None:
                self.tell_extra(directory, os.fsdecode(name), event_type)
        return wd != self._wd

    def _watch_gone(self, wd: int) -> None:
        """The directory went away: :meth:`ensure` watches its replacement."""
        with self._lock:
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
