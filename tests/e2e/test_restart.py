"""A second server process on the same state file remembers every session's times."""

from __future__ import annotations

from pathlib import Path

from libtmux.server import Server

from tests.helpers import JupyterProcess, kill_worker, start_worker, wait_until


def test_times_survive_a_restart(server: Server, output_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    args = (
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={server.socket_name}",
        f"--SagaJupyterApp.state_file={state}",
        "--SagaJupyterApp.poll_interval=0.3",
    )
    start_worker(server, "saga__e__running__1", output_dir)
    start_worker(server, "saga__e__ends__2", output_dir)
    (output_dir / "saga__e__old__3.out").write_text("from before\n")

    first = JupyterProcess(tmp_path, *args)
    try:
        wait_until(lambda: len(first.get("api/saga/sessions")) == 3, timeout=10)
        kill_worker(server, "saga__e__ends__2")

        def ended() -> list[dict[str, object]] | None:
            sessions = first.get("api/saga/sessions")
            done = {s["name"] for s in sessions if s["status"] == "completed"}
            return sessions if done == {"saga__e__ends__2", "saga__e__old__3"} else None

        before = wait_until(ended, timeout=10)
        wait_until(lambda: state.exists() and "saga__e__ends__2" in state.read_text(), timeout=5)
    finally:
        first.stop()

    second = JupyterProcess(tmp_path, *args)
    try:
        after = second.get("api/saga/sessions")
        assert second.get("api/saga/status")["store"]["error"] is None
    finally:
        second.stop()
    times = [(s["name"], s["status"], s["startTime"], s["endTime"]) for s in before]
    assert [(s["name"], s["status"], s["startTime"], s["endTime"]) for s in after] == times
    assert all(s["startTime"] for s in after)
    assert next(s for s in after if s["name"] == "saga__e__ends__2")["endTime"] is not None
