"""Starting, stopping and living without tmux: the extension never leaves anything behind."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.tmux.client import BACKOFF_FIRST
from saga_jupyter.core.watch.dirwatch import watch_kind
from tests.helpers import (
    inotify_watches,
    inotify_watches_on,
    own_threads,
    saga_config,
    start_worker,
    wait_for,
)

POLL = 0.2


@pytest.fixture
def jp_server_config(server: Server, tmp_path: Path) -> dict[str, Any]:
    # The output directory does not exist when the server starts.
    return saga_config(server, tmp_path / "not-yet", poll_interval=POLL)


async def get_json(jp_fetch: Any, *parts: str) -> Any:
    return json.loads((await jp_fetch("api", "saga", *parts)).body)


async def test_stops_cleanly(
    jp_serverapp: Any, jp_ws_fetch: Any, server: Server, tmp_path: Path
) -> None:
    before = own_threads()
    await jp_serverapp.extension_manager.start_all_extensions()
    app = jp_serverapp.extension_manager.extension_points["saga_jupyter"].app
    poller = app.poller
    (tmp_path / "not-yet").mkdir()
    await wait_for(lambda: poller.watch.watching, timeout=POLL + 2)
    timer = poller._timer
    assert timer.is_running()
    if watch_kind() == "inotify":  # the watch's events are read on the loop
        assert {t.name for t in own_threads() - before} <= {"saga-scan"}  # a scan, if under way
    assert inotify_watches_on(tmp_path / "not-yet") == inotify_watches(1)
    ws = await jp_ws_fetch("api", "saga", "channels")
    await ws.read_message()

    await app.stop_extension()

    assert not timer.is_running() and poller._timer is None
    assert not poller.watch.watching
    await wait_for(lambda: own_threads() - before == set())  # a scan's thread ends by itself
    assert inotify_watches_on(tmp_path / "not-yet") == 0
    assert await asyncio.wait_for(ws.read_message(), 2) is None  # the server closed it
    assert ws.close_code == 1001
    assert len(app.channels) == 0


async def test_output_dir_created_after_start_is_watched(
    jp_fetch: Any, saga_app: Any, tmp_path: Path
) -> None:
    status = await get_json(jp_fetch, "status")
    assert status["outputDirExists"] is False
    assert saga_app.poller.watch.watching is False
    out = tmp_path / "not-yet"
    out.mkdir()
    await wait_for(lambda: saga_app.poller.watch.watching, timeout=POLL + 2)
    # From now on a new file is seen through the watch, not the poll.
    saga_app.poller._timer.stop()
    (out / "saga__e__s__1.out").write_text("x\n")
    await wait_for(lambda: saga_app.poller.by_name.get("saga__e__s__1"), timeout=1)
    assert (await get_json(jp_fetch, "status"))["outputDirExists"] is True


async def test_no_tmux_server_then_one_starts(jp_fetch: Any, saga_app: Any, server: Server) -> None:
    status = await get_json(jp_fetch, "status")
    assert status["tmux"]["available"] is True
    assert status["tmux"]["serverRunning"] is False
    assert await get_json(jp_fetch, "sessions") == []
    start_worker(server, "saga__e__s__1")
    await wait_for(lambda: saga_app.poller.by_name.get("saga__e__s__1"), timeout=POLL + 1)
    assert (await get_json(jp_fetch, "status"))["tmux"]["serverRunning"] is True


async def test_tmux_missing_from_path(
    jp_fetch: Any,
    saga_app: Any,
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PATH", str(tmp_path))  # no tmux in there
    polls = saga_app.poller.last_poll

    async def unavailable() -> Any:
        status = await get_json(jp_fetch, "status")
        return status["tmux"]["available"] is False and status

    status = await wait_for(unavailable, timeout=POLL + 2)
    assert "not installed" in status["tmux"]["error"]
    assert status["tmux"]["serverRunning"] is False
    assert await get_json(jp_fetch, "sessions") == []
    # Several more polls: still one warning, and no traceback at all.
    await wait_for(lambda: saga_app.poller.last_poll > polls + 4 * POLL, timeout=10 * POLL)
    tmux_warnings = [r for r in caplog.records if "tmux unavailable" in r.getMessage()]
    assert len(tmux_warnings) == 1
    assert not [r for r in caplog.records if r.exc_info]

    monkeypatch.undo()
    start_worker(server, "saga__e__s__1")
    # The breaker waits 2 s, then 4 s, between tries: back within one such wait.
    await wait_for(lambda: saga_app.poller.by_name.get("saga__e__s__1"), timeout=4 * BACKOFF_FIRST)
    status = await get_json(jp_fetch, "status")
    assert status["tmux"]["available"] is True and status["tmux"]["error"] is None
