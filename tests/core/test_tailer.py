from __future__ import annotations

import errno
import itertools
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from saga_jupyter.core.watch.tailer import Chunk, Tailer, initial_offset, read_range
from tests.helpers import read_bytes_of_this_process, reads_without_waiting

LINES = ["✻ Thinking…", "⏺ Bash(ls -la)", "│ café au lait", "😀 done", "plain", "é", ""]
VALID = "".join(line + "\n" for line in LINES).encode() + "tail é😀 no newline".encode()
INVALID = (
    b"ok \xff\xfe then \xe2\x9c end \xf0\x9f\x98 \xc3\n\xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf x"
)


def read_all(
    tailer: Tailer, max_bytes: int = 65536, read: Callable[[], Chunk | None] | None = None
) -> list[Chunk]:
    """Every chunk available now: what a caller gets by reading while ``chunk.more``.

    ``read`` reads once (default: ``tailer.read(max_bytes)``).
    """
    chunks: list[Chunk] = []
    for _ in range(100_000):
        chunk = read() if read is not None else tailer.read(max_bytes)
        if chunk is None:
            assert not tailer.pending
            return chunks
        assert chunk.more == tailer.pending
        chunks.append(chunk)
        if not chunk.more:
            return chunks
    raise AssertionError("the tailer never stopped being pending")


def text_of(chunks: list[Chunk]) -> str:
    return "".join(chunk.data for chunk in chunks)


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as file:
        file.write(data)


def check_offsets(path: Path, chunks: list[Chunk], start: int = 0) -> None:
    """Each chunk's offset is just after exactly the bytes the text so far stands for."""
    content = path.read_bytes()
    text = ""
    for chunk in chunks:
        text += chunk.data
        assert content[start : chunk.offset].decode("utf-8", "replace") == text


def test_invalid_bytes_become_one_replacement_each_keeping_the_text_after_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.out"
    path.write_bytes(b"a\xffb\xe2\x9cc\xfe\xfe")
    assert text_of(read_all(Tailer(path))) == "a\ufffdb\ufffdc\ufffd\ufffd"


@pytest.mark.parametrize("content", [VALID, INVALID], ids=["valid", "invalid"])
def test_a_write_split_at_every_byte_reads_back_exactly(tmp_path: Path, content: bytes) -> None:
    expected = content.decode("utf-8", "replace")
    for split in range(len(content) + 1):
        path = tmp_path / f"{split}.out"
        path.write_bytes(content[:split])
        tailer = Tailer(path)
        chunks = read_all(tailer)
        append(path, content[split:])
        chunks += read_all(tailer)
        assert text_of(chunks) == expected, f"split at byte {split}"
        assert not any(chunk.reset for chunk in chunks)
        check_offsets(path, chunks)
        assert chunks[-1].offset == len(content)
        tailer.close()


def test_a_character_still_incomplete_is_held_back_and_not_counted(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    star = "✻".encode()
    path.write_bytes(b"abc" + star[:2])
    tailer = Tailer(path)
    assert tailer.read() == Chunk("abc", 3, False)
    assert tailer.offset == 3
    assert tailer.read() is None
    append(path, star[2:])
    assert tailer.read() == Chunk("✻", 6, False)
    assert tailer.read() is None


def test_a_burst_of_a_thousand_small_writes_without_trailing_newline(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    content = b"".join(rng.choice(LINES).encode() + b"\n" for _ in range(3000)) + VALID
    assert not content.endswith(b"\n")
    cuts = sorted(rng.sample(range(1, len(content)), 999))
    pieces = [content[a:b] for a, b in itertools.pairwise([0, *cuts, len(content)])]
    path = tmp_path / "x.out"
    path.touch()
    tailer = Tailer(path)
    chunks: list[Chunk] = []
    for piece in pieces:
        append(path, piece)
        if rng.random() < 0.3:
            chunks += read_all(tailer, max_bytes=rng.randint(4, 64))
    chunks += read_all(tailer)
    assert text_of(chunks) == content.decode()
    check_offsets(path, chunks)
    assert chunks[-1].offset == len(content)
    assert tailer.read() is None


def test_resuming_at_any_chunk_offset_gives_exactly_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    content = VALID * 5 + INVALID
    path.write_bytes(content)
    chunks = read_all(Tailer(path), max_bytes=7)
    full = content.decode("utf-8", "replace")
    assert text_of(chunks) == full
    for index, chunk in enumerate(chunks):
        rest = text_of(read_all(Tailer(path, chunk.offset)))
        assert text_of(chunks[: index + 1]) + rest == full


@pytest.mark.parametrize("max_bytes", [4, 5, 7, 100, 4096])
def test_a_read_stands_for_at_most_max_bytes(tmp_path: Path, max_bytes: int) -> None:
    path = tmp_path / "x.out"
    content = VALID * 200
    path.write_bytes(content)
    tailer = Tailer(path)
    chunks, offset = [], 0
    while True:
        chunk = tailer.read(max_bytes)
        assert chunk is not None
        assert chunk.offset - offset <= max_bytes
        assert len(chunk.data.encode()) == chunk.offset - offset
        chunks.append(chunk)
        offset = chunk.offset
        if not chunk.more:
            break
    assert len(chunks) >= len(content) // max_bytes
    assert text_of(chunks) == content.decode()
    with pytest.raises(ValueError, match="max_bytes"):
        tailer.read(3)


def test_copytruncate_restarts_at_byte_zero(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_bytes(b"old line one\nold line two\n")
    tailer = Tailer(path)
    assert text_of(read_all(tailer)) == "old line one\nold line two\n"
    shutil.copy(path, tmp_path / "x.out.1")
    with path.open("r+b") as file:
        file.truncate(0)
    assert tailer.read() == Chunk("", 0, True)
    assert tailer.read() is None
    append(path, "new ⏺\n".encode())
    assert tailer.read() == Chunk("new ⏺\n", 8, False)
    with path.open("r+b") as file:
        file.truncate(0)
    append(path, b"again\n")
    assert tailer.read() == Chunk("again\n", 6, True)


def test_a_half_read_character_is_dropped_by_a_truncation(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_bytes(b"abcdef" + "😀".encode()[:3])
    tailer = Tailer(path)
    assert tailer.read() == Chunk("abcdef", 6, False)
    path.write_bytes(b"xy")  # open(..., "wb") truncates the same file
    assert tailer.read() == Chunk("xy", 2, True)


def test_rotation_reads_the_old_files_rest_then_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_bytes(b"old 1\n")
    tailer = Tailer(path)
    assert tailer.read() == Chunk("old 1\n", 6, False)
    append(path, b"old 2\n")
    os.rename(path, tmp_path / "x.out.1")
    path.write_bytes(b"a new file, longer than the old one\n")
    assert read_all(tailer) == [
        Chunk("old 2\n", 12, False, more=True),
        Chunk("a new file, longer than the old one\n", 36, True),
    ]
    append(path, b"more\n")
    assert tailer.read() == Chunk("more\n", 41, False)


def test_delete_then_recreate_restarts_even_when_the_new_file_is_longer(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_bytes(b"short\n")
    tailer = Tailer(path)
    assert tailer.read() == Chunk("short\n", 6, False)
    path.unlink()
    path.write_bytes(b"recreated and longer\n")
    assert read_all(tailer) == [Chunk("recreated and longer\n", 21, True)]


def test_a_deleted_file_is_waited_for_and_picked_up_when_recreated(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_bytes(b"one\n")
    tailer = Tailer(path)
    assert tailer.read() == Chunk("one\n", 4, False)
    append(path, b"two\n")
    path.unlink()
    assert tailer.read() == Chunk("two\n", 8, False, more=True)  # written before the delete
    assert tailer.read() is None
    assert tailer.missing
    assert tailer.read() is None
    assert not tailer.pending
    path.write_bytes(b"three\n")
    assert tailer.read() == Chunk("three\n", 6, True)
    assert not tailer.missing


def test_a_file_missing_at_first_is_read_from_its_start_once_created(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    tailer = Tailer(path)
    assert tailer.missing
    assert tailer.read() is None
    path.write_bytes("hello ✻\n".encode())
    assert tailer.read() == Chunk("hello ✻\n", 10, False)


def test_resuming_past_the_end_of_a_shorter_file_restarts(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_bytes(b"0123456789")
    assert Tailer(path, offset=100).read() == Chunk("0123456789", 10, True)
    assert Tailer(path, offset=10).read() is None
    with pytest.raises(ValueError, match="offset"):
        Tailer(path, offset=-1)


def test_paths_that_are_not_regular_files_count_as_missing(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.out"
    os.mkfifo(fifo)  # opening it blocking would hang until a writer came
    for path in (tmp_path, fifo):
        tailer = Tailer(path)
        assert tailer.missing
        assert tailer.read() is None
        assert initial_offset(path, 10) == 0


def test_close_releases_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_bytes(b"x\n")
    before = len(os.listdir("/proc/self/fd"))
    with Tailer(path) as tailer:
        assert len(os.listdir("/proc/self/fd")) == before + 1
        tailer.read()
        assert len(os.listdir("/proc/self/fd")) == before + 1  # kept open between reads
    assert len(os.listdir("/proc/self/fd")) == before
    tailer.close()
    with pytest.raises(ValueError, match="closed"):
        tailer.read()


def test_the_initial_window_of_a_100_mib_file_reads_only_the_window(tmp_path: Path) -> None:
    path = tmp_path / "big.out"
    size, max_bytes = 100 << 20, 262144
    tail = b"".join(f"line {i} ⏺ {'x' * (i % 97)}\n".encode() for i in range(20000))
    with path.open("wb") as file:
        file.truncate(size - len(tail))  # sparse: real lines only where the window looks
        file.seek(size - len(tail))
        file.write(tail)
    reads = [read_bytes_of_this_process()]
    start = initial_offset(path, max_bytes)
    reads.append(read_bytes_of_this_process())
    tailer = Tailer.from_tail(path, max_bytes)
    reads.append(read_bytes_of_this_process())
    chunk = tailer.read(max_bytes)
    reads.append(read_bytes_of_this_process())
    # Each step reads the window once (plus the few bytes of /proc/self/io itself).
    for before, after in itertools.pairwise(reads):
        assert after - before < max_bytes + 1024, f"read {after - before} bytes of 100 MiB"
    assert size - max_bytes < start < size - max_bytes + 200
    with path.open("rb") as file:
        file.seek(start - 1)
        window = file.read()
    assert window[:1] == b"\n"
    assert chunk == Chunk(window[1:].decode(), size, False)
    assert chunk.data.startswith("line ")
    assert not tailer.pending


def test_the_initial_window_edge_cases(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    assert initial_offset(path, 100) == 0  # no file
    path.write_bytes(b"ab\ncd\n")
    assert initial_offset(path, 6) == 0  # the whole file fits
    assert initial_offset(path, 3) == 3  # already at a line start
    assert initial_offset(path, 5) == 3
    assert initial_offset(path, 0) == 6
    path.write_bytes(b"x" * 1000 + b"\n")
    assert initial_offset(path, 100) == 901  # a final newline alone does not empty the window
    path.write_bytes("é😀✻".encode() * 300)  # one long line: start at a whole character
    size = path.stat().st_size
    for max_bytes in range(100, 110):
        start = initial_offset(path, max_bytes)
        assert size - max_bytes <= start <= size - max_bytes + 3
        path.read_bytes()[start:].decode("utf-8")  # strict: no character was cut


def test_read_range(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_bytes(b"0123456789")
    assert read_range(path, 0, 4) == (b"0123", 10)
    assert read_range(path, 6, 100) == (b"6789", 10)
    assert read_range(path, 20, 5) == (b"", 10)
    with pytest.raises(ValueError):
        read_range(path, -1, 5)
    with pytest.raises(FileNotFoundError):
        read_range(tmp_path / "missing.out", 0, 5)
    # Neither a FIFO (whose open would block for a writer) nor a directory is an output file.
    os.mkfifo(tmp_path / "fifo.out")
    (tmp_path / "dir.out").mkdir()
    for odd in ("fifo.out", "dir.out"):
        with pytest.raises(FileNotFoundError, match="not a regular file"):
            read_range(tmp_path / odd, 0, 5)


def read_available_all(tailer: Tailer, buffer: bytearray) -> list[Chunk]:
    """Every chunk :meth:`Tailer.read_available` gives now, read while ``more``."""
    chunks = read_all(tailer, read=lambda: tailer.read_available(buffer))
    assert not any(chunk.reset for chunk in chunks)
    return chunks


def skip_unless_reads_without_waiting(directory: Path) -> None:
    if not reads_without_waiting(directory):
        pytest.skip(f"the filesystem of {directory} cannot read without waiting (RWF_NOWAIT)")


@pytest.mark.parametrize("content", [VALID, INVALID], ids=["valid", "invalid"])
def test_read_available_after_each_write_reads_back_exactly(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "a.out"
    path.write_bytes(b"")
    with Tailer(path) as tailer:
        skip_unless_reads_without_waiting(tmp_path)
        chunks: list[Chunk] = []
        for byte in range(len(content)):  # every character split at every byte
            append(path, content[byte : byte + 1])
            chunks += read_available_all(tailer, bytearray(5))  # 5: chunks of a byte or two
        assert tailer.read_available(bytearray(5)) is None  # nothing new
    assert text_of(chunks) == content.decode("utf-8", "replace")
    check_offsets(path, chunks)


def test_read_available_after_a_part_in_memory_says_more_follows(tmp_path: Path) -> None:
    # Only the bytes in memory are read: the rest, on disk, is still to read (a catch-up reads
    # on while ``more``; had this said the end, it would have stopped there).
    path, half = tmp_path / "a.out", 2 << 20
    path.write_bytes(b"a" * half + b"b" * half)
    with path.open("rb+") as file:
        os.fsync(file.fileno())
        os.posix_fadvise(file.fileno(), half, 0, os.POSIX_FADV_DONTNEED)  # the second half
    with Tailer(path) as tailer:
        skip_unless_reads_without_waiting(tmp_path)
        chunk = tailer.read_available(bytearray(2 * half))
        if chunk is None or chunk.offset != half:
            pytest.skip(f"the kernel kept other pages in memory: read {chunk and chunk.offset}")
        assert chunk == Chunk("a" * half, half, reset=False, more=True)
        assert text_of(read_all(tailer)) == "b" * half


def test_read_available_leaves_to_read_what_it_cannot_tell(tmp_path: Path) -> None:
    path = tmp_path / "a.out"
    path.write_bytes(b"first line\n")
    with Tailer(path) as tailer:
        skip_unless_reads_without_waiting(tmp_path)
        assert text_of(read_available_all(tailer, bytearray(64))) == "first line\n"

        # Bytes that are only on disk: the read would wait.
        append(path, b"on disk\n")
        with path.open("rb+") as file:
            os.fsync(file.fileno())
            os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        with pytest.raises(BlockingIOError):
            tailer.read_available(bytearray(64))
        assert text_of(read_all(tailer)) == "on disk\n"

        # A truncation: only read() restarts the file.
        path.write_bytes(b"new\n")
        with pytest.raises(BlockingIOError):
            tailer.read_available(bytearray(64))
        assert read_all(tailer) == [Chunk("new\n", 4, reset=True)]

    missing = Tailer(tmp_path / "missing.out")
    with pytest.raises(BlockingIOError):
        missing.read_available(bytearray(64))
    missing.close()
    with pytest.raises(ValueError, match="closed"):
        missing.read_available(bytearray(64))


def test_read_available_never_waits_on_a_filesystem_that_cannot_say(tmpfs_dir: Path) -> None:
    path = tmpfs_dir / "a.out"  # tmpfs: no RWF_NOWAIT before Linux 6.6 or so
    path.write_bytes(b"x\n")
    with Tailer(path) as tailer:
        try:
            chunk = tailer.read_available(bytearray(64))
        except BlockingIOError as error:
            assert error.errno == errno.EOPNOTSUPP
            assert text_of(read_all(tailer)) == "x\n"  # read() has it all
        else:
            assert chunk == Chunk("x\n", 2, reset=False)


def test_catch_up_skips_a_sparse_gigabyte_reading_only_the_window(tmp_path: Path) -> None:
    path = tmp_path / "sparse.out"
    path.write_bytes(b"start\n")
    with Tailer(path) as tailer:
        assert tailer.read() == Chunk("start\n", 6, False)
        os.truncate(path, 1 << 30)
        with path.open("ab") as file:
            file.write(b"\nlast line \xe2\x9c\xbb\n")
        size = path.stat().st_size
        assert tailer.catch_up(size - 6, 4096) == 0  # not further behind than that: stays
        before = read_bytes_of_this_process()
        skipped = tailer.catch_up(64 << 20, 4096)
        read = read_bytes_of_this_process() - before
        assert read < 4096 + 1024, f"read {read} bytes to skip"
        assert skipped == (1 << 30) + 1 - 6 and tailer.offset == (1 << 30) + 1
        assert tailer.read() == Chunk("last line ✻\n", size, False)
        assert tailer.catch_up(0, 4096) == 0  # at the end: nothing to skip


def test_raw_is_the_bytes_each_chunk_stands_for_when_nothing_was_replaced(tmp_path: Path) -> None:
    # A frame escapes these bytes rather than the text: they must decode to it exactly,
    # a character split across reads included, and be None once a byte was replaced.
    path = tmp_path / "x.out"
    path.write_bytes(VALID)
    tailer = Tailer(path)
    raws = []

    def read() -> Chunk | None:
        chunk = tailer.read(5)
        raw = tailer.take_raw()
        assert chunk is not None and raw is not None and raw.decode() == chunk.data
        assert tailer.take_raw() is None  # once: an idle tailer holds no bytes
        raws.append(raw)
        return chunk

    read_all(tailer, read=read)
    assert b"".join(raws) == VALID[: tailer.offset]
    append(path, INVALID)
    chunks = read_all(tailer)
    assert "\ufffd" in chunks[-1].data and tailer.take_raw() is None
