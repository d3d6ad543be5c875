"""Many subscribers of one session: those at one offset share a read and a frame; each still
gets its own bytes, once, in order."""

from __future__ import annotations

import json
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.watch.dirwatch import WATCH_ENV
from saga_jupyter.core.watch.tailer import Tailer
from tests.helpers import Channel, random_sizes, random_text, running, saga_config, write_in_pieces

INITIAL = 4096


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=0.3, initial_log_bytes=INITIAL)


@pytest.fixture
def polling_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's watch polls (events come up to a poll late); ask for it before saga_app."""
    monkeypatch.setenv(WATCH_ENV, "polling")


async def test_subscribers_at_different_offsets_each_get_their_bytes(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    rng = random.Random(16)
    name = "saga__e__fanout__1"
    path = await running(saga_app, server, output_dir, name, random_text(rng, 400))
    content = path.read_bytes()
    channels = [await Channel.open(jp_ws_fetch) for _ in range(8)]
    starts, texts = [], []
    for k, channel in enumerate(channels):  # half from byte 0, half from the tail window
        frame = await channel.subscribe(name, offset=0 if k % 2 else None)
        starts.append(frame["offset"] - len(frame["data"].encode()))
        texts.append(frame["data"])
    assert len(set(starts)) == 2
    for _ in range(3):
        burst = random_text(rng, 300).encode()
        content += burst
        sizes = random_sizes(rng, len(burst), 299)
        writer = threading.Thread(target=write_in_pieces, args=(path, burst, sizes, 0.0002))
        writer.start()
        for k, channel in enumerate(channels):
            expected = content[starts[k] :].decode()

            def complete(text: str, expected: str = expected) -> bool:
                return len(text) >= len(expected)

            texts[k], frames = await channel.read_text(name, complete, text=texts[k])
            assert texts[k] == expected
            assert all(not frame["reset"] for frame in frames)
        writer.join()
    for channel in channels:
        channel.close()


async def test_caught_up_subscribers_share_one_read_and_one_frame(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path, monkeypatch: Any
) -> None:
    name = "saga__e__shared__1"
    path = await running(saga_app, server, output_dir, name, "before\n")
    channels = [await Channel.open(jp_ws_fetch) for _ in range(20)]
    for channel in channels:
        await channel.subscribe(name)
    reads, frames = [], []
    read_available, dumps = Tailer.read_available, json.dumps

    def counting_read(tailer: Tailer, buffer: bytearray) -> Any:
        reads.append(tailer)
        return read_available(tailer, buffer)

    def counting_dumps(value: Any, *args: Any, **kwargs: Any) -> str:
        if isinstance(value, dict) and value.get("type") == "logs:data":
            frames.append(value)
        return dumps(value, *args, **kwargs)

    writer = os.open(path, os.O_WRONLY | os.O_APPEND)  # open and close are events of their own
    monkeypatch.setattr(Tailer, "read_available", counting_read)
    monkeypatch.setattr(json, "dumps", counting_dumps)
    os.write(writer, b"one line for twenty viewers\n")
    for channel in channels:
        frame = await channel.receive_log(name)
        assert frame["data"] == "one line for twenty viewers\n"
        assert frame["offset"] == path.stat().st_size
    assert (len(reads), len(frames)) == (1, 1)
    os.close(writer)
    for channel in channels:
        channel.close()


async def test_subscribers_at_the_end_of_different_writes_do_not_share_a_read(
    polling_watch: None, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    # With events a poll late, B starts after a write A has not yet been told of: both are idle,
    # at different ends. When the event comes, A reads the write and B has nothing new to read;
    # sharing A's read would send it to B a second time.
    name = "saga__e__apart__1"
    path = await running(saga_app, server, output_dir, name, "first\n")
    a, b = await Channel.open(jp_ws_fetch), await Channel.open(jp_ws_fetch)
    text_a = (await a.subscribe(name))["data"]
    with path.open("a") as file:
        file.write("second\n")
    text_b = (await b.subscribe(name))["data"]
    assert text_b.endswith("second\n")  # B started after the write; A has not seen it yet
    with path.open("a") as file:
        file.write("end\n")
    text_a, _ = await a.read_text(name, lambda text: text.endswith("end\n"), text=text_a)
    text_b, _ = await b.read_text(name, lambda text: text.endswith("end\n"), text=text_b)
    assert (text_a, text_b) == ("first\nsecond\nend\n", "first\nsecond\nend\n")
    a.close()
    b.close()
