"""The reading of every today's (v4) worker's ``.jsonl``: each file read only where it grew.

One :class:`~.messages.MessageReader` a session, fed the bytes appended since the last look;
an ended session's reader told how it ended (:meth:`MessageFiles.ended`).
"""

from __future__ import annotations

import os

from ..watch.files import open_regular, read_pieces
from .messages import MessageReader
from .worker import WorkerReading

READ_CHUNK = 1 << 20  # bytes read from a file at a time
READ_BUDGET = 64 << 20  # bytes one look at a file reads at most: the rest at the next look


class MessageFiles:
    """The reading of every v4 worker's ``.jsonl``, each read only where it grew since last time.

    The twin of :class:`~..worker.WorkerFiles`. Cost, turns and tasks are sums over the whole
    file, so a file seen for the first time (or replaced, or truncated) is read from its start,
    streamed through its reader :data:`READ_CHUNK` bytes at a time (never more held than that
    and one line); one look reads at most ``budget`` bytes, the next goes on from there.
    """

    def __init__(self, budget: int = READ_BUDGET) -> None:
        self.budget = budget
        self._files: dict[str, tuple[int, int, MessageReader]] = {}
        self._ends: dict[str, tuple[bool, str | None]] = {}

    def read(self, name: str, path: str, size: int, inode: int) -> WorkerReading | None:
        """The reading of session ``name``'s messages file, now ``size`` bytes long."""
        known = self._files.get(name)
        if known is None or known[1] != inode or size < known[0]:
            position, reader = 0, self._reader(name)
        else:
            position, _, reader = known
        try:
            fd, _ = open_regular(path)
        except OSError:
            self._files.pop(name, None)
            return None
        try:  # a file truncated meanwhile: the next look starts it again
            for data in read_pieces(fd, position, min(size, position + self.budget), READ_CHUNK):
                reader.feed(data)
                position += len(data)
        finally:
            os.close(fd)
        self._files[name] = (position, inode, reader)
        return reader.reading

    def ended(
        self, name: str, *, stopped: bool = False, pane_summary: str | None = None
    ) -> WorkerReading:
        """Say that ``name``'s tmux session is gone (see :meth:`MessageReader.ended`)."""
        self._ends[name] = (stopped, pane_summary)
        known = self._files.get(name)
        reader = known[2] if known is not None else self._reader(name)
        if known is None:
            self._files[name] = (0, -1, reader)  # read from the start once a file is seen
        reader.ended(stopped, pane_summary)
        reading = reader.reading
        assert reading is not None  # an ended worker always has a reading
        return reading

    def revived(self, name: str) -> bool:
        """Say that ``name``'s tmux session is there (again); whether an end was taken back.

        Its file seen before its session (written first, or the session slow to show) was
        told ended then.
        """
        if self._ends.pop(name, None) is None:
            return False
        known = self._files.get(name)
        if known is not None:
            known[2].revived()
        return True

    def preview(self, name: str) -> str | None:
        """The ``outputPreview`` of session ``name``'s messages read so far."""
        known = self._files.get(name)
        return known[2].recent.preview() if known is not None else None

    def forget(self, name: str) -> None:
        """Drop what is known of a session's file."""
        self._files.pop(name, None)
        self._ends.pop(name, None)

    def _reader(self, name: str) -> MessageReader:
        reader = MessageReader()
        end = self._ends.get(name)
        if end is not None:
            reader.ended(*end)
        return reader
