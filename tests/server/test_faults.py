"""Faults under a running server: tmux killed, missing or hung; files that misbehave.

Each test runs a real Jupyter server (in this process) against a real tmux server on a private
socket and real files; faults that need a process of their own (a privilege dropped, a file size
limit, a stop timed) are in ``tests/e2e/test_faults_process.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from tests.helpers import (
    Channel,
    hanging_tmux,
    running,
    saga_config,
    start_worker,
    wait_for,
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
    """The tmux client processes this process started and has not reaped (a scan under way)."""
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command, _, rest = stat.partition(" (")[2].rpartition(") ")
        if command.startswith("tmux") and rest.split()[1] == me:
            found.append(int(entry.name))
    return found


# --- tmux ---------------------------------------------------------------------------------------


async def test_tmux_killed_mid_scan_then_back(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    names = [f"saga__e__killed__{i}" for i in range(3)]
    for name in names:
        start_worker(server, name, output_dir)
    await wait_for(lambda: all(saga_app.poller.is_completed(n) is False for n in names), timeout=5)
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
        return all(saga_app.poller.is_completed(n) for n in names)

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
    await wait_for(lambda: saga_app.poller.is_completed("saga__e__back__1") is False, timeout=5)
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
    await wait_for(lambda: saga_app.poller.is_completed("saga__e__hung__1") is False)
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
        await wait_for(lambda: saga_app.poller.is_completed("saga__e__new__2"), timeout=5)
        polled = saga_app.poller.last_poll
        assert polled > before
        await wait_for(lambda: saga_app.poller.last_poll > polled + 5 * POLL, timeout=5)
        assert saga_app.poller.is_completed("saga__e__hung__1") is False  # not taken for ended
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
