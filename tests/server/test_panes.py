"""The server keeps every v4 worker's pane: why one failed is in ``<name>.pane`` once it is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.tmux.panes import pane_summary
from tests.helpers import V4_ERROR, saga_config, start_failing_v4_worker, status_of, wait_for


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    # Scans seldom: a worker is seen through the watch.
    return saga_config(server, output_dir, poll_interval=60)


def piped(server: Server, name: str) -> bool:
    return server.cmd("display-message", "-p", "-t", f"={name}:", "#{pane_pipe}").stdout == ["1"]


async def test_the_error_of_a_worker_that_failed_at_once_is_kept(
    saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga-story-x-1"
    start_failing_v4_worker(server, name, output_dir)
    await wait_for(lambda: not server.has_session(name), timeout=15)
    await wait_for(lambda: pane_summary(output_dir, name, lines=1) == V4_ERROR, timeout=5)
    await wait_for(lambda: status_of(saga_app, name) is not None, timeout=5)
    assert saga_app.poller.panes.kept == {name}
    # How it ended, and why: what its pane said last.
    await saga_app.poller.request_scan()
    await wait_for(lambda: saga_app.poller.find(name).worker.summary is not None, timeout=15)
    worker = saga_app.poller.find(name).worker
    assert worker.outcome == "ERROR"
    assert worker.summary is not None and worker.summary.endswith(V4_ERROR)


async def test_running_v4_workers_found_by_a_scan_are_kept_once(
    jp_serverapp: Any, server: Server, output_dir: Path
) -> None:
    # Running before the server starts, without a .jsonl yet: only a scan sees them.
    names = [f"saga-story-y-{i}" for i in range(3)]
    for name in names:
        server.cmd("new-session", "-d", "-s", name, "sleep 600")
    server.cmd("new-session", "-d", "-s", "saga__e__v3__1", "sleep 600")  # not a v4 worker
    await jp_serverapp.extension_manager.start_all_extensions()
    app = jp_serverapp.extension_manager.extension_points["saga_jupyter"].app
    try:
        await wait_for(lambda: all(piped(server, n) for n in names), timeout=10)
        assert sorted(p.name for p in output_dir.iterdir()) == [f"{n}.pane" for n in names]
        assert not piped(server, "saga__e__v3__1")
        await app.poller.request_scan()
        assert app.poller.panes.kept == set(names)
    finally:
        await app.stop_extension()
