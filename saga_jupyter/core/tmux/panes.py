"""Keeping what a worker's tmux pane shows, in ``<name>.pane``, after the pane has closed.

Today's SAGA writes a worker's fatal error only to its pane ("Error: No task files found in
..."), and the pane closes the moment the worker exits. :func:`keep_pane` copies the screen so
far into ``<output_dir>/<name>.pane`` and pipes the rest of the pane's output there, in one
tmux call; :func:`pane_summary` reads the last lines back: why a worker failed.

The pipe's writer (:mod:`.panewriter`) writes only into the file created here (never through
a link put in its place) and keeps its last :data:`KEEP_BYTES`: the file never holds more than
twice that. ``pipe-pane -o`` leaves a pipe someone else set alone, and the worker sees nothing
of any of it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shlex
import sys
import threading
from collections import deque
from pathlib import Path

from ..errors import TmuxUnavailable
from ..saga.names import pane_path
from ..text import plain_lines
from ..watch.files import CREATE_FLAGS, open_regular
from .client import Tmux, literal, target

logger = logging.getLogger(__name__)

KEEP_BYTES = 1 << 20  # a pane's last MiB is kept (at most 2 MiB on disk)
SUMMARY_BYTES = 64 * 1024  # the most read back for a summary
WRITER = str(Path(__file__).resolve().with_name("panewriter.py"))  # run as a script


def pipe_command(path: str | os.PathLike[str], inode: int, keep: int | None = None) -> str:
    """The ``pipe-pane`` command writing into ``path``, if still the file of ``inode``.

    Escaped for tmux (:func:`~.tmux.literal`), quoted for ``sh``; ``exec``: one process a pane.
    """
    words = [sys.executable, "-S", "-E", WRITER, "--inode", str(inode)]
    if keep is not None:
        words += ["--keep", str(keep)]
    words.append(os.path.abspath(path))
    return literal("exec " + shlex.join(words))


def keep_pane(tmux: Tmux, output_dir: str | Path, name: str) -> bool:
    """Keep ``name``'s pane in ``<name>.pane``: its screen so far, then all it shows.

    ``False`` when nothing was started: a ``.pane`` exists already (kept before), or the
    session is gone. Blocks on one tmux call; raises :class:`TmuxUnavailable` as it does.
    """
    path = pane_path(output_dir, name)
    try:
        fd = os.open(path, CREATE_FLAGS, 0o600)
    except FileExistsError:
        return False
    try:
        # Held until the screen so far is written: the writer waits for it, so that what the
        # pane shows next comes after it in the file.
        fcntl.flock(fd, fcntl.LOCK_EX)
        pane = f"{target(name)}:"
        command = pipe_command(path, os.fstat(fd).st_ino, KEEP_BYTES)
        try:
            result = tmux.run(
                "capture-pane", "-p", "-S", "-", "-t", pane,
                ";", "pipe-pane", "-o", "-t", pane, command,
            )  # fmt: skip
        except TmuxUnavailable:
            _remove(path, fd)
            raise
        if result.returncode != 0:  # the session is gone: nothing to keep
            _remove(path, fd)
            return False
        screen = result.stdout.encode("utf-8", "replace")[-KEEP_BYTES:]
        os.write(fd, screen)
        return True
    finally:
        os.close(fd)  # and the lock with it: the writer goes on


class PaneKeeper:
    """Keeps the pane of each session it is given, once, on a thread of its own.

    :meth:`keep` returns at once (the event loop may call it); the panes are kept one after
    the other, each with one tmux call. A session whose pane could not be kept because tmux
    failed (or its file could not be made) is forgotten, so that it is tried again when given
    again: the poller gives every running v4 session at each scan.
    """

    def __init__(self, tmux: Tmux, output_dir: str | Path) -> None:
        self.tmux = tmux
        self.output_dir = output_dir
        self.kept: set[str] = set()  # given, kept or being kept
        self._queue: deque[str] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.closed = False

    def keep(self, name: str) -> None:
        """Keep ``name``'s pane unless it was given before."""
        with self._lock:
            if name in self.kept or self.closed:
                return
            self.kept.add(name)
            self._queue.append(name)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="saga-panes", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Keep no more panes (those piped already go on being written by their writers)."""
        with self._lock:
            self.closed = True
            self._queue.clear()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None  # the next keep() starts another
                    return
                name = self._queue.popleft()
            try:
                if keep_pane(self.tmux, self.output_dir, name):
                    logger.info("keeping the pane of %s", name)
            except (TmuxUnavailable, OSError) as error:  # tmux failing, no directory yet
                logger.debug("pane of %s not kept yet: %s", name, error)
                with self._lock:
                    self.kept.discard(name)  # tried again when given again
            except Exception:  # one session's failure must not stop the others
                logger.exception("cannot keep the pane of %s", name)


def _remove(path: Path, fd: int) -> None:
    """Remove the file made for a pane not kept, if it is still that file."""
    try:
        if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
            path.unlink()
    except OSError:
        pass


def pane_summary(output_dir: str | Path, name: str, lines: int = 5) -> str | None:
    """The last ``lines`` non-empty lines the pane showed, as plain text; ``None`` if none."""
    try:
        fd, info = open_regular(pane_path(output_dir, name))
    except OSError:
        return None
    try:
        start = max(0, info.st_size - SUMMARY_BYTES)
        data = os.pread(fd, info.st_size - start, start)
    except OSError:
        return None
    finally:
        os.close(fd)
    text = data.decode("utf-8", "replace")
    if start:  # the first line read is the end of a longer one: drop it
        text = text.partition("\n")[2]
    shown = [line.rstrip() for line in plain_lines(text)]
    kept = [line for line in shown if line.strip()][-lines:]
    return "\n".join(kept) if kept else None
