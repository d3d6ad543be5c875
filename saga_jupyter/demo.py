"""Demo workers: real tmux sessions writing what SAGA workers write, at a human pace.

:func:`start_demo` starts them on a tmux socket and :func:`stop_demo` kills exactly those again.
``saga-jupyter demo`` starts :func:`lineup`'s, both generations of SAGA side by side. Most are
today's (v4): a session ``saga-story-<storyId>-<seconds>`` runs ``python -m saga_jupyter.demo
story <storyId> --messages-file <name>.jsonl ...`` (:mod:`saga_jupyter.demo_v4`), which appends
SAGA's JSON messages to the file and prints SAGA's lines to its pane; one completes, one runs
out of cycles, one dies before its first cycle (SAGA's ``Error: ...`` on its pane only), one
works for hours. The others are the seeds' (v3): ``saga__<epic>__<story>__<n>`` runs ``python
-m saga_jupyter.demo worker <name>.out <seconds>``, which appends what ``saga implement <story>
--attached --stream`` prints (:mod:`saga_jupyter.demo_agent`); one ends BLOCKED, one works for
hours. A worker exits after about its ``seconds``, which ends its session.

``saga-jupyter demo`` first builds the v4 workers' project (:mod:`saga_jupyter.demo_project`):
a git repository with the stories' worktrees, whose task files the workers move as they go.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeAlias

from .core.errors import SagaError
from .core.saga.names import output_path, pane_path
from .core.tmux.client import Tmux
from .core.watch.files import create_exclusive, make_private_directory
from .demo_agent import STORIES, STORY_BY_SLUGS, Agent, Event, Story, story_of
from .demo_stories import STORIES_BY_ID, StorySpec
from .demo_v4 import StoryWorker

DEFAULT_SOCKET = "saga-demo"
DEFAULT_OUTPUT_DIR = "/tmp/saga-demo-sessions"  # noqa: S108 - a demo directory, by design shared
# Where the v4 workers say their project is unless told (start_demo makes nothing there;
# saga-jupyter demo passes the project demo_project built).
DEFAULT_PROJECT_DIR = "/tmp/saga-demo-shop"  # noqa: S108
DEFAULT_COUNT = 6
LONG_RUNNING = 8 * 3600.0
WORKER_MODULE = "saga_jupyter.demo"
CYCLE_SECONDS = 15.0  # a v3 worker cycle's length, about

#: A v3 story (``saga__…``, ``.out``) or a v4 one (``saga-story-…``, ``.jsonl``).
DemoStory: TypeAlias = Story | StorySpec
#: What ``saga-jupyter demo`` starts (:func:`lineup`), in order, and for how many seconds.
LINEUP: tuple[tuple[DemoStory, float], ...] = (
    (STORIES_BY_ID["auth-login-flow"], 45.0),  # pipeline_end completed, 2 cycles
    (STORIES_BY_ID["billing-invoice-pdf"], LONG_RUNNING),
    (STORIES_BY_ID["auth-password-reset"], 20.0),  # Error: No task files found ... exit 1
    (STORIES_BY_ID["billing-tax-rates"], 75.0),  # pipeline_end incomplete, 3/3 cycles
    (STORY_BY_SLUGS["search", "ranking"], 90.0),  # v3, BLOCKED
    (STORY_BY_SLUGS["search", "typo-tolerance"], LONG_RUNNING),  # v3
)


@dataclass(frozen=True)
class DemoWorker:
    """A demo session that :func:`start_demo` started."""

    name: str
    output_file: Path
    seconds: float
    ending: str = ""  # how it ends, in words

    @property
    def files(self) -> list[Path]:
        """Its output file and, for a v4 worker, where a watcher keeps its pane (``.pane``)."""
        if self.output_file.suffix != ".jsonl":
            return [self.output_file]
        return [self.output_file, pane_path(self.output_file.parent, self.name)]


def lineup(count: int = DEFAULT_COUNT) -> tuple[list[DemoStory], list[float]]:
    """The stories of ``saga-jupyter demo``'s ``count`` workers and their seconds.

    :data:`LINEUP`, from the top again after six.

    >>> [getattr(story, "id", "v3") for story in lineup(7)[0]][-2:], lineup(7)[1][:4]
    (['v3', 'auth-login-flow'], [45.0, 28800.0, 20.0, 75.0])
    """
    chosen = [LINEUP[i % len(LINEUP)] for i in range(count)]
    return [story for story, _ in chosen], [seconds for _, seconds in chosen]


def default_durations(count: int) -> list[float]:
    """Seconds each of ``count`` seeds' workers runs: every fourth for hours, others 20-90 s.

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
    stories: Sequence[DemoStory] | None = None,
    project_dir: str | Path = DEFAULT_PROJECT_DIR,
) -> list[DemoWorker]:
    """Start ``count`` demo workers on tmux socket ``socket_name`` (``None``: the default one).

    ``stories`` default to the seeds' (v3) ones in turn, ``durations`` to
    :func:`default_durations`; ``saga-jupyter demo`` passes :func:`lineup`'s, mostly today's.
    A v4 worker's worktree is under ``project_dir`` (absolute: it is in the messages).
    """
    seconds = list(durations) if durations is not None else default_durations(count)
    parts = (
        list(stories) if stories is not None else [STORIES[i % len(STORIES)] for i in range(count)]
    )
    if count < 1 or len(seconds) != count or len(parts) != count:
        raise ValueError(f"need at least one worker, a story and a duration each, not {count}")
    tmux = Tmux(socket_name)
    directory = Path(output_dir)
    make_private_directory(directory)
    taken = {session.name for session in tmux.list_sessions()}
    base = int(time.time())  # SAGA's suffix: Unix seconds (``date +%s``)
    workers: list[DemoWorker] = []
    try:
        for index, (story, duration) in enumerate(zip(parts, seconds, strict=True)):
            # SAGA's own seconds for today's workers; the seeds' apart, as the demo's were.
            suffix = base if isinstance(story, StorySpec) else base + index
            while True:
                name = session_name(story, suffix)
                out = output_path(directory, name)
                if name not in taken and _claim(out, name):
                    break
                suffix += 1
            taken.add(name)
            # Several arguments: tmux executes the command directly, no shell in between.
            command = worker_command(story, out, duration, Path(project_dir).absolute())
            result = tmux.run("new-session", "-d", "-s", name, "-x", "200", "-y", "50", *command)
            if result.returncode != 0:
                out.unlink()  # claimed above, empty
                raise SagaError(f"tmux could not start {name}: {result.stderr.strip()[:300]}")
            workers.append(DemoWorker(name, out, duration, ending(story, duration)))
    except BaseException:
        stop_demo(workers, socket_name)
        raise
    return workers


def session_name(story: DemoStory, suffix: int) -> str:
    """The session's name, as its SAGA generation names it."""
    if isinstance(story, StorySpec):
        return f"saga-story-{story.id}-{suffix}"
    return f"saga__{story.epic}__{story.story}__{suffix}"


def worker_command(story: DemoStory, out: Path, seconds: float, project_dir: Path) -> list[str]:
    """The command a demo session runs: this module's ``story`` (v4) or ``worker`` (v3)."""
    if isinstance(story, StorySpec):
        return [
            sys.executable, "-m", WORKER_MODULE, "story", story.id, "--messages-file", str(out),
            "--project-dir", str(project_dir), "--seconds", repr(seconds),
        ]  # fmt: skip
    return [sys.executable, "-m", WORKER_MODULE, "worker", str(out), repr(seconds)]


def ending(story: DemoStory, seconds: float) -> str:
    """How a worker ends, in words (``saga-jupyter demo`` lists them)."""
    generation = "v3, " if isinstance(story, Story) else ""
    if seconds > 3600:
        return f"{generation}works for hours"
    after = f"after ~{seconds:g} s"
    if isinstance(story, Story):
        return f"{generation}ends {story.outcome} {after}"
    if story.ending == "fatal":
        return f"dies before its first cycle {after}: no task files"
    if story.ending == "incomplete":
        return f"runs out of cycles ({story.max_cycles}) {after}"
    return f"completes its {len(story.tasks)} tasks in {story.cycles} cycles {after}"


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
            for path in worker.files:
                path.unlink(missing_ok=True)
    return killed


def _claim(out: Path, name: str) -> bool:
    """Create the output file, empty; ``False`` when anything (a link too) is there already.

    A v4 name is free only when no ``.pane`` file has it either: cleanup removes that one too.
    """
    if name.startswith("saga-story-") and os.path.lexists(pane_path(out.parent, name)):
        return False
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


def run_story(
    story_id: str, messages_file: Path, project_dir: Path, seconds: float, seed: int | None = None
) -> int:
    """Run a v4 demo worker for a story of the table; its exit status, as SAGA's worker's."""
    rng = random.Random(seed)  # noqa: S311 - not for security
    return StoryWorker(STORIES_BY_ID[story_id], messages_file, project_dir, seconds, rng).run()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m saga_jupyter.demo worker|story ...``: run one demo worker."""
    parser = argparse.ArgumentParser(prog="python -m saga_jupyter.demo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="v3: append agent output to a file, then exit")
    worker.add_argument("output_file", type=Path)
    worker.add_argument("seconds", type=float, help="how long to work before the summary")
    worker.add_argument("--seed", type=int, default=None, help="repeatable output")
    story = commands.add_parser("story", help="v4: SAGA's pipeline for a story, as JSON messages")
    story.add_argument("story_id", choices=sorted(STORIES_BY_ID))
    story.add_argument("--messages-file", type=Path, required=True)
    story.add_argument("--project-dir", type=Path, default=Path(DEFAULT_PROJECT_DIR))
    story.add_argument("--seconds", type=float, default=60.0, help="about how long it runs")
    story.add_argument("--seed", type=int, default=None, help="repeatable output")
    args = parser.parse_args(argv)
    try:
        if args.command == "story":
            project = args.project_dir.absolute()
            return run_story(args.story_id, args.messages_file, project, args.seconds, args.seed)
        run_worker(args.output_file, args.seconds, args.seed)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
