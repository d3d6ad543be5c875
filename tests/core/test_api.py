from __future__ import annotations

import asyncio
import gc
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from libtmux.server import Server

import saga_jupyter as saga
from saga_jupyter.core.api import MAX_TAIL_BYTES, read_log_end
from saga_jupyter.core.engine import engine_for
from saga_jupyter.core.errors import InvalidSessionName, SessionNotFound
from saga_jupyter.core.info import utc
from saga_jupyter.core.records import SessionRecord
from saga_jupyter.core.saga.transcript import Transcript
from saga_jupyter.core.settings import DEFAULT_OUTPUT_DIR, resolve
from saga_jupyter.core.store import MetadataStore
from tests.helpers import (
    holds_open,
    kill_worker,
    own_threads,
    read_bytes_of_this_process,
    start_worker,
    wait_for,
    wait_until,
)

RUNNING = "saga__auth__login__1"
OTHER = "saga__billing__invoice__2"
DONE = "saga__auth__signup__3"
POLL = 0.2


@pytest.fixture
def sessions(server: Server, output_dir: Path) -> dict[str, str | None]:
    """Two running sessions (one writing output) and one completed (a file only)."""
    start_worker(server, RUNNING, output_dir)
    start_worker(server, OTHER)
    (output_dir / f"{DONE}.out").write_text("signed up\n")
    wait_until((output_dir / f"{RUNNING}.out").exists)
    return {"output_dir": str(output_dir), "tmux_socket_name": server.socket_name}


async def collect(stream: AsyncIterator[str], until: str, timeout: float = 5.0) -> str:
    """Text from ``stream`` until it contains ``until``, bounded in time."""
    text = ""
    deadline = time.monotonic() + timeout
    while until not in text:
        text += await asyncio.wait_for(anext(stream), max(0.001, deadline - time.monotonic()))
    return text


async def drain(stream: AsyncIterator[str], timeout: float = 5.0) -> str:
    """Everything ``stream`` yields until it ends, which must be within ``timeout`` seconds."""

    async def read_all() -> str:
        return "".join([chunk async for chunk in stream])

    return await asyncio.wait_for(read_all(), timeout)


def test_settings_resolve_arguments_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAGA_SESSIONS_DIR", raising=False)
    monkeypatch.delenv("SAGA_TMUX_SOCKET", raising=False)
    assert resolve() == (Path(DEFAULT_OUTPUT_DIR), None)
    monkeypatch.setenv("SAGA_SESSIONS_DIR", "/srv/out")
    monkeypatch.setenv("SAGA_TMUX_SOCKET", "sock")
    assert resolve() == (Path("/srv/out"), "sock")
    assert resolve("/x", "y") == (Path("/x"), "y")


def test_list_and_filter(sessions: dict[str, str]) -> None:
    listed = saga.list_sessions(**sessions)
    assert {info.name for info in listed} == {RUNNING, OTHER, DONE}
    assert [info.name for info in saga.list_sessions("running", **sessions)] == sorted(
        [RUNNING, OTHER], key=lambda name: [i.name for i in listed].index(name)
    )
    assert [info.name for info in saga.list_sessions("completed", **sessions)] == [DONE]
    assert {info.name for info in saga.list_sessions(epic="auth", **sessions)} == {RUNNING, DONE}
    assert [i.name for i in saga.list_sessions(epic="auth", story="login", **sessions)] == [RUNNING]
    assert saga.list_sessions("running", epic="auth", story="signup", **sessions) == []
    with pytest.raises(ValueError, match="status"):
        saga.list_sessions("finished", **sessions)


def test_settings_come_from_the_environment(
    sessions: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGA_SESSIONS_DIR", sessions["output_dir"])
    monkeypatch.setenv("SAGA_TMUX_SOCKET", sessions["tmux_socket_name"])
    assert {info.name for info in saga.list_sessions()} == {RUNNING, OTHER, DONE}
    assert saga.get_session(DONE).status == "completed"


def test_completed_sessions_keep_the_times_in_the_servers_store(
    server: Server, output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kernel started after the session ended: its file's mtime would be a poor start time.
    name, start, end = "saga__auth__stored__1", 1795343400.0, 1795344000.0
    (output_dir / f"{name}.out").write_text("done\n")
    state_file = tmp_path / "state.json"
    store = MetadataStore(state_file, output_dir=output_dir)
    store.save({name: SessionRecord(name, "completed", start, end, end)})
    written = state_file.read_bytes()
    monkeypatch.setenv("SAGA_STATE_FILE", str(state_file))
    info = saga.get_session(name, output_dir=output_dir, tmux_socket_name=server.socket_name)
    # Aware datetimes in UTC, from the store's timestamps.
    assert (info.start_time, info.end_time) == (
        datetime(2026, 11, 22, 10, 30, tzinfo=timezone.utc),
        datetime(2026, 11, 22, 10, 40, tzinfo=timezone.utc),
    )
    assert info.to_json()["startTime"] == "2026-11-22T10:30:00Z"
    assert state_file.read_bytes() == written  # read only: the server owns the file


def test_a_store_of_another_output_dir_is_not_used(
    server: Server, output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Remembered sessions of the server's directory, one of them without an output file: none of
    # them is a session of a kernel looking at another directory, nor are their times.
    (output_dir / f"{DONE}.out").write_text("signed up\n")
    elsewhere, state_file = tmp_path / "elsewhere", tmp_path / "state.json"
    records = {
        name: SessionRecord(name, "completed", 1795343400.0, 1795344000.0)
        for name in (DONE, "saga__auth__never-wrote__1")
    }
    MetadataStore(state_file, output_dir=elsewhere).save(records)
    written = state_file.read_bytes()
    monkeypatch.setenv("SAGA_STATE_FILE", str(state_file))
    found = saga.list_sessions(output_dir=output_dir, tmux_socket_name=server.socket_name)
    assert [info.name for info in found] == [DONE]
    assert found[0].start_time == utc((output_dir / f"{DONE}.out").stat().st_mtime // 1)
    assert state_file.read_bytes() == written


def test_a_damaged_store_is_left_to_the_server(
    server: Server, output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (output_dir / f"{DONE}.out").write_text("signed up\n")
    state_file = tmp_path / "state.json"
    state_file.write_bytes(b'{"version": 1, "sessions": [')
    monkeypatch.setenv("SAGA_STATE_FILE", str(state_file))
    info = saga.get_session(DONE, output_dir=output_dir, tmux_socket_name=server.socket_name)
    assert info.start_time == utc((output_dir / f"{DONE}.out").stat().st_mtime // 1)
    assert [path.name for path in tmp_path.iterdir() if "state" in path.name] == ["state.json"]


def test_get_session(sessions: dict[str, str], server: Server) -> None:
    info = saga.get_session(RUNNING, **sessions)
    assert (info.status, info.epic_slug, info.story_slug) == ("running", "auth", "login")
    assert info.output_preview == "started"
    kill_worker(server, RUNNING)
    completed = saga.get_session(RUNNING, **sessions)
    assert completed.status == "completed"
    # Seen running by an earlier call: its end is when it was seen ended, after its start.
    assert completed.end_time is not None and completed.start_time is not None
    assert completed.end_time >= completed.start_time
    with pytest.raises(SessionNotFound):
        saga.get_session("saga__auth__login__12", **sessions)
    assert saga.SessionNotFound is SessionNotFound
    for bad in ("saga__auth__login", "../etc/passwd", "saga__Auth__x__1"):
        with pytest.raises(InvalidSessionName):
            saga.get_session(bad, **sessions)
        with pytest.raises(ValueError):
            saga.read_log(bad, **sessions)


def test_read_log(sessions: dict[str, str], output_dir: Path) -> None:
    path = output_dir / f"{DONE}.out"
    path.write_bytes(b"one\ntwo\nthree\nbad \xff byte\n")
    assert saga.read_log(DONE, **sessions) == "one\ntwo\nthree\nbad \ufffd byte\n"
    assert saga.read_log(DONE, tail_lines=2, **sessions) == "three\nbad \ufffd byte\n"
    assert saga.read_log(DONE, tail_lines=10, **sessions) == saga.read_log(DONE, **sessions)
    assert saga.read_log(DONE, tail_lines=0, **sessions) == ""
    path.write_bytes(b"a\n\nb")  # no newline at the end; an empty line still counts
    assert saga.read_log(DONE, tail_lines=2, **sessions) == "\nb"
    assert saga.read_log(DONE, tail_lines=3, **sessions) == "a\n\nb"
    assert saga.read_log(OTHER, **sessions) == ""  # running, no output file yet
    with pytest.raises(SessionNotFound):
        saga.read_log("saga__x__y__9", **sessions)
    with pytest.raises(ValueError, match="tail_lines"):
        saga.read_log(DONE, tail_lines=-1, **sessions)


def test_read_log_tail_of_a_1_gib_file_reads_only_its_tail(
    sessions: dict[str, str], output_dir: Path
) -> None:
    path = output_dir / f"{DONE}.out"
    with path.open("wb") as file:
        file.truncate(1 << 30)  # sparse: 1 GiB of NUL bytes
        file.seek(1 << 30)
        file.write(b"".join(b"line %d \xe2\x9c\x93\n" % i for i in range(5000)))
    before = read_bytes_of_this_process()
    text = saga.read_log(DONE, tail_lines=3, **sessions)
    read = read_bytes_of_this_process() - before
    assert text == "line 4997 ✓\nline 4998 ✓\nline 4999 ✓\n"
    assert read < 200_000, f"read {read} bytes of a 1 GiB file"


@pytest.mark.parametrize("size", [10 << 30])
def test_read_log_tail_of_a_sparse_file_with_too_few_lines_is_bounded(
    sessions: dict[str, str], output_dir: Path, size: int
) -> None:
    path = output_dir / f"{DONE}.out"
    with path.open("wb") as file:
        file.write(b"the only line before the hole\n")
        file.truncate(size)  # sparse: 10 GiB of NUL bytes, not one line in them
        file.seek(size)
        file.write(b"no newline")
    before = read_bytes_of_this_process()
    text = saga.read_log(DONE, tail_lines=5, **sessions)
    read = read_bytes_of_this_process() - before
    assert read < MAX_TAIL_BYTES * 2 + 100_000, f"read {read} bytes of a 10 GiB file"
    # Not 5 lines: the bounded window, from its first whole character (no line starts in it).
    assert len(text) == MAX_TAIL_BYTES and text.endswith("\x00no newline")
    assert set(text[: -len("no newline")]) == {"\x00"}
    # With lines starting in the window: from the first of them.
    with path.open("ab") as file:
        file.write(b"\none\ntwo\n")
    assert saga.read_log(DONE, tail_lines=5, **sessions) == "one\ntwo\n"


async def test_follow_yields_appended_text_and_ends_on_completion(
    sessions: dict[str, str], server: Server, output_dir: Path
) -> None:
    path = output_dir / f"{RUNNING}.out"
    stream = saga.follow(RUNNING, poll=POLL, **sessions)
    assert await collect(stream, "started\n") == "started\n"
    check = "✓".encode()
    with path.open("ab", buffering=0) as file:
        file.write(b"half " + check[:1])
        text = await collect(stream, "half ")
        file.write(check[1:] + b" done\n")
        text += await collect(stream, "done\n")
    assert text == "half ✓ done\n"  # the character split across writes arrives whole
    kill_worker(server, RUNNING)
    with path.open("ab") as file:
        file.write(b"last words\n")  # written after the end: still read before finishing
    assert await drain(stream) == "last words\n"


async def test_follow_a_completed_session_gives_its_output_then_ends(
    sessions: dict[str, str],
) -> None:
    assert await drain(saga.follow(DONE, poll=POLL, **sessions)) == "signed up\n"


async def test_follow_sees_a_late_file_and_a_truncation(
    sessions: dict[str, str], output_dir: Path
) -> None:
    path = output_dir / f"{OTHER}.out"
    stream = saga.follow(OTHER, poll=POLL, **sessions)
    try:
        first = asyncio.ensure_future(anext(stream))
        # Waiting on a file that does not exist yet: its directory watch is in place.
        engine = engine_for(resolve(output_dir, sessions["tmux_socket_name"]))
        await wait_for(lambda: engine.watching)
        path.write_text("first file with a long line\n")
        assert await asyncio.wait_for(first, 5) == "first file with a long line\n"
        path.write_text("short\n")  # truncated and rewritten
        assert await collect(stream, "short\n") == "short\n"
    finally:
        await stream.aclose()


async def test_follow_from_now_skips_what_was_written(
    sessions: dict[str, str], output_dir: Path
) -> None:
    stream = saga.follow(RUNNING, offset=None, poll=POLL, **sessions)
    try:
        pending = asyncio.ensure_future(anext(stream))
        # Opened at its end: what is written from now on is new.
        await wait_for(lambda: holds_open(output_dir / f"{RUNNING}.out"))
        with (output_dir / f"{RUNNING}.out").open("a") as file:
            file.write("new\n")
        assert await asyncio.wait_for(pending, 5) == "new\n"
    finally:
        await stream.aclose()


async def test_follow_refuses_unknown_and_malformed_names(sessions: dict[str, str]) -> None:
    with pytest.raises(InvalidSessionName):
        saga.follow("saga__nope", **sessions)
    with pytest.raises(ValueError, match="poll"):
        saga.follow(RUNNING, poll=0, **sessions)
    stream = saga.follow("saga__x__y__9", poll=POLL, **sessions)
    with pytest.raises(SessionNotFound):
        await anext(stream)


async def test_closing_follow_leaves_no_thread_or_file(sessions: dict[str, str]) -> None:
    before = own_threads()
    fds = len(list(Path("/proc/self/fd").iterdir()))
    stream = saga.follow(RUNNING, poll=POLL, **sessions)
    assert await collect(stream, "started\n")
    assert own_threads() != before  # the engine and its directory watch run meanwhile
    await stream.aclose()
    # Released at once; the engine's thread ends on its own, within moments.
    await wait_for(lambda: own_threads() == before)
    await wait_for(lambda: len(list(Path("/proc/self/fd").iterdir())) == fds)


async def test_a_follow_left_behind_is_cleaned_up_when_collected(sessions: dict[str, str]) -> None:
    before = own_threads()

    async def first_line() -> str:
        async for text in saga.follow(RUNNING, poll=POLL, **sessions):
            return text  # leaves the iterator unclosed: the loop's finaliser closes it
        return ""

    assert await first_line() == "started\n"
    gc.collect()
    await wait_for(lambda: own_threads() == before)


# -- today's workers: their messages as a transcript unless asked for the raw lines

STORY = "saga-story-auth-login-1741165923"
SAMPLE = Path(__file__).with_name("saga_v4_sample.jsonl")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def test_read_log_of_a_v4_worker_is_its_transcript(
    sessions: dict[str, str], output_dir: Path
) -> None:
    data = SAMPLE.read_bytes()
    path = output_dir / f"{STORY}.jsonl"
    path.write_bytes(data + b'{"type":"result","subt')  # a line being written
    text = saga.read_log(STORY, **sessions)
    assert SGR.sub("", text) == SGR.sub("", Transcript().feed(data.decode()).text)
    assert "✓ cycle 1: 64 turns, 19m45s, $6.42" in SGR.sub("", text)
    assert saga.read_log(STORY, view="raw", **sessions) == path.read_text()
    last = saga.read_log(STORY, tail_lines=3, **sessions)
    assert SGR.sub("", last) == (
        "  API Error: 529 overloaded\n── cycle 2 ended (exit 1) ──\n"
        "10:02:11 ■ pipeline completed: 3 cycles, 50.1 min (exit 0)\n"
    )
    assert read_log_end(STORY, 3, **sessions)[1] == len(data)  # after the last complete line
    assert read_log_end(STORY, 3, view="raw", **sessions)[1] == path.stat().st_size
    with pytest.raises(ValueError, match="view"):
        saga.read_log(STORY, view="pretty", **sessions)
    assert saga.read_log(DONE, view="transcript", **sessions) == "signed up\n"  # v3: the bytes


async def test_follow_a_v4_worker_renders_each_line_once_complete(
    sessions: dict[str, str], server: Server, output_dir: Path
) -> None:
    server.cmd("new-session", "-d", "-s", STORY, "sleep 600")
    path = output_dir / f"{STORY}.jsonl"
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0])
    stream = saga.follow(STORY, poll=POLL, **sessions)
    raw = saga.follow(STORY, poll=POLL, view="raw", **sessions)
    try:
        started = "▶ pipeline started: story auth-login-flow"
        assert started in SGR.sub("", await collect(stream, started))
        assert await collect(raw, "\n") == lines[0].decode()
        with path.open("ab", buffering=0) as file:
            file.write(lines[3][:20])
            assert await collect(raw, lines[3][:20].decode()) == lines[3][:20].decode()
            file.write(lines[3][20:])  # the line complete: rendered now, once
            assert SGR.sub("", await collect(stream, "──\x1b[0m")) == "── cycle 1/10 ── 09:12:09\n"
        path.write_bytes(lines[1])  # truncated and rewritten: the transcript starts again
        assert "step 1: Created worktree" in await collect(stream, "auth-login-flow\x1b[0m\n")
        kill_worker(server, STORY)
        assert await drain(stream) == ""
    finally:
        await stream.aclose()
        await raw.aclose()
