"""Faults under a running server: tmux killed, missing or hung; files that misbehave.

Each test runs a real Jupyter server (in this process) against a real tmux server on a private
socket and real files; faults that need a process of their own (a privilege dropped, a file size
limit, a stop timed) are in ``tests/e2e/test_faults.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.preview import PREVIEW_CHARS, PREVIEW_LINES
from saga_jupyter.server.logstreams import MAX_FRAME_BYTES
from tests.harness import children
from tests.helpers import (
    Channel,
    hanging_tmux,
    random_sizes,
    random_text,
    running,
    saga_config,
    start_worker,
    status_of,
    wait_for,
    write_in_pieces,
)

POLL = 0.1
INITIAL = 4096


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=POLL, initial_log_bytes=INITIAL)


async def get_json(jp_fetch: Any, *parts: str) -> Any:
    return json.loads((await jp_fetch("api", "saga", *parts)).body)


def tmux_server_pid(server: Server) -> int:
    return int(server.cmd("display-message", "-p", "#{pid}").stdout[0])


def tmux_clients_of_this_process() -> list[int]:
    """The tmux clients this process started and has not reaped (a scan under way)."""
    return [pid for pid, command in children(os.getpid()) if command.startswith("tmux")]


def _preview(saga_app: Any, name: str) -> str | None:
    preview: str | None = saga_app.poller.by_name[name].output_preview
    return preview


# --- tmux ---------------------------------------------------------------------------------------


async def test_tmux_killed_mid_scan_then_back(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    names = [f"saga__e__killed__{i}" for i in range(3)]
    for name in names:
        start_worker(server, name, output_dir)
    await wait_for(lambda: all(status_of(saga_app, n) == "running" for n in names), timeout=5)
    channel = await Channel.open(jp_ws_fetch)
    pid = tmux_server_pid(server)
    # Frozen, the tmux server leaves a scan waiting for its answer; killed then, mid-scan.
    os.kill(pid, signal.SIGSTOP)
    try:
        await wait_for(tmux_clients_of_this_process, timeout=5)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.kill(pid, signal.SIGCONT)

    def all_completed() -> bool:
        return all(status_of(saga_app, n) == "completed" for n in names)

    await wait_for(all_completed, timeout=5)
    status = await get_json(jp_fetch, "status")
    assert status["tmux"]["serverRunning"] is False
    assert status["sessions"] == {"running": 0, "completed": 3}
    listed = {s["name"]: s for s in await get_json(jp_fetch, "sessions")}
    assert listed.keys() == set(names)
    assert all(s["endTime"] and s["outputAvailable"] for s in listed.values())
    # The channel told the client, and still answers.
    frame = await channel.receive()
    while not all(s["status"] == "completed" for s in frame["sessions"]):
        frame = await channel.receive()
    await channel.send({"type": "ping"})
    assert (await channel.reply())["type"] == "pong"

    # tmux comes back on the same socket: a new worker is running, the old ones stay completed.
    start_worker(server, "saga__e__back__1")
    await wait_for(lambda: status_of(saga_app, "saga__e__back__1") == "running", timeout=5)
    status = await get_json(jp_fetch, "status")
    assert status["tmux"]["available"] is True and status["tmux"]["serverRunning"] is True
    assert status["tmux"]["error"] is None
    assert status["sessions"] == {"running": 1, "completed": 3}
    channel.close()


@pytest.mark.parametrize("missing", ["no tmux on PATH", "no tmux server on the socket"])
async def test_without_tmux_the_list_is_served_from_files(
    jp_serverapp: Any,
    jp_fetch: Any,
    output_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    missing: str,
) -> None:
    for i in range(3):
        (output_dir / f"saga__e__file__{i}.out").write_text(f"line {i}\n")
    with monkeypatch.context() as patch:  # undone before the tmux fixture's own teardown
        if missing == "no tmux on PATH":
            (tmp_path / "empty").mkdir()
            patch.setenv("PATH", str(tmp_path / "empty"))
        await jp_serverapp.extension_manager.start_all_extensions()
        app = jp_serverapp.extension_manager.extension_points["saga_jupyter"].app
        try:
            status = await get_json(jp_fetch, "status")
            assert status["lastPoll"] is not None
            assert status["tmux"]["serverRunning"] is False
            if missing == "no tmux on PATH":
                assert status["tmux"]["available"] is False
                assert "not installed" in status["tmux"]["error"]
            else:
                assert status["tmux"]["available"] is True and status["tmux"]["error"] is None
            sessions = await get_json(jp_fetch, "sessions")
            assert sorted(s["name"] for s in sessions) == [f"saga__e__file__{i}" for i in range(3)]
            assert {s["status"] for s in sessions} == {"completed"}
            assert {s["outputPreview"] for s in sessions} == {f"line {i}" for i in range(3)}
            log = await jp_fetch("api", "saga", "sessions", "saga__e__file__1", "log")
            assert log.body == b"line 1\n"
        finally:
            await app.stop_extension()


async def test_a_hung_tmux_never_stops_the_polls(
    jp_fetch: Any,
    jp_ws_fetch: Any,
    saga_app: Any,
    server: Server,
    output_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start_worker(server, "saga__e__hung__1", output_dir)
    await wait_for(lambda: status_of(saga_app, "saga__e__hung__1") == "running")
    saga_app.poller.discovery.tmux.timeout = 0.5
    before = saga_app.poller.last_poll
    with monkeypatch.context() as patch:  # undone before the tmux fixture's own teardown
        patch.setenv("PATH", hanging_tmux(tmp_path))

        async def unavailable() -> Any:
            status = await get_json(jp_fetch, "status")
            return status["tmux"]["available"] is False and status

        status = await wait_for(unavailable, timeout=5)
        assert "did not answer" in status["tmux"]["error"] or "next try" in status["tmux"]["error"]
        # The polls go on: a file that appears meanwhile is listed, lastPoll keeps moving.
        (output_dir / "saga__e__new__2.out").write_text("new\n")
        await wait_for(lambda: status_of(saga_app, "saga__e__new__2") == "completed", timeout=5)
        polled = saga_app.poller.last_poll
        assert polled > before
        await wait_for(lambda: saga_app.poller.last_poll > polled + 5 * POLL, timeout=5)
        assert status_of(saga_app, "saga__e__hung__1") == "running"  # not taken for ended
    channel = await Channel.open(jp_ws_fetch)
    assert (await channel.subscribe("saga__e__hung__1"))["data"] == "started\n"
    channel.close()


# --- the output directory and its files ---------------------------------------------------------


async def test_output_dir_deleted_and_recreated_while_streaming(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__dir__1"
    path = await running(saga_app, server, output_dir, name, "before\n")
    channel = await Channel.open(jp_ws_fetch)
    assert (await channel.subscribe(name))["data"] == "before\n"
    shutil.rmtree(output_dir)
    await wait_for(lambda: not saga_app.poller.output_dir_exists, timeout=5)
    output_dir.mkdir()
    # Written once, maybe before the directory is watched again: it must arrive all the same.
    path.write_text("after ✻\n")
    _, frames = await channel.read_text(name, lambda t: t == "after ✻\n", text="before\n")
    assert any(frame["reset"] for frame in frames)
    assert frames[-1]["offset"] == path.stat().st_size
    with path.open("a") as file:
        file.write("more\n")
    frame = await channel.receive_log(name)
    assert frame["data"] == "more\n" and not frame["reset"]
    await wait_for(lambda: saga_app.poller.output_dir_exists, timeout=5)
    assert (await get_json(jp_fetch, "status"))["outputDirExists"] is True
    channel.close()


INVALID_UTF8 = (
    b"ok \xff\xfe then \xe2\x9c end \xf0\x9f\x98 \xc3\n\xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf x\n"
)


async def test_invalid_utf8_is_replaced_in_frames_and_preview_not_in_the_log_route(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__bytes__1"
    path = await running(saga_app, server, output_dir, name, "")
    channel = await Channel.open(jp_ws_fetch)
    await channel.subscribe(name, offset=0)
    content = INVALID_UTF8 * 50 + "last ✻ line\n".encode() + INVALID_UTF8
    # Pieces of 1 to 3 bytes: invalid sequences split across reads too.
    sizes = [1 + i % 3 for i in range(len(content) // 2)]
    await asyncio.to_thread(write_in_pieces, path, content, sizes, 0.0002)
    expected = content.decode("utf-8", "replace")
    text, frames = await channel.read_text(name, lambda t: len(t) >= len(expected))
    assert text == expected and "\ufffd" in text
    assert frames[-1]["offset"] == len(content)
    log = await jp_fetch("api", "saga", "sessions", name, "log")
    assert log.body == content
    # Lines as a terminal shows them: the preview of the last scan after the last write.
    shown = [line.rstrip() for line in expected.splitlines()[-PREVIEW_LINES:]]
    await wait_for(lambda: _preview(saga_app, name) == "\n".join(shown), timeout=5)
    preview = saga_app.poller.by_name[name].output_preview
    assert "\ufffd" in preview and "last ✻ line" in preview
    listed = await get_json(jp_fetch, "sessions")
    assert listed[0]["outputPreview"] == preview
    channel.close()


async def test_a_10_mib_line_without_newline_comes_in_bounded_frames(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__long__1"
    path = await running(saga_app, server, output_dir, name, "")
    follower = await Channel.open(jp_ws_fetch)
    await follower.subscribe(name)
    line = ("✻ one long line " * (10 * 2**20 // 18 + 1)).encode()[: 10 * 2**20]
    line = line[: len(line.decode("utf-8", "ignore").encode())]  # whole characters only
    await asyncio.to_thread(write_in_pieces, path, line, [64 * 1024] * (len(line) // 65536))
    expected = line.decode()
    text, frames = await follower.read_text(name, lambda t: len(t) >= len(expected), timeout=30)
    assert text == expected
    assert max(len(f["data"].encode()) for f in frames) <= MAX_FRAME_BYTES
    # A newcomer gets at most initial_log_bytes, cut at a whole character.
    newcomer = await Channel.open(jp_ws_fetch)
    first = await newcomer.subscribe(name)
    assert 0 < len(first["data"].encode()) <= INITIAL
    assert first["offset"] == len(line) and expected.endswith(first["data"])
    # From byte 0: the whole line, in frames of at most MAX_FRAME_BYTES, the first of INITIAL.
    again = await Channel.open(jp_ws_fetch)
    start = await again.subscribe(name, offset=0)
    text, frames = await again.read_text(
        name, lambda t: len(t) >= len(expected), text=start["data"], timeout=30
    )
    assert text == expected
    assert len(start["data"].encode()) <= INITIAL
    assert max(len(f["data"].encode()) for f in frames) <= MAX_FRAME_BYTES
    # The end of the line as a terminal shows it (no trailing blank), read from the file's tail.
    shown = expected.rstrip()[-PREVIEW_CHARS:]
    await wait_for(lambda: _preview(saga_app, name) == shown, timeout=5)
    for channel in (follower, newcomer, again):
        channel.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_file_rotated_while_growing_delivers_both_files_once(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path, seed: int
) -> None:
    name = "saga__e__rotated__1"
    path = await running(saga_app, server, output_dir, name, "")
    channel = await Channel.open(jp_ws_fetch)
    await channel.subscribe(name, offset=0)
    rng = random.Random(seed)
    old, new = random_text(rng, 3000).encode(), random_text(rng, 3000).encode()

    def write_then_rotate() -> None:
        # Without a pause between: the rotation lands while the stream is still reading.
        write_in_pieces(path, old, random_sizes(rng, len(old), 300))
        path.rename(output_dir / f"{name}.out.1")
        write_in_pieces(path, new, random_sizes(rng, len(new), 300))

    writer = threading.Thread(target=write_then_rotate)
    writer.start()
    parts = [""]
    resets = 0
    while len(parts) < 2 or len(parts[-1]) < len(new.decode()):
        frame = await channel.receive_log(name, timeout=10)
        assert frame["type"] == "logs:data", frame
        if frame["reset"]:
            resets += 1
            parts.append("")
        parts[-1] += frame["data"]
    writer.join()
    assert resets == 1
    assert parts == [old.decode(), new.decode()]
    assert frame["offset"] == len(new)
    channel.close()
