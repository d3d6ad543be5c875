"""How fast today's workers' JSONL goes through the reader and the transcript (not a test).

    PYTHONPATH=. .venv/bin/python scripts/measure_saga_messages.py [MiB]

Builds realistic JSONL (SAGA-V4.md's message shapes: tool calls, file-sized tool results,
text, a result per cycle), then times MessageReader.feed and Transcript.feed over it in 64 KiB
chunks (as the tailer reads), best of three, and prints MiB/s and seconds.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable

from saga_jupyter.core.saga import MessageReader, Transcript

CHUNK = 64 * 1024


def realistic(size: int, seed: int = 1) -> bytes:
    """About ``size`` bytes of a worker's messages."""
    rng = random.Random(seed)  # noqa: S311 (sample data, not secrets)
    session = {"session_id": "0b6e2c1a-5f6e-4c1d-9a55-3b2f0c1d2e3f", "parent_tool_use_id": None}
    usage = {"input_tokens": 2, "cache_creation_input_tokens": 812,
             "cache_read_input_tokens": 48211, "output_tokens": 61}  # fmt: skip

    def assistant(block: dict[str, object]) -> dict[str, object]:
        message = {"id": f"msg_{rng.randrange(1 << 40):x}", "type": "message",
                   "role": "assistant", "model": "claude-opus-4-6", "content": [block],
                   "stop_reason": None, "usage": usage}  # fmt: skip
        return {"type": "assistant", "message": message, **session, "uuid": str(rng.random())}

    def tool_result(text: str, error: bool = False) -> dict[str, object]:
        block = {
            "tool_use_id": "toolu_1",
            "type": "tool_result",
            "content": text,
            "is_error": error,
        }
        return {"type": "user", "message": {"role": "user", "content": [block]}, **session}

    code = "\n".join(
        f"    {rng.choice(['return', 'const x =', 'if (a) {', '}'])} {i} ✓" for i in range(200)
    )
    lines, total, cycle = [], 0, 0
    while total < size:
        if rng.random() < 0.01 or cycle == 0:
            cycle += 1
            lines.append({"type": "saga_worker", "subtype": "cycle_start", "cycle": cycle,
                          "maxCycles": 10, "timestamp": "2026-03-05T09:12:09.240Z"})  # fmt: skip
        kind = rng.random()
        if kind < 0.35:
            name = rng.choice(["Bash", "Read", "Edit", "Grep", "TaskUpdate"])
            arguments = {"command": "npm test -- src/auth.test.ts", "file_path": "/p/src/a.ts",
                         "taskId": "t1", "status": "completed"}  # fmt: skip
            lines.append(
                assistant({"type": "tool_use", "id": "toolu_1", "name": name, "input": arguments})
            )
        elif kind < 0.7:
            lines.append(tool_result(code[: rng.randrange(100, len(code))], rng.random() < 0.1))
        elif kind < 0.95:
            lines.append(
                assistant({"type": "text", "text": "Looking at the tests. " * rng.randrange(1, 20)})
            )
        else:
            lines.append({"type": "result", "subtype": "success", "is_error": False,
                          "duration_ms": 1185000, "num_turns": 64, "result": "Done.",
                          "total_cost_usd": 6.42, "usage": usage, **session})  # fmt: skip
        total += len(json.dumps(lines[-1], ensure_ascii=False).encode()) + 1
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


def best(run: Callable[[], object]) -> float:
    """The fastest of three runs, in seconds."""
    times = []
    for _ in range(3):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    """Build the JSONL, time both, print the table."""
    mib = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    data = realistic(int(mib * (1 << 20)))
    text = data.decode()
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    texts = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]

    def read() -> None:
        reader = MessageReader()
        for chunk in chunks:
            reader.feed(chunk)
        assert reader.skipped == 0

    def render() -> None:
        transcript = Transcript()
        for piece in texts:
            transcript.feed(piece)

    size = len(data) / (1 << 20)
    messages = data.count(b"\n")
    print(f"{size:.1f} MiB of JSONL, {messages} messages, in {CHUNK // 1024} KiB chunks")
    for name, run in (("MessageReader", read), ("Transcript", render)):
        seconds = best(run)
        print(f"{name:14} {seconds:6.3f} s  {size / seconds:7.1f} MiB/s")


if __name__ == "__main__":
    main()
