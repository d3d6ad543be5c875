"""A tmux server stopped (SIGSTOP) under a running Jupyter server: nothing else stops with it.

Requests that ask tmux (detail, stop) pile up while it hangs; the log route and the channel's
log streams of another session answer all the while, ``/status`` says tmux is unavailable, and
each of those requests ends within the tmux timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from tests.helpers import Channel, saga_config, start_worker, status_of, wait_for

HUNG = "saga__hang__x__1"
OTHER = "saga__e__other__1"
PILED = 8  # more than the default executor's threads (min(32, cores + 4)); fewer than the
# test client's connections (10), or the requests below would queue in the client


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=0.1, allow_control=True)


async def get_json(jp_fetch: Any, *parts: str) -> Any:
    return json.loads((await jp_fetch("api", "saga", *parts)).body)


async def within(seconds: float, awaitable: Any) -> Any:
    """``awaitable``'s result; fails if it takes more than ``seconds``."""
    return await asyncio.wait_for(awaitable, seconds)


async def test_a_stopped_tmux_holds_up_nothing_but_its_own_calls(
    jp_fetch: Any,
    jp_ws_fetch: Any,
    saga_app: Any,
    server: Server,
    output_dir: Path,
    stop_tmux: Callable[[], int],
) -> None:
    path = output_dir / f"{OTHER}.out"
    path.write_text("before\n")
    for name in (OTHER, HUNG):
        start_worker(server, name)
        await wait_for(lambda n=name: status_of(saga_app, n) == "running", timeout=5)
    stop_tmux()
    # Requests that ask tmux, many at once: each may wait up to the tmux timeout (5 s).
    detail = ("api", "saga", "sessions", HUNG)
    stop = {"method": "POST", "body": b""}
    piled = [
        asyncio.ensure_future(jp_fetch(*detail, request_timeout=30)) for _ in range(PILED // 2)
    ] + [
        asyncio.ensure_future(jp_fetch(*detail, "stop", request_timeout=30, **stop))
        for _ in range(PILED // 2)
    ]
    await asyncio.sleep(0.3)  # let them reach their tmux calls (a pace, not a condition)
    started = time.monotonic()
    log = await within(2, jp_fetch("api", "saga", "sessions", OTHER, "log"))
    assert log.body == b"before\n"
    channel = await within(2, Channel.open(jp_ws_fetch))
    assert (await within(2, channel.subscribe(OTHER)))["data"] == "before\n"
    with path.open("a") as file:
        file.write("during\n")
    frame = await channel.receive_log(OTHER, timeout=2)
    assert frame["data"] == "during\n"
    assert time.monotonic() - started < 4  # all of it before the tmux calls gave up

    async def unavailable() -> Any:
        status = await get_json(jp_fetch, "status")
        return status["tmux"]["available"] is False and status

    status = await wait_for(unavailable, timeout=15)
    assert "did not answer" in status["tmux"]["error"] or "next try" in status["tmux"]["error"]
    # Every piled request ended, each within the tmux timeout once its turn came.
    answers = await within(20, asyncio.gather(*piled, return_exceptions=True))
    details = [json.loads(a.body) for a in answers[: PILED // 2]]
    assert all(d["windows"] is None and d["tmuxError"] for d in details)
    assert status_of(saga_app, OTHER) == "running"  # not taken for ended
    log = await within(2, jp_fetch("api", "saga", "sessions", OTHER, "log"))
    assert log.body == b"before\nduring\n"
    channel.close()
