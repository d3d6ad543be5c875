"""The channel WebSocket: snapshot, live sessions:updated frames, ping, error frames."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server
from tornado.websocket import WebSocketClientConnection

from tests.helpers import kill_worker, saga_config, start_worker

POLL = 0.5


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=POLL)


async def receive(ws: WebSocketClientConnection, timeout: float = 2.0) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), timeout)
    assert isinstance(message, str), f"connection closed: {ws.close_code} {ws.close_reason}"
    frame: dict[str, Any] = json.loads(message)
    return frame


async def receive_until(
    ws: WebSocketClientConnection, predicate: Any, timeout: float
) -> tuple[dict[str, Any], float]:
    """The first frame matching ``predicate`` and the seconds it took; fail after ``timeout``."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        frame = await receive(ws, max(0.01, deadline - time.monotonic()))
        if predicate(frame):
            return frame, time.monotonic() - started


def names(frame: dict[str, Any]) -> list[str]:
    return [s["name"] for s in frame["sessions"]]


async def test_snapshot_on_connect(jp_ws_fetch: Any, saga_app: Any, output_dir: Path) -> None:
    (output_dir / "saga__e__s__1.out").write_text("done\n")
    await saga_app.poller.request_scan()
    ws = await jp_ws_fetch("api", "saga", "channels")
    frame = await receive(ws)
    assert frame["type"] == "sessions:updated"
    assert names(frame) == ["saga__e__s__1"]
    assert frame["sessions"][0]["outputPreview"] == "done"
    ws.close()


async def test_new_session_appears_within_a_second_when_its_file_is_created(
    jp_ws_fetch: Any, jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    # A slow poll, so that only the directory watch can be this fast.
    saga_app.poller.interval = 60
    saga_app.poller._timer.stop()
    ws = await jp_ws_fetch("api", "saga", "channels")
    assert names(await receive(ws)) == []
    start_worker(server, "saga__e__s__1", output_dir)  # the worker creates its .out file
    # A longer limit than the target: a slow frame fails on the measured time, not a timeout.
    frame, took = await receive_until(ws, lambda f: names(f) == ["saga__e__s__1"], timeout=5.0)
    assert frame["sessions"][0]["status"] == "running"
    assert took < 1.0
    listed = json.loads((await jp_fetch("api", "saga", "sessions")).body)
    assert [s["name"] for s in listed] == ["saga__e__s__1"]
    ws.close()


async def test_new_session_without_a_file_appears_within_the_poll_interval(
    jp_ws_fetch: Any, saga_app: Any, server: Server
) -> None:
    ws = await jp_ws_fetch("api", "saga", "channels")
    await receive(ws)
    start_worker(server, "saga__e__s__2")
    frame, _ = await receive_until(ws, lambda f: names(f) == ["saga__e__s__2"], POLL + 1)
    assert frame["sessions"][0]["outputAvailable"] is False
    kill_worker(server, "saga__e__s__2")
    # No output file, but remembered: completed, with no output to show.
    frame, _ = await receive_until(
        ws, lambda f: f["sessions"][0]["status"] == "completed", POLL + 1
    )
    assert frame["sessions"][0]["outputAvailable"] is False
    assert frame["sessions"][0]["endTime"] is not None
    ws.close()


async def test_completion_and_removal_are_pushed(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__s__3"
    start_worker(server, name, output_dir)
    ws = await jp_ws_fetch("api", "saga", "channels")
    await receive_until(ws, lambda f: names(f) == [name], POLL + 1)
    kill_worker(server, name)
    frame, _ = await receive_until(
        ws, lambda f: f["sessions"] and f["sessions"][0]["status"] == "completed", POLL + 1
    )
    assert frame["sessions"][0]["endTime"] is not None
    (output_dir / f"{name}.out").unlink()
    await receive_until(ws, lambda f: names(f) == [], 1.0)
    ws.close()


async def test_preview_change_is_pushed(jp_ws_fetch: Any, saga_app: Any, output_dir: Path) -> None:
    path = output_dir / "saga__e__s__4.out"
    path.write_text("one\n")
    ws = await jp_ws_fetch("api", "saga", "channels")
    await receive_until(ws, lambda f: names(f) == ["saga__e__s__4"], POLL + 1)
    with path.open("a") as file:
        file.write("two\n")
    frame, _ = await receive_until(ws, lambda f: True, POLL + 1)
    assert frame["sessions"][0]["outputPreview"] == "one\ntwo"
    ws.close()


async def test_no_frame_when_nothing_changed(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    start_worker(server, "saga__e__s__5")
    (output_dir / "saga__e__s__6.out").write_text("x\n")
    await saga_app.poller.request_scan()
    ws = await jp_ws_fetch("api", "saga", "channels")
    assert len((await receive(ws))["sessions"]) == 2
    polls_before = saga_app.poller.last_poll
    with pytest.raises(asyncio.TimeoutError):
        await receive(ws, timeout=POLL * 4)
    assert saga_app.poller.last_poll > polls_before  # the poller did run meanwhile
    ws.close()


async def test_ping_pong_and_error_frames_keep_the_connection(
    jp_ws_fetch: Any, saga_app: Any
) -> None:
    ws = await jp_ws_fetch("api", "saga", "channels")
    await receive(ws)
    other = await jp_ws_fetch("api", "saga", "channels")
    await receive(other)
    bad_frames: list[str | bytes] = [
        "not json",
        "[1, 2]",
        '"text"',
        "{}",
        '{"type": 5}',
        '{"type": "nope"}',
        b"\x00\x01binary",
    ]
    for bad in bad_frames:
        await ws.write_message(bad, binary=isinstance(bad, bytes))
        frame = await receive(ws)
        assert frame["type"] == "error", bad
        assert frame["error"]
    await ws.write_message(json.dumps({"type": "ping"}))
    assert await receive(ws) == {"type": "pong"}
    await other.write_message(json.dumps({"type": "ping"}))
    assert await receive(other) == {"type": "pong"}
    ws.close()
    other.close()


async def test_clients_are_counted(jp_ws_fetch: Any, jp_fetch: Any, saga_app: Any) -> None:
    async def clients() -> int:
        return int(json.loads((await jp_fetch("api", "saga", "status")).body)["clients"])

    first = await jp_ws_fetch("api", "saga", "channels")
    second = await jp_ws_fetch("api", "saga", "channels")
    await receive(first)
    await receive(second)
    assert await clients() == 2
    first.close()
    deadline = time.monotonic() + 2
    while await clients() != 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    second.close()
