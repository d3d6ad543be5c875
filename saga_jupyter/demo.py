"""Demo workers: real tmux sessions writing what a SAGA worker writes, at a human pace.

:func:`start_demo` starts them on a tmux socket and :func:`stop_demo` kills exactly those again.
Each session runs ``python -m saga_jupyter.demo worker <output file> <seconds>``, which appends
to the file what ``saga implement <story> --attached --stream`` prints (see
:mod:`saga_jupyter.core.worker`): its header, cycles of ANSI-coloured, carriage-return-animated
agent output with ``[Tool: ...]`` markers between ``--- Worker <n> started ---`` and
``--- Worker <n> result: ... ---``, and the loop's result as JSON. It exits after ``seconds``,
which ends its session: the watcher then sees it complete. The stories end differently: one
BLOCKED, waiting for a person, one in ERROR, the rest FINISH.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .core.errors import SagaError
from .core.files import create_exclusive, make_private_directory
from .core.names import output_path
from .core.tmux import Tmux
from .demo_agent import STORIES, Agent, Event, story_of

DEFAULT_SOCKET = "saga-demo"
DEFAULT_OUTPUT_DIR = "/tmp/saga-demo-sessions"  # noqa: S108 - a demo directory, by design shared
DEFAULT_COUNT = 6
LONG_RUNNING = 8 * 3600.0
WORKER_MODULE = "saga_jupyter.demo"
CYCLE_SECONDS = 15.0  # a worker cycle's length, about


@dataclass(frozen=True)
class DemoWorker:
    """A demo session that :func:`start_demo` started."""

    name: str
    output_file: Path
    seconds: float


def default_durations(count: int) -> list[float]:
    """Seconds each worker runs: every fourth runs for hours, the others finish within 20-90 s.

    >>> default_durations(6)
    [20.0, 28800.0, 43.3, 66.7, 90.0, 28800.0]
    """
    finite = [i for i in range(count) if i % 4 != 1]
    step = 70 / max(1, len(finite) - 1)
    spread = {i: round(20 + rank * step, 1) for rank, i in enumerate(finite)}
    return [spread.get(i, LONG_RUNNING) for i in range(count)]


def start_demo(
    output_dir: str | Path,
    socket_name: str | None = DEFAULT_SOCKET,
    count: int = DEFAULT_COUNT,
    durations: Sequence[float] | None = None,
) -> list[DemoWorker]:
    """Start ``count`` demo workers on tmux socket ``socket_name`` (``None``: the default one)."""
    seconds = list(durations) if durations is not None else default_durations(count)
    if count < 1 or len(seconds) != count:
        raise ValueError(f"need at least one worker and one duration each, not {count}/{seconds}")
    tmux = Tmux(socket_name)
    directory = Path(output_dir)
    make_private_directory(directory)
    taken = {session.name for session in tmux.list_sessions()}
    base = int(time.time())
    workers: list[DemoWorker] = []
    try:
        for index, duration in enumerate(seconds):
            story = STORIES[index % len(STORIES)]
            suffix = base + index
            while True:
                name = f"saga__{story.epic}__{story.story}__{suffix}"
                out = output_path(directory, name)
                if name not in taken and _claim(out):
                    break
                suffix += len(seconds)
            taken.add(name)
            command = [sys.executable, "-m", WORKER_MODULE, "worker", str(out), repr(duration)]
            # Several arguments: tmux executes the command directly, no shell in between.
            result = tmux.run("new-session", "-d", "-s", name, "-x", "200", "-y", "50", *command)
            if result.returncode != 0:
                out.unlink()  # claimed above, empty
                raise SagaError(f"tmux could not start {name}: {result.stderr.strip()[:300]}")
            workers.append(DemoWorker(name, out, duration))
    except BaseException:
        stop_demo(workers, socket_name)
        raise
    return workers


def stop_demo(
    workers: Iterable[DemoWorker],
    socket_name: str | None = DEFAULT_SOCKET,
    remove_output: bool = False,
) -> list[str]:
    """Kill exactly these sessions (``=name`` targets); return the names that were still running.

    Output files are kept unless ``remove_output``; no other session or file is touched.
    """
    tmux = Tmux(socket_name)
    killed = []
    for worker in workers:
        if tmux.kill(worker.name):
            killed.append(worker.name)
        if remove_output:
            worker.output_file.unlink(missing_ok=True)
    return killed


def _claim(out: Path) -> bool:
    """Create the output file, empty; ``False`` when anything (a link too) is there already."""
    try:
        create_exclusive(out)
    except FileExistsError:
        return False
    return True


def run_worker(output_file: str | Path, seconds: float, seed: int | None = None) -> None:
    """Append agent output to ``output_file`` for about ``seconds``, then a closing summary."""
    path = Path(output_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    agent = Agent(story_of(path), random.Random(seed))  # noqa: S311 - not for security
    started = time.monotonic()
    # In the tmux pane too, so attaching to the session shows the same output.
    mirror: TextIO | None = sys.stdout if sys.stdout.isatty() else None
    with path.open("a", encoding="utf-8", newline="") as out:

        def play(events: Iterable[Event]) -> None:
            nonlocal mirror
            for text, pause in events:
                out.write(text)
                out.flush()
                if mirror is not None:
                    try:
                        mirror.write(text)
                        mirror.flush()
                    except OSError:
                        mirror = None
                time.sleep(pause)

        play(agent.opening())
        cycle, steps = 1, agent.steps()
        play(agent.cycle_start(cycle))
        cycle_started = time.monotonic()
        while time.monotonic() - started < seconds:
            play(next(steps))
            if time.monotonic() - cycle_started >= CYCLE_SECONDS:  # the cycle ends, another starts
                play(agent.cycle_end(cycle, time.monotonic() - cycle_started, "ONGOING"))
                cycle += 1
                play(agent.cycle_start(cycle))
                cycle_started = time.monotonic()
        play(agent.summary(time.monotonic() - started, cycle))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m saga_jupyter.demo worker <output file> <seconds>``: run one demo worker."""
    parser = argparse.ArgumentParser(prog="python -m saga_jupyter.demo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="append agent output to a file, then exit")
    worker.add_argument("output_file", type=Path)
    worker.add_argument("seconds", type=float, help="how long to work before the summary")
    worker.add_argument("--seed", type=int, default=None, help="repeatable output")
    args = parser.parse_args(argv)
    try:
        run_worker(args.output_file, args.seconds, args.seed)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
