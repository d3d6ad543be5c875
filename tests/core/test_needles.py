"""The fast path of both readings: skipping what holds no marker finds what reading it all does."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import worker_output
from bench.messages import messages_jsonl
from saga_jupyter.core.saga import worker
from saga_jupyter.core.saga.messages import MessageReader
from saga_jupyter.core.saga.needles import V3_NEEDLES, first_needle
from saga_jupyter.core.saga.worker import WorkerFiles
from tests.core.test_worker import worker_outputs

SAMPLE = Path(__file__).with_name("saga_v4_sample.jsonl")
FILLER = worker_output(64 * 1024).decode()  # plain terminal lines with colours, no marker
FILLER_LINES = FILLER.splitlines(keepends=True)
# What hides a marker from a naive search, or makes a line end that is none.
TRICKS = st.sampled_from(
    ["--- Wor\x1b[0mker 3 started ---", "[To\x1b[1;31m\x1b[0mol: Grep]", "\n\x1b[32m{\n",
     "\n\x1b]0;title\n--- Worker 8 started ---\x07", "\x1b]8;;u\x07[Tool: Web]\x1b]8;;\x07",
     "\x1b[", "\x1b", "\r\n", "\r", "Start\x1b(Bing story", "\n\x1b[1m\x1b]x\x1b\\{\n",
     "\x1bq\n", "é✓", "Worker", "[Tool: ", "{", "}\n", "\n}\n"]
)  # fmt: skip


@st.composite
def terminal_outputs(draw: Any) -> str:
    """A worker's output with long stretches of plain output, and tricks, anywhere in it."""
    text, _ = draw(worker_outputs())
    parts = []
    for piece in text.split("\n"):
        parts.append(piece + "\n")
        if draw(st.booleans()):
            start = draw(st.integers(0, len(FILLER_LINES) - 1))
            parts.extend(FILLER_LINES[start : start + draw(st.integers(1, 60))])
            if draw(st.booleans()):
                parts.append(draw(TRICKS))
    return "".join(parts)[: -1 if draw(st.booleans()) else None]


def grown(tmp_path: Path, data: bytes, cuts: list[int], files: WorkerFiles) -> list[Any]:
    """The readings after each step of a file growing to ``data``."""
    path, readings = tmp_path / "saga__a__b__1.out", []
    path.write_bytes(b"")
    at = 0
    with path.open("ab") as file:
        for cut in [*sorted(cuts), len(data)]:
            file.write(data[at:cut])
            file.flush()
            at = max(at, cut)
            stat = os.stat(path)
            readings.append(files.read("saga__a__b__1", str(path), stat.st_size, stat.st_ino))
    return readings


@pytest.mark.parametrize("piece", [300, 4096])
@settings(max_examples=150, derandomize=True, deadline=None)
@given(terminal_outputs(), st.lists(st.integers(0, 1 << 20), max_size=40))
def test_v3_skipping_finds_what_reading_everything_finds(
    tmp_path_factory: pytest.TempPathFactory, piece: int, text: str, cuts: list[int]
) -> None:
    data = text.encode()
    cuts = [cut % (len(data) + 1) for cut in cuts]
    original = worker.PIECE
    worker.PIECE = piece  # small pieces: many skipped, markers near every edge
    try:
        fast = grown(tmp_path_factory.mktemp("fast"), data, cuts, WorkerFiles())
        slow = grown(tmp_path_factory.mktemp("slow"), data, cuts, WorkerFiles(scan=False))
    finally:
        worker.PIECE = original
    assert fast == slow


def test_v3_a_line_end_inside_an_osc_sequence_is_no_place_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "PIECE", 4096)
    # The title's "\n" is no line end: what follows it up to BEL is the title, not output.
    text = "--- Worker 1 started ---\n" + FILLER[:6000] + "\n\x1b]0;t\n--- Worker 8 started ---\x07"
    (tmp_path / "fast").mkdir()
    (reading,) = grown(tmp_path / "fast", (text + FILLER[:6000]).encode(), [], WorkerFiles())
    assert reading is not None and reading.cycle == 1


def test_v3_needles_see_through_colours_and_not_into_plain_output() -> None:
    cases = [("--- Wo\x1b[0mr\x1b]8;;x\x07ker", "W"), ("[\x1b[2mTo\x1bMol:", "T"),
             ("\n\x1b[1m\x1b[0m{", "\n"), ("Sta\x1b[Krting", "S")]  # fmt: skip
    for marker, first in cases:
        data = (FILLER + marker).encode()
        assert first_needle(V3_NEEDLES, data) == len(FILLER.encode()) + marker.index(first)
        assert first_needle(V3_NEEDLES, data.replace(b"\x1b", b"\x1a")) == len(data)
    assert first_needle(V3_NEEDLES, FILLER.encode()) == len(FILLER.encode())


def v4_readings(data: bytes, cuts: list[int], scan: bool) -> list[Any]:
    reader, readings, at = MessageReader(scan=scan), [], 0
    for cut in [*sorted(cuts), len(data)]:
        reader.feed(data[at:cut])
        at = max(at, cut)
        readings.append((reader.reading, reader.lines, reader.recent.preview()))
    return readings


V4_TRICKS = [
    # Tokens spelt with escapes: what they say lasts (sums, tasks), so a miss shows.
    b'{"type":"assistant","message":{"content":[{"type":"tool_us\\u0065","name":"TaskUpdate",'
    b'"input":{"taskId":"zz","status":"completed"}}]}}\n',
    b'{"type":"\\u0072esult","num_turns":5,"total_cost_usd":1.5}\n',
    b'{"type":"user","type":"result","num_turns":2}\n',  # the last key wins
    b'{"type":"system","subtype":"init","cwd":"/p/.saga/worktrees/x-y"}\n',
    b'{"type" : "saga_worker" , "subtype" : "cycle_start" , "cycle" : 7}\n',
    b"not json\n",
    b"\n",
    b'{"type":"user","message":{"content":"say \\"result\\" twice"}}\n',
]


@settings(max_examples=150, derandomize=True, deadline=None)
@given(
    st.integers(0, 400),
    st.booleans(),
    st.lists(st.tuples(st.integers(0, 1 << 20), st.sampled_from(V4_TRICKS)), max_size=6),
    st.lists(st.integers(0, 1 << 20), max_size=40),
)
def test_v4_skipping_finds_what_parsing_everything_finds(
    lines: int, worktree: bool, tricks: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    real = SAMPLE.read_bytes().splitlines(keepends=True)
    real += messages_jsonl(256 * 1024, seed=lines).splitlines(keepends=True)[:lines]
    if not worktree:  # the project then comes from the "init" message's cwd
        real = [line for line in real if b'"step":1' not in line]
    for at, trick in tricks:
        real.insert(at % (len(real) + 1), trick)
    data = b"".join(real)
    cuts = [cut % (len(data) + 1) for cut in cuts]
    assert v4_readings(data, cuts, scan=True) == v4_readings(data, cuts, scan=False)


def test_v4_lines_that_cannot_tell_anything_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    from saga_jupyter.core.saga import messages

    parsed: list[bytes] = []
    original = messages.parse_message

    def counting(raw: bytes, text: str | None = None) -> Any:
        parsed.append(raw)
        return original(raw, text)

    monkeypatch.setattr(messages, "parse_message", counting)
    text = {"type": "user", "message": {"content": [{"type": "tool_result", "content": "x"}]}}
    plain = (json.dumps(text) + "\n").encode() * 1000
    reader = MessageReader()
    reader.feed(SAMPLE.read_bytes() + plain)
    before = len(parsed)
    reader.feed(plain)
    # The first (it might complete a line held), then none: nothing in them changes a reading.
    assert len(parsed) == before + 1
    assert reader.lines == SAMPLE.read_bytes().count(b"\n") + 2000
