"""What keeping panes costs: N idle v4 workers on a private tmux server, each pane kept.

    PYTHONPATH=. .venv/bin/python scripts/measure_panes.py [--workers 100] [--seconds 30]

Prints the writers' count, their total RSS and PSS (``/proc/<pid>/smaps_rollup``), their CPU
time over the idle window, the tmux server's RSS before and after, and how long keeping every
pane took. Then a burst: each worker writes 1000 lines, and the writers' CPU for it. Removes
its tmux server and files at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from saga_jupyter.core.tmux.client import Tmux
from saga_jupyter.core.tmux.panes import WRITER, PaneKeeper

SOCKET = f"saga-measure-panes-{os.getpid()}"
TICKS = os.sysconf("SC_CLK_TCK")


def tmux(*args: str) -> str:
    """Run a tmux command on the private socket; its output."""
    return subprocess.run(
        ["tmux", "-L", SOCKET, *args], capture_output=True, text=True, check=True
    ).stdout


def writers() -> list[int]:
    """The pids of the pane writers running now."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if WRITER.encode() in command and SOCKET.encode() not in command:
                if any(part.startswith(b"--inode") for part in command):
                    pids.append(int(entry.name))
    return pids


def memory_kib(pid: int, field: str) -> int:
    """One field (``Rss``, ``Pss``) of a process's ``smaps_rollup``, in KiB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds of these processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def main() -> None:
    """Start the workers, keep their panes, measure, clean up."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    options = parser.parse_args()
    output_dir = Path(tempfile.mkdtemp(prefix="saga-measure-panes-"))
    names = [f"saga-story-measure-{i}" for i in range(options.workers)]
    try:
        # Idle until told, then a burst of 1000 lines, then idle again.
        burst = "i=0; while [ $i -lt 1000 ]; do echo line $i of some output; i=$((i+1)); done"
        worker = f"tmux wait-for go-burst; {burst}; exec sleep 3600"
        for name in names:
            tmux("new-session", "-d", "-s", name, "-x", "200", "-y", "50", worker)
        server_pid = int(tmux("display-message", "-p", "#{pid}"))
        before = memory_kib(server_pid, "Rss")
        keeper = PaneKeeper(Tmux(SOCKET), output_dir)
        started = time.monotonic()
        for name in names:
            keeper.keep(name)
        while tmux("list-panes", "-a", "-F", "#{pane_pipe}").split().count("1") < len(names):
            time.sleep(0.05)
        kept = time.monotonic() - started
        while len(writers()) < len(names):
            time.sleep(0.05)
        time.sleep(1)  # the writers' own start-up over, before the idle window
        pids = writers()
        rss = sum(memory_kib(pid, "Rss") for pid in pids)
        pss = sum(memory_kib(pid, "Pss") for pid in pids)
        cpu = cpu_seconds(pids)
        time.sleep(options.seconds)
        idle_cpu = cpu_seconds(pids) - cpu
        after = memory_kib(server_pid, "Rss")
        each = kept / len(names) * 1000
        print(f"workers: {len(names)}, kept in {kept:.2f} s ({each:.1f} ms each)")
        print(f"writer processes: {len(pids)}")
        print(f"writers' RSS: {rss / 1024:.1f} MiB total, {rss / len(pids):.0f} KiB each")
        print(f"writers' PSS: {pss / 1024:.1f} MiB total, {pss / len(pids):.0f} KiB each")
        print(f"writers' CPU over {options.seconds:g} s idle: {idle_cpu:.2f} s")
        print(f"tmux server RSS: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after")
        cpu = cpu_seconds(pids)
        tmux("wait-for", "-S", "go-burst")
        expected = 1000 * len("line 999 of some output\n") // 2
        while min((output_dir / f"{n}.pane").stat().st_size for n in names) < expected:
            time.sleep(0.05)
        print(f"burst of 1000 lines in each pane: writers' CPU {cpu_seconds(pids) - cpu:.2f} s")
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
        shutil.rmtree(output_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
