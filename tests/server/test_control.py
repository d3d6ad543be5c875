"""Operator control: launch, stop, connect (allow_control on), against real tmux and git."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server
from tornado.httpclient import HTTPClientError

from tests.helpers import Channel, saga_config, start_worker, wait_for

POLL = 0.3


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=POLL, allow_control=True, max_sessions=2)


async def post(jp_fetch: Any, *parts: str, body: Any = None) -> Any:
    raw = body if isinstance(body, str) else json.dumps(body or {})
    return await jp_fetch("api", "saga", *parts, method="POST", body=raw)


async def post_error(jp_fetch: Any, *parts: str, body: Any = None) -> tuple[int, Any]:
    with pytest.raises(HTTPClientError) as caught:
        await post(jp_fetch, *parts, body=body)
    assert caught.value.response is not None
    return caught.value.code, json.loads(caught.value.response.body)


def tmux_names(server: Server) -> list[str]:
    result = subprocess.run(
        ["tmux", "-L", server.socket_name, "list-sessions", "-F", "#{session_name}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return sorted(result.stdout.split())


async def test_launch_streams_stops_and_refuses_past_the_limit(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path, tmp_path: Path
) -> None:
    command = "printf 'hello ✻ from %s\\n' \"$PWD\"; sleep 600"
    response = await post(
        jp_fetch, "sessions",
        body={"epicSlug": "auth", "storySlug": "login", "command": command, "cwd": str(tmp_path)},
    )  # fmt: skip
    assert response.code == 201
    info = json.loads(response.body)
    name = info["name"]
    assert name.startswith("saga__auth__login__") and info["status"] == "running"
    out = output_dir / f"{name}.out"
    text = await wait_for(lambda: out.exists() and "hello" in out.read_text() and out.read_text())
    assert f"hello ✻ from {tmp_path}" in text
    channel = await Channel.open(jp_ws_fetch)
    initial = await channel.subscribe(name)
    assert "hello ✻ from" in initial["data"]

    second = await post(
        jp_fetch, "sessions", body={"epicSlug": "a", "storySlug": "b", "command": "sleep 600"}
    )
    assert second.code == 201
    code, body = await post_error(
        jp_fetch, "sessions", body={"epicSlug": "a", "storySlug": "c", "command": "sleep 600"}
    )
    assert code == 409 and body["code"] == "MAX_SESSIONS" and "stop" in body["message"]
    assert len(tmux_names(server)) == 2

    stopped = await post(jp_fetch, "sessions", name, "stop")
    assert stopped.code == 204
    assert name not in tmux_names(server)
    assert saga_app.poller.by_name[name].status == "completed"
    frame = await channel.receive_log(name)
    while not frame["isComplete"]:
        frame = await channel.receive_log(name)
    channel.close()


async def test_stop_is_exact(jp_fetch: Any, saga_app: Any, server: Server) -> None:
    start_worker(server, "saga__e__s__12")
    start_worker(server, "saga__e__s__123")
    await wait_for(lambda: len(saga_app.poller.sessions) == 2, timeout=POLL + 2)
    status = json.loads((await jp_fetch("api", "saga", "status")).body)
    assert status["allowControl"] is True  # the JupyterLab panel offers stop and attach
    assert (await post(jp_fetch, "sessions", "saga__e__s__12", "stop")).code == 204
    assert tmux_names(server) == ["saga__e__s__123"]
    code, _ = await post_error(jp_fetch, "sessions", "saga__e__s__1", "stop")
    assert code == 404


async def test_detail_lists_windows_and_panes(jp_fetch: Any, saga_app: Any, server: Server) -> None:
    name = "saga__e__detail__1"
    start_worker(server, name)
    session = server.sessions.get(session_name=name)
    session.active_window.split()
    session.new_window(window_name="second").split()
    await wait_for(lambda: saga_app.poller.by_name.get(name), timeout=POLL + 2)
    detail = json.loads((await jp_fetch("api", "saga", "sessions", name)).body)
    session = server.sessions.get(session_name=name)
    assert [w["name"] for w in detail["windows"]] == [w.window_name for w in session.windows]
    panes = [p for w in detail["windows"] for p in w["panes"]]
    assert [(p["id"], p["pid"]) for p in panes] == [
        (p.pane_id, int(p.pane_pid)) for w in session.windows for p in w.panes
    ]
    assert len(panes) == 4 and all(p["currentCommand"] for p in panes)


async def test_connect_opens_a_terminal_showing_the_session(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server
) -> None:
    name = "saga__e__attach__1"
    server.cmd("new-session", "-d", "-s", name, "echo SCREEN-MARKER-42; sleep 600")
    await wait_for(lambda: saga_app.poller.by_name.get(name), timeout=POLL + 2)
    body = json.loads((await post(jp_fetch, "sessions", name, "connect")).body)
    terminal = body["terminal"]
    ws = await jp_ws_fetch("terminals", "websocket", terminal)
    seen = ""

    async def screen() -> bool:
        nonlocal seen
        message = await ws.read_message()
        kind, *rest = json.loads(message)
        if kind == "stdout":
            seen += rest[0]
        return "SCREEN-MARKER-42" in seen

    await wait_for(screen, timeout=10)
    ws.close()
    await jp_fetch("api", "terminals", terminal, method="DELETE")


async def test_worktree_launch(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (repo / "README").write_text("x\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    command = "pwd; git branch --show-current; sleep 600"
    body = {"epicSlug": "billing", "storySlug": "refunds", "command": command, "cwd": str(repo)}
    response = await post(jp_fetch, "sessions", body={**body, "worktree": True})
    name = json.loads(response.body)["name"]
    out = output_dir / f"{name}.out"
    text = await wait_for(lambda: out.exists() and "saga/" in out.read_text() and out.read_text())
    worktree = tmp_path / "repo-saga-worktrees" / name
    assert str(worktree) in text and "saga/billing/refunds" in text
    branches = subprocess.run(
        [*git, "branch", "--list", "saga/billing/refunds"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "saga/billing/refunds" in branches.stdout
    detail = json.loads((await jp_fetch("api", "saga", "sessions", name)).body)
    assert detail["status"] == "running"


BAD_SLUGS = ["a;b", "$(touch x)", "`touch x`", "..", "a/b", "a\nb", "x" * 300, "A", "", None, 5]


@pytest.mark.parametrize("slug", BAD_SLUGS)
async def test_bad_launch_bodies_are_refused_and_create_nothing(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path, slug: Any
) -> None:
    for body in (
        {"epicSlug": slug, "storySlug": "s", "command": "sleep 1"},
        {"epicSlug": "e", "storySlug": slug, "command": "sleep 1"},
    ):
        code, answer = await post_error(jp_fetch, "sessions", body=body)
        assert code == 400 and answer["message"]
    assert tmux_names(server) == []
    assert list(output_dir.iterdir()) == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        {"epicSlug": "e", "storySlug": "s"},
        {"epicSlug": "e", "storySlug": "s", "command": "  "},
        {"epicSlug": "e", "storySlug": "s", "command": 5},
        {"epicSlug": "e", "storySlug": "s", "command": "x", "cwd": "/nonexistent/dir"},
        {"epicSlug": "e", "storySlug": "s", "command": "x", "worktree": "yes"},
        {"epicSlug": "e", "storySlug": "s", "command": "x", "worktree": True},
    ],
)
async def test_bad_bodies(jp_fetch: Any, saga_app: Any, server: Server, body: Any) -> None:
    code, answer = await post_error(jp_fetch, "sessions", body=body)
    assert code == 400 and answer["error"] and answer["message"]
    assert tmux_names(server) == []


@pytest.mark.parametrize(
    "name", ["saga__a__b;x__1", "saga__$(id)__b__1", "saga__a__b__1\n", "x" * 300]
)
async def test_bad_names_for_stop_and_connect(
    jp_fetch: Any, saga_app: Any, server: Server, name: str
) -> None:
    start_worker(server, "saga__a__b__1")
    for action in ("stop", "connect"):
        code, _ = await post_error(jp_fetch, "sessions", name, action)
        assert code == 404
    assert tmux_names(server) == ["saga__a__b__1"]
