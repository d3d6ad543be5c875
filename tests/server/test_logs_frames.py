"""A viewer catching up: frames built from the bytes read, and where it skips (catch_up_bytes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from bench import worker_output
from saga_jupyter.core.watch.tailer import skip_notice
from saga_jupyter.server.logstreams import MAX_FRAME_BYTES
from tests.helpers import Channel, running, saga_config

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
