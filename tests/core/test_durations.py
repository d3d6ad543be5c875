"""One duration in every view: the Python side counts and writes them as the panel does.

The panel's own functions (``src/format.ts``) are run in node, compiled by the project's
TypeScript, on the same sessions as the Python side.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from saga_jupyter.core.durations import elapsed, format_duration
from saga_jupyter.core.info import SessionInfo

ROOT = Path(__file__).parents[2]
TYPESCRIPT = ROOT / "node_modules" / "typescript"
SECONDS = [0, 0.999, 1, 59.9, 60, 61, 192, 3599, 3600, 3660, 7500, 86399, 86400, 273600, -5]
START = 1_800_000_000.7  # a today's worker's start, to the millisecond


def ended(start: float, seconds: float) -> SessionInfo:
    """A completed session that ran ``seconds`` from ``start``."""
    name = "saga-story-auth-login-1800000000"
    return SessionInfo(
        name, None, "auth-login", "completed", f"/o/{name}.jsonl", True,
        start_time=start, end_time=start + seconds, last_activity=None, output_preview=None,
    )  # fmt: skip


def test_whole_seconds_of_each_end_are_counted() -> None:
    assert elapsed(10.7, 12.2) == elapsed(10, 12) == 2  # not 1.5 cut to 1
    assert elapsed(10.2, 12.9) == 2  # not 2.7 rounded to 3
    assert elapsed(12.5, 10) == 0
    assert ended(START, 59.6).duration == 60  # 10:00:00.7 to 10:01:00.3: the JSON says 60 s
    assert format_duration(None) == ""


@pytest.mark.skipif(
    shutil.which("node") is None or not TYPESCRIPT.is_dir(),
    reason="needs node and node_modules (scripts/setup runs jlpm install)",
)
def test_the_panel_shows_the_same_durations_as_python() -> None:
    sessions = [ended(START, seconds) for seconds in (59.6, 0.2, 3599.5, 90000.4)]
    script = """
const ts = require(process.argv[1]);
const source = require("fs").readFileSync(process.argv[2], "utf8");
const options = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020 };
const module_ = { exports: {} };
new Function("module", "exports", "require", ts.transpileModule(source, { compilerOptions:
  options }).outputText)(module_, module_.exports, require);
const { formatDuration, sessionDuration } = module_.exports;
const input = JSON.parse(process.argv[3]);
console.log(JSON.stringify({
  durations: input.seconds.map(s => formatDuration(s * 1000)),
  sessions: input.sessions.map(s => formatDuration(sessionDuration(s, Date.now()))),
}));
"""
    given = {"seconds": SECONDS, "sessions": [info.to_json() for info in sessions]}
    result = subprocess.run(
        ["node", "-e", script, str(TYPESCRIPT), str(ROOT / "src" / "format.ts"), json.dumps(given)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    panel = json.loads(result.stdout)
    assert panel["durations"] == [format_duration(seconds) for seconds in SECONDS]
    assert panel["sessions"] == [format_duration(info.duration) for info in sessions]
    assert panel["sessions"] == ["1m 0s", "0s", "1h 00m", "1d 1h"]
