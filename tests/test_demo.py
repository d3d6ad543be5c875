"""Demo workers: real tmux sessions writing agent-like output; cleanup kills only them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from libtmux.server import Server

from saga_jupyter import demo
from saga_jupyter.core.discovery import Discovery
from saga_jupyter.core.names import parse_name
from saga_jupyter.core.tmux import Tmux
from tests.helpers import wait_until


def live_sessions(server: Server) -> set[str]:
    result = server.cmd("list-sessions", "-F", "#{session_name}")
    return set(result.stdout)


def looks_like_an_agent(path: Path) -> bool:
    # Bytes, decoded: read_text() would turn the progress bars' "\r" into "\n".
    text = path.read_bytes().decode() if path.exists() else ""
    return "\x1b[" in text and "\r" in text and any(symbol in text for symbol in "✻⏺│✔─")


def test_workers_write_agent_output_finish_and_clean_up(server: Server, tmp_path: Path) -> None:
    server.cmd("new-session", "-d", "-s", "other", "sleep 600")
    workers = demo.start_demo(tmp_path, server.socket_name, count=3, durations=[1.0, 300, 300])
    try:
        names = [worker.name for worker in workers]
        assert live_sessions(server) >= set(names)
        assert len({parse_name(name).epic for name in names}) >= 2
        assert all(w.output_file == tmp_path / f"{w.name}.out" for w in workers)

        wait_until(lambda: all(looks_like_an_agent(w.output_file) for w in workers), timeout=30)
        wait_until(lambda: names[0] not in live_sessions(server), timeout=30)
        assert "complete" in workers[0].output_file.read_text(encoding="utf-8")
    finally:
        killed = demo.stop_demo(workers, server.socket_name)

    assert killed == names[1:]
    assert live_sessions(server) == {"other"}
    assert all(worker.output_file.exists() for worker in workers)


def test_cleanup_removes_only_its_own_files(server: Server, tmp_path: Path) -> None:
    unrelated = tmp_path / "saga__auth__login-form__1.out"
    unrelated.write_text("not a demo file\n")
    workers = demo.start_demo(tmp_path, server.socket_name, count=1, durations=[300])
    wait_until(workers[0].output_file.exists, timeout=30)

    assert demo.stop_demo(workers, server.socket_name, remove_output=True) == [workers[0].name]
    assert not workers[0].output_file.exists()
    assert unrelated.read_text() == "not a demo file\n"
    assert demo.stop_demo(workers, server.socket_name) == []


def test_the_workers_speak_sagas_format_and_end_each_their_way(
    server: Server, tmp_path: Path
) -> None:
    workers = demo.start_demo(tmp_path, server.socket_name, count=4, durations=[1.0] * 4)
    try:
        discovery = Discovery(tmp_path, Tmux(server.socket_name))

        def ended() -> dict[str, Any]:
            found = {info.story_slug: info.worker for info in discovery.scan()}
            done = all(w is not None and w.outcome for w in found.values())
            return found if done and len(found) == 4 else {}

        readings = wait_until(ended, timeout=60)
    finally:
        demo.stop_demo(workers, server.socket_name)
    outcomes = {story: reading.outcome for story, reading in readings.items()}
    assert outcomes == {
        "login-form": "FINISH", "invoice-pdf": "FINISH", "ranking": "BLOCKED",
        "password-reset": "ERROR",
    }  # fmt: skip
    assert readings["ranking"].blocker and "freshness" in readings["ranking"].blocker
    assert all(r.cycle and r.cycle >= 1 and r.summary for r in readings.values())
    text = workers[0].output_file.read_text()
    assert text.startswith("Starting story implementation...\n  Epic: auth\n")
    assert "--- Worker 1 started ---" in text and "[Tool: " in text
