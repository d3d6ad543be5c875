"""Further directories of the directory watch beyond inotify, polled by one thread.

watchdog's observers take a thread and a kernel handle per directory (an inotify instance each,
an FSEvents stream, a polling thread), and a SAGA project has hundreds of directories worth
watching (each story's, each worktree's): 200 stories cost 0.4 of a core with its polling
observer. Here one thread looks at every directory every :data:`INTERVAL` seconds: the names in
it, and the inode, size and mtime of each file where writes are wanted. Cheap where nothing
changed (one ``scandir`` per directory, one ``stat`` per file), and bounded: a project's few
thousand files are a few milliseconds a look.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

INTERVAL = 0.5  # seconds between two looks: a change is told within this
JOIN_TIMEOUT = 5.0

Tell = Callable[[Path, str, str], None]
# What a look finds: each name, with (inode, size, mtime) where writes are wanted.
Snapshot = dict[str, tuple[int, int, int] | None]


class DirectoryPoller:
    """Polls directories on one thread; ``tell(directory, name, event_type)`` for each change."""

    def __init__(self, tell: Tell, interval: float = INTERVAL) -> None:
        self.tell = tell
        self.interval = interval
        self._lock = threading.Lock()
        # By directory: its inode, whether writes are wanted, and the last look's snapshot.
        self._directories: dict[Path, tuple[int, bool, Snapshot]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def directories(self) -> set[Path]:
        """The directories polled now."""
        return set(self._directories)

    def add(self, directory: Path, writes: bool) -> bool:
        """Poll ``directory`` (never through a link) from now on; ``False`` if it cannot be."""
        try:
            info = os.lstat(directory)
        except OSError:
            info = None
        held = self._directories.get(directory)
        if info is not None and held is not None and held[:2] == (info.st_ino, writes):
            return True
        if info is None or not stat.S_ISDIR(info.st_mode):
            self.remove(directory)
            return False
        snapshot = _snapshot(directory, writes)
        if snapshot is None:
            self.remove(directory)
            return False
        with self._lock:
            self._directories = {**self._directories, directory: (info.st_ino, writes, snapshot)}
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="saga-dirwatch-poll", daemon=True
                )
                self._thread.start()
        return True

    def remove(self, directory: Path) -> None:
        """Stop polling ``directory``."""
        with self._lock:
            if directory in self._directories:
                held = self._directories
                self._directories = {k: v for k, v in held.items() if k != directory}

    def stop(self) -> None:
        """Stop the thread and forget every directory."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._directories = {}
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for directory in list(self._directories):
                try:
                    self._look(directory)
                except Exception:  # one directory's trouble must not stop the others
                    logger.exception("polling %s failed", directory)

    def _look(self, directory: Path) -> None:
        held = self._directories.get(directory)
        if held is None:
            return
        inode, writes, before = held
        try:
            same = os.lstat(directory).st_ino == inode
        except OSError:
            same = False
        after = _snapshot(directory, writes) if same else None
        with self._lock:
            if self._directories.get(directory) is not held:
                return  # removed or re-added meanwhile
            if after is None:  # gone or replaced: as inotify drops its watch, it is dropped
                held_all = self._directories
                self._directories = {k: v for k, v in held_all.items() if k != directory}
            else:
                self._directories = {**self._directories, directory: (inode, writes, after)}
        if after is None:
            return
        for name in before.keys() - after.keys():
            self.tell(directory, name, "deleted")
        for name, fields in after.items():
            if name not in before:
                self.tell(directory, name, "created")
            elif fields != before[name]:
                self.tell(directory, name, "modified")


def _snapshot(directory: Path, writes: bool) -> Snapshot | None:
    """The names in ``directory``, with each file's fields if ``writes``; ``None`` if unlistable."""
    found: Snapshot = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                fields = None
                if writes:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # gone meanwhile
                    fields = (info.st_ino, info.st_size, info.st_mtime_ns)
                found[entry.name] = fields
    except OSError:
        return None
    return found
