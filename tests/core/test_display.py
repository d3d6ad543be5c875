"""SessionInfo in a notebook: aware UTC datetimes, a short repr, HTML tables, a DataFrame."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from libtmux.server import Server

import saga_jupyter as saga
from saga_jupyter.core.display import PANDAS_MISSING
from saga_jupyter.core.info import RECORD_COLUMNS, SessionInfo, SessionList
from saga_jupyter.core.saga.worker import WorkerReading
from tests.helpers import start_worker

START = 1795343400.0  # 2026-11-22T10:30:00Z
RUNNING = "saga__auth__login-form__4242"
DONE = "saga__search__ranking__7"


def session(name: str = DONE, **changes: object) -> SessionInfo:
    info = SessionInfo(
        name=name,
        epic_slug=name.split("__")[1],
        story_slug=name.split("__")[2],
        status="completed",
        output_file=f"/out/{name}.out",
        output_available=True,
        start_time=START,  # type: ignore[arg-type]
        end_time=START + 125,  # type: ignore[arg-type]
        last_activity=START + 120,  # type: ignore[arg-type]
        output_preview="first\n<b>last</b> line",
        worker=WorkerReading(cycle=3, outcome="BLOCKED", blocker="Which <wins>?"),
    )
    return replace(info, **changes)  # type: ignore[arg-type]


def test_times_are_aware_datetimes_in_utc_and_json_is_unchanged() -> None:
    info = session()
    assert info.start_time == datetime(2026, 11, 22, 10, 30, tzinfo=timezone.utc)
    assert info.start_time is not None and info.start_time.tzinfo is timezone.utc
    assert info.end_time == datetime(2026, 11, 22, 10, 32, 5, tzinfo=timezone.utc)
    assert info.duration == 125
    json = info.to_json()
    assert (json["startTime"], json["endTime"], json["lastActivity"]) == (
        "2026-11-22T10:30:00Z",
        "2026-11-22T10:32:05Z",
        "2026-11-22T10:32:00Z",
    )
    # Another zone converts to UTC; a naive datetime has no zone to convert from.
    paris = datetime(2026, 11, 22, 11, 30, tzinfo=timezone.utc).astimezone()
    assert replace(info, start_time=paris).start_time.tzinfo is timezone.utc  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="naive"):
        replace(info, start_time=datetime(2026, 11, 22, 10, 30))


def test_a_short_repr_names_status_and_outcome() -> None:
    assert repr(session()) == f"<SessionInfo {DONE} completed BLOCKED>"
    running = session(RUNNING, status="running", end_time=None, worker=WorkerReading(cycle=2))
    assert repr(running) == f"<SessionInfo {RUNNING} running cycle 2>"
    plain = session(RUNNING, worker=None)
    assert repr(plain) == f"<SessionInfo {RUNNING} completed>"
    assert repr(SessionList([plain])) == f"[<SessionInfo {RUNNING} completed>]"


def test_html_tables_escape_what_the_session_says() -> None:
    one = session()._repr_html_()
    assert one.startswith('<table class="saga-session">')
    assert "Which &lt;wins&gt;?" in one and "<wins>" not in one
    assert "&lt;b&gt;last&lt;/b&gt; line" in one
    assert ">BLOCKED<" in one and ">2m 5s<" in one
    listing = SessionList([session(), session(RUNNING, worker=None)])._repr_html_()
    assert listing.count("<tr>") == 3  # the header and two rows
    assert "<th>outcome</th>" in listing and "<td>BLOCKED</td>" in listing
    assert "<td>&lt;b&gt;last&lt;/b&gt; line</td>" in listing  # the preview's last line
    assert SessionList()._repr_html_() == "<p><em>No SAGA sessions.</em></p>"


def test_to_dataframe_has_a_row_per_session_with_utc_times() -> None:
    pandas = pytest.importorskip("pandas")
    frame = SessionList([session(), session(RUNNING, worker=None)]).to_dataframe()
    assert list(frame.columns) == RECORD_COLUMNS
    assert list(frame["name"]) == [DONE, RUNNING]
    assert list(frame["outcome"].fillna("")) == ["BLOCKED", ""]
    assert frame["start_time"][0] == pandas.Timestamp("2026-11-22T10:30:00Z")
    assert str(frame["start_time"].dtype).startswith("datetime64") and "UTC" in str(
        frame["start_time"].dtype
    )
    assert len(session().to_dataframe()) == 1
    assert list(SessionList().to_dataframe().columns) == RECORD_COLUMNS


def test_to_dataframe_without_pandas_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # what an environment without pandas does
    with pytest.raises(ImportError) as raised:
        SessionList([session()]).to_dataframe()
    assert str(raised.value) == PANDAS_MISSING
    assert "pip install pandas" in PANDAS_MISSING


def test_list_sessions_returns_a_list_that_renders(server: Server, output_dir: Path) -> None:
    start_worker(server, RUNNING, output_dir)
    (output_dir / f"{DONE}.out").write_text("done\n")
    found = saga.list_sessions(output_dir=output_dir, tmux_socket_name=server.socket_name)
    assert isinstance(found, list) and isinstance(found, SessionList)
    assert [info.name for info in found] == [RUNNING, DONE]
    assert all(info.start_time and info.start_time.tzinfo is timezone.utc for info in found)
    assert f"<td>{RUNNING}</td><td>running</td>" in found._repr_html_()
