"""Channel clients that read slowly or never: what waits for them stays bounded, uncopied."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import websocket
from libtmux.server import Server
from tornado.iostream import IOStream

from bench import worker_output
from saga_jupyter.server.channel import ChannelHandler
from tests.helpers import Channel, running, saga_config, wait_for
from tests.server.test_logs import FLOOD, last_frame_until_eof, stalled_client

MAX_UNSENT = 64 << 20  # each client alone: never reached here
MAX_UNSENT_TOTAL = 12 << 20
STALLED = 6
FLOODS = 5


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(
        server,
        output_dir,
        poll_interval=0.3,
        initial_log_bytes=4096,
        max_unsent_bytes=MAX_UNSENT,
        max_unsent_bytes_total=MAX_UNSENT_TOTAL,
    )


@pytest.fixture
def stalled(
    jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> Callable[..., Awaitable[websocket.WebSocket]]:
    """Opens a client on the server's channel, subscribed to the given names, never reading."""
    token = jp_auth_header["Authorization"].split()[1]
    url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/saga/channels"

    async def open_stalled(*names: str) -> websocket.WebSocket:
        return await asyncio.to_thread(stalled_client, url, token, *names)

    return open_stalled


def is_closing(handler: Any) -> bool:
    return handler.ws_connection is None or handler.ws_connection.is_closing()


def waiting_for_open_clients(saga_app: Any) -> int:
    """Bytes of frames the sockets of the open clients have not taken."""
    return sum(client._unsent for client in saga_app.channels._clients if not is_closing(client))


def peer_port(handler: Any) -> int:
    return int(handler.ws_connection.stream.socket.getpeername()[1])


async def test_clients_that_never_read_are_bounded_together(
    jp_ws_fetch: Any,
    saga_app: Any,
    server: Server,
    output_dir: Path,
    stalled: Callable[..., Awaitable[websocket.WebSocket]],
) -> None:
    floods = [f"saga__e__flood__{i}" for i in range(FLOODS)]
    paths = [await running(saga_app, server, output_dir, name) for name in floods]
    calm = "saga__e__calm__1"
    calm_path = await running(saga_app, server, output_dir, calm)
    readers = [await stalled(*floods) for _ in range(STALLED)]
    watcher = await Channel.open(jp_ws_fetch)
    await watcher.subscribe(calm)
    await wait_for(lambda: len(saga_app.log_streams) == FLOODS + 1, timeout=5)
    ports = {client: peer_port(client) for client in saga_app.channels._clients}

    # Each stalled client has one frame per flood waiting (~1.4 MiB of JSON each): alone
    # within its own bound, together ~40 MiB without the total bound.
    writers = [asyncio.to_thread(path.write_bytes, FLOOD * 3) for path in paths]
    written = asyncio.ensure_future(asyncio.gather(*writers))
    peak = 0
    settled = 0
    while settled < 50:  # half a second with the floods written
        peak = max(peak, waiting_for_open_clients(saga_app))
        settled += written.done()
        await asyncio.sleep(0.01)  # a sample every loop turn or so, not a wait for a condition
    await written
    assert peak <= MAX_UNSENT_TOTAL, f"{peak >> 20} MiB waited for the open clients"

    # The slowest were closed as one slow client is (1008, resume by offset), not all of them.
    gone = {port for client, port in ports.items() if is_closing(client)}
    closed = [reader for reader in readers if reader.sock.getsockname()[1] in gone]
    assert 0 < len(closed) < STALLED
    opcode, payload = await asyncio.to_thread(last_frame_until_eof, closed[0])
    assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1008
    assert b"to all clients" in payload and b"resume by offset" in payload

    # A client that reads is not held up by them.
    with calm_path.open("a") as file:
        file.write("still here\n")
    assert (await watcher.receive_log(calm))["data"] == "still here\n"
    for reader in readers:
        with contextlib.suppress(OSError):
            reader.shutdown()
    await wait_for(lambda: len(saga_app.channels) == 1, timeout=10)
    assert saga_app.channels.unsent == 0  # every byte counted was uncounted
    watcher.close()


async def test_a_slow_reader_gets_every_byte_its_frames_not_copied(
    http_server_client: Any,  # the server listening
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    saga_app: Any,
    server: Server,
    output_dir: Path,
    monkeypatch: Any,
) -> None:
    # A frame its socket cannot take whole waits in the stream as it is (one frame goes to
    # every viewer of a session): header + payload, the rest, copied it each time.
    name = "saga__e__slowreader__1"
    content = worker_output(4 << 20)
    await running(saga_app, server, output_dir, name, content.decode())
    saga_app.log_streams.catch_up = 1 << 40  # every byte read, none skipped
    payloads: list[bytes] = []
    writes: list[bytes | memoryview] = []
    write_frame, write = ChannelHandler.write_frame, IOStream.write

    def recording_write_frame(handler: ChannelHandler, frame: Any) -> Any:
        if isinstance(frame, bytes):
            payloads.append(frame)
        return write_frame(handler, frame)

    def recording_write(stream: IOStream, data: bytes | memoryview) -> Any:
        writes.append(data)
        return write(stream, data)

    client = await asyncio.to_thread(
        websocket.create_connection,
        f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/saga/channels",
        header=[f"Authorization: {jp_auth_header['Authorization']}"],
        sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)],  # set before connecting
        timeout=30,
    )
    monkeypatch.setattr(ChannelHandler, "write_frame", recording_write_frame)
    monkeypatch.setattr(IOStream, "write", recording_write)
    client.send(json.dumps({"type": "subscribe:logs", "sessionName": name, "offset": 0}))
    (handler,) = saga_app.channels._clients
    await wait_for(lambda: handler.unsent > 0)  # not read yet: frames wait for the socket

    def read_all() -> bytes:
        text = ""
        while len(text.encode()) < len(content):
            frame = json.loads(client.recv())
            if frame["type"] == "logs:data":
                text += frame["data"]
        return text.encode()

    assert await asyncio.to_thread(read_all) == content
    client.close()
    rests = [data for data in writes if len(data) > 14]  # of frames, not headers alone
    assert rests  # the socket could not take every frame whole
    assert all(isinstance(rest, memoryview) or any(rest is p for p in payloads) for rest in rests)
