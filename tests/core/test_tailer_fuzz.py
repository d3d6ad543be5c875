"""The tailer against a model: random writes, truncations, rotations and deletes of a real file.

A reader that appends each chunk's text to what it holds (starting again on ``reset``) must hold
exactly the decoded bytes of the file the tailer follows, up to the chunk's ``offset``; and once
nothing is pending, all of the file at the path but a character still incomplete at its end.

The tailer cannot tell a file truncated and refilled past its position between two reads from
one that grew (its module says so), so a truncation here is read at once, before any write.
"""

from __future__ import annotations

import codecs
import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from saga_jupyter.core.watch.tailer import Chunk, Tailer
from tests.helpers import reads_without_waiting

# Whole characters, characters cut in two (their ends come in other writes), and invalid bytes.
PIECES = [
    b"a", b"line\n", b"\n", b"\r", "é".encode(), "✻".encode(), "😀".encode(),
    b"\xc3", b"\xe2\x9c", b"\xf0\x9f", b"\xf0\x9f\x98", b"\xa9", b"\x9c\xbb", b"\x98\x80", b"\x80",
    b"\xff", b"\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
]  # fmt: skip
writes = st.lists(st.sampled_from(PIECES) | st.binary(max_size=5), max_size=8).map(b"".join)
sizes = st.sampled_from([4, 5, 6, 7, 9, 16, 64 * 1024])


def decoded(data: bytes | bytearray) -> str:
    """What a reader has been given of ``data``: all but an incomplete last character."""
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(bytes(data))


class File:
    """The bytes of one file, wherever it now is (at the path, renamed away, deleted)."""

    def __init__(self, content: bytes = b"") -> None:
        self.content = bytearray(content)


class TailerMachine(RuleBasedStateMachine):
    """One file path, written to, truncated, rotated and deleted; one tailer following it."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="saga-tailer-fuzz-"))
        self.path = self.directory / "x.out"
        self.rotated_path = self.directory / "x.out.1"
        self.nowait = reads_without_waiting(self.directory)
        self.current: File | None = None  # the file at the path
        self.rotated: File | None = None  # the file at x.out.1
        self.reading: File | None = None  # the file the reader's text comes from
        self.text = ""
        self.offset = 0
        # Bytes of `reading` the tailer has taken (a character still incomplete included):
        # known once nothing is pending, else between offset and offset + 3.
        self.taken: int | None = 0
        self.released = False  # the tailer let go of `reading` (deleted) and has no file
        self.tailer: Tailer

    # -- the file

    @initialize(content=st.none() | writes)
    def start(self, content: bytes | None) -> None:
        if content is not None:
            self._create(content)
        self.tailer = Tailer(self.path)
        self.reading = self.current

    @precondition(lambda self: self.current is not None)
    @rule(data=writes)
    def append(self, data: bytes) -> None:
        assert self.current is not None
        with self.path.open("ab") as file:
            file.write(data)
        self.current.content += data

    @precondition(lambda self: self.rotated is not None)
    @rule(data=writes)
    def append_to_the_rotated_file(self, data: bytes) -> None:
        """A writer still holding the old file keeps writing to it for a moment."""
        assert self.rotated is not None
        with self.rotated_path.open("ab") as file:
            file.write(data)
        self.rotated.content += data

    @precondition(lambda self: self.current is None)
    @rule(content=writes)
    def create(self, content: bytes) -> None:
        self._create(content)

    @precondition(lambda self: self.current is not None)
    @rule(content=writes)
    def rotate(self, content: bytes) -> None:
        os.rename(self.path, self.rotated_path)
        self.rotated, self.current = self.current, None
        self._create(content)

    @precondition(lambda self: self.current is not None)
    @rule()
    def delete(self) -> None:
        self.path.unlink()
        self.current = None

    @precondition(lambda self: self.current is not None)
    @rule(data=st.data(), size=sizes, available=st.booleans())
    def truncate_then_read(self, data: st.DataObject, size: int, available: bool) -> None:
        assert self.current is not None
        length = data.draw(st.integers(0, len(self.current.content)), label="truncate to")
        with self.path.open("r+b") as file:
            file.truncate(length)
        del self.current.content[length:]
        if self.reading is not self.current:
            self._drain(size, available)  # the tailer is on another file: the replacement resets
            return
        # Whether the cut went into what the tailer took (None: cannot say, a character's width).
        below: bool | None = None
        if self.taken is not None:
            below = length < self.taken
        elif length < self.offset or length >= self.offset + 3:
            below = length < self.offset
        if available and self.nowait and below:
            # An event loop reads on a write: it must be told that only read() can go on.
            with pytest.raises(BlockingIOError):
                self.tailer.read_available(bytearray(size))
        resets = self._drain(size, available)
        if below is not None:
            assert resets == int(below), f"{resets} resets after truncating to {length}"

    # -- the reader

    @rule(size=sizes, available=st.booleans())
    def read_all(self, size: int, available: bool) -> None:
        self._drain(size, available)

    @rule(size=sizes, available=st.booleans())
    def read_once(self, size: int, available: bool) -> None:
        if available and self.nowait:
            try:
                chunk = self.tailer.read_available(bytearray(size))
            except BlockingIOError as error:
                assert error.errno in (errno.EAGAIN, errno.EOPNOTSUPP)
                return
        else:
            chunk = self._read(size)
        self._take(chunk, size, available)
        if self.tailer.missing:
            self._let_go()
        elif self.reading is not None:
            # Nothing pending: the tailer took all of its file.
            self.taken = None if self.tailer.pending else len(self.reading.content)

    @invariant()
    def offsets_agree(self) -> None:
        if hasattr(self, "tailer"):
            assert self.tailer.offset == self.offset

    def teardown(self) -> None:
        if hasattr(self, "tailer"):
            self.tailer.close()
        shutil.rmtree(self.directory)

    # -- helpers

    def _create(self, content: bytes) -> None:
        self.path.write_bytes(content)
        self.current = File(content)

    def _read(self, size: int) -> Chunk | None:
        # A tailer that never had a file opens the one at the path, without a reset.
        if self.reading is None:
            self.reading = self.current
        return self.tailer.read(size)

    def _drain(self, size: int, available: bool) -> int:
        """Read until nothing is pending; check the reader holds the file; count resets.

        With ``available``, :meth:`Tailer.read_available` first (it reads the open file only),
        then :meth:`Tailer.read`, as the server does when the path itself may have changed.
        """
        resets = 0
        for use_available in (True, False) if available and self.nowait else (False,):
            for _ in range(100_000):
                if use_available:
                    try:
                        chunk = self.tailer.read_available(bytearray(size))
                    except BlockingIOError as error:
                        assert error.errno in (errno.EAGAIN, errno.EOPNOTSUPP)
                        break  # only read() can tell (e.g. a truncation)
                else:
                    chunk = self._read(size)
                resets += self._take(chunk, size, use_available)
                if chunk is None or not chunk.more:
                    break
            else:
                raise AssertionError("the tailer never stopped being pending")
        assert not self.tailer.pending
        if self.current is not None:
            assert self.reading is self.current, "the replacement was not picked up"
            self._check_all_read()
        else:
            assert self.tailer.missing
            self._let_go()
        return resets

    def _check_all_read(self) -> None:
        if self.reading is not None:
            assert self.text == decoded(self.reading.content), "bytes left unread"
            self.taken = len(self.reading.content)

    def _let_go(self) -> None:
        """The tailer let go of its deleted file: it read all of it first, and no more later."""
        if not self.released:
            self._check_all_read()
            self.released = True

    def _take(self, chunk: Chunk | None, size: int, available: bool) -> int:
        """Hand a chunk to the reader and check what it holds; 1 for a reset, else 0."""
        if chunk is None:
            assert not self.tailer.pending
            return 0
        assert chunk.more == self.tailer.pending
        before = self.offset
        if chunk.reset:
            assert not available, "read_available never restarts a file"
            # Unknown, what the tailer took is at most a character (3 bytes) past the offset.
            taken = self.offset + 3 if self.taken is None else self.taken
            replaced = self.reading is not self.current
            truncated = self.reading is not None and len(self.reading.content) < taken
            assert replaced or truncated, "a reset without a truncation or a replacement"
            self.reading, self.text, before = self.current, "", 0
            self.released = False
        assert self.reading is not None
        self.text += chunk.data
        self.offset = chunk.offset
        assert 0 <= chunk.offset - before <= size
        assert self.reading.content[: chunk.offset].decode("utf-8", "replace") == self.text
        return int(chunk.reset)


TailerMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_tailer_delivers_what_the_model_holds = TailerMachine.TestCase
