"""The benchmarks, ``python -m bench``: what every case shares (the plan of sizes, the rows it
reports, worker output). The harness (servers, clients, /proc, the writer) is the tests':
``tests/harness.py``. See ``bench/README.md``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20


@dataclass(frozen=True)
class Plan:
    """The sizes of one run: ``full`` (the figures in the README) or ``quick`` (the suite's)."""

    mode: str = "full"
    viewers: tuple[int, ...] = (1, 20, 100)  # latency: clients, each its own WebSocket
    files: tuple[int, ...] = (1, 20)  # latency: files written, viewer k follows file k mod n
    # Each latency load runs ours, peer, peer, ours: neither side gains from going first.
    order: tuple[str, ...] = ("ours", "peer", "peer", "ours")
    rate: int = 200  # lines per second per file
    seconds: float = 5.0  # of writing, per latency run
    warmup: float = 1.0  # seconds of lines left out of the percentiles
    throughput_mib: int = 200
    catchup_mib: int = 20
    catchup_viewers: int = 20
    first_mib: int = 100
    first_runs: int = 20
    stalled_mib: int = 64
    sessions: int = 500
    gets: int = 1000
    idle_polls: int = 3
    new_sessions: int = 30
    new_without_file: int = 5
    scans: int = 50
    store_runs: int = 100
    table_sessions: int = 1000
    table_updates: int = 200
    viewer_mib: int = 1024
    viewer_runs: int = 10
    saga_read_mib: int = 32  # v4: JSONL read and rendered, in this process
    saga_first_mib: int = 10  # v4: the first view's file
    saga_runs: int = 5  # v4: runs of each reading and first view
    saga_sessions: int = 500  # v4: the scan's sessions (half of them v4 on one side)
    saga_scans: int = 30
    saga_viewers: tuple[int, ...] = (1, 20)  # v4 latency: viewers of each view, one file each
    saga_order: tuple[str, ...] = ("raw", "transcript", "transcript", "raw")  # subscribed first
    growth_mib: int = 200  # worker reading: appended to a running worker's file, no viewer
    cli_runs: int = 10  # each command line figure: runs of ours and of the peer, in turn
    churn_seconds: float = 60.0  # hosts: sessions and viewers coming and going (--churn-minutes)
    logs_figures: tuple[str, ...] = ("latency", "throughput", "first-frame", "stalled")


# Small sizes: every figure in under a minute, for the test suite (no speed asserted).
QUICK = Plan(
    "quick", viewers=(1, 10), files=(1, 5), order=("ours", "peer"), rate=100, seconds=1.0,
    warmup=0.3, throughput_mib=8, catchup_mib=2, catchup_viewers=5, first_mib=8, first_runs=3,
    stalled_mib=8, sessions=40, gets=100, idle_polls=1, new_sessions=3, new_without_file=1,
    scans=5, store_runs=5, table_sessions=200, table_updates=10, viewer_mib=64, viewer_runs=2,
    saga_read_mib=2, saga_first_mib=2, saga_runs=1, saga_sessions=40, saga_scans=3,
    saga_viewers=(1, 3), saga_order=("transcript",),
    growth_mib=8, cli_runs=2, churn_seconds=4.0,
)  # fmt: skip


@dataclass
class Row:
    """One figure: ours and the peer's (``None``: no peer), the target, whether it was met."""

    case: str
    figure: str
    ours: float | str | None
    peer: float | str | None = None
    unit: str = "ms"
    target: str = ""
    ok: bool | None = None  # None: for information

    def cells(self) -> list[str]:
        """The row as markdown table cells."""
        verdict = {True: "pass", False: "**MISS**", None: ""}[self.ok]
        ours, peer = fmt(self.ours, self.unit), fmt(self.peer, self.unit)
        return [self.case, self.figure, ours, peer, self.target, verdict]


@dataclass
class Report:
    """What a case found: rows (under the ``case`` set last), notes, raw details for the JSON."""

    case: str = ""
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, *row: Any) -> None:
        """Add a :class:`Row` of the current case: figure, ours, peer, unit, target, ok."""
        self.rows.append(Row(self.case, *row))

    def quantiles(self, figure: str, ours: list[float], peer: list[float] | None = None,
                  target: str = "≤ peer", limit: float = math.inf) -> None:  # fmt: skip
        """p50 and p99 rows of timings (ms), met as the target says: within ``limit``, and no
        worse than the peer's when the target names the peer."""
        for q in (50, 99):
            mine, theirs = percentile(ours, q), None if peer is None else percentile(peer, q)
            bound = theirs if theirs is not None and "peer" in target else math.inf
            ok = mine <= min(limit, bound) if target else None
            self.add(f"p{q}, {figure}", mine, theirs, "ms", target, ok)


def fmt(value: float | str | None, unit: str) -> str:
    """A figure for the table."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if math.isinf(value):
        return "timeout"
    if unit == "%":
        return f"{value:.0%}"
    digits = 2 if unit == "ms" or abs(value) < 10 else 0 if abs(value) >= 100 else 1
    digits = 0 if value == int(value) and not unit else digits
    return f"{value:,.{digits}f} {unit}".strip()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); ``inf`` without values."""
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def timed(action: Callable[..., object], *args: Any) -> float:
    """Milliseconds ``action(*args)`` takes."""
    began = time.perf_counter()
    action(*args)
    return (time.perf_counter() - began) * 1000


def log(message: str) -> None:
    """Progress on stderr: stdout holds only the table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


WORKER_LINES = (
    "[{ts}] assistant: Reading src/{story}/handlers.py to see how requests are validated",
    '[{ts}] tool_call: Read(file_path="src/{story}/module_{n}.py")',
    "\x1b[32m..\x1b[0m\x1b[31mF\x1b[0m tests/test_{story}.py::test_case_{n} [{n}%]",
    "Installing dependencies: {n}%\r{n}%\r100%",
    "[{ts}] assistant: The failure comes from an unescaped value; fixing it ({n}/40) ✓ — é",
)


def worker_output(size: int) -> bytes:
    """About ``size`` bytes (whole lines) of what a SAGA worker writes: ANSI, ``\\r``, non-ASCII."""
    ts, form = "2026-11-22T10:00:{:02d}Z", WORKER_LINES
    lines = [form[n % len(form)].format(ts=ts.format(n), story=f"s{n % 7}", n=n) for n in range(40)]
    block = ("\n".join(lines) + "\n").encode()
    data = block * (size // len(block) + 1)
    return data[: data.rindex(b"\n", 0, max(size, len(block))) + 1]


def table(rows: list[Row]) -> str:
    """The rows as one markdown table."""
    head = ["case", "figure", "ours", "peer", "target", "result"]
    lines = [head, ["---"] * len(head), *(row.cells() for row in rows)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
