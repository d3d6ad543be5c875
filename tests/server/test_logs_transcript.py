"""The transcript view of a today's worker's messages over the channel: rendered, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from tests.helpers import Channel, kill_worker, running, saga_config

SAMPLE = (Path(__file__).parents[1] / "core" / "saga_v4_sample.jsonl").read_bytes()
LINES = SAMPLE.splitlines(keepends=True)
NAME = "saga-story-auth-login-flow-1741165923"


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=0.3, initial_log_bytes=1 << 20)


async def test_a_transcript_is_rendered_and_resumes_at_line_ends(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    head = b"".join(LINES[:8])
    path = await running(saga_app, server, output_dir, NAME, head.decode())
    channel = await Channel.open(jp_ws_fetch)
    initial = await channel.subscribe(NAME, view="transcript")
    assert initial["isInitial"] and initial["offset"] == len(head)
    assert "cycle 1/10" in initial["data"] and '{"type"' not in initial["data"]
    assert "\x1b[" in initial["data"]  # coloured, for a terminal
    # Half a line is not rendered, nor counted; its end brings it whole.
    cut = len(LINES[8]) // 2
    with path.open("ab") as file:
        file.write(LINES[8][:cut])
    with path.open("ab") as file:
        file.write(LINES[8][cut:] + LINES[9])
    text, frames = await channel.read_text(NAME, lambda text: "src/auth.ts" in text)
    assert "FAIL src/auth.test.ts" in text  # the failing tool result, its first line
    assert frames[-1]["offset"] == len(head) + len(LINES[8]) + len(LINES[9])
    channel.close()
    # Resuming from an offset renders from there: nothing twice, nothing missed.
    again = await Channel.open(jp_ws_fetch)
    resumed = await again.subscribe(NAME, offset=len(head), view="transcript")
    assert "FAIL src/auth.test.ts" in resumed["data"] and "cycle 1/10" not in resumed["data"]
    # The raw view of the same session is still the exact bytes.
    raw = await again.subscribe(NAME)
    assert raw["data"].encode() == path.read_bytes()
    again.close()


async def test_a_completed_transcript_ends_with_the_pipeline(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    path = await running(saga_app, server, output_dir, NAME, b"".join(LINES[:4]).decode())
    channel = await Channel.open(jp_ws_fetch)
    await channel.subscribe(NAME, view="transcript")
    with path.open("ab") as file:
        file.write(b"".join(LINES[4:]))
    kill_worker(server, NAME)
    _, frames = await channel.read_text(NAME, lambda text: "pipeline completed" in text)
    while not frames[-1]["isComplete"]:
        frames.append(await channel.receive_log(NAME))
    assert frames[-1]["offset"] == len(SAMPLE)
    channel.close()


async def test_views_are_checked_and_terminal_sessions_stay_bytes(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    await running(saga_app, server, output_dir, NAME, LINES[0].decode())
    await running(saga_app, server, output_dir, "saga__e__s__1", '{"type":"x"}\n')
    channel = await Channel.open(jp_ws_fetch)
    refused = await channel.subscribe(NAME, view="pretty")
    assert refused["type"] == "logs:error" and "view" in refused["error"]
    terminal = await channel.subscribe("saga__e__s__1", view="transcript")
    assert terminal["data"] == '{"type":"x"}\n'
    channel.close()
