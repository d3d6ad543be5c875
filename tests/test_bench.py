"""The bench's quick mode produces every figure: bench/ cannot rot. No speed is asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CASES = {"latency", "throughput", "catch-up", "first frame", "stalled viewer", "sessions", "store",
         "command line", "widgets", "v4 reading", "v4 scan", "v4 latency", "worker reading",
         "projects", "hosts"}  # fmt: skip


@pytest.mark.timeout(420)  # ~1-2 min on a quiet machine; a loaded one takes three times that
def test_the_quick_bench_gives_every_figure(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench", "--quick", "--results", str(tmp_path)]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr[-4000:]
    (result,) = tmp_path.glob("*-quick.json")
    run = json.loads(result.read_text())
    rows = [row for case in run["cases"].values() for row in case["rows"]]
    assert {row["case"] for row in rows} == CASES
    missing = [row["figure"] for row in rows if not isinstance(row["ours"], int | float)]
    assert not missing, f"figures not measured (or timed out): {missing}"
    peerless = [r["figure"] for r in rows if r["case"] == "latency" and r["peer"] is None]
    assert not peerless, f"the peer timed out: {peerless}"
    loads = len(run["plan"]["viewers"]) * len(run["plan"]["files"])
    assert len([r for r in rows if r["case"] == "latency"]) == 4 * loads
    assert run["commit"] and run["machine"]["cpus"] and run["versions"]["tornado"]
    assert "| latency | p50, 1 viewer of 1 file |" in done.stdout
