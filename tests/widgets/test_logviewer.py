"""LogViewer in the kernel, no browser: real files, real tmux, messages captured as sent."""

from __future__ import annotations

import gc
import json
import os
import queue
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel
from libtmux.server import Server

from saga_jupyter.core.errors import InvalidSessionName
from saga_jupyter.widgets.logviewer import LogViewer
from tests.helpers import (
    inotify_watches,
    inotify_watches_on,
    is_engine_threads,
    kill_worker,
    own_threads,
    start_worker,
    wait_until,
)

NAME = "saga__viewer__tail__1"
OTHER = "saga__viewer__other__2"


class Recording(LogViewer):
    """A LogViewer keeping every custom message it sends to the page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[dict[str, Any]] = []
        super().__init__(*args, **kwargs)

    def send(self, content: Any, buffers: Any = None) -> None:
        self.sent.append(content)
        super().send(content, buffers)

    def page_says(self, content: dict[str, Any]) -> None:
        """Deliver a message from the page as the comm would."""
        self._handle_custom_msg(content, [])

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.sent if message["type"] == kind]


@pytest.fixture
def viewers(output_dir: Path) -> Iterator[list[Recording]]:
    """Viewers made by a test, closed after it (on failure too)."""
    made: list[Recording] = []
    yield made
    for viewer in made:
        viewer.close()


@pytest.fixture
def open_viewer(viewers: list[Recording], output_dir: Path) -> Any:
    def open_(name: str | None = NAME, **kwargs: Any) -> Recording:
        kwargs.setdefault("tmux_socket_name", "saga-test-no-such-server")
        kwargs.setdefault("output_dir", output_dir)
        viewer = Recording(name, **kwargs)
        viewers.append(viewer)
        return viewer

    return open_


def write(path: Path, data: str | bytes, mode: str = "ab") -> None:
    with open(path, mode) as file:
        file.write(data.encode() if isinstance(data, str) else data)


def numbered(first: int, last: int) -> str:
    return "".join(f"line {index:06d}\n" for index in range(first, last))


def shows(viewer: LogViewer, expected: list[str]) -> Any:
    return wait_until(lambda: viewer.lines == expected, timeout=5)


def test_content_grows_as_the_file_grows(open_viewer: Any, output_dir: Path) -> None:
    path = output_dir / f"{NAME}.out"
    write(path, "first\n")
    viewer = open_viewer()
    shows(viewer, ["first"])
    write(path, "second\nthird")
    shows(viewer, ["first", "second", "third"])
    write(path, " continued\n")
    shows(viewer, ["first", "second", "third continued"])
    assert viewer.text == "first\nsecond\nthird continued"


def test_a_file_created_later_is_followed(open_viewer: Any, output_dir: Path) -> None:
    viewer = open_viewer()
    wait_until(lambda: viewer.status == "complete")  # no tmux session, no file
    assert viewer.lines == [] and viewer.message == "no output file"
    write(output_dir / f"{NAME}.out", "late\n")
    shows(viewer, ["late"])


def test_an_output_dir_created_later_is_watched(open_viewer: Any, tmp_path: Path) -> None:
    directory = tmp_path / "later"
    viewer = open_viewer(output_dir=directory)
    wait_until(lambda: viewer.status == "complete")
    directory.mkdir()
    write(directory / f"{NAME}.out", "hello\n")
    shows(viewer, ["hello"])
    write(directory / f"{NAME}.out", "again\n")
    shows(viewer, ["hello", "again"])


def test_a_character_split_across_writes(open_viewer: Any, output_dir: Path) -> None:
    path = output_dir / f"{NAME}.out"
    snowman = "\u2603".encode()
    write(path, b"caf\xc3")
    viewer = open_viewer()
    shows(viewer, ["caf"])
    write(path, b"\xa9 " + snowman[:1])
    shows(viewer, ["caf\u00e9 "])
    write(path, snowman[1:] + b"\n")
    shows(viewer, ["caf\u00e9 \u2603"])
    assert "\ufffd" not in "".join(str(message) for message in viewer.sent)


def test_a_progress_bar_shows_its_final_state(open_viewer: Any, output_dir: Path) -> None:
    path = output_dir / f"{NAME}.out"
    write(path, "before\n")
    viewer = open_viewer()
    shows(viewer, ["before"])
    for percent in (10, 50, 90):  # each rewrite in its own write: a chunk apart
        write(path, f"\rdownloading {percent}%")
        shows(viewer, ["before", f"downloading {percent}%"])
    write(path, "\rdownloading 100%\nafter\n")
    shows(viewer, ["before", "downloading 100%", "after"])
    # The open line was re-sent in place, never appended as a line of its own.
    appends = viewer.of_type("append")
    assert [message["open"] for message in appends[1:4]] == [
        f"downloading {percent}%" for percent in (10, 50, 90)
    ]
    assert appends[-1]["lines"][-2:] == ["downloading 100%", "after"]
    assert all(message["lines"] == [] for message in appends[1:4])


def test_ansi_colours_become_spans(open_viewer: Any, output_dir: Path) -> None:
    write(output_dir / f"{NAME}.out", "\x1b[1;32mPASS\x1b[0m test_one \x1b]0;title\x07\x1b[1A\n")
    viewer = open_viewer()
    shows(viewer, ["PASS test_one "])
    assert viewer.snapshot()["lines"] == ['<span class="sj-f2 sj-bold">PASS</span> test_one ']


def test_markup_in_the_log_is_shown_as_text(open_viewer: Any, output_dir: Path) -> None:
    hostile = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]
    write(output_dir / f"{NAME}.out", "\n".join(hostile) + "\n")
    viewer = open_viewer()
    shows(viewer, hostile)
    sent = [line for message in viewer.of_type("append") for line in message["lines"]]
    assert sent == ["&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;"]
    assert "<" not in "".join(viewer.snapshot()["lines"])


def test_at_most_max_lines_are_kept(open_viewer: Any, output_dir: Path) -> None:
    path = output_dir / f"{NAME}.out"
    write(path, numbered(0, 20_000))
    viewer = open_viewer()
    wait_until(lambda: viewer.lines[-1:] == ["line 019999"])
    assert viewer.lines == numbered(15_000, 20_000).splitlines()
    for first in range(20_000, 40_000, 5_000):  # and while following
        write(path, numbered(first, first + 5_000))
    wait_until(lambda: viewer.lines[-1:] == ["line 039999"])
    assert viewer.lines == numbered(35_000, 40_000).splitlines()
    assert all(len(message["lines"]) <= 5_000 for message in viewer.of_type("append"))

    small = open_viewer(max_lines=3)
    shows(small, ["line 039997", "line 039998", "line 039999"])
    write(path, "open line")  # the open line counts as one of max_lines
    shows(small, ["line 039998", "line 039999", "open line"])


def test_load_earlier_prepends_the_lines_before(open_viewer: Any, output_dir: Path) -> None:
    path = output_dir / f"{NAME}.out"
    write(path, numbered(0, 60_000))  # 720 kB: more than the first read's window
    viewer = open_viewer(max_lines=2_000)
    wait_until(lambda: viewer.lines[-1:] == ["line 059999"])
    assert viewer.lines == numbered(58_000, 60_000).splitlines() and viewer.has_earlier

    assert viewer.load_earlier() == 1_000
    assert not viewer.follow  # or the next output would push them out again
    assert viewer.lines == numbered(57_000, 60_000).splitlines()
    (prepend,) = viewer.of_type("prepend")
    assert prepend["lines"] == numbered(57_000, 58_000).splitlines()

    viewer.page_says({"type": "earlier"})  # the page's button
    assert viewer.lines[:1_000] == numbered(56_000, 57_000).splitlines()
    assert viewer.load_earlier(max_bytes=120) == 10  # bounded by bytes: 12 bytes a line
    assert viewer.lines[:11] == numbered(55_990, 56_001).splitlines()

    # Output still arrives while paused; following again trims to max_lines.
    write(path, numbered(60_000, 60_010))
    wait_until(lambda: viewer.lines[-1:] == ["line 060009"])
    assert viewer.lines[0] == "line 055990"
    viewer.follow = True
    assert viewer.lines == numbered(58_010, 60_010).splitlines()


def test_load_earlier_stops_at_the_start(open_viewer: Any, output_dir: Path) -> None:
    write(output_dir / f"{NAME}.out", "\x1b[31m" + numbered(0, 300))
    viewer = open_viewer(max_lines=100)
    wait_until(lambda: viewer.lines[-1:] == ["line 000299"])
    assert viewer.load_earlier(max_lines=150) == 150
    assert viewer.load_earlier(max_lines=150) == 50
    assert viewer.lines == numbered(0, 300).splitlines() and not viewer.has_earlier
    assert viewer.load_earlier() == 0


def test_load_earlier_is_bounded_while_paused(open_viewer: Any, output_dir: Path) -> None:
    write(output_dir / f"{NAME}.out", numbered(0, 3_000))
    viewer = open_viewer(max_lines=100)
    wait_until(lambda: viewer.lines[-1:] == ["line 002999"])
    assert viewer.load_earlier() == 300  # up to 4 x max_lines while paused
    assert viewer.load_earlier() == 0 and viewer.has_earlier
    assert viewer.lines == numbered(2_600, 3_000).splitlines()
    viewer.page_says({"type": "earlier"})  # the page's button still gets an answer
    assert viewer.sent[-1] == {"type": "prepend", "lines": []}


def test_truncation_resets_the_view(open_viewer: Any, output_dir: Path) -> None:
    path = output_dir / f"{NAME}.out"
    write(path, numbered(0, 10))
    viewer = open_viewer()
    wait_until(lambda: len(viewer.lines) == 10)
    write(path, "fresh start\n", mode="wb")
    shows(viewer, ["fresh start"])
    last_reset = max(i for i, message in enumerate(viewer.sent) if message["type"] == "reset")
    assert last_reset > 0  # not only the one opening the session
    after = viewer.sent[last_reset + 1 :]
    assert [line for message in after for line in message["lines"]] == ["fresh start"]


def test_a_replaced_file_resets_the_view(open_viewer: Any, output_dir: Path) -> None:
    path = output_dir / f"{NAME}.out"
    write(path, "old\n")
    viewer = open_viewer()
    shows(viewer, ["old"])
    replacement = output_dir / "rotating"
    write(replacement, "new file, longer than the old one\n")
    os.replace(replacement, path)
    shows(viewer, ["new file, longer than the old one"])


def test_far_behind_it_jumps_to_the_tail(open_viewer: Any, output_dir: Path) -> None:
    path = output_dir / f"{NAME}.out"
    write(path, "first\n")
    viewer = open_viewer()
    shows(viewer, ["first"])
    os.truncate(path, 64 << 20)  # sparse: 64 MiB of NUL bytes, far more than SKIP_BYTES
    write(path, "\n" + numbered(0, 10))
    shows(viewer, numbered(0, 10).splitlines())  # the tail, not a line of 64 MiB of NULs


def test_switching_to_another_session(open_viewer: Any, output_dir: Path) -> None:
    write(output_dir / f"{NAME}.out", "one\n")
    write(output_dir / f"{OTHER}.out", "two\n")
    viewer = open_viewer()
    shows(viewer, ["one"])
    viewer.name = OTHER
    shows(viewer, ["two"])
    write(output_dir / f"{NAME}.out", "not shown\n")
    write(output_dir / f"{OTHER}.out", "shown\n")
    shows(viewer, ["two", "shown"])
    assert "not shown" not in viewer.text
    viewer.name = None
    assert viewer.lines == [] and viewer.status == "idle"
    with pytest.raises(InvalidSessionName):
        viewer.name = "saga__../../etc__passwd__1"
    with pytest.raises(InvalidSessionName):
        open_viewer("htop")


def test_complete_once_the_tmux_session_ends(
    open_viewer: Any, output_dir: Path, server: Server
) -> None:
    start_worker(server, NAME, output_dir)
    viewer = open_viewer(tmux_socket_name=server.socket_name)
    shows(viewer, ["started"])
    wait_until(lambda: viewer.status == "streaming" and viewer.message == "")
    write(output_dir / f"{NAME}.out", "last words\n")
    kill_worker(server, NAME)
    wait_until(lambda: viewer.status == "complete", timeout=10)
    assert viewer.lines == ["started", "last words"]


def test_only_appended_output_is_sent(open_viewer: Any, output_dir: Path) -> None:
    path = output_dir / f"{NAME}.out"
    write(path, numbered(0, 1_000))
    viewer = open_viewer()
    wait_until(lambda: len(viewer.lines) == 1_000)
    first = len(viewer.sent)
    for index in range(1_000, 1_020):
        write(path, f"line {index:06d}\n")
        shows(viewer, numbered(0, index + 1).splitlines())
    later = viewer.sent[first:]
    # One line written, one line sent: nothing shown before is ever sent again.
    assert [line for message in later for line in message["lines"]] == numbered(
        1_000, 1_020
    ).splitlines()
    assert {message["type"] for message in later} == {"append"}
    assert sum(len(str(message)) for message in later) < 20 * 200

    viewer.page_says({"type": "ready"})  # a view rendered (or the page reloaded)
    snapshot = viewer.sent[-1]
    assert snapshot["type"] == "snapshot" and snapshot["lines"] == numbered(0, 1_020).splitlines()


def test_close_leaves_no_thread_or_watch(open_viewer: Any, output_dir: Path) -> None:
    write(output_dir / f"{NAME}.out", "x\n")
    before = own_threads()
    viewer = open_viewer()
    shows(viewer, ["x"])
    assert is_engine_threads({t.name for t in own_threads() - before})
    assert inotify_watches_on(output_dir) == inotify_watches(1)
    viewer.close()
    assert own_threads() - before == set()
    assert inotify_watches_on(output_dir) == 0
    viewer.close()  # twice is harmless
    write(output_dir / f"{NAME}.out", "after close\n")
    assert viewer.lines == ["x"]


def test_messages_from_the_thread_leave_a_real_kernel(output_dir: Path) -> None:
    path = output_dir / f"{NAME}.out"
    write(path, "hello\n")
    manager, client = start_new_kernel(kernel_name="python3")
    outputs: list[dict[str, Any]] = []

    def next_custom(timeout: float = 10) -> dict[str, Any]:
        """The next custom message the kernel sends to the page (on iopub, as the page gets it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = client.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            assert message["msg_type"] != "error", message["content"]
            data = message["content"].get("data", {})
            if message["msg_type"] == "comm_msg" and data.get("method") == "custom":
                return {"comm_id": message["content"]["comm_id"], **data["content"]}
        raise AssertionError(f"no custom message within {timeout} s")

    try:
        client.execute(
            "from saga_jupyter.widgets.logviewer import LogViewer\n"
            f"viewer = LogViewer({NAME!r}, output_dir={str(output_dir)!r}, "
            "tmux_socket_name='saga-test-no-such-server')"
        )
        assert next_custom()["type"] == "reset"
        first = next_custom()
        assert (first["type"], first["lines"]) == ("append", ["hello"])
        write(path, "\x1b[31mworld\x1b[0m\n")
        assert next_custom()["lines"] == ['<span class="sj-f1">world</span>']
        # The page's "ready", as a rendered view sends it, is answered with a snapshot.
        ready = {"method": "custom", "content": {"type": "ready"}}
        content = {"comm_id": first["comm_id"], "data": ready}
        client.session.send(client.shell_channel.socket, client.session.msg("comm_msg", content))
        snapshot = next_custom()
        assert snapshot["type"] == "snapshot"
        assert snapshot["lines"] == ["hello", '<span class="sj-f1">world</span>']
        reply = client.execute_interactive(
            "import threading; viewer.close()\n"
            "print(sorted(t.name for t in threading.enumerate() if 'saga' in t.name))",
            timeout=10,
            output_hook=outputs.append,
        )
        assert reply["content"]["status"] == "ok"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    # stdout only: what the kernel itself logs goes to stderr.
    printed = [m["content"] for m in outputs if m["msg_type"] == "stream"]
    assert [out["text"] for out in printed if out["name"] == "stdout"] == ["[]\n"]


def test_a_closed_viewer_is_freed(output_dir: Path) -> None:
    write(output_dir / f"{NAME}.out", "x\n")
    viewer = LogViewer(NAME, output_dir=output_dir, tmux_socket_name="saga-test-no-such-server")
    shows(viewer, ["x"])
    viewer.close()
    freed = weakref.ref(viewer)
    del viewer
    gc.collect()
    assert freed() is None  # nothing (a thread, a watch, anywidget) keeps it and its lines


# -- today's workers: their JSON messages as a transcript

STORY = "saga-story-viewer-tail-1741165923"
SAMPLE = Path(__file__).parents[1] / "core" / "saga_v4_sample.jsonl"


def step(number: int) -> str:
    """A v4 message line, rendered as ``step <number>: ...`` (no clock: no timestamp)."""
    message = {"type": "saga_worker", "subtype": "pipeline_step", "step": number}
    return json.dumps({**message, "message": f"message {number:06d}"}, separators=(",", ":")) + "\n"


def test_a_v4_workers_messages_show_as_their_transcript(open_viewer: Any, output_dir: Path) -> None:
    path = output_dir / f"{STORY}.jsonl"
    lines = SAMPLE.read_text().splitlines(keepends=True)
    write(path, "".join(lines[:4]) + lines[4][:50])  # the last line not written whole yet
    viewer = open_viewer(STORY)
    expected = [
        "09:12:03 ▶ pipeline started: story auth-login-flow",
        "09:12:04 step 1: Created worktree at /home/me/proj/.saga/worktrees/auth-login-flow",
        "09:12:09 step 2: PR exists: https://github.com/me/proj/pull/42",
        "── cycle 1/10 ── 09:12:09",
    ]
    shows(viewer, expected)
    write(path, lines[4][50:] + lines[5])
    session = "⚙ session: claude-opus-4-6 in /home/me/proj/.saga/worktrees/auth-login-flow"
    shows(viewer, [*expected, session + " (claude 2.1.x)", "✻ thinking Which task first?"])
    assert viewer.snapshot()["lines"][3].startswith('<span class="sj-f6 sj-bold">── cycle 1/10')
    raw = open_viewer(STORY, view="raw")  # the JSON lines as written
    shows(raw, [line.rstrip("\n") for line in lines[:6]])
    raw.view = "transcript"
    shows(raw, viewer.lines)


def test_load_earlier_in_a_transcript_starts_at_a_message(
    open_viewer: Any, output_dir: Path
) -> None:
    path = output_dir / f"{STORY}.jsonl"
    write(path, "".join(step(number) for number in range(6_000)))  # 560 kB: over the window
    viewer = open_viewer(STORY, max_lines=1_000)
    wait_until(lambda: viewer.lines[-1:] == ["step 5999: message 005999"])
    assert viewer.has_earlier
    shown = [f"step {number}: message {number:06d}" for number in range(5_000, 6_000)]
    assert viewer.lines == shown
    assert viewer.load_earlier(max_lines=500) == 500
    assert viewer.lines == [f"step {n}: message {n:06d}" for n in range(4_500, 6_000)]
    assert viewer.load_earlier(max_bytes=940) == 10  # 94 bytes a message: no half one
    assert viewer.lines[0] == "step 4490: message 004490"
