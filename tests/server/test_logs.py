"""Log streaming over the channel: every byte once, in order, whatever the writer does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import websocket
from libtmux.server import Server
from tornado.httpclient import HTTPClientError

from tests.helpers import (
    Channel,
    burst_arrives,
    kill_worker,
    random_text,
    running,
    saga_config,
    start_worker,
    status_of,
    wait_for,
    write_in_pieces,
)

POLL = 0.3
INITIAL = 4096
MAX_UNSENT = 4 << 20
FLOOD = (("flood ✻ " * 12 + "\n") * 10_000).encode()[: 1 << 20]  # 1 MiB of output
SYMBOLS = "✻⏺│é😀─✔"


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(
        server,
        output_dir,
        poll_interval=POLL,
        initial_log_bytes=INITIAL,
        max_unsent_bytes=MAX_UNSENT,
    )


async def test_characters_split_at_every_byte_boundary(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__split__1"
    path = await running(saga_app, server, output_dir, name)
    channel = await Channel.open(jp_ws_fetch)
    initial = await channel.subscribe(name)
    assert initial["isInitial"] and initial["data"] == "" and initial["offset"] == 0
    data = ("".join(SYMBOLS) * 40).encode()
    # Pieces of 1, 2 and 3 bytes: every multibyte character gets split at every boundary.
    sizes = [1 + i % 3 for i in range(len(data) // 2)]
    writer = threading.Thread(target=write_in_pieces, args=(path, data, sizes, 0.0005))
    writer.start()
    text, frames = await channel.read_text(name, lambda t: len(t) >= len(data.decode()))
    writer.join()
    assert text == data.decode()
    assert "\ufffd" not in text
    assert frames[-1]["offset"] == len(data)
    for frame in frames:  # every offset is a character boundary of the file
        path.read_bytes()[: frame["offset"]].decode()
    channel.close()


async def test_bursts_random_lines_and_no_trailing_newline(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__burst__1"
    path = await running(saga_app, server, output_dir, name)
    channel = await Channel.open(jp_ws_fetch)
    await channel.subscribe(name)
    rng = random.Random(7)
    expected = ""
    for _ in range(3):
        expected, _ = await burst_arrives(channel, path, name, rng, 1000, before=expected)
    tail = "no newline at the end ✻"
    await asyncio.to_thread(write_in_pieces, path, tail.encode(), [])
    expected += tail
    text, frames = await channel.read_text(
        name, lambda t: t.endswith("✻"), text=expected[: -len(tail)]
    )
    assert text == expected
    assert frames[-1]["offset"] == path.stat().st_size
    channel.close()


async def test_initial_frame_of_a_100_mib_file(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__big__1"
    path = output_dir / f"{name}.out"
    line = ("x" * 99 + "\n").encode()
    with path.open("wb") as file:
        for _ in range(1024):
            file.write(line * 1024)  # 100 MiB of 100-byte lines
    start_worker(server, name)
    await wait_for(lambda: status_of(saga_app, name) == "running", timeout=POLL + 2)
    channel = await Channel.open(jp_ws_fetch)
    started = time.perf_counter()
    frame = await channel.subscribe(name)
    elapsed = time.perf_counter() - started
    size = path.stat().st_size
    data = frame["data"].encode()
    assert frame["isInitial"] and not frame["isComplete"] and not frame["reset"]
    assert 0 < len(data) <= INITIAL
    assert frame["offset"] == size
    assert data == path.read_bytes()[size - len(data) :]
    assert (
        data.startswith(b"x")
        and path.read_bytes()[size - len(data) - 1 : size - len(data)] == b"\n"
    )
    assert elapsed < 2  # milliseconds in practice (bench/ measures it)
    channel.close()


async def test_resume_by_offset_has_no_gap_and_no_duplicate(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__resume__1"
    path = await running(saga_app, server, output_dir, name, "one ✻\ntwo\n")
    channel = await Channel.open(jp_ws_fetch)
    first = await channel.subscribe(name)
    assert first["data"] == "one ✻\ntwo\n"
    channel.close()
    with path.open("a") as file:
        file.write("three ⏺\nfour\n")
    channel = await Channel.open(jp_ws_fetch)
    resumed = await channel.subscribe(name, offset=first["offset"])
    assert resumed["isInitial"] and resumed["data"] == "three ⏺\nfour\n"
    assert resumed["offset"] == path.stat().st_size
    with path.open("a") as file:
        file.write("five\n")
    frame = await channel.receive_log(name)
    assert frame["data"] == "five\n" and not frame["isInitial"]
    channel.close()


async def test_a_resume_far_back_comes_in_frames_the_first_within_initial_log_bytes(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__far-back__1"
    text = random_text(random.Random(7), 2000)  # ~40 KiB, ten times INITIAL
    path = await running(saga_app, server, output_dir, name, text)
    channel = await Channel.open(jp_ws_fetch)
    first = await channel.subscribe(name, offset=0)
    assert first["isInitial"] and 0 < len(first["data"].encode()) <= INITIAL
    received = first["data"]
    while len(received.encode()) < path.stat().st_size:
        received += (await channel.receive_log(name))["data"]
    assert received == text
    channel.close()


@pytest.mark.parametrize("how", ["copytruncate", "rotate", "recreate"])
async def test_truncation_rotation_and_recreation_reset(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path, how: str
) -> None:
    name = "saga__e__rotate__1"
    path = await running(saga_app, server, output_dir, name, "old line 1\nold line 2\n")
    channel = await Channel.open(jp_ws_fetch)
    assert (await channel.subscribe(name))["data"] == "old line 1\nold line 2\n"
    if how == "copytruncate":
        (output_dir / "backup.1").write_bytes(path.read_bytes())
        with path.open("r+") as file:
            file.truncate(0)
    elif how == "rotate":
        path.rename(output_dir / f"{name}.out.1")
    else:
        path.unlink()
    with path.open("a") as file:
        file.write("new ✻\n")
    _, frames = await channel.read_text(name, lambda t: t == "new ✻\n", text="old")
    assert any(frame["reset"] for frame in frames)
    assert frames[-1]["offset"] == len("new ✻\n".encode())
    with path.open("a") as file:
        file.write("more\n")
    frame = await channel.receive_log(name)
    assert frame["data"] == "more\n" and not frame["reset"]
    channel.close()


async def test_deleted_file_does_not_break_the_stream(
    jp_ws_fetch: Any, jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__gone__1"
    path = await running(saga_app, server, output_dir, name, "a\n")
    channel = await Channel.open(jp_ws_fetch)
    await channel.subscribe(name)
    path.unlink()
    await channel.send({"type": "ping"})
    assert (await channel.reply())["type"] == "pong"
    path.write_text("back\n")
    text, _ = await channel.read_text(name, lambda t: t == "back\n", text="a\n")
    assert text == "back\n"
    channel.close()


async def log_streams(jp_fetch: Any) -> int:
    return int(json.loads((await jp_fetch("api", "saga", "status")).body)["logStreams"])


async def test_two_clients_share_one_watch(
    jp_ws_fetch: Any, jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__shared__1"
    path = await running(saga_app, server, output_dir, name, "start\n")
    one, two = await Channel.open(jp_ws_fetch), await Channel.open(jp_ws_fetch)
    await one.subscribe(name)
    await two.subscribe(name)
    await two.subscribe(name)  # twice is harmless: a fresh initial frame
    assert await log_streams(jp_fetch) == 1
    with path.open("a") as file:
        file.write("both\n")
    assert (await one.receive_log(name))["data"] == "both\n"
    assert (await two.receive_log(name))["data"] == "both\n"
    await one.send({"type": "unsubscribe:logs", "sessionName": name})
    await one.send({"type": "ping"})
    assert (await one.reply())["type"] == "pong"
    with path.open("a") as file:
        file.write("only two\n")
    assert (await two.receive_log(name))["data"] == "only two\n"
    assert await log_streams(jp_fetch) == 1
    two.close()  # disconnect without unsubscribing
    await wait_for(lambda: _equals(log_streams(jp_fetch), 0), timeout=2)
    await one.send({"type": "ping"})
    assert (await one.reply())["type"] == "pong"  # no data after unsubscribing
    one.close()


async def _equals(awaitable: Any, expected: Any) -> bool:
    return bool(await awaitable == expected)


async def test_completion_sends_is_complete_once_and_releases(
    jp_ws_fetch: Any, jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__done__1"
    path = await running(saga_app, server, output_dir, name, "working\n")
    channel = await Channel.open(jp_ws_fetch)
    assert not (await channel.subscribe(name))["isComplete"]
    with path.open("a") as file:
        file.write("last words\n")
    kill_worker(server, name)
    frames: list[dict[str, Any]] = []
    complete: list[dict[str, Any]] = []
    deadline = time.monotonic() + POLL + 2
    while not complete:
        frame = await channel.receive_log(name, max(0.01, deadline - time.monotonic()))
        frames.append(frame)
        complete = [f for f in frames if f["isComplete"]]
    assert "".join(f["data"] for f in frames) == "last words\n"
    assert frames[-1]["offset"] == path.stat().st_size
    await wait_for(lambda: _equals(log_streams(jp_fetch), 0), timeout=2)
    with path.open("a") as file:
        file.write("after the end\n")
    await channel.send({"type": "ping"})
    assert (await channel.reply())["type"] == "pong"
    # Subscribing to a completed session: one initial frame, complete.
    again = await channel.subscribe(name)
    assert again["isInitial"] and again["isComplete"]
    assert again["data"].endswith("last words\nafter the end\n")
    assert await log_streams(jp_fetch) == 0
    channel.close()


async def test_bad_frames_get_errors_and_everyone_carries_on(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__bad__1"
    path = await running(saga_app, server, output_dir, name, "x\n")
    bystander = await Channel.open(jp_ws_fetch)
    await bystander.subscribe(name)
    channel = await Channel.open(jp_ws_fetch)
    log_errors = [
        {"type": "subscribe:logs"},
        {"type": "subscribe:logs", "sessionName": "saga__a__b"},
        {"type": "subscribe:logs", "sessionName": "saga__../../etc/passwd__x__1"},
        {"type": "subscribe:logs", "sessionName": "../" + name},
        {"type": "subscribe:logs", "sessionName": ["list"]},
        {"type": "subscribe:logs", "sessionName": "saga__e__unknown__1"},
        {"type": "subscribe:logs", "sessionName": name, "offset": -1},
        {"type": "subscribe:logs", "sessionName": name, "offset": "3"},
    ]
    for frame in log_errors:
        await channel.send(frame)
        answer = await channel.receive_log()
        assert answer["type"] == "logs:error" and answer["error"], frame
    errors: list[Any] = ["not json", b"\x00binary", "[]", '{"type": "nope"}', "x" * (10 << 20)]
    for frame in errors:
        await channel.send(frame)
        answer = await channel.reply()
        assert answer["type"] == "error" and answer["error"]
    assert (await channel.subscribe(name))["data"] == "x\n"
    with path.open("a") as file:
        file.write("still here\n")
    assert (await bystander.receive_log(name))["data"] == "still here\n"
    assert (await channel.receive_log(name))["data"] == "still here\n"
    channel.close()
    bystander.close()


async def test_log_route_serves_byte_ranges(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__range__1"
    path = await running(saga_app, server, output_dir, name, "")
    content = "".join(f"line ✻ {i}\n" for i in range(200_000)).encode()
    path.write_bytes(content)
    whole = await jp_fetch("api", "saga", "sessions", name, "log")
    assert whole.body == content
    assert whole.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert whole.headers["X-Log-Size"] == str(len(content))
    part = await jp_fetch(
        "api", "saga", "sessions", name, "log", params={"offset": "10", "length": "25"}
    )
    assert part.body == content[10:35]
    assert part.headers["X-Log-Offset"] == "10"
    past = await jp_fetch(
        "api", "saga", "sessions", name, "log", params={"offset": str(len(content) + 5)}
    )
    assert past.body == b""
    for params, code in (({"offset": "-1"}, 400), ({"length": "x"}, 400)):
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("api", "saga", "sessions", name, "log", params=params)
        assert caught.value.code == code
    for unknown in ("saga__e__nope__1", "saga__a__b"):
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("api", "saga", "sessions", unknown, "log")
        assert caught.value.code == 404
        assert json.loads(caught.value.response.body)["error"] == "Session not found"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def stalled_client(url: str, token: str, *names: str) -> websocket.WebSocket:
    """A WebSocket client that subscribes and then never reads (tiny receive buffer)."""
    client = websocket.create_connection(
        url,
        header=[f"Authorization: token {token}"],
        sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)],  # set before connecting
        timeout=30,
        skip_utf8_validation=True,
    )
    for name in names:
        client.send(json.dumps({"type": "subscribe:logs", "sessionName": name}))
    return client


@pytest.fixture
def stalled(
    jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> Callable[..., Awaitable[websocket.WebSocket]]:
    """Opens a :func:`stalled_client` on the server's channel, subscribed to the given names."""
    token = jp_auth_header["Authorization"].split()[1]
    url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/saga/channels"

    async def open_stalled(*names: str) -> websocket.WebSocket:
        return await asyncio.to_thread(stalled_client, url, token, *names)

    return open_stalled


def last_frame_until_eof(client: websocket.WebSocket) -> tuple[int, bytes]:
    """Read frames until the connection ends: the last one's opcode and data."""
    last: tuple[int, bytes] = (0, b"")
    with contextlib.suppress(websocket.WebSocketConnectionClosedException):
        while True:
            opcode, frame = client.recv_data_frame(True)
            last = (opcode, frame.data)
    return last


async def test_a_client_that_never_reads_costs_bounded_memory(
    jp_ws_fetch: Any,
    jp_fetch: Any,
    saga_app: Any,
    server: Server,
    output_dir: Path,
    stalled: Callable[..., Awaitable[websocket.WebSocket]],
) -> None:
    big = "saga__e__flood__1"
    calm = "saga__e__calm__1"
    big_path = await running(saga_app, server, output_dir, big)
    calm_path = await running(saga_app, server, output_dir, calm)
    # Never skipping ahead (test_logs_catch_up's): the file alone holds what the reader lags.
    saga_app.log_streams.catch_up = 1 << 40
    reader = await stalled(big)
    watcher = await Channel.open(jp_ws_fetch)
    await watcher.subscribe(calm)
    await wait_for(lambda: _equals(log_streams(jp_fetch), 2), timeout=2)
    before = rss_bytes()

    def flood() -> None:
        with big_path.open("ab") as file:
            for _ in range(200):
                file.write(FLOOD)

    writer = asyncio.ensure_future(asyncio.to_thread(flood))
    latencies = []
    for i in range(10):
        with calm_path.open("a") as file:
            file.write(f"tick {i}\n")
        started = time.monotonic()
        frame = await watcher.receive_log(calm)
        latencies.append(time.monotonic() - started)
        assert frame["data"] == f"tick {i}\n"
    await writer
    grown = rss_bytes() - before
    subscription = saga_app.log_streams.streams[big].subscriptions
    (lagging,) = subscription.values()
    assert big_path.stat().st_size == 200 << 20
    assert lagging.tailer.offset < 16 << 20  # the file is the buffer: it stays behind
    assert grown < 64 << 20, f"server memory grew {grown >> 20} MiB"
    assert max(latencies) < 0.5, latencies
    reader.shutdown()
    await wait_for(lambda: _equals(log_streams(jp_fetch), 1), timeout=5)
    watcher.close()


async def test_a_client_letting_too_much_wait_is_closed_and_the_others_carry_on(
    jp_ws_fetch: Any,
    saga_app: Any,
    server: Server,
    output_dir: Path,
    stalled: Callable[..., Awaitable[websocket.WebSocket]],
) -> None:
    # One frame waits per subscription: subscribed to five floods, the client passes the limit.
    floods = [f"saga__e__flood__{i}" for i in range(5)]
    paths = [await running(saga_app, server, output_dir, name) for name in floods]
    calm = "saga__e__calm__1"
    calm_path = await running(saga_app, server, output_dir, calm)
    reader = await stalled(*floods)
    watcher = await Channel.open(jp_ws_fetch)
    await watcher.subscribe(calm)
    await wait_for(lambda: len(saga_app.log_streams) == 6, timeout=2)
    for path in paths:
        path.write_bytes(FLOOD * 8)

    # The server gives up on it: the close frame waits behind what the client did not read.
    opcode, payload = await asyncio.to_thread(last_frame_until_eof, reader)
    assert opcode == 0x8
    assert int.from_bytes(payload[:2], "big") == 1008
    assert b"too slow" in payload and b"resume by offset" in payload
    reader.shutdown()
    await wait_for(lambda: len(saga_app.log_streams) == 1 and len(saga_app.channels) == 1)
    with calm_path.open("a") as file:
        file.write("still here\n")
    assert (await watcher.receive_log(calm))["data"] == "still here\n"
    watcher.close()
