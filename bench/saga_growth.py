"""What a running worker's growing output costs a server nobody views: its worker reading.

A real server (``poll_interval`` 0.05 s, so that every appended byte is read: a v3 file that
grew by more than 4 MiB between two looks is read from its tail only) watches two running
workers, v3 (``.out``) and v4 (``.jsonl``). A writer appends ``growth_mib`` of output holding
no marker to one of them (coloured terminal lines; tool-result messages) at 25 MiB/s. The
peer: the same server, the same bytes appended at the same pace to a file beside it that is no
session's (``<name>.out.1``), whose writes wake the same directory watch: what the server
spends on the growth without reading it. Runs alternate ours, peer, peer, ours.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from bench import MIB, Plan, Report, log, worker_output
from bench.messages import messages_jsonl
from tests import harness
from tests.harness import JupyterProcess

V3, V4 = "saga__bench__growth__1", "saga-story-growth-1765000000"
WRITE = 256 * 1024  # bytes a write
PACE = 0.01  # seconds between writes: 25 MiB/s, ~1.3 MiB between two looks
SETTLE = 0.5  # seconds after the last write: the last looks read it


def no_markers(kind: str) -> bytes:
    """About 4 MiB of output in which no reading finds anything."""
    if kind == "v3":
        return worker_output(4 * MIB)
    user = [line for line in messages_jsonl(8 * MIB).splitlines(keepends=True)
            if line.startswith(b'{"type":"user"')]  # fmt: skip
    assert not any(b'"tool_use"' in line or b'"result"' in line for line in user)
    return b"".join(user)


async def grow(jupyter: JupyterProcess, path: Path, data: bytes, mib: int) -> float:
    """Append ``mib`` MiB of ``data`` to ``path`` at the pace; server CPU seconds meanwhile."""
    tree = harness.process_tree(jupyter.pid)
    before = sum(harness.cpu_seconds(fields) for fields in tree.values())
    written = 0
    with path.open("ab") as file:
        while written < mib * MIB:
            at = written % (len(data) - WRITE)
            file.write(data[at : at + WRITE])
            file.flush()
            written += WRITE
            await asyncio.sleep(PACE)  # the writer's pace, not a wait for a condition
    await asyncio.sleep(SETTLE)
    tree = harness.process_tree(jupyter.pid)
    return sum(harness.cpu_seconds(fields) for fields in tree.values()) - before


async def growth(plan: Plan, workdir: Path, tmux: Any, report: Report) -> None:
    """Server CPU per ``growth_mib`` appended to a running worker's file, beside the peer's."""
    report.case = "worker reading"
    output_dir = workdir / "growth"
    output_dir.mkdir()
    for name in (V3, V4):
        tmux.cmd("new-session", "-d", "-s", name, "sleep 3600")
    header = {"v3": b"Starting story implementation...\n--- Worker 1 started ---\n",
              "v4": b'{"type":"saga_worker","subtype":"cycle_start","cycle":1}\n'}  # fmt: skip
    files = {"v3": output_dir / f"{V3}.out", "v4": output_dir / f"{V4}.jsonl"}
    peers = {kind: path.with_name(path.name + ".1") for kind, path in files.items()}
    for kind in files:
        files[kind].write_bytes(header[kind])
        peers[kind].write_bytes(header[kind])
    traits = {"output_dir": output_dir, "tmux_socket_name": tmux.socket_name,
              "state_file": workdir / "growth.json", "poll_interval": 0.05}  # fmt: skip
    mib = plan.growth_mib
    with JupyterProcess(workdir, *(f"--SagaJupyterApp.{k}={v}" for k, v in traits.items())) as j:
        for kind in ("v3", "v4"):
            data, runs = no_markers(kind), {"ours": [], "peer": []}
            for side in ("ours", "peer", "peer", "ours"):
                log(f"worker reading, {kind}: {mib} MiB appended, {side}")
                path = files[kind] if side == "ours" else peers[kind]
                runs[side].append(await grow(j, path, data, mib))
            sessions = {s["name"]: s for s in j.get("api/saga/sessions")}
            name = V3 if kind == "v3" else V4
            assert sessions[name]["worker"]["cycle"] == 1, json.dumps(sessions[name])[:500]
            ours, peer = (min(runs[side]) for side in ("ours", "peer"))
            what = "coloured terminal lines" if kind == "v3" else "tool-result messages"
            figure = (f"server CPU, {mib} MiB of {what} appended to a running {kind} worker's "
                      "file (read as it grows, no viewer); peer: the same appended to a file "
                      "beside it that is no session's")  # fmt: skip
            report.add(figure, ours * 1000, peer * 1000, "ms")
            runs_ms = {side: [round(s * 1000) for s in r] for side, r in runs.items()}
            report.notes.append(f"worker reading {kind}: runs (ms) {runs_ms}")
            report.details[f"worker reading {kind}"] = runs
