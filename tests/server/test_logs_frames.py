"""A viewer catching up: frames built from the bytes read, and where it skips (catch_up_bytes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from bench import worker_output
from saga_jupyter.core.watch.tailer import skip_notice
from saga_jupyter.server import logstreams
from saga_jupyter.server.logstreams import MAX_FRAME_BYTES, TURN_BYTES
from saga_jupyter.server.subscriptions import read_all
from tests.helpers import Channel, reads_without_waiting, running, saga_config

CATCH_UP = 1 << 20


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, initial_log_bytes=4096, catch_up_bytes=CATCH_UP)


async def test_a_backlog_is_sent_whole_without_json_dumps_of_its_data(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path, monkeypatch: Any
) -> None:
    # json.dumps escaped every character of a backlog, the largest cost of a catch-up: its
    # frames are built from the bytes read (valid UTF-8: ANSI, \r, quotes, 2- to 4-byte
    # characters), the same text once parsed.
    name = "saga__e__backlog__1"
    content = (worker_output(CATCH_UP - 4096) + b'"quoted" \\ \t\x00 \xf0\x9f\x98\x80\n').decode()
    await running(saga_app, server, output_dir, name, content)
    dumped: list[int] = []
    dumps = json.dumps

    def counting_dumps(value: Any, *args: Any, **kwargs: Any) -> str:
        if isinstance(value, dict) and value.get("type") == "logs:data" and value.get("data"):
            dumped.append(len(value["data"]))
        return dumps(value, *args, **kwargs)

    monkeypatch.setattr(json, "dumps", counting_dumps)
    channel = await Channel.open(jp_ws_fetch)
    await channel.send({"type": "subscribe:logs", "sessionName": name, "offset": 0})
    _, frames = await channel.read_text(name, lambda text: text == content)
    assert dumped == []
    assert len(frames) > 2 and all(len(f["data"].encode()) <= MAX_FRAME_BYTES for f in frames)
    assert frames[-1]["offset"] == len(content.encode())
    channel.close()


async def test_a_backlog_in_memory_is_read_on_the_loop_not_a_round_a_turn(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path, monkeypatch: Any
) -> None:
    # A round (one executor job) for each turn of a backlog handed the GIL between the loop's
    # thread and the executor's, a third of a catch-up's time: after its first, a backlog whose
    # bytes are in memory is read on the loop, frame after frame, byte-exact.
    if not reads_without_waiting(output_dir):
        pytest.skip("the output directory's filesystem cannot read without waiting")
    name = "saga__e__onloop__1"
    content = worker_output(8 * TURN_BYTES).decode()
    await running(saga_app, server, output_dir, name, content)
    saga_app.log_streams.catch_up = 1 << 40  # every byte read, none skipped
    rounds: list[int] = []

    def counting_read_all(jobs: list[Any], *args: Any) -> Any:
        rounds.append(len(jobs))
        return read_all(jobs, *args)

    monkeypatch.setattr(logstreams, "read_all", counting_read_all)
    channel = await Channel.open(jp_ws_fetch)
    await channel.send({"type": "subscribe:logs", "sessionName": name, "offset": 0})
    text, frames = await channel.read_text(name, lambda text: len(text) >= len(content))
    assert text == content and frames[-1]["offset"] == len(content.encode())
    assert len(rounds) <= 2, rounds  # the initial frame, and at most one turn
    channel.close()


async def test_catch_up_bytes_sets_how_far_behind_a_viewer_skips(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__behind__1"
    content = worker_output(2 * CATCH_UP) + b"the end\n"
    path = await running(saga_app, server, output_dir, name)
    path.write_bytes(content)
    channel = await Channel.open(jp_ws_fetch)
    initial = await channel.subscribe(name, offset=0)
    assert initial["skipped"] > CATCH_UP
    assert initial["data"].startswith(skip_notice(initial["skipped"]))
    assert initial["data"].endswith("the end\n") and initial["offset"] == len(content)
    channel.close()
