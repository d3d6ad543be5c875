"""The metadata store in a running server: damaged files, no idle writes, tmux hanging."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.info import utc
from saga_jupyter.core.records import SessionRecord
from saga_jupyter.core.store import MAX_FILE, MAX_RECORDS, MetadataStore
from saga_jupyter.core.tmux.client import BACKOFF_FIRST
from saga_jupyter.server.poller import MAX_LISTED
from tests.helpers import (
    Channel,
    hanging_tmux,
    many_records,
    saga_config,
    start_worker,
    status_of,
    wait_for,
)

POLL = 0.2
DAMAGED = {
    "empty": b"",
    "truncated": b'{"version": 1, "sessions": [{"name": "saga__e__s__1", "id"',
    "wrong version": b'{"version": 7, "sessions": []}',
    "not an object": b"[1, 2, 3]",
    "binary junk": bytes(range(256)) * 4,
}
STARTED = 1795343400.0  # 2026-11-22T10:30:00Z
REMEMBERED = {  # a session with an output file, and one that never wrote it
    "saga__e__s__2": SessionRecord("saga__e__s__2", "completed", STARTED, STARTED + 60),
    "saga__e__never__1": SessionRecord("saga__e__never__1", "completed", STARTED, STARTED + 60),
}


@pytest.fixture
def state_file(
    tmp_path: Path, output_dir: Path, server: Server, request: pytest.FixtureRequest
) -> Path:
    path = tmp_path / "state" / "sessions.json"
    path.parent.mkdir()
    damage = getattr(request, "param", "none")
    if damage in DAMAGED:
        path.write_bytes(DAMAGED[damage])
    elif damage == "directory":  # the operator's mistake, or a trap: never moved, never read
        path.mkdir()
        (path / "inside").write_bytes(b"kept")
    elif damage == "other output_dir":
        MetadataStore(path, output_dir="/elsewhere").save(REMEMBERED)
    elif damage == "no output_dir":  # as written before the store said whose sessions it holds
        MetadataStore(path).save(REMEMBERED)
    elif damage == "sparse terabyte":  # reading it whole raised MemoryError: no extension
        path.write_text('{"version": 1, "sessions": []}\n')
        os.truncate(path, 1 << 40)
    elif damage == "200,000 records":  # the first, and every 50,000th, running
        many_records(path, 200_000, 50_000, output_dir)
        # Running since before the server started: its old start puts it far down the list.
        start_worker(server, "saga__e__s__50000")
    return path


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path, state_file: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=POLL, state_file=str(state_file))


async def status(jp_fetch: Any) -> Any:
    return json.loads((await jp_fetch("api", "saga", "status")).body)


@pytest.mark.parametrize("state_file", list(DAMAGED), indirect=True)
async def test_a_damaged_store_is_set_aside_and_rebuilt(
    jp_fetch: Any,
    saga_app: Any,
    server: Server,
    output_dir: Path,
    state_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    start_worker(server, "saga__e__s__1")
    (output_dir / "saga__e__s__2.out").write_text("done\n")
    sessions = await wait_for(lambda: len(saga_app.poller.sessions) == 2, timeout=POLL + 3)
    assert sessions
    health = await status(jp_fetch)
    assert health["store"]["error"]
    backup = Path(health["store"]["backup"])
    assert backup.name.startswith("sessions.json.corrupt-") and backup.exists()
    records = caplog.get_records("setup") + caplog.records  # the store is read at start
    warnings = [r for r in records if r.levelno >= logging.WARNING and r.name.startswith("saga")]
    assert len(warnings) == 1
    # Rebuilt and written again, as a good store.
    await wait_for(lambda: state_file.is_file() and "saga__e__s__1" in state_file.read_text())
    assert json.loads(state_file.read_text())["version"] == 1


@pytest.mark.parametrize("state_file", ["directory"], indirect=True)
async def test_a_state_file_that_is_a_directory_is_refused_and_sessions_kept_in_memory(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path, state_file: Path
) -> None:
    start_worker(server, "saga__e__s__1")
    (output_dir / "saga__e__s__2.out").write_text("done\n")
    await wait_for(lambda: len(saga_app.poller.sessions) == 2, timeout=POLL + 3)
    store = (await status(jp_fetch))["store"]
    assert store["memoryOnly"] is True
    assert "is a directory, not a regular file" in store["error"]
    assert store["backup"] is None and store["writes"] == 0
    assert (state_file / "inside").read_bytes() == b"kept"
    assert sorted(p.name for p in state_file.parent.iterdir()) == ["sessions.json"]


@pytest.mark.parametrize("state_file", ["other output_dir"], indirect=True)
async def test_a_store_of_another_output_dir_is_set_aside(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path, state_file: Path
) -> None:
    (output_dir / "saga__e__s__2.out").write_text("done\n")
    await wait_for(lambda: [i.name for i in saga_app.poller.sessions] == ["saga__e__s__2"])
    assert saga_app.poller.sessions[0].start_time != utc(STARTED)  # not the other directory's
    health = await status(jp_fetch)
    reason = f"it holds the sessions of /elsewhere, not of {output_dir}"
    assert health["store"]["error"] == f"{reason} (one state_file per output_dir)"
    backup = Path(health["store"]["backup"])
    assert backup.name.startswith("sessions.json.other-")
    assert MetadataStore(backup, output_dir="/elsewhere").load() == REMEMBERED
    await wait_for(lambda: state_file.is_file())
    assert json.loads(state_file.read_text())["outputDir"] == str(output_dir)


@pytest.mark.parametrize("state_file", ["no output_dir"], indirect=True)
async def test_a_store_from_before_output_dir_is_used_and_rewritten(
    saga_app: Any, output_dir: Path, state_file: Path
) -> None:
    # Neither session has a file or a tmux session: nothing changes, yet the file is rewritten.
    await wait_for(lambda: "outputDir" in state_file.read_text())
    assert json.loads(state_file.read_text())["outputDir"] == str(output_dir)
    listed = {info.name: info for info in saga_app.poller.sessions}
    assert listed.keys() == set(REMEMBERED)
    assert listed["saga__e__s__2"].start_time == utc(STARTED)


async def test_no_write_when_nothing_changed(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path, state_file: Path
) -> None:
    start_worker(server, "saga__e__s__1")
    (output_dir / "saga__e__s__2.out").write_text("x\n")
    await wait_for(lambda: state_file.exists() and "saga__e__s__2" in state_file.read_text())
    writes = (await status(jp_fetch))["store"]["writes"]
    inode = state_file.stat().st_ino
    polls = saga_app.poller.last_poll
    await wait_for(lambda: saga_app.poller.last_poll >= polls + 10 * POLL, timeout=20 * POLL)
    assert (await status(jp_fetch))["store"]["writes"] == writes
    assert state_file.stat().st_ino == inode
    with (output_dir / "saga__e__s__2.out").open("a") as file:
        file.write("more\n")  # a change worth remembering: lastActivity, one write
    await wait_for(lambda: saga_app.poller.store_writes > writes, timeout=3)


async def test_a_hanging_tmux_never_slows_the_routes(
    jp_fetch: Any,
    saga_app: Any,
    server: Server,
    output_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start_worker(server, "saga__e__s__1")
    await wait_for(lambda: saga_app.poller.by_name.get("saga__e__s__1"), timeout=POLL + 2)
    saga_app.poller.discovery.tmux.timeout = 1.0
    monkeypatch.setenv("PATH", hanging_tmux(tmp_path))

    async def unavailable() -> Any:
        health = await status(jp_fetch)
        return health["tmux"]["available"] is False and health

    health = await wait_for(unavailable, timeout=10)
    assert "did not answer" in health["tmux"]["error"] or "next try" in health["tmux"]["error"]
    for parts in (("sessions",), ("status",), ("sessions", "saga__e__s__1")):
        started = time.monotonic()
        response = await jp_fetch("api", "saga", *parts)
        assert response.code == 200
        assert time.monotonic() - started < 0.5, parts  # never waits for tmux (detail: breaker)
    # A running session is not taken for ended because tmux hangs.
    assert saga_app.poller.by_name["saga__e__s__1"].status == "running"
    monkeypatch.undo()
    start_worker(server, "saga__e__s__2")
    await wait_for(lambda: saga_app.poller.by_name.get("saga__e__s__2"), timeout=8 * BACKOFF_FIRST)
    assert (await status(jp_fetch))["tmux"]["available"] is True


@pytest.mark.parametrize("state_file", ["sparse terabyte"], indirect=True)
async def test_a_sparse_terabyte_store_is_set_aside_and_the_extension_runs(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path, state_file: Path
) -> None:
    start_worker(server, "saga__e__s__1")
    (output_dir / "saga__e__s__2.out").write_text("done\n")
    assert saga_app.poller.listed.is_set()  # started: no client waits 10 s for an empty list
    await wait_for(lambda: len(saga_app.poller.sessions) == 2, timeout=POLL + 3)
    store = (await status(jp_fetch))["store"]
    assert (
        store["error"]
        == f"cannot read it: too large ({1 << 40} bytes; at most {MAX_FILE} are read)"
    )
    backup = Path(store["backup"])
    assert backup.name.startswith("sessions.json.corrupt-") and backup.stat().st_size == 1 << 40
    assert store["memoryOnly"] is False
    await wait_for(lambda: state_file.is_file() and "saga__e__s__1" in state_file.read_text())


@pytest.mark.parametrize("state_file", ["200,000 records"], indirect=True)
async def test_a_huge_store_is_read_up_to_its_cap_and_lists_are_bounded(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, state_file: Path
) -> None:
    poller = saga_app.poller
    assert len(poller.discovery.memory) <= MAX_RECORDS  # read at start: at most the cap
    await wait_for(lambda: status_of(saga_app, "saga__e__s__50000") == "running", timeout=5)
    assert len(poller.sessions) == MAX_RECORDS
    response = await jp_fetch("api", "saga", "sessions")
    listed = [session["name"] for session in json.loads(response.body)]
    assert response.headers["X-Saga-Total"] == str(MAX_RECORDS)
    assert len(listed) == MAX_LISTED + 1 and listed[-1] == "saga__e__s__50000"
    assert listed[:MAX_LISTED] == [session.name for session in poller.sessions[:MAX_LISTED]]
    completed = await jp_fetch("api", "saga", "sessions", params={"status": "completed"})
    assert len(json.loads(completed.body)) == MAX_LISTED
    assert completed.headers["X-Saga-Total"] == str(MAX_RECORDS - 1)
    channel = Channel(await jp_ws_fetch("api", "saga", "channels"))
    frame = await channel.receive()  # the first frame: the list as it is now
    channel.close()
    assert frame["total"] == MAX_RECORDS and len(frame["sessions"]) == MAX_LISTED + 1
    assert len(json.dumps(frame)) < 1 << 20  # was a frame of every record: 300 MiB for 10^6
    # The file is written back with the cap's records only.
    await wait_for(lambda: state_file.stat().st_size < 400 * MAX_RECORDS, timeout=POLL + 5)
    assert len(json.loads(state_file.read_text())["sessions"]) == MAX_RECORDS
