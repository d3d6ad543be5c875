"""Demo workers: real tmux sessions writing what SAGA workers write; cleanup kills only them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from libtmux.server import Server

from saga_jupyter import demo
from saga_jupyter.core.discovery import Discovery
from saga_jupyter.core.saga.names import parse_name
from saga_jupyter.core.tmux.client import Tmux
from saga_jupyter.demo_agent import STORIES
from saga_jupyter.demo_stories import STORIES_BY_ID, StorySpec
from tests.helpers import wait_until

LOGIN, INVOICE = STORIES_BY_ID["auth-login-flow"], STORIES_BY_ID["billing-invoice-pdf"]
RESET, TAX = STORIES_BY_ID["auth-password-reset"], STORIES_BY_ID["billing-tax-rates"]
TIMESTAMP = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")  # toISOString()
TOOLS = {"Bash", "Read", "Edit", "Grep", "TaskUpdate", "TaskList"}


def live_sessions(server: Server) -> set[str]:
    result = server.cmd("list-sessions", "-F", "#{session_name}")
    return set(result.stdout)


def looks_like_an_agent(path: Path) -> bool:
    # Bytes, decoded: read_text() would turn the progress bars' "\r" into "\n".
    text = path.read_bytes().decode() if path.exists() else ""
    return "\x1b[" in text and "\r" in text and any(symbol in text for symbol in "✻⏺│✔─")


def messages_of(path: Path) -> list[dict[str, Any]]:
    """Every line of a messages file, parsed; each must be one compact JSON object."""
    data = path.read_bytes()
    assert data.endswith(b"\n") and b"\r" not in data
    lines = data.decode().split("\n")[:-1]
    messages = [json.loads(line) for line in lines]
    for line, message in zip(lines, messages, strict=True):
        assert isinstance(message, dict)
        assert line == json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    return messages


def pipeline(messages: list[dict[str, Any]]) -> list[str]:
    """The subtypes of SAGA's own messages, in order."""
    return [m["subtype"] for m in messages if m["type"] == "saga_worker"]


def check_run(messages: list[dict[str, Any]], story: StorySpec, project: Path) -> None:
    """The shapes of SAGA-V4.md §2.2 and §2.3, in the order SAGA writes them."""
    worktree = f"{project}/.saga/worktrees/{story.id}"
    start, step1, step2, *rest = messages
    assert start == {**start, "type": "saga_worker", "subtype": "pipeline_start"}
    assert start["storyId"] == story.id
    assert all(TIMESTAMP.match(m["timestamp"]) for m in messages if m["type"] == "saga_worker")
    assert (step1["step"], step1["message"]) == (1, f"Created worktree at {worktree}")
    assert (step2["step"], step2["message"]) == (2, f"Created draft PR: {story.pr_url}")
    assert re.fullmatch(r"https://github\.com/example/shop/pull/\d+", story.pr_url)
    tool_ids: set[str] = set()
    cycle = 0
    for message in rest:
        kind, subtype = message["type"], message.get("subtype")
        if subtype == "cycle_start":
            cycle += 1
            assert (message["cycle"], message["maxCycles"]) == (cycle, story.max_cycles)
        elif kind == "system":
            assert subtype == "init" and message["cwd"] == worktree
            assert message["model"] and TOOLS <= set(message["tools"]) and message["session_id"]
        elif kind == "assistant":
            (block,) = message["message"]["content"]
            assert message["message"]["id"].startswith("msg_") and message["session_id"]
            assert message["message"]["usage"]["input_tokens"] >= 1
            if block["type"] == "tool_use":
                assert block["name"] in TOOLS and block["id"].startswith("toolu_")
                tool_ids.add(block["id"])
                if block["name"] == "TaskUpdate":
                    assert set(block["input"]) == {"taskId", "status"}
                    assert block["input"]["status"] in {"in_progress", "completed"}
            else:
                assert block["type"] == "text" and block["text"]
        elif kind == "user":
            (result,) = message["message"]["content"]
            assert result["type"] == "tool_result" and result["tool_use_id"] in tool_ids
            assert isinstance(result["content"], str)
            assert result.get("is_error", False) == result["content"].startswith("FAIL src/")
        elif kind == "result":
            assert message["subtype"] == "success" and message["is_error"] is False
            assert message["num_turns"] > 0 and isinstance(message["duration_ms"], int)
            assert message["total_cost_usd"] > 0 and message["result"]
        elif subtype == "cycle_end":
            assert (message["cycle"], message["exitCode"]) == (cycle, 0)
        else:
            assert subtype == "pipeline_end" and message is messages[-1]
    assert any(m["type"] == "user" and m["message"]["content"][0].get("is_error") for m in rest)
    end = messages[-1]
    assert end["subtype"] == "pipeline_end" and end["storyId"] == story.id
    assert end["cycles"] == cycle and isinstance(end["elapsedMinutes"], float)
    kinds = [m["type"] for m in rest]
    assert kinds.count("result") == kinds.count("system") == cycle  # one run a cycle


def tasks_completed(messages: list[dict[str, Any]]) -> set[str]:
    blocks = [b for m in messages if m["type"] == "assistant" for b in m["message"]["content"]]
    updates = [b["input"] for b in blocks if b.get("name") == "TaskUpdate"]
    return {u["taskId"] for u in updates if u["status"] == "completed"}


def dead_panes(server: Server) -> set[str]:
    """The sessions whose pane's process has ended (kept by ``remain-on-exit``)."""
    result = server.cmd("list-panes", "-a", "-F", "#{session_name} #{pane_dead}")
    return {line.split(" ")[0] for line in result.stdout if line.endswith(" 1")}


def test_workers_of_both_generations_run_finish_and_clean_up(
    server: Server, tmp_path: Path
) -> None:
    server.cmd("new-session", "-d", "-s", "other", "sleep 600")
    stories = [LOGIN, INVOICE, STORIES[0]]
    seconds = [1.0, demo.LONG_RUNNING, demo.LONG_RUNNING]  # the long ones as in the demo
    workers = demo.start_demo(tmp_path, server.socket_name, 3, seconds, stories, tmp_path / "shop")
    try:
        names = [worker.name for worker in workers]
        assert live_sessions(server) >= set(names)
        parts = [parse_name(name) for name in names]
        assert [p.output_format for p in parts] == ["messages", "messages", "terminal"]
        assert [p.story for p in parts] == ["auth-login-flow", "billing-invoice-pdf", "login-form"]
        assert re.fullmatch(r"saga-story-auth-login-flow-\d{10}", names[0])  # Unix seconds
        assert [w.output_file.name for w in workers] == [f"{n}.{s}" for n, s in zip(
            names, ["jsonl", "jsonl", "out"], strict=True)]  # fmt: skip

        wait_until(lambda: looks_like_an_agent(workers[2].output_file), timeout=30)
        # One that works for hours starts its first cycle within seconds all the same.
        wait_until(lambda: "cycle_start" in pipeline(messages_of(workers[1].output_file)), 30)
        wait_until(lambda: names[0] not in live_sessions(server), timeout=30)
        assert messages_of(workers[0].output_file)[-1]["status"] == "completed"
    finally:
        killed = demo.stop_demo(workers, server.socket_name)

    assert killed == names[1:]
    assert live_sessions(server) == {"other"}
    assert all(worker.output_file.exists() for worker in workers)


def test_cleanup_removes_only_its_own_files(server: Server, tmp_path: Path) -> None:
    unrelated = [tmp_path / "saga__auth__login-form__1.out", tmp_path / "saga-story-x-1.jsonl"]
    for path in unrelated:
        path.write_text("not a demo file\n")
    workers = demo.start_demo(tmp_path, server.socket_name, 2, [300, 300], [INVOICE, STORIES[1]])
    wait_until(lambda: all(w.output_file.stat().st_size for w in workers), timeout=30)
    pane = tmp_path / f"{workers[0].name}.pane"  # where a watcher keeps a v4 worker's pane
    pane.write_text("[worker] Starting pipeline for story: billing-invoice-pdf\n")

    stopped = demo.stop_demo(workers, server.socket_name, remove_output=True)
    assert stopped == [worker.name for worker in workers]
    assert sorted(tmp_path.iterdir()) == sorted(unrelated)
    assert all(path.read_text() == "not a demo file\n" for path in unrelated)
    assert demo.stop_demo(workers, server.socket_name) == []


def test_a_name_whose_pane_file_exists_is_not_taken(server: Server, tmp_path: Path) -> None:
    first = demo.start_demo(tmp_path, server.socket_name, 1, [300], [INVOICE])[0]
    demo.stop_demo([first], server.socket_name)
    first.output_file.unlink()
    kept = tmp_path / f"{first.name}.pane"
    kept.write_text("someone else's\n")
    second = demo.start_demo(tmp_path, server.socket_name, 1, [300], [INVOICE])[0]
    try:
        assert second.name != first.name
    finally:
        demo.stop_demo([second], server.socket_name, remove_output=True)
    assert kept.read_text() == "someone else's\n"


def test_v4_workers_write_sagas_messages_and_end_each_their_way(
    server: Server, tmp_path: Path
) -> None:
    server.cmd("new-session", "-d", "-s", "other", "sleep 600")  # a server to set options of
    server.cmd("set-option", "-wg", "remain-on-exit", "on")  # to read the panes after the end
    project = tmp_path / "shop"
    output = tmp_path / "sessions"
    workers = demo.start_demo(
        output, server.socket_name, 3, [2.0] * 3, [LOGIN, TAX, RESET], project
    )
    names = [worker.name for worker in workers]
    try:
        # (Not its exit status: tmux 3.3 sometimes marks a pane dead and never records it.)
        wait_until(lambda: dead_panes(server) >= set(names), timeout=60)
        screens = {
            n: "\n".join(server.cmd("capture-pane", "-p", "-J", "-S", "-", "-t", f"={n}:").stdout)
            for n in names
        }
    finally:
        demo.stop_demo(workers, server.socket_name)

    completed, incomplete, fatal = (messages_of(w.output_file) for w in workers)
    check_run(completed, LOGIN, project)
    assert completed[-1] | {"timestamp": "", "elapsedMinutes": 0.0} == {
        "type": "saga_worker", "subtype": "pipeline_end", "timestamp": "",
        "storyId": "auth-login-flow", "status": "completed", "exitCode": 0, "cycles": 2,
        "elapsedMinutes": 0.0,
    }  # fmt: skip
    assert tasks_completed(completed) == {"t1", "t2", "t3", "t4"}
    check_run(incomplete, TAX, project)
    assert (incomplete[-1]["status"], incomplete[-1]["exitCode"]) == ("incomplete", 2)
    assert incomplete[-1]["cycles"] == TAX.max_cycles == 3
    assert tasks_completed(incomplete) == {"t1", "t2", "t3"}
    # A fatal error: what was written before it, no pipeline_end; its words on the pane only.
    assert pipeline(fatal) == ["pipeline_start", "pipeline_step", "pipeline_step"]
    worktree = f"{project}/.saga/worktrees/auth-password-reset"
    assert fatal[1]["message"] == f"Worktree exists at {worktree}"
    error = f"Error: No task files found in {worktree}/.saga/stories/auth-password-reset."
    assert error in screens[names[2]]
    assert "No task files" not in fatal[-1]["message"]

    assert "[worker] Starting pipeline for story: auth-login-flow" in screens[names[0]]
    assert "[worker] Starting headless run cycle 2/10" in screens[names[0]]
    assert "[worker] Pipeline complete. Status: completed, cycles: 2" in screens[names[0]]
    assert "[worker] Starting headless run cycle 3/3" in screens[names[1]]
    assert "Status: incomplete, cycles: 3" in screens[names[1]]
    assert all("{" not in screen for screen in screens.values())  # messages go to the file


def test_a_v4_worker_exits_as_sagas_does(tmp_path: Path) -> None:
    def start(story: StorySpec) -> subprocess.Popen[str]:
        messages = tmp_path / f"{story.id}.jsonl"
        command = [
            sys.executable, "-m", "saga_jupyter.demo", "story", story.id, "--messages-file",
            str(messages), "--project-dir", str(tmp_path / "shop"), "--seconds", "1",
        ]  # fmt: skip
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    runs = {story.id: start(story) for story in (LOGIN, TAX, RESET)}
    printed = {story_id: run.communicate(timeout=60) for story_id, run in runs.items()}
    assert {story_id: run.returncode for story_id, run in runs.items()} == {
        "auth-login-flow": 0, "billing-tax-rates": 2, "auth-password-reset": 1,
    }  # fmt: skip
    out, err = printed["auth-password-reset"]
    assert out.startswith("[worker] Starting pipeline for story: auth-password-reset\n")
    assert err.startswith("Error: No task files found in ") and err.count("\n") == 1
    out, err = printed["auth-login-flow"]
    assert "[worker] Pipeline complete. Status: completed, cycles: 2, elapsed: " in out
    assert err == ""


def test_the_lineup_has_both_generations_and_every_ending(server: Server, tmp_path: Path) -> None:
    stories, seconds = demo.lineup()  # what saga-jupyter demo starts
    workers = demo.start_demo(tmp_path, server.socket_name, len(stories), seconds, stories)
    try:
        names = [worker.name for worker in workers]
        assert live_sessions(server) == set(names) and len(names) == demo.DEFAULT_COUNT == 6
    finally:
        demo.stop_demo(workers, server.socket_name, remove_output=True)
    v4 = [STORIES_BY_ID[parse_name(n).story] for n in names if n.startswith("saga-story-")]
    assert len(v4) == 4 and len(names) - len(v4) == 2  # and two of the seeds' workers
    assert {story.ending for story in v4} == {"completed", "incomplete", "fatal"}
    assert len({story.epic for story in v4}) == 2
    finite = sorted(w.seconds for w in workers if w.seconds < 3600)
    assert len(finite) == 4 and 20 <= finite[0] and finite[-1] <= 90
    assert list(tmp_path.iterdir()) == []


def test_the_v3_workers_speak_sagas_format_and_end_each_their_way(
    server: Server, tmp_path: Path
) -> None:
    workers = demo.start_demo(tmp_path, server.socket_name, 4, [1.0] * 4)  # the seeds', still
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
