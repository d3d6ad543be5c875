"""The REST routes under /api/saga/, against a real Jupyter server and a real tmux server."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server
from tornado.httpclient import HTTPClientError

from tests.helpers import kill_worker, saga_config, start_worker, wait_for

POLL = 0.3


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=POLL)


async def get_json(jp_fetch: Any, *parts: str, **params: str) -> Any:
    response = await jp_fetch("api", "saga", *parts, params=params)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def get_error(jp_fetch: Any, *parts: str, **params: str) -> tuple[int, Any]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "saga", *parts, params=params)
    assert caught.value.response is not None
    return caught.value.code, json.loads(caught.value.response.body)


def write_out(output_dir: Path, name: str, text: str, mtime: int | None = None) -> None:
    path = output_dir / f"{name}.out"
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


async def test_list_get_and_filters(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    write_out(output_dir, "saga__auth__login__1", "a\n", mtime=1_700_000_100)
    write_out(output_dir, "saga__auth__reset__2", "b\n", mtime=1_700_000_300)
    write_out(output_dir, "saga__billing__login__3", "c\n", mtime=1_700_000_200)
    start_worker(server, "saga__billing__refunds__4")

    async def all_four() -> list[dict[str, Any]] | None:
        # The watch may list the files before tmux has the running one: wait for all four.
        found: list[dict[str, Any]] = await get_json(jp_fetch, "sessions")
        return found if len(found) == 4 else None

    sessions = await wait_for(all_four, timeout=POLL + 2)
    names = [s["name"] for s in sessions]
    # The running one started now: newest first.
    assert names == [
        "saga__billing__refunds__4",
        "saga__auth__reset__2",
        "saga__billing__login__3",
        "saga__auth__login__1",
    ]
    assert await get_json(jp_fetch, "sessions", epicSlug="auth") == [
        s for s in sessions if s["epicSlug"] == "auth"
    ]
    only = await get_json(jp_fetch, "sessions", storySlug="login")
    assert [s["name"] for s in only] == ["saga__billing__login__3", "saga__auth__login__1"]
    running = await get_json(jp_fetch, "sessions", status="running")
    assert [s["name"] for s in running] == ["saga__billing__refunds__4"]
    completed = await get_json(jp_fetch, "sessions", status="completed")
    assert len(completed) == 3
    both = await get_json(jp_fetch, "sessions", epicSlug="billing", storySlug="login")
    assert [s["name"] for s in both] == ["saga__billing__login__3"]
    assert await get_json(jp_fetch, "sessions", epicSlug="billing", status="completed") == both
    assert await get_json(jp_fetch, "sessions", epicSlug="nope") == []

    one = await get_json(jp_fetch, "sessions", "saga__auth__reset__2")
    assert {key: one[key] for key in sessions[1]} == sessions[1]
    assert one["windows"] == []  # completed: no windows
    assert len(one["id"]) == 36 and one["command"] is None  # from the metadata store
    assert one["outputPreview"] == "b"
    assert one["lastActivity"] == "2023-11-14T22:18:20Z"


async def test_bad_status_filter_is_a_json_400(jp_fetch: Any, saga_app: Any) -> None:
    code, body = await get_error(jp_fetch, "sessions", status="bogus")
    assert code == 400
    assert body["error"] and "bogus" in body["message"]


@pytest.mark.parametrize(
    "name",
    [
        "saga__e__s__404",
        "saga__a__b",
        "saga__A__b__1",
        "saga__../x__y__1",
        "saga__a__b__1/../../x",
        "saga__a b__c__1",
        "saga__a__b__1\n",
        "saga__a__b__1\x00",
        "saga__" + "a" * 189 + "__b__1",
        "..",
    ],
)
async def test_unknown_or_malformed_names_are_a_json_404(
    jp_fetch: Any, saga_app: Any, name: str
) -> None:
    code, body = await get_error(jp_fetch, "sessions", name)
    assert code == 404
    assert body["error"] == "Session not found"
    assert body["message"]


async def test_exact_names_over_rest(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    start_worker(server, "saga__e__s__12")
    write_out(output_dir, "saga__e__s__123", "x\n")

    async def both_listed() -> Any:
        sessions = await get_json(jp_fetch, "sessions")
        return len(sessions) == 2 and sessions

    await wait_for(both_listed, timeout=POLL + 2)
    assert (await get_json(jp_fetch, "sessions", "saga__e__s__12"))["status"] == "running"
    assert (await get_json(jp_fetch, "sessions", "saga__e__s__123"))["status"] == "completed"
    code, _ = await get_error(jp_fetch, "sessions", "saga__e__s__1")
    assert code == 404


async def test_kill_completes_and_deleting_the_file_removes(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__s__7"
    start_worker(server, name, output_dir)

    async def status() -> str | None:
        sessions = await get_json(jp_fetch, "sessions")
        return sessions[0]["status"] if sessions else None

    assert await wait_for(status, timeout=POLL + 2) == "running"
    kill_worker(server, name)
    await wait_for(lambda: _is(status(), "completed"), timeout=POLL + 1)
    info = await get_json(jp_fetch, "sessions", name)
    assert info["endTime"] is not None and info["outputPreview"] == "started"
    (output_dir / f"{name}.out").unlink()
    await wait_for(lambda: _is(get_json(jp_fetch, "sessions"), []), timeout=1)


async def _is(awaitable: Any, expected: Any) -> bool:
    return bool(await awaitable == expected)


async def test_status_reports_tmux_and_counts(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    start_worker(server, "saga__e__s__1")
    write_out(output_dir, "saga__e__s__2", "x\n")

    async def counted() -> Any:
        status = await get_json(jp_fetch, "status")
        return status["sessions"] == {"running": 1, "completed": 1} and status

    status = await wait_for(counted, timeout=POLL + 2)
    assert status["tmux"]["available"] is True
    assert status["tmux"]["serverRunning"] is True
    assert status["tmux"]["version"]
    assert status["outputDir"] == str(output_dir)
    assert status["outputDirExists"] is True
    assert status["lastPoll"].endswith("Z")
    assert status["pollInterval"] == POLL
    assert status["clients"] == 0
    assert status["logStreams"] == 0


async def test_jupyter_servers_own_sessions_api_still_answers(jp_fetch: Any, saga_app: Any) -> None:
    response = await jp_fetch("api", "sessions")
    assert json.loads(response.body) == []
    response = await jp_fetch("api", "kernelspecs")
    assert "kernelspecs" in json.loads(response.body)


async def test_routes_honour_base_url(
    jp_base_url: str, http_server_client: Any, jp_auth_header: dict[str, str], saga_app: Any
) -> None:
    assert jp_base_url != "/"
    response = await http_server_client.fetch(
        f"{jp_base_url}api/saga/status", headers=jp_auth_header
    )
    assert response.code == 200
    with pytest.raises(HTTPClientError) as caught:
        await http_server_client.fetch("/api/saga/status", headers=jp_auth_header)
    assert caught.value.code == 404


ROUTES = [("sessions",), ("sessions", "saga__e__s__1"), ("status",)]


@pytest.mark.parametrize("parts", ROUTES)
async def test_every_route_needs_a_token(
    jp_fetch: Any, saga_app: Any, parts: tuple[str, ...]
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "saga", *parts, headers={"Authorization": ""})
    assert caught.value.code == 403
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "saga", *parts, headers={"Authorization": "token wrong"})
    assert caught.value.code == 403


async def test_the_channel_needs_a_token(jp_ws_fetch: Any, saga_app: Any) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_ws_fetch("api", "saga", "channels", headers={"Authorization": "token wrong"})
    assert caught.value.code == 403
