from __future__ import annotations

import time
from pathlib import Path

from saga_jupyter.core.preview import PREVIEW_CHARS, read_preview
from saga_jupyter.core.text import plain_lines, resolve_carriage_returns, strip_ansi
from tests.helpers import read_bytes_of_this_process


def test_preview_is_the_last_five_non_empty_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_text("".join(f"line {i}\n\n   \n" for i in range(20)))
    assert read_preview(path) == "\n".join(f"line {i}" for i in range(15, 20))


def test_preview_strips_ansi_and_resolves_carriage_returns(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_bytes(
        b"\x1b[1;32m\xe2\x9c\xbb Thinking\xe2\x80\xa6\x1b[0m\n"
        b"\x1b]0;title\x07[##      ] 20%\r[####    ] 50%\r[########] 100%\r\n"
        b"\x1b[2K\x1b[1Gdone \xe2\x8f\xba\n"
    )
    assert read_preview(path) == "✻ Thinking…\n[########] 100%\ndone ⏺"


def test_preview_of_a_progress_line_erased_and_rewritten(tmp_path: Path) -> None:
    # "\r ESC[2K": back to column 0, clear the line, write the new state (npm, pip, cargo).
    path = tmp_path / "x.out"
    path.write_text("Downloading 100% of big-file.tar.gz\r\x1b[2Kdone\nbuild 40%\r\x1b[Kok\n")
    assert read_preview(path) == "done\nok"


def test_preview_is_at_most_500_characters_keeping_the_end(tmp_path: Path) -> None:
    path = tmp_path / "x.out"
    path.write_text("a" * 300 + "\n" + "b" * 300 + "\n" + "c" * 300 + "\n")
    preview = read_preview(path)
    assert preview is not None
    assert len(preview) == PREVIEW_CHARS
    assert preview.endswith("c" * 300)


def test_no_preview_without_a_file_or_text(tmp_path: Path) -> None:
    assert read_preview(tmp_path / "missing.out") is None
    empty = tmp_path / "empty.out"
    empty.write_bytes(b"\n\n\x1b[0m\n")
    assert read_preview(empty) is None


def test_preview_of_a_1_gib_file_reads_only_its_tail(tmp_path: Path) -> None:
    path = tmp_path / "big.out"
    with path.open("wb") as file:
        file.truncate(1 << 30)  # sparse: 1 GiB of NUL bytes
        file.seek(1 << 30)
        file.write(b"".join(b"tail line %d\n" % i for i in range(10)))
    before = read_bytes_of_this_process()
    started = time.perf_counter()
    preview = read_preview(path)
    elapsed = time.perf_counter() - started
    read = read_bytes_of_this_process() - before
    assert preview == "\n".join(f"tail line {i}" for i in range(5, 10))
    assert read < 100_000, f"read {read} bytes of a 1 GiB file"
    assert elapsed < 0.5  # milliseconds in practice; generous for a loaded CI machine


def test_preview_of_a_file_of_blank_lines_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "blank.out"
    path.write_bytes(b"only line\n" + b"\n" * (10 << 20))
    before = read_bytes_of_this_process()
    assert read_preview(path) is None
    assert read_bytes_of_this_process() - before < 200_000


def test_text_helpers() -> None:
    assert strip_ansi("\x1b[31mred\x1b[0m \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == "red link"
    assert resolve_carriage_returns("abcdef\rXY") == "XYcdef"
    assert resolve_carriage_returns("done\r") == "done"
    assert plain_lines("a\r\nb\x07\n") == ["a", "b", ""]
