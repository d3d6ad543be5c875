"""Reading today's SAGA workers' JSONL: every message shape, split anywhere, hostile lines."""

from __future__ import annotations

import itertools
import json
import os
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saga_jupyter.core.saga import lines as line_module
from saga_jupyter.core.saga.lines import MAX_LINE_BYTES, nesting_ok, parse_message
from saga_jupyter.core.saga.messagefiles import MessageFiles
from saga_jupyter.core.saga.messages import MessageReader
from saga_jupyter.core.saga.worker import TaskCounts, WorkerReading
from tests.helpers import read_bytes_of_this_process

SAMPLE = Path(__file__).with_name("saga_v4_sample.jsonl")
NAME = "saga-story-auth-login-flow-1741165923"
# What the sample (SAGA-V4.md's lines, and some SAGA's CLI may emit that we do not know) says.
SAMPLE_READING = WorkerReading(
    cycle=2,
    last_tool="TaskCreate",
    outcome="FINISH",
    summary="API Error: 529 overloaded",
    elapsed_minutes=50.14151666666667,
    max_cycles=10,
    cost_usd=6.73,
    turns=71,
    tasks=TaskCounts(completed=1, in_progress=1, total=None),
    worktree="/home/me/proj/.saga/worktrees/auth-login-flow",
    pr="https://github.com/me/proj/pull/42",
    story_id="auth-login-flow",
    project="/home/me/proj",
    started_at=datetime(2026, 3, 5, 9, 12, 3, 481000, tzinfo=timezone.utc),
    ended_at=datetime(2026, 3, 5, 10, 2, 11, 730000, tzinfo=timezone.utc),
)


def read(*pieces: bytes) -> MessageReader:
    reader = MessageReader()
    for piece in pieces:
        reader.feed(piece)
    return reader


def line(message: Any) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode() + b"\n"


def worker(subtype: str, **fields: Any) -> bytes:
    return line({"type": "saga_worker", "subtype": subtype, **fields})


def tool(name: str, arguments: dict[str, Any], parent: str | None = None) -> bytes:
    block = {"type": "tool_use", "id": "toolu_1", "name": name, "input": arguments}
    message = {"role": "assistant", "content": [block]}
    return line({"type": "assistant", "message": message, "parent_tool_use_id": parent})


def result(cost: float, turns: int, text: str | None = "done", **fields: Any) -> bytes:
    message = {"type": "result", "subtype": "success", "is_error": False, "num_turns": turns}
    message.update({"total_cost_usd": cost, "duration_ms": 1000, **fields})
    if text is not None:
        message["result"] = text
    return line(message)


def test_the_sample_of_every_message_shape_reads_as_saga_means_it() -> None:
    data = SAMPLE.read_bytes()
    reader = read(data)
    assert reader.reading == SAMPLE_READING
    assert (reader.lines, reader.skipped) == (data.count(b"\n"), 0)  # unknown types: no error
    assert reader.reading is not None
    assert reader.reading.to_json() == {
        "cycle": 2, "lastResult": None, "lastTool": "TaskCreate", "outcome": "FINISH",
        "summary": "API Error: 529 overloaded", "blocker": None,
        "elapsedMinutes": 50.14151666666667, "maxCycles": 10, "costUsd": 6.73, "turns": 71,
        "tasks": {"completed": 1, "inProgress": 1, "total": None},
        "worktree": "/home/me/proj/.saga/worktrees/auth-login-flow",
        "pr": "https://github.com/me/proj/pull/42",
    }  # fmt: skip


def test_the_sample_split_at_every_byte_reads_the_same() -> None:
    data = SAMPLE.read_bytes()
    for cut in range(len(data) + 1):
        assert read(data[:cut], data[cut:]).reading == SAMPLE_READING, cut
    assert read(*(data[i : i + 1] for i in range(len(data)))).reading == SAMPLE_READING


def test_a_line_waits_for_its_newline() -> None:
    reader = read(b'{"type":"saga_worker","subtype":"cycle_start","cycle":3,"maxCycles":5}')
    assert reader.reading is None and reader.lines == 0
    reader.feed(b"\n")
    assert reader.reading == WorkerReading(cycle=3, max_cycles=5, tasks=TaskCounts())


def test_outcomes_incomplete_error_stopped_and_an_end_that_comes_late() -> None:
    start = worker("pipeline_start", storyId="s", timestamp="2026-03-05T09:12:03Z")
    incomplete = worker("pipeline_end", status="incomplete", cycles=10, elapsedMinutes=61.2)
    reading = read(start, incomplete).reading
    assert reading is not None
    assert (reading.outcome, reading.elapsed_minutes, reading.cycle) == ("INCOMPLETE", 61.2, 10)
    assert reading.started_at == datetime(2026, 3, 5, 9, 12, 3, tzinfo=timezone.utc)

    died = read(start, result(0.5, 3, "half way"))
    assert died.reading is not None and died.reading.outcome is None  # still running
    died.ended(stopped=False, pane_summary="Error: No task files found in /p/.saga/stories/s")
    assert died.reading.outcome == "ERROR"
    assert died.reading.summary == "Error: No task files found in /p/.saga/stories/s"
    # The end was written before tmux lost it, read after: the pipeline's word wins.
    died.feed(worker("pipeline_end", status="completed", cycles=1, elapsedMinutes=2.0))
    assert (died.reading.outcome, died.reading.summary) == ("FINISH", "half way")

    stopped = read(start, result(0.5, 3, "half way"))
    stopped.ended(stopped=True, pane_summary="^C")
    assert stopped.reading is not None
    assert (stopped.reading.outcome, stopped.reading.summary) == ("STOPPED", "half way")
    nothing = MessageReader()  # died before writing anything: still a reading, an ERROR
    nothing.ended(pane_summary="Error: SAGA_PROJECT_DIR environment variable is not set")
    assert nothing.reading is not None and nothing.reading.outcome == "ERROR"


def test_results_sum_cost_and_turns_and_an_error_result_says_its_errors() -> None:
    failed = line(
        {"type": "result", "subtype": "error_max_turns", "is_error": True, "num_turns": 7,
         "total_cost_usd": 0.25, "errors": ["too many turns", "gave up"]}
    )  # fmt: skip
    reading = read(result(1.5, 10), failed).reading
    assert reading is not None
    assert (reading.cost_usd, reading.turns) == (1.75, 17)
    assert reading.summary == "too many turns\ngave up"


def test_tasks_count_each_tasks_last_status() -> None:
    updates = [
        tool("TaskUpdate", {"taskId": "t1", "status": "in_progress"}),
        tool("TaskUpdate", {"taskId": "t2", "status": "in_progress"}),
        tool("TaskUpdate", {"taskId": "t1", "status": "completed"}),
        tool("TaskUpdate", {"taskId": "t2", "subject": "renamed"}),  # no status: no change
        tool("TaskUpdate", {"taskId": 3, "status": "completed"}, parent="toolu_9"),
        tool("TaskUpdate", {"taskId": ["bad"], "status": "completed"}),
        tool("TaskGet", {"taskId": "t1"}),
    ]
    reading = read(*updates).reading
    assert reading is not None
    assert reading.tasks == TaskCounts(completed=2, in_progress=1)
    assert reading.last_tool == "TaskGet"


def test_worktree_pr_and_project_from_steps_or_init() -> None:
    exists = worker(
        "pipeline_step", step=1, message="Worktree exists at /p/x at y/.saga/worktrees/s"
    )
    created = worker(
        "pipeline_step", step=2, message="Created draft PR: https://github.com/o/r/pull/7"
    )
    reading = read(exists, created).reading
    assert reading is not None
    assert (reading.worktree, reading.pr) == (
        "/p/x at y/.saga/worktrees/s",
        "https://github.com/o/r/pull/7",
    )
    assert reading.project == "/p/x at y"
    init = line({"type": "system", "subtype": "init", "cwd": "/q/.saga/worktrees/s", "model": "m"})
    reading = read(init).reading
    assert reading is not None and (reading.worktree, reading.project) == (None, "/q")
    odd = line({"type": "system", "subtype": "init", "cwd": "/q/../etc/.saga/worktrees/s"})
    reading = read(odd).reading
    assert reading is not None and reading.project is None  # fmt: skip


HOSTILE = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"type":"result","a":' + b"[" * 40 + b"]" * 40 + b"}",
    b'{"type":"result","num_turns":' + b"9" * 1_000_000 + b"}",  # Python refuses >4300 digits
    b'{"type":"assistant","message":{"content":[{"type":"tool_use","name":"\xff\xfe"}]}}',
    b"\xc3\x28\xa0\xa1 not even JSON",
    b"null",
    b"[1, 2]",
    b'"a string"',
    b"{}",  # an object without a type: no message
    b'{"type": 7}',
    b"",
    b"{" * 10,
    b'{"type":"result","num_turns":1e999,"total_cost_usd":-1,"result":["not","text"]}',
]

# The hostile lines that are no message at all (the others are messages with odd values).
SKIPPED = [HOSTILE[index] for index in (1, 2, 4, 5, 6, 7, 8, 9, 10, 11)]


def test_hostile_lines_are_skipped_and_counted_never_raised() -> None:
    good = worker("cycle_start", cycle=4, maxCycles=9)
    reader = read(good, *(raw + b"\n" for raw in HOSTILE), good)
    reading = reader.reading
    assert reading is not None
    assert (reading.cycle, reading.max_cycles, reading.turns, reading.cost_usd) == (
        4,
        9,
        None,
        None,
    )
    assert reading.last_tool == "\ufffd\ufffd"  # invalid UTF-8 read as U+FFFD, the rest kept
    assert reader.lines == len(HOSTILE) + 2
    assert reader.skipped == len(HOSTILE) - 2  # the invalid-UTF-8 and last lines are messages


def test_depth_is_checked_before_parsing_and_strings_do_not_count() -> None:
    assert nesting_ok(b'{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"[[[[[[[\\\\"}')
    assert nesting_ok(b"[" * 32 + b"]" * 32) and not nesting_ok(b"[" * 33 + b"]" * 33)
    assert nesting_ok(b"[" + b"[]," * 1000 + b"[]]")  # wide, not deep
    assert parse_message(b"[" * 33 + b"]" * 33) == (None, "nested deeper than 32")
    escaped = b'{"type":"x","s":"\\\\\\\\","t":' + b"[" * 31 + b"]" * 31 + b"}"  # "\\\\" then 32
    assert parse_message(escaped)[0] is not None


def test_a_line_over_16_mib_is_skipped() -> None:
    good = worker("cycle_start", cycle=2, maxCycles=3)
    big = b'{"type":"assistant","message":{"content":"' + b"x" * (17 << 20) + b'"}}\n'
    reader = read(good[:-1], b"\n", *(big[i : i + (1 << 20)] for i in range(0, len(big), 1 << 20)))
    reader.feed(good)
    assert (reader.lines, reader.skipped) == (3, 1)
    assert reader.reading == WorkerReading(cycle=2, max_cycles=3, tasks=TaskCounts())
    exact = read(b'{"type":"x","s":"' + b"y" * (MAX_LINE_BYTES - 20) + b'"}\n')
    assert exact.skipped == 0 and exact.reading is not None  # up to the limit: read


def test_a_line_over_the_limit_is_dropped_as_it_comes(monkeypatch: pytest.MonkeyPatch) -> None:
    # A line is held up to the limit (it may yet end): past it, nothing more of it is kept.
    monkeypatch.setattr(line_module, "MAX_LINE_BYTES", 1 << 20)
    big = b"z" * (17 << 20) + b"\n"
    tracemalloc.start()
    try:
        reader = MessageReader()
        for start in range(0, len(big), 64 * 1024):
            reader.feed(big[start : start + 64 * 1024])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20, peak  # the limit and a chunk: never the line (17 MiB)
    assert (reader.lines, reader.skipped) == (1, 1)


# -- generated streams


@st.composite
def streams(draw: Any) -> tuple[list[bytes], WorkerReading]:
    """Lines as a worker writes them (and some it should not), with the reading they make."""
    texts = st.text(max_size=30)  # any character: multibyte ones get split by the cuts too
    lines: list[bytes] = []
    cycle = max_cycles = last_tool = cost = turns = summary = None
    tasks: dict[str, str] = {}
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["cycle", "tool", "task", "result", "other", "bad"]))
        if kind == "cycle":
            cycle, max_cycles = draw(st.integers(1, 20)), draw(st.integers(1, 20))
            lines.append(worker("cycle_start", cycle=cycle, maxCycles=max_cycles))
        elif kind == "tool":
            last_tool = draw(st.sampled_from(["Bash", "Read", "Edit", "Grep", "Task", "Ω"]))
            lines.append(tool(last_tool, {"command": draw(texts)}))
        elif kind == "task":
            task_id, status = (
                draw(st.sampled_from(["t1", "t2", "t3"])),
                draw(st.sampled_from(["pending", "in_progress", "completed"])),
            )
            tasks[task_id], last_tool = status, "TaskUpdate"
            lines.append(tool("TaskUpdate", {"taskId": task_id, "status": status}))
        elif kind == "result":
            spent, taken = draw(st.integers(0, 900)) / 100, draw(st.integers(0, 90))
            text = draw(texts)
            lines.append(result(spent, taken, text))
            cost, turns = (cost or 0.0) + spent, (turns or 0) + taken
            summary = text or summary
        elif kind == "other":
            message = {"type": "x-" + draw(texts), "subtype": draw(texts), "x": [draw(texts)]}
            lines.append(line(message))
        else:
            lines.append(draw(st.sampled_from(SKIPPED)) + b"\n")
    statuses = list(tasks.values())
    expected = WorkerReading(
        cycle=cycle, last_tool=last_tool, summary=summary, max_cycles=max_cycles,
        cost_usd=None if cost is None else round(cost, 6), turns=turns,
        tasks=TaskCounts(statuses.count("completed"), statuses.count("in_progress")),
    )  # fmt: skip
    return lines, expected


@settings(max_examples=150, derandomize=True, deadline=None)
@given(streams(), st.lists(st.integers(0, 1 << 16), max_size=12))
def test_any_stream_split_anywhere_reads_as_the_messages_say(
    stream: tuple[list[bytes], WorkerReading], cuts: list[int]
) -> None:
    lines, expected = stream
    data = b"".join(lines)
    whole = read(data).reading
    if whole is not None:  # a stream of bad lines only is no worker's
        assert whole == expected
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    pieces = [data[a:b] for a, b in itertools.pairwise(points)]
    assert read(*pieces).reading == whole


def feed_time(size: int, chunk: int) -> float:
    """Seconds to feed one line of ``size`` bytes in ``chunk``-byte pieces (best of 3)."""
    data = b'{"type":"x","s":"' + b"y" * size + b'"}\n'
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    best = float("inf")
    for _ in range(3):
        reader = MessageReader()
        began = time.process_time()
        for piece in pieces:
            reader.feed(piece)
        best = min(best, time.process_time() - began)
    assert reader.lines == 1 and reader.skipped == 0
    return best


def test_work_per_appended_byte_is_bounded_however_a_line_is_split() -> None:
    # Four times the bytes in 64-byte writes: about four times the work. Holding a partial
    # line by concatenation would be quadratic: sixteen times, and seconds.
    small, large = feed_time(1 << 20, 64), feed_time(4 << 20, 64)
    assert large < 8 * small + 0.05, (small, large)
    assert large < 2.0


# -- files


def test_a_file_is_read_whole_once_then_only_where_it_grew(tmp_path: Path) -> None:
    path = tmp_path / f"{NAME}.jsonl"
    filler = tool("Read", {"file_path": "/p/" + "f" * 100})
    with path.open("wb") as file:
        file.write(result(1.0, 5))
        file.write(filler * 40_000)  # ~7 MiB
        file.write(worker("cycle_start", cycle=2, maxCycles=10))
    files = MessageFiles()

    def look() -> WorkerReading | None:
        info = path.stat()
        return files.read(NAME, str(path), info.st_size, info.st_ino)

    tracemalloc.start()
    try:
        reading = look()  # sums over the whole file: read whole, a chunk at a time
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    assert reading is not None and (reading.cost_usd, reading.cycle) == (1.0, 2)
    with path.open("ab") as file:
        file.write(result(0.5, 1, "second"))
    before = read_bytes_of_this_process()
    reading = look()
    assert read_bytes_of_this_process() - before < 1000
    assert reading is not None and (reading.cost_usd, reading.turns) == (1.5, 6)
    path.write_bytes(result(2.0, 1))  # truncated and rewritten: read afresh
    reading = look()
    assert reading is not None and (reading.cost_usd, reading.turns) == (2.0, 1)
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(result(0.25, 1) + result(0.25, 1) + result(0.25, 1))
    os.replace(replacement, path)  # replaced by a longer file: another inode, read afresh
    reading = look()
    assert reading is not None and (reading.cost_usd, reading.turns) == (0.75, 3)


def test_a_look_reads_at_most_its_budget_and_the_next_goes_on(tmp_path: Path) -> None:
    path = tmp_path / f"{NAME}.jsonl"
    path.write_bytes(result(1.0, 1) * 1000 + worker("cycle_start", cycle=5, maxCycles=5))
    files, info = MessageFiles(budget=64 * 1024), path.stat()
    looks = 1
    while (reading := files.read(NAME, str(path), info.st_size, info.st_ino)) is not None:
        if reading.cycle == 5:
            break
        looks += 1
    assert reading is not None and (reading.turns, reading.cost_usd) == (1000, 1000.0)
    assert looks == -(-info.st_size // (64 * 1024))


def test_an_end_told_before_the_file_is_seen_is_kept(tmp_path: Path) -> None:
    files = MessageFiles()
    reading = files.ended(NAME, pane_summary="fatal: not a git repository")
    assert (reading.outcome, reading.summary) == ("ERROR", "fatal: not a git repository")
    path = tmp_path / f"{NAME}.jsonl"
    path.write_bytes(worker("pipeline_start", storyId="auth-login-flow"))
    info = path.stat()
    reading = files.read(NAME, str(path), info.st_size, info.st_ino)
    assert reading is not None and (reading.outcome, reading.story_id) == (
        "ERROR",
        "auth-login-flow",
    )
    assert files.read(NAME, str(tmp_path / "missing.jsonl"), 1, 1) is None


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_only_a_regular_file_is_read(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "target"
    target.write_bytes(result(1.0, 1))
    path = tmp_path / f"{NAME}.jsonl"
    if kind == "link":
        path.symlink_to(target)
    else:
        os.mkfifo(path)
    assert MessageFiles().read(NAME, str(path), 100, 1) is None


FIELDS = ["type", "subtype", "message", "content", "input", "name", "taskId", "status",
          "cycle", "result", "errors", "total_cost_usd", "num_turns", "step", "storyId",
          "timestamp", "cwd"]  # fmt: skip
WORDS = ["saga_worker", "assistant", "result", "tool_use", "TaskUpdate", "cycle_start",
         "pipeline_end", "pipeline_step", "init", "system", "completed", "incomplete"]  # fmt: skip
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=20),
    st.sampled_from(WORDS),
)  # fmt: skip
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner),
    max_leaves=20,
)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6), max_size=6))
def test_any_message_shape_is_read_or_skipped_never_raised(messages: list[dict[str, Any]]) -> None:
    reader = read(b"".join(line(message) for message in messages))
    assert reader.lines == len(messages)
    reading = reader.reading
    if reading is not None:
        assert reading.cost_usd is None or reading.cost_usd >= 0
        assert reading.tasks is not None and reading.tasks.completed >= 0
