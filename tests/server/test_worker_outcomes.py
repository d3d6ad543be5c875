"""Workers' outcomes through the server: read from real sessions' output, filtered, sorted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from tests.helpers import Channel, saga_config, start_worker, wait_for

POLL = 0.3
HEADER = "Starting story implementation...\n  Epic: e\n  Story: s\n  Streaming: enabled\n"


def result(status: str, blocker: str | None = None) -> str:
    document = {
        "status": status, "summary": f"ended {status}", "cycles": 2, "elapsedMinutes": 3.5,
        "blocker": blocker, "epicSlug": "e", "storySlug": "s",
    }  # fmt: skip
    return json.dumps(document, indent=2) + "\n"


def cycles(last: str = "ONGOING") -> str:
    return (
        "--- Worker 1 started ---\n[Tool: Read]\x1b[1mthinking\x1b[0m[Tool: Edit]"
        "[Worker completed in 3.1s]\n--- Worker 1 result: ONGOING ---\n"
        f"--- Worker 2 started ---\n[Tool: Bash]\r\n--- Worker 2 result: {last} ---\n"
    )


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=POLL)


async def listed(jp_fetch: Any, **params: str) -> list[dict[str, Any]]:
    body = (await jp_fetch("api", "saga", "sessions", params=params)).body
    return list(json.loads(body))


async def test_outcomes_are_read_filtered_sorted_and_pushed(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    files = {
        "saga__e__done__1": HEADER + cycles("FINISH") + result("FINISH"),
        "saga__e__stuck__2": HEADER + cycles("BLOCKED") + result("BLOCKED", "which database?"),
        "saga__e__broke__3": HEADER + cycles() + result("ERROR"),
        "saga__e__other__4": 'make: *** [all] Error 2\n{\n"status": "ERROR"\n}\n',  # no worker
        "saga__e__busy__5": HEADER + cycles(),
    }
    for name, text in files.items():
        (output_dir / f"{name}.out").write_text(text)
    start_worker(server, "saga__e__busy__5")

    async def all_listed() -> list[dict[str, Any]]:
        sessions = await listed(jp_fetch)
        running = [s["name"] for s in sessions if s["status"] == "running"]
        return sessions if len(sessions) == 5 and running == ["saga__e__busy__5"] else []

    sessions = await wait_for(all_listed, timeout=POLL + 3)
    worker = {s["name"]: s["worker"] for s in sessions}
    assert worker["saga__e__other__4"] is None  # not a worker's output: no reading, no guess
    assert worker["saga__e__stuck__2"] == {
        "cycle": 2, "lastResult": "BLOCKED", "lastTool": "Bash", "outcome": "BLOCKED",
        "summary": "ended BLOCKED", "blocker": "which database?", "elapsedMinutes": 3.5,
        # Read from today's workers' messages only.
        "maxCycles": None, "costUsd": None, "turns": None, "tasks": None, "worktree": None,
        "pr": None,
    }  # fmt: skip
    assert (
        worker["saga__e__busy__5"]["outcome"] is None and worker["saga__e__busy__5"]["cycle"] == 2
    )

    assert [s["name"] for s in await listed(jp_fetch, outcome="BLOCKED")] == ["saga__e__stuck__2"]
    names = [s["name"] for s in await listed(jp_fetch, sort="attention")]
    assert names[:2] == ["saga__e__stuck__2", "saga__e__broke__3"]  # blocked, then failed
    assert set(names[2:]) == {"saga__e__done__1", "saga__e__other__4", "saga__e__busy__5"}
    for bad in ({"outcome": "finish"}, {"sort": "name"}):
        with pytest.raises(Exception) as caught:
            await jp_fetch("api", "saga", "sessions", params=bad)
        assert getattr(caught.value, "code", None) == 400

    # The final JSON lands: one sessions:updated frame carries the outcome.
    channel = await Channel.open(jp_ws_fetch)
    with (output_dir / "saga__e__busy__5.out").open("a") as out:
        out.write(result("BLOCKED", "needs a key"))
    while True:
        frame = await channel.receive(timeout=POLL + 3)
        if frame["type"] != "sessions:updated":
            continue
        busy = next(s for s in frame["sessions"] if s["name"] == "saga__e__busy__5")
        if busy["worker"]["outcome"] == "BLOCKED":
            break
    assert busy["worker"]["blocker"] == "needs a key"
    channel.close()
