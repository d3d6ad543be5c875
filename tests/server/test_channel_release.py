"""Channel clients that come and go leave nothing behind: no handler, lane or subscription.

A closed client must be freed as soon as it is released, by reference counting: this server's
process holds some 200,000 objects frozen out of the collector's sight, so a full collection
runs rarely and anything left in a reference cycle waits minutes for it (the front server's
memory rose about 1 MiB a minute over a churn of viewers). The collector is off while it is
checked, so a cycle shows.
"""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from tests.helpers import saga_config, wait_for
from tests.hosts import Host, remote_of, start_host, stop_host

VIEWERS = 12


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Host]:
    """A remote, ``alpha``, in its own process, with one running worker."""
    host = start_host(tmp_path, "alpha")
    yield host
    stop_host(host)


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path, remote: Host) -> dict[str, Any]:
    config = saga_config(server, output_dir, remotes=[remote_of(remote)])
    # Keep-alive timers off: cancelled at close, tornado's (set for 30,000 s: it reads Jupyter's
    # milliseconds as seconds) would hold the handler's context, and so the handler, until
    # asyncio sweeps cancelled timers. Jupyter's own keep-alive cycle is broken at close too.
    config["ServerApp"]["tornado_settings"] = {"ws_ping_interval": 0}
    return config


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_viewers_that_came_and_went_are_freed_at_once(
    jp_ws_fetch: Any, saga_app: Any, remote: Host, collector_off: None
) -> None:
    alpha = saga_app.federation.remotes["alpha"]
    await wait_for(lambda: alpha.state == "connected", timeout=30)
    name = "saga__alpha__work__1"
    subscribe = {"type": "subscribe:logs", "sessionName": name, "host": "alpha"}
    viewers = [await jp_ws_fetch("api", "saga", "channels") for _ in range(VIEWERS)]
    for viewer in viewers:
        viewer.write_message(json.dumps(subscribe))
    handlers = await wait_for(
        lambda: len(saga_app.channels) == VIEWERS and saga_app.channels._clients
    )
    released = [weakref.ref(handler) for handler in handlers]
    del handlers
    await wait_for(lambda: sum(len(lane.subscriptions) for lane in alpha.lanes) == VIEWERS)
    assert len(alpha.lanes) == VIEWERS  # one viewer of one session: a lane each

    for k, viewer in enumerate(viewers):
        if k % 2:  # half say so first, half just go
            viewer.write_message(json.dumps({**subscribe, "type": "unsubscribe:logs"}))
        viewer.close()
    await wait_for(lambda: len(saga_app.channels) == 0)
    await wait_for(lambda: len(alpha.lanes) == 1 and not alpha.lanes[0].subscriptions)
    await wait_for(lambda: all(ref() is None for ref in released), timeout=10)
