"""The channel fuzzed: every frame gets its answer, the connection stays, other clients carry on.

Random JSON, text and bytes (hypothesis), deep nesting within and beyond the 64 KiB frame
limit, 10 MiB frames, and subscribe/unsubscribe floods of thousands of frames to real sessions.
Throughout, a bystander follows a session that is being written to and must see every byte
once, in order; afterwards no log stream is left.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from libtmux.server import Server

from saga_jupyter.core.errors import InvalidRequest
from saga_jupyter.core.inputs import MAX_JSON_DEPTH, load_json
from saga_jupyter.server.channel import MAX_CLIENT_FRAME
from tests.helpers import (
    Channel,
    holds_open,
    running,
    saga_config,
    start_worker,
    status_of,
    wait_for,
)

T = TypeVar("T")
WATCHED = "saga__e__watched__1"  # the bystander follows it
GHOST = "saga__e__ghost__2"  # running, no output file: subscribing gets logs:error
PONG = {"type": "pong"}


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=0.3)


class Bystander:
    """A client following one session in the background: what it received, in order."""

    def __init__(self, channel: Channel, name: str, path: Path) -> None:
        self.channel, self.name, self.path = channel, name, path
        self.text = ""
        self.task = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:
        initial = await self.channel.subscribe(self.name)
        assert initial["isInitial"], initial
        self.text = initial["data"]
        while True:
            frame = await self.channel.receive_log(self.name, timeout=3600)
            assert frame["type"] == "logs:data", frame
            self.text = frame["data"] if frame["reset"] else self.text + frame["data"]

    async def keeps_up(self, line: str) -> None:
        """Append a line to the session's file; the bystander gets it, and all before, once."""
        with self.path.open("a") as file:
            file.write(line)
        expected = self.path.read_text()
        await wait_for(lambda: self.task.done() or len(self.text) >= len(expected), timeout=5)
        if self.task.done():
            self.task.result()  # its failure, if it failed
        assert self.text == expected

    async def leave(self) -> None:
        self.task.cancel()
        self.channel.close()


async def bystander(saga_app: Any, server: Server, output_dir: Path, jp_ws_fetch: Any) -> Bystander:
    path = await running(saga_app, server, output_dir, WATCHED, "before the fuzz ✻\n")
    watcher = Bystander(await Channel.open(jp_ws_fetch), WATCHED, path)
    await watcher.keeps_up("subscribed\n")
    return watcher


def expected_answer(frame: str | bytes) -> str | None:
    """The answer the contract gives a frame: error, logs:error, pong, or none (unsubscribe)."""
    if isinstance(frame, bytes) or len(frame) > MAX_CLIENT_FRAME:
        return "error"
    try:
        value = load_json(frame, "frame")
    except InvalidRequest:
        return "error"
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return "error"
    answers = {"ping": "pong", "unsubscribe:logs": None, "subscribe:logs": "logs:error"}
    return answers.get(value["type"], "error")


async def answers(channel: Channel, frame: str | bytes) -> list[dict[str, Any]]:
    """Send a frame, then a ping: every frame in between (but session lists) answers it."""
    await channel.send(frame)
    await channel.send({"type": "ping"})
    got = []
    if expected_answer(frame) == "pong":  # the frame's own pong comes first
        got.append(await channel.reply())
    while (reply := await channel.reply()) != PONG:
        got.append(reply)
    return got


async def assert_answered(channel: Channel, frame: str | bytes) -> None:
    expected = expected_answer(frame)
    got = await answers(channel, frame)
    shown = frame[:200]
    assert [answer["type"] for answer in got] == ([expected] if expected else []), shown
    for answer in got:
        if answer["type"] != "pong":
            assert answer["error"], shown


def nested(depth: int, value: Any = 0) -> Any:
    for _ in range(depth):
        value = [value]
    return value


# --- random frames (hypothesis) ----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=25,
)
names = st.sampled_from([GHOST, "saga__e__unknown__9", "saga__a__b", "../" + WATCHED]) | json_values
offsets = st.sampled_from([0, 7, -1, (1 << 63) - 1, 1 << 63, 1 << 64, True, 1.5, "3"]) | json_values
types = (
    st.sampled_from(["subscribe:logs", "unsubscribe:logs", "ping", "pong", "logs:data", "error"])
    | st.text(max_size=20)
    | json_values
)
objects = st.fixed_dictionaries(
    {"type": types}, optional={"sessionName": names, "offset": offsets, "data": json_values}
)
# Objects with a field nested around the depth limit, and bare arrays far past json's own.
deep = st.builds(
    lambda value, depth: json.dumps({**value, "x": nested(depth)}),
    objects,
    st.integers(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 3),
) | st.integers(0, 20_000).map(lambda depth: "[" * depth + "]" * depth)
frames = (
    st.binary(max_size=300)
    | st.text(max_size=300)
    | json_values.map(json.dumps)
    | objects.map(json.dumps)
    | deep
)


def test_random_frames_each_get_their_answer(
    jp_asyncio_loop: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    # Sync, so that hypothesis drives it; each example runs on the server's loop.
    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return jp_asyncio_loop.run_until_complete(coroutine)  # type: ignore[no-any-return]

    watcher = run(bystander(saga_app, server, output_dir, jp_ws_fetch))
    start_worker(server, GHOST)
    run(wait_for(lambda: status_of(saga_app, GHOST) == "running", timeout=3))
    channel = run(Channel.open(jp_ws_fetch))
    sent = 0

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(frames)
    def answered(frame: str | bytes) -> None:
        nonlocal sent
        run(assert_answered(channel, frame))
        sent += 1
        if sent % 25 == 0:
            run(watcher.keeps_up(f"line {sent} while fuzzing ✻\n"))

    answered()
    run(watcher.keeps_up("after the fuzz\n"))
    assert status_of(saga_app, GHOST) == "running"  # nothing the fuzz sent stopped it
    channel.close()
    run(watcher.leave())
    run(wait_for(lambda: len(saga_app.log_streams) == 0 and len(saga_app.channels) == 0))


# --- deep and large frames ---------------------------------------------------------------------


TEN_MIB = 10 << 20
LARGE_AND_DEEP: list[tuple[str, str | bytes]] = [
    ("deep array, 60 KB", "[" * 30_000 + "]" * 30_000),
    ("deep object, 60 KB", '{"a":' * 10_000 + "1" + "}" * 10_000),
    ("unclosed deep array", "[" * 60_000),
    ("ping past the depth limit", json.dumps({"type": "ping", "x": nested(MAX_JSON_DEPTH)})),
    ("ping at the depth limit", json.dumps({"type": "ping", "x": nested(MAX_JSON_DEPTH - 1)})),
    (
        "subscribe with a deep name",
        json.dumps({"type": "subscribe:logs", "sessionName": nested(MAX_JSON_DEPTH - 1)}),
    ),
    ("deep array, 200 KB", "[" * 100_000 + "]" * 100_000),
    ("deep object, 1 MB", '{"a":' * 200_000 + "1" + "}" * 200_000),
    ("10 MiB of text", "x" * TEN_MIB),
    ("10 MiB of bytes", bytes(range(256)) * (TEN_MIB // 256)),
    ("10 MiB ping", json.dumps({"type": "ping", "pad": "✻" * (TEN_MIB // 3)}, ensure_ascii=False)),
    ("10 MiB subscribe", json.dumps({"type": "subscribe:logs", "sessionName": "s" * TEN_MIB})),
]


async def test_deep_and_large_frames_get_answers_and_the_others_carry_on(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    watcher = await bystander(saga_app, server, output_dir, jp_ws_fetch)
    channel = await Channel.open(jp_ws_fetch)
    for title, frame in LARGE_AND_DEEP:
        await assert_answered(channel, frame)
        await watcher.keeps_up(f"after {title}\n")
    channel.close()
    await watcher.leave()
    await wait_for(lambda: len(saga_app.log_streams) == 0)


# --- floods ------------------------------------------------------------------------------------


async def flood(channel: Channel, frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send every frame without waiting, then a ping; the frames received meanwhile.

    Read while sending, as a client does: the initial frames of thousands of subscriptions
    would otherwise pile up past the server's limit for a client that does not read.
    """
    received: list[dict[str, Any]] = []

    async def read() -> None:
        while (frame := await channel.receive(timeout=30)) != PONG:
            received.append(frame)

    reader = asyncio.ensure_future(read())
    for frame in [*frames, {"type": "ping"}]:
        await channel.send(frame)
    await reader
    return received


async def test_subscribe_unsubscribe_floods(
    jp_ws_fetch: Any, jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    watcher = await bystander(saga_app, server, output_dir, jp_ws_fetch)
    sessions = {}
    for index in range(3):
        name = f"saga__e__flooded__{index}"
        text = "".join(f"{name} line {i} ✻\n" for i in range(100))
        sessions[name] = await running(saga_app, server, output_dir, name, text)
    rng = random.Random(13)
    churn: list[dict[str, Any]] = []
    for _ in range(3000):
        name = rng.choice(list(sessions))
        if rng.random() < 0.5:
            churn.append({"type": "unsubscribe:logs", "sessionName": name})
        else:
            offset = rng.choice([None, 0, rng.randrange(4000), 10**9])
            churn.append({"type": "subscribe:logs", "sessionName": name, "offset": offset})
            if offset is None:
                del churn[-1]["offset"]
    churn += [{"type": "unsubscribe:logs", "sessionName": name} for name in sessions]

    channel = await Channel.open(jp_ws_fetch)
    received = await flood(channel, churn)
    logs = [frame for frame in received if frame["type"] != "sessions:updated"]
    assert logs and all(f["type"] == "logs:data" and f["sessionName"] in sessions for f in logs)
    await watcher.keeps_up("after the churn\n")
    assert set(saga_app.log_streams.streams) == {WATCHED}  # every flooded stream released
    paths = list(sessions.values())
    await wait_for(lambda: not any(holds_open(path) for path in paths))

    # The same session subscribed thousands of times over, each resuming at the end: one
    # subscription remains, and it delivers what is appended once.
    first, path = next(iter(sessions.items()))
    again = {"type": "subscribe:logs", "sessionName": first, "offset": path.stat().st_size}
    repeated = await flood(channel, [again] * 2000)
    assert {f["type"] for f in repeated} <= {"logs:data", "sessions:updated"}
    assert all(f["data"] == "" for f in repeated if f["type"] == "logs:data")
    with path.open("a") as file:
        file.write("once ✻\n")
    text, _ = await channel.read_text(first, lambda t: "once ✻\n" in t)
    assert text == "once ✻\n"
    after = await flood(channel, [])  # a round trip: no copy follows
    assert all(f["data"] == "" for f in after if f["type"] == "logs:data")
    await watcher.keeps_up("after the repeats\n")

    channel.close()
    await watcher.leave()

    async def idle() -> bool:
        body = json.loads((await jp_fetch("api", "saga", "status")).body)
        return body["logStreams"] == 0 and body["clients"] == 0

    await wait_for(idle)
