"""tmux calls: exact targets, one-call detail, timeouts and the circuit breaker."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from libtmux.server import Server

from saga_jupyter.core.errors import InvalidSessionName, TmuxUnavailable
from saga_jupyter.core.tmux.client import BACKOFF_FIRST, FAILURES_BEFORE_BACKOFF, Tmux, target
from tests.helpers import hanging_tmux, start_worker, wait_until


def test_targets_are_exact_and_validated() -> None:
    assert target("saga__e__s__12") == "=saga__e__s__12"
    with pytest.raises(InvalidSessionName):
        target("saga__e__s__12; kill-server")


def test_windows_and_panes_in_one_call(server: Server) -> None:
    name = "saga__e__s__1"
    start_worker(server, name)
    session = server.sessions.get(session_name=name)
    session.active_window.rename_window("main")
    session.active_window.split()
    second = session.new_window(window_name="logs \t tab")
    second.split()
    tmux = Tmux(server.socket_name)
    windows = tmux.windows(name)
    assert windows is not None
    expected = [
        (int(w.window_index), w.window_name, [(p.pane_id, int(p.pane_pid)) for p in w.panes])
        for w in session.windows
    ]
    assert [
        (w["index"], w["name"], [(p["id"], p["pid"]) for p in w["panes"]]) for w in windows
    ] == expected
    assert sum(len(w["panes"]) for w in windows) == 4
    assert [w["active"] for w in windows] == [w.window_active == "1" for w in session.windows]
    pane = windows[0]["panes"][0]
    assert {"id", "index", "pid", "currentCommand", "active", "width", "height"} <= set(pane)
    assert tmux.windows("saga__e__s__2") is None


def test_kill_is_exact(server: Server) -> None:
    start_worker(server, "saga__e__s__12")
    start_worker(server, "saga__e__s__123")
    tmux = Tmux(server.socket_name)
    assert tmux.kill("saga__e__s__1") is False
    assert tmux.kill("saga__e__s__12") is True
    assert [s.name for s in tmux.list_sessions()] == ["saga__e__s__123"]


def test_a_hanging_tmux_times_out_then_the_breaker_opens(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="saga_jupyter")
    tmux = Tmux(server.socket_name, timeout=0.3)
    monkeypatch.setenv("PATH", hanging_tmux(tmp_path))
    for _ in range(FAILURES_BEFORE_BACKOFF):
        started = time.monotonic()
        with pytest.raises(TmuxUnavailable, match="did not answer"):
            tmux.list_sessions()
        assert 0.25 < time.monotonic() - started < 3
    started = time.monotonic()
    with pytest.raises(TmuxUnavailable, match="next try in"):
        tmux.list_sessions()
    assert time.monotonic() - started < 0.05  # not asked at all
    assert tmux.backoff is not None and tmux.backoff <= BACKOFF_FIRST
    monkeypatch.undo()
    start_worker(server, "saga__e__s__1")
    sessions = wait_until(lambda: _try(tmux), timeout=BACKOFF_FIRST + 2)
    assert [s.name for s in sessions] == ["saga__e__s__1"]
    assert tmux.backoff is None and tmux.failures == 0
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("saga_jupyter")]
    assert len([m for m in messages if "unavailable" in m]) == 1  # once per change of state
    assert len([m for m in messages if "answers again" in m]) == 1


def _try(tmux: Tmux) -> object:
    try:
        return tmux.list_sessions()
    except TmuxUnavailable:
        return None


def test_a_server_exiting_as_it_is_asked_has_no_sessions(server: Server) -> None:
    """Its last session killed, a server may answer "server exited unexpectedly": no sessions.

    Before, that one answer in ~60 was an error and a scan kept the ended session running.
    """
    tmux = Tmux(server.socket_name)
    for attempt in range(80):
        name = f"saga__e__s__{attempt}"
        server.cmd("new-session", "-d", "-s", name, "sleep 600")
        server.cmd("kill-session", "-t", f"={name}")
        assert tmux.list_sessions() == []
    assert tmux.failures == 0
