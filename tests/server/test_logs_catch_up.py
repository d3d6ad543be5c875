"""A viewer far behind its file's end (a sparse file grown by a gigabyte) skips to the tail."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.watch.tailer import skip_notice
from tests.helpers import Channel, running, saga_config

INITIAL = 4096
HOLE = 1 << 30  # sparse: a gigabyte of NUL bytes that no viewer should get (> CATCH_UP_BYTES)
# What a viewer may receive before the tail: a frame of the hole read on the loop as each write
# announced it (up to 1 MiB of NULs, 6 bytes of JSON each), and the tail's window.
BUDGET = 16 << 20


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=0.3, initial_log_bytes=INITIAL)


async def frames_until(
    channel: Channel, name: str, text: str, budget: int = BUDGET
) -> list[dict[str, Any]]:
    """Log frames until one holds ``text``; fail once they took more than ``budget`` bytes."""
    frames: list[dict[str, Any]] = []
    taken = 0
    while not frames or text not in frames[-1]["data"]:
        frame = await channel.receive_log(name, timeout=10)
        frames.append(frame)
        taken += len(json.dumps(frame))
        assert taken <= budget, f"{len(frames)} frames, {taken} bytes, no tail yet"
    return frames


def grow_sparse(path: Path, hole: int, tail: bytes) -> int:
    """Grow ``path`` by a hole of ``hole`` bytes (``truncate -s``), then append ``tail``."""
    size = path.stat().st_size + hole
    os.truncate(path, size)
    with path.open("ab") as file:
        file.write(tail)
    return size + len(tail)


async def test_a_viewer_far_behind_skips_to_the_tail_with_a_marker(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__sparse__1"
    path = await running(saga_app, server, output_dir, name, "before\n")
    channel = await Channel.open(jp_ws_fetch)
    assert (await channel.subscribe(name))["data"] == "before\n"
    tail = b"".join(b"line %d \xe2\x9c\xbb\n" % i for i in range(2000))  # ~28 KiB
    size = grow_sparse(path, HOLE, tail)
    frames = await frames_until(channel, name, "line 1999 ✻\n")
    (skip,) = [frame for frame in frames if "skipped" in frame]
    assert skip["data"].startswith(skip_notice(skip["skipped"]))
    shown = skip["data"][len(skip_notice(skip["skipped"])) :]
    # The tail's last initial_log_bytes, cut at a line start, as the initial frame is.
    assert shown.startswith("line ") and len(shown.encode()) <= INITIAL
    assert tail.decode().endswith(shown)
    # offset stays the file's true byte offset: resuming from it goes on from there.
    assert frames[-1]["offset"] == size
    # Skipped from where it was: the hole's start, or a frame of it (a write's fast read) in.
    skipped_from = skip["offset"] - len(shown.encode()) - skip["skipped"]
    assert len(b"before\n") <= skipped_from <= len(b"before\n") + (1 << 20)
    assert not any(frame["reset"] for frame in frames)
    with path.open("ab") as file:
        file.write(b"after\n")
    frame = await channel.receive_log(name)
    assert (frame["data"], frame["offset"], "skipped" in frame) == ("after\n", size + 6, False)
    channel.close()


async def test_resuming_from_an_offset_far_behind_skips_in_the_initial_frame(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__sparse__2"
    path = await running(saga_app, server, output_dir, name, "before\n")
    size = grow_sparse(path, HOLE, b"\nthe end\n")  # the hole ends a line of NUL bytes
    channel = await Channel.open(jp_ws_fetch)
    initial = await channel.subscribe(name, offset=3)
    assert initial["isInitial"] and not initial["reset"]
    assert initial["data"] == skip_notice(size - len(b"the end\n") - 3) + "the end\n"
    assert (initial["offset"], initial["skipped"]) == (size, size - len(b"the end\n") - 3)
    channel.close()
