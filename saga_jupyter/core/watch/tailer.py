"""Following one output file like ``tail -F``: every byte once, in order, as whole characters.

A :class:`Tailer` keeps the file open between reads and compares the open file's identity
(``st_dev``, ``st_ino``) with the path's, so a rotation or a delete-then-recreate is seen even
when the new file is already longer than the old one; while the old file is held open its inode
cannot be reused, which keeps that comparison sound. A truncation is seen when the file is
shorter than what was read. A file truncated and refilled past that point between two reads
cannot be told from one that grew (``tail -F`` shares this blind spot).

All I/O here may block, so the server calls it through ``asyncio.to_thread``, with one
exception made for an event loop: :meth:`Tailer.read_available` reads only bytes already in
memory (``RWF_NOWAIT``) and says so when it cannot.
"""

from __future__ import annotations

import codecs
import errno
import logging
import os
from types import TracebackType
from typing import NamedTuple

from .files import open_regular

logger = logging.getLogger(__name__)

READ_BYTES = 64 * 1024
# The longest UTF-8 character; the decoder holds back at most one byte less.
MAX_CHAR_BYTES = 4
CONTINUATION_BYTES = bytes(range(0x80, 0xC0))  # the 2nd to 4th bytes of a UTF-8 character
# A read that fails rather than wait for a disk (Linux 4.14+; not every filesystem has it).
NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)


class Chunk(NamedTuple):
    """Text read from a file.

    ``offset`` is the byte offset in the file just after the bytes ``data`` stands for: the
    bytes of a character not yet complete in the file are not counted, so a reader resuming at
    ``offset`` misses and repeats nothing. ``reset`` is true when the file was truncated or
    replaced and ``data`` starts again at byte 0. ``more`` is true when bytes already in the
    file (or in its replacement) are still unread: read again at once.
    """

    data: str
    offset: int
    reset: bool
    more: bool = False


class Tailer:
    """Follows one file from a byte offset; a missing file is waited for, never an error.

    Call :meth:`read` whenever the file may have changed, and again while ``chunk.more``::

        with Tailer(path, offset) as tailer:
            chunk = tailer.read()  # Chunk(data, offset, reset, more) or None
    """

    def __init__(self, path: str | os.PathLike[str], offset: int = 0) -> None:
        if offset < 0:
            raise ValueError(f"offset must not be negative: {offset}")
        self.path = os.fspath(path)
        #: Whether the last :meth:`read` left bytes already in the file unread (its ``more``).
        self.pending = False
        self._raw: bytes | None = None  # see take_raw
        self._position = offset  # bytes handed to the decoder
        self._decoder = utf8_decoder()
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._opened = False  # any later open is of a replacement: it restarts at byte 0
        self._closed = False
        self._open()

    @classmethod
    def from_tail(cls, path: str | os.PathLike[str], max_bytes: int) -> Tailer:
        """Follow ``path`` from the start of its last ``max_bytes`` (see :func:`initial_offset`)."""
        tailer = cls(path)
        if tailer._fd is not None:
            tailer._position = _window_start(tailer._fd, max_bytes)
        return tailer

    @property
    def offset(self) -> int:
        """The byte offset just after the text returned so far: where a reader would resume."""
        held, _ = self._decoder.getstate()
        return self._position - len(held)

    @property
    def missing(self) -> bool:
        """Whether there was no (regular) file at the path when last looked for."""
        return self._fd is None

    def read(self, max_bytes: int = READ_BYTES) -> Chunk | None:
        """The text written since the last read, standing for at most ``max_bytes`` bytes.

        Returns ``None`` when there is nothing new or no file (so nothing more is pending). A
        truncated or replaced file is read again from byte 0 with ``reset`` true, as an empty
        chunk if it holds nothing yet (so a reader can clear what it shows). The rest of a file
        renamed away or deleted is read before its replacement. ``max_bytes`` must be at least
        ``MAX_CHAR_BYTES``.
        """
        if self._closed:
            raise ValueError("read from a closed Tailer")
        if max_bytes < MAX_CHAR_BYTES:
            raise ValueError(f"max_bytes must be at least {MAX_CHAR_BYTES}: {max_bytes}")
        if self._fd is not None and not self._is_current():
            chunk = self._read(max_bytes, reset=False)
            if chunk is not None:
                self.pending = True  # the replacement, if any, comes next
                return chunk._replace(more=True)
            self._release()
        reset = False
        if self._fd is None:
            reopening = self._opened
            if not self._open():
                self.pending = False
                return None
            if reopening:
                reset = self._restart("replaced")
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size < self._position:
            reset = self._restart("truncated")
        return self._read(max_bytes, reset, size)

    def take_raw(self) -> bytes | None:
        """The bytes the last read's chunk stands for, once (not kept here afterwards).

        Only when its text is exactly their UTF-8 decoding (nothing replaced), else ``None``:
        a frame escapes these bytes for JSON rather than the text, which is faster.
        """
        raw, self._raw = self._raw, None
        return raw

    def catch_up(self, far_behind: int, window: int) -> int:
        """Skip to the file's last ``window`` bytes if more than ``far_behind`` wait; bytes skipped.

        For a reader that fell so far behind (a file copied in, a sparse file grown by
        gigabytes) that reading it all would cost more than anyone would look at. Lands where
        :meth:`from_tail` starts (cut at a line start), in the file open now; :attr:`offset`
        stays a true byte offset of it. Returns 0 (nothing moved) when not that far behind or
        no file is open. Present the skip with :func:`skip_notice`.
        """
        if self._closed:
            raise ValueError("read from a closed Tailer")
        if self._fd is None or os.fstat(self._fd).st_size - self.offset <= far_behind:
            return 0
        before = self.offset
        start = _window_start(self._fd, window)
        if start <= before:
            return 0
        self._position = start
        self._decoder = utf8_decoder()
        self.pending = True
        logger.info(
            "output file %s: %d bytes behind, skipping to its tail", self.path, start - before
        )
        return start - before

    def behind(self) -> int:
        """Bytes of the open file after :attr:`offset` (0 with none open), without waiting."""
        if self._fd is None:
            return 0
        return max(0, os.fstat(self._fd).st_size - self.offset)

    def read_available(self, buffer: bytearray) -> Chunk | None:
        """What :meth:`read` would return after a write, read without waiting for a disk.

        For an event loop. Reads into ``buffer`` (at most its size, held bytes included) only
        what is in memory, with ``RWF_NOWAIT``, and does not look at the path: call it when
        the file was written to, and :meth:`read` when it was created, renamed or deleted.
        Raises ``BlockingIOError`` when only :meth:`read` can tell: no file is open, the bytes
        are not in memory, the filesystem cannot read without waiting, or the file is now
        shorter than the position (truncated).
        """
        if self._closed:
            raise ValueError("read from a closed Tailer")
        if self._fd is None or NOWAIT is None:
            raise BlockingIOError(errno.EAGAIN, "no open file to read without waiting")
        held, _ = self._decoder.getstate()
        view = memoryview(buffer)[: len(buffer) - len(held)]
        try:
            count = os.preadv(self._fd, [view], self._position, NOWAIT)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EOPNOTSUPP):
                raise BlockingIOError(error.errno, error.strerror) from error
            raise
        more = count == len(view)  # a full buffer: more may follow
        if not more:  # at the end, or only part of the bytes asked for was in memory
            # A filesystem that reads without waiting keeps the inode in memory: fstat cannot
            # wait.
            size = os.fstat(self._fd).st_size
            if count == 0 and size < self._position:
                raise BlockingIOError(errno.EAGAIN, "truncated: read() starts it again")
            more = self._position + count < size
        # Bytes, not a view of the buffer: the decoder would copy a view, the frame needs bytes.
        return self._decode(bytes(view[:count]), pending=more, reset=False)

    @property
    def mark(self) -> tuple[object, ...]:
        """Where the next read starts: the file, the position, the bytes held.

        Two tailers with equal marks and their file open read the same text from the same file
        (while a tailer holds its file open, the inode cannot be reused), so one can
        :meth:`follow` the other.
        """
        held, _ = self._decoder.getstate()
        return (self._fd is not None, self._identity, self._position, held)

    def follow(self, leader: Tailer) -> bool:
        """Take what ``leader`` just read from this tailer's :attr:`mark` as read here too.

        For many readers of one file at one position: one read, one decode. ``False`` (nothing
        taken) when either has no file open (this one would open its file again and start it
        over) or the leader went on to another file meanwhile (a rotation): read then.
        """
        if self._fd is None or leader._fd is None or leader._identity != self._identity:
            return False
        self._position = leader._position
        self._decoder.setstate(leader._decoder.getstate())
        self.pending = leader.pending
        self._raw = None
        return True

    def close(self) -> None:
        """Release the file; reading afterwards raises ``ValueError``."""
        self._release()
        self._closed = True

    def __enter__(self) -> Tailer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _read(self, max_bytes: int, reset: bool, size: int | None = None) -> Chunk | None:
        assert self._fd is not None
        if size is None:
            size = os.fstat(self._fd).st_size
        held, _ = self._decoder.getstate()
        # Held bytes count towards max_bytes: the chunk stands for them too.
        count = min(max_bytes - len(held), size - self._position)
        data = os.pread(self._fd, count, self._position) if count > 0 else b""
        return self._decode(data, pending=self._position + len(data) < size, reset=reset)

    def _decode(self, data: bytes, pending: bool, reset: bool) -> Chunk | None:
        """Take ``data``, read at the position, as the next chunk (``None``: no text, no reset).

        Keeps the bytes the chunk stands for (:meth:`take_raw`) when its text is exact.
        """
        held, _ = self._decoder.getstate()
        self._position += len(data)
        self.pending = pending
        self._raw = None
        text = self._decoder.decode(data)
        if not text and not reset:
            return None
        if "\ufffd" not in text:  # no byte replaced: exact
            after, _ = self._decoder.getstate()
            raw = data[: len(data) - len(after)] if after else data
            self._raw = held + raw if held else raw
        return Chunk(text, self.offset, reset, pending)

    def _open(self) -> bool:
        try:
            fd, info = open_regular(self.path)
        except OSError:
            return False
        self._fd, self._identity, self._opened = fd, (info.st_dev, info.st_ino), True
        return True

    def _is_current(self) -> bool:
        try:
            info = os.lstat(self.path)  # a link put in the file's place is another file
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._identity

    def _restart(self, why: str) -> bool:
        logger.info("output file %s: %s, following it from byte 0", why, self.path)
        self._position = 0
        self._decoder = utf8_decoder()
        return True

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def skip_notice(skipped: int) -> str:
    """The line a reader shows where :meth:`Tailer.catch_up` skipped ``skipped`` bytes."""
    return f"[saga-jupyter: skipped {skipped:,} bytes, too far behind the output's end]\n"


def initial_offset(path: str | os.PathLike[str], max_bytes: int) -> int:
    """Where the last ``max_bytes`` of the file start, cut at a line start; 0 without a file.

    Reads only that window. It starts just after its first newline (a newline only at the
    file's very end does not count, so the window is never empty for that reason); a window
    without one starts at its first whole UTF-8 character instead.
    """
    try:
        fd, _ = open_regular(path)
    except OSError:
        return 0
    try:
        return _window_start(fd, max_bytes)
    finally:
        os.close(fd)


def read_range(path: str | os.PathLike[str], offset: int, length: int) -> tuple[bytes, int]:
    """Up to ``length`` bytes of the file from ``offset``, and the file's size.

    An ``offset`` past the end gives no bytes. Raises ``OSError`` (``FileNotFoundError``
    when there is no regular file: a link, a FIFO or a directory is none) and ``ValueError``
    for a negative offset or length.
    """
    if offset < 0 or length < 0:
        raise ValueError(f"offset and length must not be negative: {offset}, {length}")
    fd, info = open_regular(path)
    try:
        return os.pread(fd, max(0, min(length, info.st_size - offset)), offset), info.st_size
    finally:
        os.close(fd)


def _window_start(fd: int, max_bytes: int) -> int:
    if max_bytes < 0:
        raise ValueError(f"max_bytes must not be negative: {max_bytes}")
    size = os.fstat(fd).st_size
    if size <= max_bytes:
        return 0
    start = size - max_bytes
    # From the byte before the window (a newline there: it already starts a line) to the byte
    # before the last one.
    return start - 1 + window_cut(os.pread(fd, max_bytes, start - 1))


def window_cut(data: bytes) -> int:
    r"""Where the first whole line of a tail window starts, ``data`` read from the byte before it.

    As :meth:`Tailer.from_tail` cuts: just after the first newline, else (one long line) at
    the first whole character after that byte.

    >>> window_cut(b"ial\nnext"), window_cut(b"\nnext"), window_cut(b"xlong")
    (4, 1, 1)
    """
    newline = data.find(b"\n")
    return newline + 1 if newline >= 0 else 1 + line_start(data[1:])


def line_start(data: bytes) -> int:
    r"""Where the first whole line of ``data`` (read from mid-file) starts.

    Just after its first newline; in one long line, at its first whole character (past the
    continuation bytes, 0x80-0xBF, of a character cut at the start).

    >>> line_start(b"ial\nnext"), line_start("…x".encode()[1:])
    (4, 2)
    """
    newline = data.find(b"\n")
    if newline >= 0:
        return newline + 1
    lead = data[: MAX_CHAR_BYTES - 1]
    return len(lead) - len(lead.lstrip(CONTINUATION_BYTES))


def utf8_decoder() -> codecs.IncrementalDecoder:
    """A decoder that holds back a character's first bytes until the rest come."""
    return codecs.getincrementaldecoder("utf-8")(errors="replace")
