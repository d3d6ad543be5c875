from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from libtmux.server import Server

import saga_jupyter.core.discovery as module
from saga_jupyter.core.discovery import Discovery
from saga_jupyter.core.tmux.client import BACKOFF_FIRST, Tmux
from tests.helpers import kill_worker, start_worker, wait_until


@pytest.fixture
def discovery(server: Server, output_dir: Path) -> Discovery:
    return Discovery(output_dir, Tmux(server.socket_name))


def by_name(discovery: Discovery) -> dict[str, dict]:
    return {info.name: info.to_json() for info in discovery.scan()}


def test_running_and_completed(server: Server, output_dir: Path, discovery: Discovery) -> None:
    start_worker(server, "saga__auth__login__1")
    (output_dir / "saga__auth__old__2.out").write_text("finished\n")
    sessions = by_name(discovery)
    assert set(sessions) == {"saga__auth__login__1", "saga__auth__old__2"}
    running = sessions["saga__auth__login__1"]
    assert running["status"] == "running"
    assert running["outputAvailable"] is False
    assert running["outputPreview"] is None
    assert running["lastActivity"] is None
    assert running["endTime"] is None
    assert running["startTime"].endswith("Z")
    completed = sessions["saga__auth__old__2"]
    assert completed["status"] == "completed"
    assert completed["outputAvailable"] is True
    assert completed["outputPreview"] == "finished"
    assert completed["endTime"] is not None
    assert completed["outputFile"] == str(output_dir / "saga__auth__old__2.out")


def test_non_saga_and_malformed_names_are_ignored(
    server: Server, output_dir: Path, discovery: Discovery
) -> None:
    for name in ("work", "saga__a__b", "saga__a____1", "saga__A__b__1", "saga__a b__c__1"):
        server.cmd("new-session", "-d", "-s", name, "sleep 600")
    for filename in ("saga__a__b.out", "saga__A__b__1.out", "notes.out", "saga__a__b__1.txt"):
        (output_dir / filename).write_text("x\n")
    (output_dir / "saga__a__b__9.out").mkdir()  # a directory is not an output file either
    assert len(server.sessions) == 5
    assert discovery.scan() == []


def test_exact_names_are_told_apart(server: Server, output_dir: Path, discovery: Discovery) -> None:
    start_worker(server, "saga__e__s__12")
    (output_dir / "saga__e__s__123.out").write_text("other\n")
    sessions = by_name(discovery)
    assert sessions["saga__e__s__12"]["status"] == "running"
    assert sessions["saga__e__s__123"]["status"] == "completed"
    assert sessions["saga__e__s__12"]["outputAvailable"] is False

    # Started before the other is killed: a server whose last session ends exits, and a new
    # session asked of it then may fail ("server exited unexpectedly").
    start_worker(server, "saga__e__s__123")
    kill_worker(server, "saga__e__s__12")
    sessions = by_name(discovery)
    assert sessions["saga__e__s__123"]["status"] == "running"
    # 12 never had a file: remembered, it is completed (and stays, with no file to delete).
    assert sessions["saga__e__s__12"]["status"] == "completed"
    assert sessions["saga__e__s__12"]["outputAvailable"] is False


def test_killed_session_completes_with_end_time_then_file_deletion_forgets_it(
    server: Server, output_dir: Path, discovery: Discovery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="saga_jupyter")
    name = "saga__e__s__5"
    start_worker(server, name)
    (output_dir / f"{name}.out").write_text("hello\n")
    first = by_name(discovery)[name]
    assert first["status"] == "running"
    kill_worker(server, name)
    done = by_name(discovery)[name]
    assert done["status"] == "completed"
    assert done["endTime"] is not None
    assert done["startTime"] == first["startTime"]
    assert by_name(discovery)[name] == done  # stable across scans
    (output_dir / f"{name}.out").unlink()
    assert by_name(discovery) == {}
    messages = [record.getMessage() for record in caplog.records]
    assert any("discovered" in m and name in m for m in messages)
    assert any("completed" in m and name in m for m in messages)
    assert any("forgotten" in m and name in m for m in messages)


def test_sorted_newest_first_ties_by_name(output_dir: Path, server: Server) -> None:
    clock = iter(range(1000, 2000))
    discovery = Discovery(output_dir, Tmux(server.socket_name), clock=lambda: next(clock))
    for name, mtime in (("saga__a__x__1", 100), ("saga__b__x__1", 300), ("saga__a__y__1", 300)):
        path = output_dir / f"{name}.out"
        path.write_text("x\n")
        os.utime(path, (mtime, mtime))
    names = [info.name for info in discovery.scan()]
    assert names == ["saga__a__y__1", "saga__b__x__1", "saga__a__x__1"]


def test_preview_is_recomputed_only_when_the_file_changes(
    output_dir: Path, discovery: Discovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = output_dir / "saga__e__s__1.out"
    path.write_text("one\n")
    calls: list[str] = []
    real = module.read_preview
    monkeypatch.setattr(module, "read_preview", lambda *a: calls.append("x") or real(*a))
    assert discovery.scan()[0].output_preview == "one"
    discovery.scan()
    discovery.scan()
    assert len(calls) == 1
    with path.open("a") as file:
        file.write("two\n")
    assert discovery.scan()[0].output_preview == "one\ntwo"
    assert len(calls) == 2


def test_no_tmux_server_gives_an_empty_list(output_dir: Path) -> None:
    discovery = Discovery(output_dir, Tmux("saga-test-no-server-here"))
    assert discovery.scan() == []
    assert discovery.tmux_error is None
    assert discovery.tmux.server_running is False


def test_tmux_missing_from_path(
    server: Server,
    output_dir: Path,
    discovery: Discovery,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PATH", str(output_dir))  # no tmux there
    for _ in range(4):
        assert discovery.scan() == []
    assert discovery.tmux_error is not None and "not installed" in discovery.tmux_error
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info is None  # once, no traceback
    assert "next try in" in discovery.tmux_error  # the breaker stopped asking
    monkeypatch.undo()
    start_worker(server, "saga__e__s__1")
    wait_until(discovery.scan, timeout=BACKOFF_FIRST + 1)
    assert [info.name for info in discovery.scan()] == ["saga__e__s__1"]
    assert discovery.tmux_error is None


def test_output_dir_created_late(server: Server, tmp_path: Path) -> None:
    later = tmp_path / "later"
    discovery = Discovery(later, Tmux(server.socket_name))
    assert discovery.scan() == []
    assert discovery.output_dir_exists is False
    later.mkdir()
    (later / "saga__e__s__1.out").write_text("x\n")
    assert [info.name for info in discovery.scan()] == ["saga__e__s__1"]
    assert discovery.output_dir_exists is True


def test_one_tmux_call_per_scan(
    server: Server, output_dir: Path, discovery: Discovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(20):
        start_worker(server, f"saga__e__s__{i}")
        (output_dir / f"saga__e__s__{i + 100}.out").write_text("x\n")
    calls: list[tuple[str, ...]] = []
    real = Tmux.run

    def counting(self: Tmux, *args: str):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real(self, *args)

    monkeypatch.setattr(Tmux, "run", counting)
    assert len(discovery.scan()) == 40
    assert [call[0] for call in calls] == ["list-sessions"]
