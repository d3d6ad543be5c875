"""After inotify lost events: the line written next still arrives, a new file is listed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.watch.dirwatch import WATCH_ENV
from tests.core.test_dirwatch import flood_of_events, queue_limit
from tests.helpers import Channel, running, saga_config

POLL = 60.0


def churn_of_files(directory: Path, count: int) -> None:
    """``count`` events of a file created and deleted in turn (none of them a session's)."""
    path = directory / "noise.tmp"
    for _ in range(count // 2 + 1):
        path.touch()
        path.unlink()


@pytest.fixture
def jp_server_config(
    server: Server, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv(WATCH_ENV, "inotify")  # the watch whose queue can overflow
    # Scans far apart: only the directory watch can list a new file within the tests' waits.
    return saga_config(server, output_dir, poll_interval=POLL, initial_log_bytes=4096)


async def test_a_line_written_after_an_overflow_arrives_without_another_write(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__overflow__1"
    path = await running(saga_app, server, output_dir, name, "before\n")
    channel = await Channel.open(jp_ws_fetch)
    assert (await channel.subscribe(name))["data"] == "before\n"
    assert saga_app.poller.watch.kind == "inotify"
    # The server's loop runs this test: while it does not await, nobody reads inotify, and
    # the events of other files fill its queue.
    flood_of_events(output_dir, queue_limit() + 100)
    with path.open("a") as file:
        file.write("after the overflow\n")
    frame = await channel.receive_log(name, timeout=3)
    assert (frame["data"], frame["offset"]) == ("after the overflow\n", path.stat().st_size)
    channel.close()


async def test_a_file_created_during_an_overflow_is_listed_before_the_next_scan(
    jp_ws_fetch: Any, saga_app: Any, output_dir: Path
) -> None:
    name = "saga__e__unannounced__1"
    channel = await Channel.open(jp_ws_fetch)
    await saga_app.poller.wait_listed()
    # Nobody reads inotify meanwhile; with no log streamed only files coming and going count.
    churn_of_files(output_dir, queue_limit() + 100)
    (output_dir / f"{name}.out").write_text("done\n")  # its creation is past the queue's end
    deadline = time.monotonic() + 5  # the next scan is a minute away
    while True:
        frame = await channel.receive(max(0.001, deadline - time.monotonic()))
        if frame["type"] == "sessions:updated" and name in {s["name"] for s in frame["sessions"]}:
            break
    channel.close()
