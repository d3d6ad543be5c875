"""Numbers and JSON depth at every entry point: a 400 or an error frame, never a 500 or a drop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server
from tornado.httpclient import HTTPClientError

from saga_jupyter.core.inputs import MAX_JSON_DEPTH
from tests.helpers import Channel, running, saga_config

NAME = "saga__e__inputs__1"


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=0.3, allow_control=True, max_sessions=1)


def nested(depth: int, inner: Any = 0) -> Any:
    for _ in range(depth):
        inner = [inner]
    return inner


async def log_code(jp_fetch: Any, **params: str) -> int:
    try:
        response = await jp_fetch("api", "saga", "sessions", NAME, "log", params=params)
    except HTTPClientError as error:
        assert error.response is not None
        assert json.loads(error.response.body)["message"]
        return error.code
    return int(response.code)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("offset", str(1 << 64)),  # pread overflows
        ("offset", str(1 << 63)),
        ("length", str(1 << 64)),
        ("offset", "²"),  # str.isdigit says yes, int() says no
        ("length", "²"),
        ("offset", "٣"),  # Arabic-Indic three: int() reads it as 3
        ("offset", " 1"),
        ("offset", "1\n"),
        ("offset", "+1"),
        ("offset", "-1"),
        ("offset", "1_000"),
        ("offset", ""),
        ("offset", "9" * 5000),  # past int()'s 4300 digits
    ],
)
async def test_log_numbers_not_ascii_digits_within_64_bits_are_400(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path, key: str, value: str
) -> None:
    await running(saga_app, server, output_dir, NAME, "0123456789\n")
    assert await log_code(jp_fetch, **{key: value}) == 400


async def test_log_numbers_up_to_2_63_minus_1_are_served(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    await running(saga_app, server, output_dir, NAME, "0123456789\n")
    largest = str((1 << 63) - 1)
    for params, body in (
        ({"offset": largest}, b""),
        ({"offset": "0002", "length": "3"}, b"234"),
        ({"offset": "1", "length": largest}, b"123456789\n"),
    ):
        response = await jp_fetch("api", "saga", "sessions", NAME, "log", params=params)
        assert response.body == body, params


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,  # json.loads: RecursionError
        {"epicSlug": "e", "storySlug": "s", "command": "sleep 600", "x": nested(MAX_JSON_DEPTH)},
    ],
    ids=["recursion", "past-the-limit"],
)
async def test_a_deeply_nested_launch_body_is_400_and_launches_nothing(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path, body: Any
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "api", "saga", "sessions", method="POST",
            body=body if isinstance(body, str) else json.dumps(body),
        )  # fmt: skip
    assert caught.value.code == 400
    assert "nested deeper" in json.loads(caught.value.response.body)["message"]
    assert server.sessions == []
    assert list(output_dir.iterdir()) == []


async def test_deep_frames_and_bad_offsets_get_answers_on_an_open_channel(
    jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    path = await running(saga_app, server, output_dir, NAME, "x\n")
    channel = await Channel.open(jp_ws_fetch)
    deep = "[" * 30_000 + "]" * 30_000  # under the 64 KiB frame limit
    subscribe = {"type": "subscribe:logs", "sessionName": NAME}
    for frame in (deep, {**subscribe, "x": nested(MAX_JSON_DEPTH)}):
        await channel.send(frame)
        answer = await channel.reply()
        assert answer["type"] == "error" and "nested deeper" in answer["error"]
    for offset in (1 << 63, 1 << 64, -1, True, 1.0, "1"):
        await channel.send({**subscribe, "offset": offset})
        answer = await channel.receive_log()
        assert answer["type"] == "logs:error" and "offset" in answer["error"], offset
    resumed = await channel.subscribe(NAME, offset=(1 << 63) - 1)  # past the end: from byte 0
    assert resumed["type"] == "logs:data" and resumed["reset"] and resumed["data"] == "x\n"
    with path.open("a") as file:
        file.write("still here\n")
    assert (await channel.receive_log(NAME))["data"] == "still here\n"
    channel.close()
