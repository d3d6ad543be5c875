"""Log streams after inotify lost events: the line written next still arrives, unprompted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.dirwatch import WATCH_ENV
from tests.core.test_dirwatch import flood_of_events, queue_limit
from tests.helpers import Channel, running, saga_config


@pytest.fixture
def jp_server_config(
    server: Server, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv(WATCH_ENV, "inotify")  # the watch whose queue can overflow
    return saga_config(server, output_dir, poll_interval=0.3, initial_log_bytes=4096)


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
