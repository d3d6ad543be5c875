"""Log streaming from a filesystem that cannot read without waiting: every read in a round."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.tailer import Tailer
from tests.helpers import Channel, saga_config
from tests.server.test_logs import INITIAL, POLL, random_text, running, write_in_pieces

SHM = Path("/dev/shm")


@pytest.fixture
def output_dir() -> Iterator[Path]:
    """An output directory on tmpfs, where ``RWF_NOWAIT`` reads are refused."""
    if not SHM.is_dir():
        pytest.skip("no /dev/shm")
    path = SHM / f"saga-test-{os.getpid()}"
    path.mkdir()
    probe = path / "probe"
    probe.write_bytes(b"x")
    with Tailer(probe) as tailer:
        try:
            tailer.read_available(bytearray(8))
        except BlockingIOError:
            pass
        else:
            pytest.skip("tmpfs reads without waiting on this kernel: nothing falls back")
    probe.unlink()
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


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
    rng = random.Random(3)
    burst = random_text(rng, 500).encode()
    cuts = sorted(rng.sample(range(1, len(burst)), 499))
    sizes = [b - a for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]
    await asyncio.to_thread(write_in_pieces, path, burst, sizes)
    text, frames = await channel.read_text(name, lambda t: len(t) >= len(burst.decode()))
    assert text == burst.decode()
    assert frames[-1]["offset"] == path.stat().st_size
    channel.close()
