"""The transcript of today's SAGA workers: what a person reads, the same however it is split."""

from __future__ import annotations

import codecs
import itertools
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from saga_jupyter.core.saga.terminal import MAX_LINE_CHARS, MAX_TEXT_LINES
from saga_jupyter.core.saga.transcript import Transcript, render_line
from tests.core.test_saga_messages import HOSTILE

SAMPLE = Path(__file__).with_name("saga_v4_sample.jsonl")
SGR = re.compile(r"\x1b\[[0-9;]*m")
RED, GREEN, YELLOW = "\x1b[31m", "\x1b[1;32m", "\x1b[1;33m"
# The sample as a person reads it (colours aside; they are checked below).
SAMPLE_TEXT = """\
09:12:03 ▶ pipeline started: story auth-login-flow
09:12:04 step 1: Created worktree at /home/me/proj/.saga/worktrees/auth-login-flow
09:12:09 step 2: PR exists: https://github.com/me/proj/pull/42
── cycle 1/10 ── 09:12:09
⚙ session: claude-opus-4-6 in /home/me/proj/.saga/worktrees/auth-login-flow (claude 2.1.x)
✻ thinking Which task first?
▸ TaskUpdate t1 → in_progress
▸ Bash npm test -- src/auth.test.ts
  ✗ FAIL src/auth.test.ts
      ● login › rejects a bad password
        expected 401, got 200 … (+1 line)
▸ Edit /home/me/proj/.saga/worktrees/auth-login-flow/src/auth.ts
  ⎿ The file src/auth.ts has been updated.
▸ Task Review the auth change
  ┆ ▸ Grep status\\(20[01]\\)
· tool_progress {"tool_use_id":"toolu_01S","tool_name":"Task","parent_tool_use_id":null,\
"elapsed_time_seconds":12}
  ⎿ Looks right.
All tests pass. Writing the journal entry for t2.
▸ TaskUpdate t2 → completed
  ⎿ Updated task #t2 status
⚙ compact_boundary {"compact_metadata":{"trigger":"auto","pre_tokens":151000}}
✓ cycle 1: 64 turns, 19m45s, $6.42
  Completed t1 and t2, committed and pushed. Exiting.
── cycle 1 ended (exit 0) ──
── cycle 2/10 ── 09:31:55
· auth_status {"isAuthenticating":false,"output":["ok"]}
▸ WebFetch https://example.com/docs
▸ TaskCreate Document the login flow
✗ cycle 2: error_during_execution, 7 turns, 40s, $0.31
  API Error: 529 overloaded
── cycle 2 ended (exit 1) ──
10:02:11 ■ pipeline completed: 3 cycles, 50.1 min (exit 0)
"""


def plain(text: str) -> str:
    return SGR.sub("", text)


def transcribe(data: bytes, cuts: Sequence[int] = ()) -> tuple[str, int]:
    """Render ``data`` read in pieces cut at ``cuts`` as a tailer reads (decoded incrementally)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    transcript, texts = Transcript(), []
    points = sorted({0, len(data), *cuts})
    for start, end in itertools.pairwise(points):
        text = decoder.decode(data[start:end])
        held = len(decoder.getstate()[0])
        texts.append(transcript.feed(text, end - held).text)
    return "".join(texts), transcript.offset


def test_the_sample_reads_as_a_person_would_read_it() -> None:
    data = SAMPLE.read_bytes()
    text, offset = transcribe(data)
    assert plain(text) == SAMPLE_TEXT
    assert offset == len(data)
    lines = text.splitlines()
    assert lines[8].startswith(RED) and "✗ FAIL" in lines[8]  # a failed tool result: red
    assert lines[-1].endswith(GREEN + "■ pipeline completed: 3 cycles, 50.1 min (exit 0)\x1b[0m")
    assert lines[-4].startswith("\x1b[1;31m✗ cycle 2")  # a failed cycle: red
    assert "\r" not in text  # plain "\n" lines: the log tab's terminal converts them


def test_every_line_is_shown_and_each_knows_where_it_starts_in_the_file() -> None:
    data = SAMPLE.read_bytes()
    rendered = Transcript(100).feed_lines(data.decode(), 100 + len(data))
    starts = [100 + match.end() for match in re.finditer(b"\n", data)]
    assert [start for start, _ in rendered] == [100, *starts[:-1]]
    assert all(text.endswith("\n") and text.strip() for _, text in rendered)  # none dropped


def test_the_sample_split_at_every_byte_renders_the_same() -> None:
    data = SAMPLE.read_bytes()
    whole = transcribe(data)
    for cut in range(len(data) + 1):
        assert transcribe(data, [cut]) == whole, cut
    # A partial line waits, and the offset stays after the last complete line.
    first = data.index(b"\n") + 1
    text, offset = transcribe(data[: first + 10])
    assert (plain(text), offset) == (SAMPLE_TEXT.split("\n")[0] + "\n", first)


def unlabelled(text: str) -> str:
    return re.sub(r"([✓✗]) cycle [0-9]+:", r"\1 result:", text)


def test_resuming_at_the_offset_given_misses_and_repeats_nothing() -> None:
    data = SAMPLE.read_bytes()
    whole = transcribe(data)[0]
    for cut in range(0, len(data), 97):
        first = Transcript().feed(data[:cut].decode("utf-8", errors="ignore"), cut)
        rest = Transcript(first.offset).feed(data[first.offset :].decode(), len(data))
        # A transcript started mid-cycle has not seen its cycle_start: "result" for "cycle 1".
        assert unlabelled(first.text + rest.text) == unlabelled(whole), cut


@st.composite
def jsonl(draw: Any) -> bytes:
    """Lines a worker writes, others it should not, multibyte text, invalid bytes."""
    texts = st.text(max_size=40)
    pick = st.sampled_from
    lines = []
    for _ in range(draw(st.integers(0, 15))):
        kind = draw(pick(["text", "tool", "result", "cycle", "other", "hostile", "garbage"]))
        if kind == "text":
            content = [{"type": "text", "text": draw(texts)}]
            message = {"type": "assistant", "message": {"content": content}}
        elif kind == "tool":
            arguments = {draw(pick(["command", "file_path", "x"])): draw(texts)}
            block = {
                "type": "tool_use",
                "name": draw(pick(["Bash", "Read", "Zed"])),
                "input": arguments,
            }
            message = {"type": "assistant", "message": {"content": [block]}}
        elif kind == "result":
            message = {"type": "result", "subtype": draw(pick(["success", "error_max_turns"])),
                       "num_turns": draw(st.integers(0, 99)), "result": draw(texts)}  # fmt: skip
        elif kind == "cycle":
            message = {"type": "saga_worker", "subtype": "cycle_start", "cycle": 1, "maxCycles": 3}
        elif kind == "other":
            message = {"type": draw(texts), "subtype": draw(texts), "data": [draw(texts)]}
        else:
            raw = draw(pick(HOSTILE[1:])) if kind == "hostile" else draw(st.binary(max_size=30))
            lines.append(raw.replace(b"\n", b" ") + b"\n")
            continue
        lines.append(json.dumps(message, ensure_ascii=draw(st.booleans())).encode() + b"\n")
    return b"".join(lines) + draw(st.binary(max_size=20)).replace(b"\n", b"")  # a partial end


@settings(max_examples=150, derandomize=True, deadline=None)
@given(jsonl(), st.lists(st.integers(0, 1 << 16), max_size=10))
def test_any_bytes_split_anywhere_render_the_same(data: bytes, cuts: list[int]) -> None:
    whole = transcribe(data)
    assert transcribe(data, [cut % (len(data) + 1) for cut in cuts]) == whole
    try:
        data.decode()
    except UnicodeDecodeError:
        pass  # U+FFFD stands for 1 to 3 bytes: see Transcript.feed_lines
    else:
        assert whole[1] == data.rfind(b"\n") + 1  # exactly after the last complete line
    assert whole[0].count("\n") >= data.count(b"\n")  # every line shows, none dropped


def test_hostile_lines_show_as_such_bounded_and_never_raise() -> None:
    for raw in HOSTILE:
        text = render_line(raw)
        assert text.endswith("\n") and len(text) < 1000, raw[:40]
    assert "nested deeper than 32" in render_line(HOSTILE[0])
    assert "not JSON" in render_line(HOSTILE[2])  # 10**6 digits: Python refuses the number
    assert "not an object" in render_line(b"null")
    too_long = b'{"type":"x","s":"' + b"y" * (17 << 20) + b'"}\n'
    transcript = Transcript()
    pieces = [too_long[i : i + (1 << 20)] for i in range(0, len(too_long), 1 << 20)]
    texts = [transcript.feed(piece.decode(), None).text for piece in pieces]
    assert (
        plain("".join(texts)) == f"⚠ a line of {len(too_long) - 1} bytes, over the limit: skipped\n"
    )
    assert transcript.offset == len(too_long)


def test_a_workers_text_cannot_drive_the_terminal_and_every_line_is_bounded() -> None:
    hostile = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\x9b31mtitle\rover\x00write\n" * 3 + "z" * 100_000
    many = "\n".join(f"line {index}" for index in range(10_000))
    for message in (
        {"type": "assistant", "message": {"content": [{"type": "text", "text": hostile}]}},
        {"type": "assistant", "message": {"content": [{"type": "text", "text": many}]}},
        {"type": "user", "message": {"content": [{"type": "tool_result", "content": many}]}},
        {"type": "assistant", "message": {"content": [
            {"type": "tool_use", "name": "Bash\x1b[31m", "input": {"command": hostile}}]}},
        {"type": "result", "subtype": "error_during_execution", "errors": [hostile] * 100},
        {"type": "x" * 10_000, "subtype": hostile, "data": [hostile] * 100},
    ):  # fmt: skip
        text = render_line(message)
        assert "\x1b" not in SGR.sub("", text) and "\r" not in text and "\x9b" not in text
        assert "\x07" not in text and "\x00" not in text
        lines = text.split("\n")
        assert len(lines) <= MAX_TEXT_LINES + 2
        assert max(len(plain(line)) for line in lines) <= MAX_LINE_CHARS + 1
    assert "+9800 lines" in render_line(
        {"type": "assistant", "message": {"content": [{"type": "text", "text": many}]}}
    )
    assert "+9997 lines" in render_line(
        {"type": "user", "message": {"content": [{"type": "tool_result", "content": many}]}}
    )


def test_each_tool_shows_its_key_argument() -> None:
    calls = {
        "Bash": ({"command": "git status\ngit diff", "timeout": 5}, "git status…"),
        "Read": ({"file_path": "/w/a.py", "limit": 5}, "/w/a.py"),
        "Write": ({"file_path": "/w/b.py", "content": "x"}, "/w/b.py"),
        "Glob": ({"pattern": "**/*.ts"}, "**/*.ts"),
        "Grep": ({"pattern": "TODO", "path": "src"}, "TODO"),
        "WebSearch": ({"query": "tmux pipe-pane"}, "tmux pipe-pane"),
        "WebFetch": ({"url": "https://x.org", "prompt": "p"}, "https://x.org"),
        "Task": ({"description": "review", "prompt": "p"}, "review"),
        "TaskCreate": ({"subject": "write docs"}, "write docs"),
        "TaskUpdate": ({"taskId": "t3", "status": "completed"}, "t3 → completed"),
        "TaskList": ({}, ""),
        "mcp__github__create_issue": ({"title": "Bug", "body": "b"}, "title=Bug"),
        "Other": ({"items": [1, 2]}, "items=[1,2]"),
    }
    for name, (arguments, shown) in calls.items():
        block = {"type": "tool_use", "name": name, "input": arguments}
        text = plain(render_line({"type": "assistant", "message": {"content": [block]}}))
        assert text == f"▸ {name} {shown}".rstrip() + "\n"
    long = {"type": "tool_use", "name": "Bash", "input": {"command": "x" * 1000}}
    text = plain(render_line({"type": "assistant", "message": {"content": [long]}}))
    assert len(text) < 200 and text.endswith("…\n")


def test_renders_bytes_text_and_parsed_messages_alike() -> None:
    line = SAMPLE.read_bytes().split(b"\n")[3]
    assert render_line(line) == render_line(line.decode()) == render_line(json.loads(line))
    assert "pipeline incomplete (its cycles or time ran out): 10 cycles, 61.2 min" in plain(
        render_line(b'{"type":"saga_worker","subtype":"pipeline_end","status":"incomplete",'
                    b'"exitCode":2,"cycles":10,"elapsedMinutes":61.2}')
    )  # fmt: skip
    assert render_line(
        b'{"type":"saga_worker","subtype":"pipeline_end","status":"incomplete"}'
    ).startswith(YELLOW)


def render_time(size: int, chunk: int) -> float:
    """Seconds to render one line of ``size`` bytes fed in ``chunk``-character pieces."""
    text = '{"type":"x","s":"' + "y" * size + '"}\n'
    pieces = [text[i : i + chunk] for i in range(0, len(text), chunk)]
    best = float("inf")
    for _ in range(3):
        transcript = Transcript()
        began = time.process_time()
        for piece in pieces:
            transcript.feed(piece)
        best = min(best, time.process_time() - began)
    assert transcript.offset == len(text)
    return best


def test_work_per_appended_byte_is_bounded_however_a_line_is_split() -> None:
    small, large = render_time(1 << 20, 64), render_time(4 << 20, 64)
    assert large < 8 * small + 0.05, (small, large)
    assert large < 2.0


KEYS = ["type", "subtype", "message", "content", "text", "name", "input", "result", "errors",
        "cycle", "maxCycles", "status", "num_turns", "total_cost_usd", "duration_ms", "is_error",
        "tool_use_id", "parent_tool_use_id", "timestamp", "step", "elapsedMinutes",
        "cwd"]  # fmt: skip
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=50),
    st.sampled_from(["saga_worker", "assistant", "user", "result", "system", "init",
                     "cycle_start", "pipeline_end", "tool_use", "tool_result", "text",
                     "TaskUpdate", "Bash", "completed", "success"]),
)  # fmt: skip
SHAPES = st.recursive(
    VALUES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=30,
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), SHAPES, max_size=8))
def test_any_message_shape_renders_bounded_and_never_raises(message: dict[str, Any]) -> None:
    text = render_line(message)
    assert text.endswith("\n")
    assert all(len(line) <= 2 * MAX_LINE_CHARS + 10 for line in text.split("\n"))
    assert "\x1b" not in SGR.sub("", text)
    assert render_line(json.dumps(message)) == render_line(json.loads(json.dumps(message)))
