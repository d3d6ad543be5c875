"""Realistic JSONL of a today's SAGA worker: SAGA's own messages and the Agent SDK's, with
the sizes a real run has (long ``Read`` results, failing tests, per-cycle results with cost).
"""

from __future__ import annotations

import json
import random
from typing import Any

from saga_jupyter import demo_messages

CWD = "/home/me/proj/.saga/worktrees/auth-login-flow"
FILES = ("src/auth.ts", "src/session.ts", "src/routes/login.ts", "tests/auth.test.ts")


def dumps(message: dict[str, Any]) -> bytes:
    """One line as SAGA writes it: ``JSON.stringify(message) + "\\n"``."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def source(rng: random.Random, lines: int) -> str:
    """What a ``Read`` returns: numbered lines of TypeScript."""
    body = [
        "export async function login(request: Request): Promise<Response> {",
        "  const { user, password } = await request.json();",
        "  if (!(await verify(user, password))) return reply(401, 'bad credentials');",
        "  const token = sign({ sub: user.id, exp: Date.now() + TTL_MS }); // é ✓",
        "  return reply(200, { token });",
        "}",
        "",
    ]
    return "\n".join(f"{n:>6}\u2192{body[n % len(body)]}" for n in range(1, lines + 1))


def cycle(rng: random.Random, number: int, turns: int) -> list[bytes]:
    """One cycle's messages: its start, a headless run (text, tool calls, results, some of them
    failing tests and long files), its ``result`` with cost, its end."""
    run = demo_messages.HeadlessRun(rng, CWD)
    saga = demo_messages.saga_worker
    out = [saga("cycle_start", cycle=number, maxCycles=10), run.init()]
    for turn in range(turns):
        path = f"{CWD}/{FILES[turn % len(FILES)]}"
        kind = turn % 5
        if kind == 0:
            out.append(run.text(f"Reading {FILES[turn % 4]} to see how the token is checked."))
            call, tool_id = run.tool_use("Read", {"file_path": path})
            out += [call, run.tool_result(tool_id, source(rng, rng.randint(40, 160)))]
        elif kind == 1:
            call, tool_id = run.tool_use("Bash", {"command": "npm test -- tests/auth.test.ts"})
            report = "FAIL tests/auth.test.ts\n  ● login > rejects a bad password\n" * 3
            out += [call, run.tool_result(tool_id, report + "Tests: 1 failed, 41 passed", True)]
        elif kind == 2:
            edit = {"file_path": path, "old_string": "reply(200", "new_string": "reply(401"}
            call, tool_id = run.tool_use("Edit", edit)
            out += [call, run.tool_result(tool_id, f"The file {path} has been updated.")]
        elif kind == 3:
            call, tool_id = run.tool_use("Grep", {"pattern": r"verify\(", "path": "src"})
            out += [call, run.tool_result(tool_id, "\n".join(FILES * 3))]
        else:
            update = {"taskId": f"t{turn % 7}", "status": "completed"}
            call, tool_id = run.tool_use("TaskUpdate", update)
            out += [call, run.tool_result(tool_id, f"Updated task #t{turn % 7} status")]
    out.append(run.result("Completed the tasks, committed and pushed. Exiting.", 600_000))
    out.append(saga("cycle_end", cycle=number, exitCode=0))
    return [dumps(message) for message in out]


def messages_jsonl(size: int, seed: int = 24) -> bytes:
    """About ``size`` bytes (whole lines) of a worker's ``.jsonl``, as SAGA and the SDK write it."""
    rng, saga = random.Random(seed), demo_messages.saga_worker
    lines = [dumps(saga("pipeline_start", storyId="auth-login-flow"))]
    lines.append(dumps(saga("pipeline_step", step=1, message=f"Created worktree at {CWD}")))
    total, number = sum(map(len, lines)), 0
    while total < size:
        number += 1
        for line in cycle(rng, number, 40):
            lines.append(line)
            total += len(line)
    data = b"".join(lines)
    return data[: data.rindex(b"\n", 0, max(size, len(lines[0]))) + 1]
