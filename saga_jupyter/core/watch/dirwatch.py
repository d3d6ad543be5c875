"""One watch on the output directory, serving every listener of a process.

A directory is watched, not its files, so one watch covers every output file. Listeners are
called with ``(filename, event_type)``, ``event_type`` one of ``created``, ``deleted``, ``moved``
(each of a file that came or went: :data:`MEMBERSHIP_EVENTS`), ``modified`` and ``closed``
(written; reported only while :attr:`DirectoryWatch.wants_writes` says so). With an event
loop, they are called on it; without one, on the watch's own thread. ``("", "overflow")``
(:data:`OVERFLOW`) says events were lost (inotify's queue overflowed while nobody read it): any
file may have been written, created, renamed or deleted meanwhile, so a listener reads every
file it follows again and rescans the directory.

Where the events come from (:data:`WATCH_ENV` chooses, for tests of the other paths):

- ``inotify`` (Linux, the default there): :mod:`.inotify`, read on the loop itself;
- ``native``: watchdog's public observer for the system (FSEvents on macOS, kqueue on the
  BSDs; inotify through its own threads on Linux), the default where inotify is missing;
- ``polling``: watchdog's polling observer, where nothing else works.

The directory may not exist yet, or be deleted and recreated: :meth:`DirectoryWatch.ensure`
(called on every poll) watches it again. What happened in between was seen by nobody, so each
file found in a directory watched anew is told as ``created`` then: a stream waiting for a file
written in that gap reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from . import inotify
from .observer import ObserverWatch

logger = logging.getLogger(__name__)

Listener = Callable[[str, str], None]
#: ``listener(directory, filename, event_type)`` of a further directory (:meth:`add_directory`).
DirectoryListener = Callable[[Path, str, str], None]
WATCH_ENV = "SAGA_JUPYTER_WATCH"
KINDS = ("inotify", "native", "polling")
# The listeners' event types that add or remove a file (the rest: its content changed).
MEMBERSHIP_EVENTS = frozenset({"created", "deleted", "moved"})
# Told with no file name when events were lost: everything may have changed.
OVERFLOW = "overflow"


def watch_kind() -> str:
    """The kind of watch to make: :data:`WATCH_ENV` if set, else the fastest this system has."""
    wanted = os.environ.get(WATCH_ENV) or ("inotify" if inotify.AVAILABLE else "native")
    if wanted not in KINDS or (wanted == "inotify" and not inotify.AVAILABLE):
        logger.warning("%s=%s is not available here: watching with native", WATCH_ENV, wanted)
        return "native"
    return wanted


class DirectoryWatch:
    """Watches one directory (not recursively) and tells listeners about its files."""

    def __init__(
        self, directory: str | os.PathLike[str], wants_writes: Callable[[], bool] = lambda: True
    ) -> None:
        self.directory = Path(directory)
        #: Asked on every :meth:`ensure`: whether modifications are wanted now, or only
        #: creations, deletions and renames.
        self.wants_writes = wants_writes
        self.kind = watch_kind()
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ensured = False  # ensure() has looked at the directory before
        self._source: inotify.InotifyWatch | ObserverWatch
        if self.kind == "inotify":
            self._source = inotify.InotifyWatch(self.directory, self._tell)
        else:
            self._source = ObserverWatch(self.directory, self._tell, self.kind)
        self._directory_listeners: dict[Path, DirectoryListener] = {}
        self._source.tell_extra = self._tell_directory

    @property
    def watching(self) -> bool:
        """Whether the directory is being watched right now."""
        return self._source.watching

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(filename, event_type)`` for every event on a file in the directory."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            self._listeners = [item for item in self._listeners if item is not listener]

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start reading events, for listeners on ``loop`` or on the watch's own thread.

        Without a loop, this also watches the directory if it exists. With one, call it from
        the loop's thread; the directory is watched from the next :meth:`ensure` (which
        blocks briefly, so belongs off the loop).
        """
        self._loop = loop
        if self._source.start(loop) and loop is None:
            self.ensure()

    def ensure(self) -> bool:
        """Re-arm the watch if the directory or the wish for writes changed; cheap otherwise.

        Blocks briefly (a stat and a system call): call it off the event loop.
        """
        before = self._source.inode
        changed = self._source.ensure(self.wants_writes())
        after = self._source.inode
        if self._ensured and after is not None and after != before:
            self._announce()  # created or replaced since: its files came unannounced
        self._ensured = True
        return changed

    def stop(self) -> None:
        """Stop watching; join the watch's threads (with a loop: call from the loop's thread)."""
        self._source.stop()
        self._loop, self._ensured = None, False

    # -- further directories: the same watch (one inotify descriptor, one observer) serves them

    @property
    def directories(self) -> set[Path]:
        """The further directories watched right now (one deleted is dropped by itself)."""
        return self._source.extras

    def add_directory(
        self, directory: str | os.PathLike[str], listener: DirectoryListener, *, writes: bool
    ) -> bool:
        """Watch one more directory with this watch; ``False`` if it cannot be (missing, a link).

        ``listener(directory, filename, event_type)`` hears of every name in it, directories
        included, where the watch's listeners hear theirs; writes only with ``writes``. Calling
        it again re-arms a directory replaced since, cheaply otherwise. Blocks briefly (a stat,
        a system call): call it off the event loop, after :meth:`start`.
        """
        path = Path(directory)
        if self._directory_listeners.get(path) != listener:  # copied on change only: a
            with self._lock:  # project re-arms its thousand directories every few seconds
                self._directory_listeners = {**self._directory_listeners, path: listener}
        return self._source.add_extra(path, writes)

    def remove_directory(self, directory: str | os.PathLike[str]) -> None:
        """Stop watching a directory given to :meth:`add_directory`."""
        path = Path(directory)
        self._source.remove_extra(path)
        with self._lock:
            listeners = self._directory_listeners
            self._directory_listeners = {k: v for k, v in listeners.items() if k != path}

    def _tell_directory(self, directory: Path, filename: str, event_type: str) -> None:
        listener = self._directory_listeners.get(directory)
        if listener is None:
            return
        try:
            listener(directory, filename, event_type)
        except Exception:  # one listener's bug must not stop the others
            logger.exception("directory watch listener failed")

    def _announce(self) -> None:
        """Tell each file in the directory as created, where the events are told."""
        try:
            with os.scandir(self.directory) as entries:
                names = [entry.name for entry in entries if not entry.is_dir(follow_symlinks=False)]
        except OSError:
            return
        loop = self._loop
        for name in names:
            if loop is None:
                self._tell(name, "created")
            else:
                with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens
                    loop.call_soon_threadsafe(self._tell, name, "created")

    def _tell(self, filename: str, event_type: str) -> None:
        for listener in self._listeners:
            try:
                listener(filename, event_type)
            except Exception:  # one listener's bug must not stop the others
                logger.exception("directory watch listener failed")
