"""The channel pings its clients, as Jupyter's own WebSockets do, so a vanished one is dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from tests.helpers import saga_config, wait_for

PING_MS = 100


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    config = saga_config(server, output_dir)
    config["ServerApp"]["tornado_settings"] = {"ws_ping_interval": PING_MS}
    return config


async def test_the_server_pings_every_client(jp_ws_fetch: Any, saga_app: Any) -> None:
    ws = await jp_ws_fetch("api", "saga", "channels")
    pings: list[bytes] = []
    ws.on_ping = pings.append  # called by the client's protocol for each ping frame
    # Read along: a client answers pings (pong) only while its connection is served.
    reader = asyncio.ensure_future(ws.read_message())
    try:
        await wait_for(lambda: len(pings) >= 2, timeout=5)
    finally:
        reader.cancel()
        ws.close()
