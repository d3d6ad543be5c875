"""``python -m bench [--quick] [--only CASE ...] [--figures ...]``: every figure, ours beside the
peer's.

Each case runs on its own private tmux server and temporary directory (removed at the end, on
failure too). Prints one markdown table on stdout (progress on stderr) and writes the run, with
the machine, the versions and the commit, to ``bench/results/<time>-<mode>.json`` (and the
table beside it, ``.md``). ``--quick`` is the test suite's: small sizes, every figure, ~1 min.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import inspect
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from libtmux.server import Server

from bench import (
    QUICK,
    REPO,
    Plan,
    Report,
    hosts,
    log,
    logs,
    projects,
    saga,
    sessions,
    table,
    widgets,
)

CASES = {
    "logs": logs.run,
    "sessions": sessions.run,
    "widgets": widgets.run,
    "saga": saga.run,
    "projects": projects.run,
    "hosts": hosts.run,
}
PACKAGES = "tornado jupyter_server jupyter_server_terminals terminado ipykernel ipywidgets libtmux"


def run_of(command: list[str]) -> str:
    """A command's output ('' when it fails)."""
    return subprocess.run(command, capture_output=True, text=True).stdout.strip()


def environment(plan: Plan, argv: list[str]) -> dict[str, Any]:
    """What the figures depend on: the machine, the versions, the commit."""
    import saga_jupyter

    cpu = re.search(r"model name\s*: (.*)", Path("/proc/cpuinfo").read_text())
    versions = {"python": platform.python_version(), "tmux": run_of(["tmux", "-V"])}
    for name in PACKAGES.split():
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 30
    return {
        "mode": plan.mode, "command": " ".join(["python -m bench", *argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": run_of(["git", "-C", str(REPO), "rev-parse", "HEAD"]),
        "modified": bool(run_of(["git", "-C", str(REPO), "status", "--short", "-uno"])),
        "machine": {"cpus": os.cpu_count(), "cpu": cpu[1] if cpu else platform.processor(),
                    "memory_gib": memory, "system": platform.platform(), "load": os.getloadavg()},
        "versions": versions, "saga_jupyter": saga_jupyter.__file__,
        "plan": dataclasses.asdict(plan),
    }  # fmt: skip


def finite(value: Any) -> Any:
    """``value`` with infinite figures (a timeout) as ``None``: strict JSON has no Infinity."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return None if isinstance(value, float) and math.isinf(value) else value


def run_case(name: str, plan: Plan, report: Report) -> None:
    """One case on its own tmux server and directory."""
    tmux = Server(socket_name=f"saga-bench-{name}-{os.getpid()}")
    try:
        with tempfile.TemporaryDirectory(prefix=f"saga-bench-{name}-") as workdir:
            result = CASES[name](plan, Path(workdir), tmux, report)
            if inspect.iscoroutine(result):
                asyncio.run(result)
    finally:
        with contextlib.suppress(Exception):
            tmux.kill()


def main(argv: list[str] | None = None) -> int:
    """Run the cases asked for; print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (the test suite's)")
    parser.add_argument("--only", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    figures, what = Plan.logs_figures, "the logs case's figures (throughput: and catch-up)"
    parser.add_argument("--figures", nargs="+", choices=figures, default=figures, help=what)
    what = "the hosts case's churn (memory flat?): minutes of sessions and viewers coming and going"
    parser.add_argument("--churn-minutes", type=float, help=what)
    args = parser.parse_args(argv)
    plan = dataclasses.replace(QUICK if args.quick else Plan(), logs_figures=tuple(args.figures))
    if args.churn_minutes is not None:
        plan = dataclasses.replace(plan, churn_seconds=args.churn_minutes * 60)
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))  # cleanups run
    # Started in the background (`&`), this process ignores SIGINT, and so would the servers,
    # the peer's shells and their `tail`s: a Ctrl-C typed into a terminal would not stop one.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    began = time.monotonic()
    run = environment(plan, sys.argv[1:] if argv is None else argv)
    reports, failed = {name: Report() for name in args.only}, False
    for name, report in reports.items():
        log(f"case {name} ({plan.mode})")
        try:
            run_case(name, plan, report)
        except Exception as error:  # the other cases still run; the figures so far are kept
            log(f"case {name} failed:\n{traceback.format_exc()}")
            report.notes.append(f"FAILED: {error!r}")
            failed = True
    run.update(seconds=round(time.monotonic() - began), load_after=os.getloadavg())
    run["cases"] = {name: dataclasses.asdict(report) for name, report in reports.items()}
    machine = run["machine"]
    text = "\n".join([
        f"`{run['command']}` at {run['commit'][:10]}{' (modified)' * run['modified']}, "
        f"{run['seconds']} s; {machine['cpus']} CPUs ({machine['cpu']}), load average "
        f"{machine['load'][0]:.2f} before, {run['load_after'][0]:.2f} after.", "",
        table([row for report in reports.values() for row in report.rows]), "",
        *(f"- {name}: {note}" for name, r in reports.items() for note in r.notes), "",
    ])  # fmt: skip
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{time.strftime('%Y%m%dT%H%M%S')}-{plan.mode}"
    path.with_suffix(".json").write_text(json.dumps(finite(run), indent=1, default=str) + "\n")
    path.with_suffix(".md").write_text(text)
    log(f"written to {path}.json and .md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
