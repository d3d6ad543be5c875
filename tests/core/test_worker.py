"""Reading SAGA workers' output: generated in its format, split anywhere, read to the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import saga_jupyter as saga
from saga_jupyter.core.saga import worker
from saga_jupyter.core.saga.worker import MAX_RESULT_DEPTH, WorkerFiles, WorkerReader, WorkerReading
from tests.helpers import read_bytes_of_this_process

# The last one quotes a marker: a tool marker's text is never read as a cycle marker.
TOOLS = [
    "Read",
    "Edit",
    "Bash",
    "mcp__github__create_pull_request",
    "Grep --- Worker 9 result: FINISH ---",
]
NOISE = st.sampled_from(
    ["thinking about it\n", "\x1b[1;32m✔ 12 passed\x1b[0m\n", "10%\r50%\r100%\n", "…", "{", "}\n",
     "\x1b]8;;https://x\x07link\x1b]8;;\x07", "---", "[Tool", "result: ", "\r\n"]
)  # fmt: skip


@st.composite
def worker_outputs(draw: Any) -> tuple[str, WorkerReading]:
    """A worker's output, as ``saga implement --stream`` under ``script`` writes it: whole, or
    so far (its last cycle under way)."""
    parts = ['Script started on 2026-11-30 10:00:00+00:00 [COMMAND="saga implement"]\r\n']
    parts.append("Starting story implementation...\n  Epic: auth\n  Story: login\n")
    parts.append("  Worktree: /w/auth-login\n  Streaming: enabled\n")
    cycles = draw(st.integers(1, 4))
    outcome = draw(st.sampled_from(["FINISH", "BLOCKED", "TIMEOUT", "MAX_CYCLES", "ERROR", None]))
    running = outcome is None and draw(st.booleans())
    last_tool, last_result = None, None
    for cycle in range(1, cycles + 1):
        parts.append(f"--- Worker {cycle} started ---\n[Session started: abc-{cycle}]")
        for _ in range(draw(st.integers(0, 4))):
            parts.append(draw(NOISE))
            last_tool = draw(st.sampled_from(TOOLS))
            parts.append(f"\x1b[2m[Tool: {last_tool}]\x1b[0m")  # often no newline around
        if running and cycle == cycles:
            break
        parts.append(f"[Worker completed in {cycle * 7}.5s]\n")
        last_result = "ONGOING" if cycle < cycles else draw(st.sampled_from(["FINISH", "BLOCKED"]))
        parts.append(f"--- Worker {cycle} result: {last_result} ---\r\n")
    expected = WorkerReading(cycle=cycles, last_result=last_result, last_tool=last_tool)
    if outcome is not None:
        result = {
            "status": outcome, "summary": "did { things }\n", "cycles": cycles,
            "elapsedMinutes": 12.5, "blocker": "which API?" if outcome == "BLOCKED" else None,
            "epicSlug": "auth", "storySlug": "login",
        }  # fmt: skip
        parts.append(json.dumps(result, indent=2) + "\n")
        expected = WorkerReading(
            cycles, last_result, last_tool, outcome, "did { things }\n", result["blocker"], 12.5
        )
    return "".join(parts), expected


def read_in_pieces(text: str, cuts: list[int]) -> WorkerReading | None:
    reader = WorkerReader()
    at = 0
    for cut in sorted(cuts):
        reader.feed(text[at:cut])
        at = cut
    reader.feed(text[at:])
    return reader.reading


@settings(max_examples=300, derandomize=True, deadline=None)
@given(worker_outputs(), st.lists(st.integers(0, 10_000), max_size=12))
def test_the_reading_is_the_same_however_the_output_is_split(
    output: tuple[str, WorkerReading], cuts: list[int]
) -> None:
    text, expected = output
    assert read_in_pieces(text, [cut % (len(text) + 1) for cut in cuts]) == expected


def test_split_at_every_character() -> None:
    text, expected = _one_output()
    for cut in range(len(text) + 1):
        assert read_in_pieces(text, [cut]) == expected, cut


def test_split_at_every_character_of_terminal_line_ends() -> None:
    # script(1) writes \r\n: a feed may end between the "\r" and the "\n" of the line "{".
    text, expected = _one_output()
    text = text.replace("\n", "\r\n")
    for cut in range(len(text) + 1):
        assert read_in_pieces(text, [cut]) == expected, cut


def test_a_marker_quoted_in_a_tool_marker_is_not_one() -> None:
    text = (
        "Starting story implementation...\n--- Worker 2 started ---\n"
        "\x1b[2m[Tool: Bash(grep '--- Worker 9 result: FINISH ---' run.out)]\x1b[0m still working"
    )
    expected = WorkerReading(2, None, "Bash(grep '--- Worker 9 result: FINISH ---' run.out)")
    for cut in range(len(text) + 1):
        assert read_in_pieces(text, [cut]) == expected, cut


def _one_output() -> tuple[str, WorkerReading]:
    text = (
        "Starting story implementation...\n--- Worker 1 started ---\n[Tool: Read][Tool: Ed"
        "it]\x1b[0mdone--- Worker 1 result: ONGOING ---\n--- Worker 2 started ---\n"
        "[Tool: Bash]\n--- Worker 2 result: BLOCKED ---\n"
        + json.dumps({"status": "BLOCKED", "summary": "s", "cycles": 2, "blocker": "b"}, indent=2)
        + "\n"
    )
    return text, WorkerReading(2, "BLOCKED", "Bash", "BLOCKED", "s", "b", None)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(st.one_of(NOISE, st.text(max_size=40)), max_size=30))
def test_other_output_gives_no_reading(pieces: list[str]) -> None:
    text = "".join(pieces) + '\n{\n  "status": "FINISH"\n}\n'  # a JSON result alone is no worker
    reader = WorkerReader()
    for piece in [*pieces, '\n{\n  "status": "FINISH"\n}\n']:
        reader.feed(piece)
    if "--- Worker" not in text and "[Tool: " not in text and "Starting story" not in text:
        assert reader.reading is None


def test_a_file_is_read_from_its_tail_then_only_where_it_grew(tmp_path: Path) -> None:
    path = tmp_path / "saga__a__b__1.out"
    with path.open("w") as file:
        file.write("--- Worker 1 started ---\n")
        file.write("filler line of a long first cycle\n" * 300_000)  # ~10 MiB
        file.write("[Tool: Edit]\n--- Worker 7 started ---\n")
    files = WorkerFiles()
    before = read_bytes_of_this_process()
    reading = files.read("saga__a__b__1", str(path), path.stat().st_size, path.stat().st_ino)
    assert read_bytes_of_this_process() - before < 200_000  # the tail, not 10 MiB
    assert reading == WorkerReading(cycle=7, last_tool="Edit")
    with path.open("a") as file:
        file.write("[Tool: Bash]--- Worker 7 result: FINISH ---\n")
    before = read_bytes_of_this_process()
    reading = files.read("saga__a__b__1", str(path), path.stat().st_size, path.stat().st_ino)
    assert read_bytes_of_this_process() - before < 1000
    assert reading == WorkerReading(cycle=7, last_result="FINISH", last_tool="Bash")
    path.write_text("other output\n")  # truncated and rewritten: read afresh, no worker's
    assert files.read("saga__a__b__1", str(path), path.stat().st_size, path.stat().st_ino) is None


def test_a_marker_in_the_middle_of_a_large_append_is_read(tmp_path: Path) -> None:
    # Once watched, every appended byte is read: a result in the middle of 10 MiB written
    # between two looks counts (it was skipped, the file read from its last 64 KiB).
    name, path = "saga__a__b__1", tmp_path / "saga__a__b__1.out"
    path.write_text("--- Worker 1 started ---\n")
    files = WorkerFiles(budget=4 << 20)
    assert files.read(name, str(path), path.stat().st_size, path.stat().st_ino) is not None
    filler = "filler line of a long cycle\n" * 180_000  # ~5 MiB
    with path.open("a") as file:
        file.write(filler + "--- Worker 1 result: BLOCKED ---\n" + filler)
    results = []
    for _ in range(3):  # ~10 MiB: three looks of at most 4 MiB each
        before = read_bytes_of_this_process()
        reading = files.read(name, str(path), path.stat().st_size, path.stat().st_ino)
        assert read_bytes_of_this_process() - before <= (4 << 20) + 4096  # and /proc/self/io
        results.append(reading.last_result if reading is not None else None)
    assert results == [None, "BLOCKED", "BLOCKED"]


class CountedParsing:
    """Stands for the ``json`` module of :mod:`saga_jupyter.core.saga.worker`: counts its parsing.

    More than ``budget`` characters in all fails at once (the quadratic reading took minutes).
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.calls = 0
        self.characters = 0

    def loads(self, text: str) -> Any:
        self.calls += 1
        self.characters += len(text)
        assert self.characters <= self.budget, f"parsed {self.characters} characters so far"
        return json.loads(text)


@contextmanager
def counted_parsing(budget: int) -> Iterator[CountedParsing]:
    counted = CountedParsing(budget)
    original = worker.json
    worker.json = counted  # type: ignore[assignment]
    try:
        yield counted
    finally:
        worker.json = original


# Parsed at most once per candidate, and a character is in at most one candidate per open
# bracket of those nested around it: a bound per character fed, whatever the text.
PER_CHARACTER = MAX_RESULT_DEPTH + 1
HEADER = "--- Worker 1 started ---\n"
RESULT = json.dumps({"status": "FINISH", "summary": "done", "cycles": 1}, indent=2) + "\n"


def hostile(shape: str, n: int) -> str:
    """Output that made every read parse the text so far at each line ``}``."""
    if shape == "repro":  # the issue's: '{' then an array never closed, then n lines '}'
        return '{\n"a": [' + "1," * n + "\n" + "}\n" * n
    if shape == "nested":  # objects closed one per line: open until the last
        return "{\n" + '"a": {' * min(n, 40) + "\n" + "}\n" * n
    if shape == "flat":  # n objects that close and parse, none a result
        return '{\n  "x": 1\n}\n' * n
    if shape == "deep":  # n lines '{', every one a candidate inside the others
        return "{\n" * n + "}\n" * n
    return '{\n  "a": "' + "x" * n + "\n}\n" * n  # a string cut by a newline


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    st.sampled_from(["repro", "nested", "flat", "deep", "string"]),
    st.integers(1, 3000),
    st.lists(st.integers(0, 1 << 30), max_size=20),
)
def test_the_work_per_character_is_bounded_however_the_output_is_split(
    shape: str, n: int, cuts: list[int]
) -> None:
    text = HEADER + hostile(shape, n) + RESULT
    with counted_parsing(PER_CHARACTER * len(text)) as counted:
        reading = read_in_pieces(text, [cut % (len(text) + 1) for cut in cuts])
    assert reading is not None and reading.outcome == "FINISH"  # the real result, found after
    assert counted.characters <= PER_CHARACTER * len(text)
    assert counted.calls <= text.count("{\n") + 1


def test_the_issue_s_400_kb_are_read_with_bounded_work(tmp_path: Path) -> None:
    # The issue's repro: read once, then 400 KB appended. It spun a core for six minutes.
    name = "saga__dos__x__1"
    path = tmp_path / f"{name}.out"
    path.write_text(HEADER)
    files = WorkerFiles()
    assert files.read(name, str(path), path.stat().st_size, path.stat().st_ino) is not None
    appended = hostile("repro", 100_000)
    assert len(appended) > 400_000
    with path.open("a") as file:
        file.write(appended)
    with counted_parsing(PER_CHARACTER * len(appended)) as counted:
        reading = files.read(name, str(path), path.stat().st_size, path.stat().st_ino)
        assert reading == WorkerReading(cycle=1)
        with path.open("a") as file:
            file.write(RESULT)
        reading = files.read(name, str(path), path.stat().st_size, path.stat().st_ino)
    assert reading is not None and reading.outcome == "FINISH"
    assert counted.calls == 1 and counted.characters == len(RESULT) - 1  # the result, once


def test_a_kernel_lists_the_issue_s_output_with_bounded_work(tmp_path: Path) -> None:
    # list_sessions() reads the same way (one engine per process, its WorkerFiles).
    name = "saga__dos__x__1"
    path = tmp_path / f"{name}.out"
    path.write_text(HEADER)
    where = {"output_dir": tmp_path, "tmux_socket_name": "saga-none"}
    (listed,) = saga.list_sessions(**where)
    assert listed.worker == WorkerReading(cycle=1)
    appended = hostile("repro", 100_000)
    with path.open("a") as file:
        file.write(appended)
    with counted_parsing(PER_CHARACTER * len(appended)) as counted:
        (listed,) = saga.list_sessions(**where)
    assert listed.worker == WorkerReading(cycle=1) and listed.output_preview == "}\n}\n}\n}\n}"
    assert counted.characters == 0  # no '}' line closes that '{': nothing to parse
