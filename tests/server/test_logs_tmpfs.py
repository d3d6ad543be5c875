"""Log streaming from a filesystem that cannot read without waiting: every read in a round."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from tests.helpers import Channel, burst_arrives, reads_without_waiting, running, saga_config
from tests.server.test_logs import INITIAL, POLL


@pytest.fixture
def output_dir(tmpfs_dir: Path) -> Path:
    """An output directory on tmpfs, where ``RWF_NOWAIT`` reads are refused."""
    if reads_without_waiting(tmpfs_dir):
        pytest.skip("tmpfs reads without waiting on this kernel: nothing falls back")
    return tmpfs_dir


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=POLL, initial_log_bytes=INITIAL)


async def test_every_byte_arrives_when_no_read_can_skip_the_executor(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__tmpfs__1"
    path = await running(saga_app, server, output_dir, name, "before\n")
    channel = await Channel.open(jp_ws_fetch)
    assert (await channel.subscribe(name))["data"] == "before\n"
    _, frames = await burst_arrives(channel, path, name, random.Random(3), 500)
    assert frames[-1]["offset"] == path.stat().st_size
    channel.close()
