"""A SAGA project of 200 stories x 5 tasks beside the server: REST latency, change to frame,
idle CPU. ``run(plan, workdir, tmux, report)`` plugs in as the other cases (``CASES["projects"]``
in ``bench/__main__.py``); ``python -m bench.projects [--quick]`` runs it alone.

- ``GET /api/saga/epics`` and ``/api/saga/stories``: one request every 10 ms on one kept-alive
  connection, the time to the last byte of the body; ``/api/saga/status`` beside them, the
  floor of this machine at that moment (it reads nothing of the projects).
- task change to frame: a task file of a story in its worktree rewritten as SAGA's sync hook
  does (the whole file), to the ``stories:updated`` frame holding that story with the new
  status, on one channel client; random pauses between changes.
- idle CPU: the server process's CPU over a window where nothing changes (its backstop re-read
  of the whole project every ``poll_interval`` included), in cores.

No peer: SAGA's own dashboard does not push changes made in worktrees at all (SAGA-V4.md §5.3).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import QUICK, Plan, Report, log, table
from tests.harness import JupyterProcess, timed_connect, tree_cpu
from tests.sagaproject import epic, story, story_dir, task

STORIES, TASKS, EPICS = 200, 5, 10
STATUSES = ("completed", "completed", "in_progress", "pending", "pending")  # task t<n>'s
SIZES = {"full": (1000, 50, 10.0), "quick": (100, 5, 1.0)}  # GETs, changes, idle seconds


def make_project(root: Path, stories: int) -> list[str]:
    """Epics and stories of ``TASKS`` tasks each, every other one in its worktree; their ids."""
    ids = [f"story-{index}" for index in range(stories)]
    for number in range(EPICS):
        epic(root, f"epic-{number}", ids[number::EPICS])
    for index, story_id in enumerate(ids):
        tasks = {f"t{n}": STATUSES[(index + n) % TASKS] for n in range(TASKS)}
        journal = "## Session: one\nwork\n## Blocker: Which API?\n?\n" if index % 7 == 0 else None
        story(root, story_id, f"epic-{index % EPICS}", tasks, in_worktree=index % 2 == 0,
              journal=journal)  # fmt: skip
    return ids


def gets(port: int, headers: dict[str, str], path: str, count: int) -> tuple[list[float], Any]:
    """Milliseconds of ``count`` GETs of ``path``, one every 10 ms; the last body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times, next_at, body = [], time.perf_counter(), b""
    for _ in range(count):
        time.sleep(max(0.0, next_at - time.perf_counter()))
        next_at += 0.01
        began = time.perf_counter()
        connection.request("GET", path, headers=headers)
        body = connection.getresponse().read()
        times.append((time.perf_counter() - began) * 1000)
    connection.close()
    return times, json.loads(body)


async def changes(jupyter: JupyterProcess, root: Path, ids: list[str], count: int) -> list[float]:
    """Milliseconds from a task file rewritten in a worktree to its stories:updated frame."""
    frames: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
    channel = await timed_connect(
        jupyter.port, "/api/saga/channels", jupyter.headers,
        lambda text, _: frames.put_nowait((text, time.perf_counter())),
    )  # fmt: skip
    times = []
    rng = random.Random(4)
    current: dict[str, str] = {}
    try:
        for _ in range(count):
            await asyncio.sleep(rng.uniform(0.05, 0.2))
            story_id = rng.choice(ids[::2])  # those in a worktree
            # Another status than it has: a file rewritten as it was changes no story.
            index = ids.index(story_id)
            was = current.get(story_id, STATUSES[index % TASKS])
            status = rng.choice([other for other in set(STATUSES) if other != was])
            current[story_id] = status
            began = time.perf_counter()
            task(story_dir(root, story_id, worktree=True), "t0", status)
            while True:
                text, at = await asyncio.wait_for(frames.get(), 5)
                frame = json.loads(text)
                if frame["type"] == "stories:updated" and story_id in (
                    s["id"] for s in frame["stories"]
                ):
                    times.append((at - began) * 1000)
                    break
    finally:
        channel.close()
    return times


async def run(plan: Plan, workdir: Path, tmux: Any, report: Report) -> None:
    """Make the project, start a server on it, measure."""
    report.case = "projects"
    stories = STORIES if plan.mode == "full" else STORIES // 4
    count, changed, idle = SIZES.get(plan.mode, SIZES["full"])
    root = workdir / "project"
    log(f"a project of {stories} stories x {TASKS} tasks")
    ids = make_project(root, stories)
    (workdir / "sessions").mkdir()
    args = [
        f"--SagaJupyterApp.output_dir={workdir / 'sessions'}",
        f"--SagaJupyterApp.tmux_socket_name={tmux.socket_name}",
        f"--SagaJupyterApp.state_file={workdir / 'state.json'}",
        f"--SagaJupyterApp.project_dirs={root}",
    ]
    with JupyterProcess(workdir, *args) as jupyter:
        # /status: the floor on this machine now (a route that reads nothing of the projects).
        floor, _ = await asyncio.to_thread(gets, jupyter.port, jupyter.headers, "/api/saga/status",
                                           count)  # fmt: skip
        for path in ("/api/saga/epics", "/api/saga/stories"):
            times, body = await asyncio.to_thread(gets, jupyter.port, jupyter.headers, path, count)
            assert len(body) == (EPICS if path.endswith("epics") else stories), body
            report.quantiles(f"GET {path}, {stories} stories x {TASKS} tasks", times, None,
                             "≤ 20 ms", 20)  # fmt: skip
        report.quantiles("GET /api/saga/status (the floor: reads no project)", floor, None, "")
        log(f"{changed} task changes in worktrees")
        times = await changes(jupyter, root, ids, changed)
        report.quantiles("task change in a worktree to stories:updated", times, None,
                         "≤ 200 ms", 200)  # fmt: skip
        await asyncio.sleep(1.0)  # the last change's re-read done
        before = tree_cpu(jupyter.pid)
        await asyncio.sleep(idle)
        used = (tree_cpu(jupyter.pid) - before) / idle * 1000  # CPU ms a second
        figure = f"idle CPU watching {stories} stories (backstop re-read every 10 s)"
        report.add(figure, used, None, "ms/s", "≤ 20 ms/s (0.02 cores)", used <= 20)


def main(argv: list[str] | None = None) -> int:
    """Run this case alone; print its table."""
    parser = argparse.ArgumentParser(prog="python -m bench.projects")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    from libtmux.server import Server

    plan, report = (QUICK if args.quick else Plan()), Report()
    tmux = Server(socket_name=f"saga-bench-projects-{time.time_ns()}")
    with tempfile.TemporaryDirectory(prefix="saga-bench-projects-") as workdir:
        asyncio.run(run(plan, Path(workdir), tmux, report))
    print(table(report.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
