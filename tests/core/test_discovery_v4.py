"""Discovery of today's SAGA workers (saga-story-<id>-<digits>, .jsonl) beside the seeds'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from libtmux.server import Server

from saga_jupyter.core.discovery import Discovery
from saga_jupyter.core.store import MetadataStore
from saga_jupyter.core.tmux.client import Tmux
from tests.helpers import kill_worker, start_worker

SAMPLE = (Path(__file__).parent / "saga_v4_sample.jsonl").read_bytes()
LINES = SAMPLE.splitlines(keepends=True)
NAME = "saga-story-auth-login-flow-1741165923"


@pytest.fixture
def discovery(server: Server, output_dir: Path) -> Discovery:
    return Discovery(output_dir, Tmux(server.socket_name))


def one(discovery: Discovery, name: str = NAME) -> dict:
    (info,) = [info for info in discovery.scan() if info.name == name]
    return info.to_json()


def test_a_worker_alive_before_its_file_is_running_without_output(
    server: Server, discovery: Discovery
) -> None:
    start_worker(server, NAME)
    info = one(discovery)
    assert info["status"] == "running"
    assert info["outputAvailable"] is False
    assert info["outputFormat"] == "messages"
    assert info["outputFile"].endswith(NAME + ".jsonl")
    assert (info["epicSlug"], info["storySlug"]) == (None, "auth-login-flow")


def test_both_generations_in_one_list(
    server: Server, output_dir: Path, discovery: Discovery
) -> None:
    start_worker(server, NAME)
    start_worker(server, "saga__auth__login__1")
    start_worker(server, "saga-story-x")  # not a name of either generation
    (output_dir / "saga-story-old-1741000000.jsonl").write_bytes(LINES[0])
    (output_dir / "saga-story-old-1741000001.out").write_text("not today's output file\n")
    names = {info.name: info.output_format for info in discovery.scan()}
    assert names == {
        NAME: "messages",
        "saga__auth__login__1": "terminal",
        "saga-story-old-1741000000": "messages",
    }


def test_a_running_worker_is_read_from_its_messages(
    server: Server, output_dir: Path, discovery: Discovery
) -> None:
    start_worker(server, NAME)
    path = output_dir / (NAME + ".jsonl")
    path.write_bytes(b"".join(LINES[:21]))  # the first cycle, up to its cycle_end
    worker = one(discovery)["worker"]
    assert (worker["cycle"], worker["maxCycles"], worker["outcome"]) == (1, 10, None)
    assert worker["costUsd"] == pytest.approx(6.42)
    assert worker["turns"] == 64
    assert worker["pr"] == "https://github.com/me/proj/pull/42"
    with path.open("ab") as file:
        file.write(b"".join(LINES[21:23]))  # cycle 2 starts
    info = next(info for info in discovery.scan() if info.name == NAME)
    assert info.progress == "cycle 2/10"
    # The preview is what a person reads, not raw JSON.
    assert info.output_preview is not None and '{"type"' not in info.output_preview
    assert "cycle 2/10" in info.output_preview


def test_ended_without_pipeline_end_is_an_error_and_stopped_when_asked(
    server: Server, output_dir: Path, discovery: Discovery
) -> None:
    stopped = "saga-story-billing-1741165924"
    for name in (NAME, stopped):
        start_worker(server, name)
        (output_dir / (name + ".jsonl")).write_bytes(b"".join(LINES[:4]))
    assert {info.status for info in discovery.scan()} == {"running"}
    discovery.remember_stop(stopped)
    for name in (NAME, stopped):
        kill_worker(server, name)
    assert one(discovery)["worker"]["outcome"] == "ERROR"
    assert one(discovery, stopped)["worker"]["outcome"] == "STOPPED"
    assert one(discovery)["status"] == "completed"


def test_a_file_seen_before_its_session_is_not_left_failed_once_the_session_shows(
    server: Server, output_dir: Path, discovery: Discovery
) -> None:
    (output_dir / (NAME + ".jsonl")).write_bytes(b"".join(LINES[:4]))
    assert one(discovery)["worker"]["outcome"] == "ERROR"  # no session (yet): gone
    start_worker(server, NAME)
    info = one(discovery)
    assert (info["status"], info["worker"]["outcome"]) == ("running", None)
    kill_worker(server, NAME)  # and when it does end, it is told again
    assert one(discovery)["worker"]["outcome"] == "ERROR"


def test_a_worker_that_never_wrote_its_file_failed(server: Server, discovery: Discovery) -> None:
    start_worker(server, NAME)
    assert one(discovery)["worker"] is None
    kill_worker(server, NAME)
    info = one(discovery)
    assert (info["status"], info["outputAvailable"]) == ("completed", False)
    assert info["worker"]["outcome"] == "ERROR"


def test_ended_unseen_takes_its_times_from_its_messages(
    output_dir: Path, discovery: Discovery
) -> None:
    (output_dir / (NAME + ".jsonl")).write_bytes(SAMPLE)
    info = one(discovery)
    assert info["status"] == "completed"
    assert info["worker"]["outcome"] == "FINISH"
    assert (info["startTime"], info["endTime"]) == ("2026-03-05T09:12:03Z", "2026-03-05T10:02:11Z")


def test_incomplete(output_dir: Path, discovery: Discovery) -> None:
    end = {"type": "saga_worker", "subtype": "pipeline_end", "storyId": "auth-login-flow",
           "status": "incomplete", "exitCode": 2, "cycles": 10, "elapsedMinutes": 61.2,
           "timestamp": "2026-03-05T11:03:40.002Z"}  # fmt: skip
    (output_dir / (NAME + ".jsonl")).write_bytes(LINES[0] + json.dumps(end).encode() + b"\n")
    worker = one(discovery)["worker"]
    assert (worker["outcome"], worker["elapsedMinutes"]) == ("INCOMPLETE", 61.2)


def test_completed_workers_are_remembered_across_restarts(
    server: Server, output_dir: Path, tmp_path: Path
) -> None:
    store = MetadataStore(tmp_path / "state.json", output_dir)
    first = Discovery(output_dir, Tmux(server.socket_name))
    first.memory = store.load()
    start_worker(server, NAME)
    first.scan()
    first.remember_stop(NAME)
    kill_worker(server, NAME)
    started = one(first)["startTime"]
    assert store.save(first.memory)
    again = Discovery(output_dir, Tmux(server.socket_name))
    again.memory = MetadataStore(tmp_path / "state.json", output_dir).load()
    info = one(again)  # no tmux session, no file: only the store knows it
    assert (info["status"], info["startTime"]) == ("completed", started)
    assert info["worker"]["outcome"] == "STOPPED"


def test_a_line_appended_costs_one_rendering_of_the_preview(
    server: Server, output_dir: Path, discovery: Discovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    import saga_jupyter.core.saga.recent as recent

    rendered: list[object] = []
    real = recent.render_line
    monkeypatch.setattr(recent, "render_line", lambda line: rendered.append(line) or real(line))
    start_worker(server, NAME)
    path = output_dir / (NAME + ".jsonl")
    path.write_bytes(b"".join(LINES[:21]))
    first = one(discovery)["outputPreview"]
    assert first is not None and "cycle 1" in first
    assert len(rendered) <= 8  # the last few messages, never the whole file
    before = len(rendered)
    one(discovery)  # nothing new: nothing rendered
    with path.open("ab") as file:
        file.write(LINES[21])
    assert "cycle 2/10" in one(discovery)["outputPreview"]
    assert len(rendered) == before + 1


def test_a_stop_told_after_the_end_was_seen_still_makes_it_stopped(
    server: Server, output_dir: Path, discovery: Discovery
) -> None:
    """The scan under way when a stop is asked may see the session gone before the note."""
    start_worker(server, NAME)
    (output_dir / (NAME + ".jsonl")).write_bytes(b"".join(LINES[:4]))
    (output_dir / (NAME + ".pane")).write_text("[worker] Starting pipeline\n")  # a summary
    discovery.scan()
    kill_worker(server, NAME)
    assert one(discovery)["worker"]["outcome"] == "ERROR"
    discovery.remember_stop(NAME)
    assert one(discovery)["worker"]["outcome"] == "STOPPED"
