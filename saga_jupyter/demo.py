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
import json
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TextIO

from .core.errors import SagaError
from .core.files import create_exclusive, make_private_directory
from .core.names import name_from_output_file, output_path, parse_name
from .core.tmux import Tmux

DEFAULT_SOCKET = "saga-demo"
DEFAULT_OUTPUT_DIR = "/tmp/saga-demo-sessions"  # noqa: S108 - a demo directory, by design shared
DEFAULT_COUNT = 6
LONG_RUNNING = 8 * 3600.0
WORKER_MODULE = "saga_jupyter.demo"
CYCLE_SECONDS = 15.0  # a worker cycle's length, about

RESET, BOLD, DIM, ITALIC = "\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[3m"
RED, GREEN, YELLOW, CYAN, ORANGE = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[36m", "\x1b[38;5;208m"

Event = tuple[str, float]  # text to append, then seconds to wait


class Story(NamedTuple):
    """What one demo worker pretends to implement, and how its loop ends (``FINISH`` ...)."""

    epic: str
    story: str
    files: tuple[str, ...]
    test_command: str
    outcome: str = "FINISH"
    blocker: str | None = None


STORIES = (
    Story("auth", "login-form", ("src/auth/LoginForm.tsx", "src/auth/login.ts",
          "src/auth/session.ts", "tests/auth/login.test.ts"), "npm test -- auth/login"),
    Story("billing", "invoice-pdf", ("src/billing/invoice.py", "src/billing/pdf/render.py",
          "templates/invoice.html", "tests/billing/test_invoice_pdf.py"),
          "pytest tests/billing -q"),
    Story("search", "ranking", ("src/search/rank.rs", "src/search/bm25.rs",
          "src/search/index.rs", "benches/ranking.rs"), "cargo test -p search ranking",
          "BLOCKED", "The story does not say whether freshness may outrank relevance: "
          "which should win when they disagree?"),
    Story("auth", "password-reset", ("src/auth/reset.ts", "src/mail/templates/reset.html",
          "api/routes/password.ts", "tests/auth/reset.test.ts"), "npm test -- auth/reset",
          "ERROR"),
    Story("billing", "refunds", ("src/billing/refunds.py", "src/billing/stripe_client.py",
          "migrations/0042_refunds.sql", "tests/billing/test_refunds.py"),
          "pytest tests/billing/test_refunds.py -q"),
    Story("search", "typo-tolerance", ("src/search/fuzzy.rs", "src/search/query.rs",
          "tests/typo.rs"), "cargo test -p search typo"),
)  # fmt: skip
STORY_BY_SLUGS = {(story.epic, story.story): story for story in STORIES}

EDITS = {
    ".ts": [
        ("const user = await fetchUser(id)", "const user = await fetchUser(id, { signal })"),
        ("if (!email) return", "if (!isValidEmail(email)) return setError('Enter a valid email')"),
        ("export function submit(form) {", "export async function submit(form: FormData) {"),
    ],
    ".tsx": [
        ('<button type="submit">Log in</button>', '<button type="submit" disabled={pending}>'
         "Log in</button>"),
        ('<input name="email" />', '<input name="email" type="email" autoComplete="username" />'),
    ],
    ".html": [
        ('<a href="{{ link }}">Reset</a>', '<a href="{{ link }}">Reset your password</a>'),
        ("<td>{{ line.amount }}</td>", '<td class="num">{{ line.amount | money }}</td>'),
    ],
    ".sql": [
        ("amount INTEGER NOT NULL,", "amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),"),
        ("CREATE INDEX ON refunds (charge_id);", "CREATE UNIQUE INDEX ON refunds (charge_id, "
         "idempotency_key);"),
    ],
    ".py": [
        ("total = sum(line.amount for line in lines)", "total = sum(line.amount for line in lines)"
         " or Decimal(0)"),
        ("def refund(charge):", "def refund(charge: Charge, amount: Decimal | None = None):"),
        ("return render(template, invoice)", "return render(template, invoice, locale=locale)"),
    ],
    ".rs": [
        ("let score = tf * idf;", "let score = idf * (tf * (K1 + 1.0)) / (tf + K1 * norm);"),
        ("fn distance(a: &str, b: &str) -> usize {", "fn distance(a: &str, b: &str, max: usize)"
         " -> Option<usize> {"),
        ("results.sort_by(|a, b| b.score.cmp(&a.score));", "results.sort_by(|a, b| b.score"
         ".total_cmp(&a.score));"),
    ],
}  # fmt: skip
THOUGHTS = [
    "{file} owns this behaviour; reading it before changing anything.",
    "The {story} acceptance criteria mention the error path, so the tests need a failing case.",
    "Two call sites use the old signature; updating both keeps the change small.",
    "The existing helper almost fits: extending it beats adding a second one.",
    "Checking how {file} is tested before touching it.",
]


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


class Agent:
    """Generates one worker's output as events, paced and varied by ``rng``."""

    def __init__(self, story: Story, rng: random.Random) -> None:
        self.story = story
        self.rng = rng
        self.edited: set[str] = set()
        self.tests = rng.randint(12, 40)

    def line(self, text: str, slow: bool = False) -> Event:
        """A full line, then a human-paced pause."""
        return text + "\n", self.rng.uniform(0.8, 2.2) if slow else self.rng.uniform(0.15, 0.6)

    def progress(self, label: str, width: int = 24) -> Iterator[Event]:
        """A bar redrawn in place (carriage returns), ending with a newline."""
        done = 0
        while done < 100:
            done = min(100, done + self.rng.randint(3, 13))
            bar = "#" * (done * width // 100)
            yield (
                f"\r  {DIM}⎿{RESET}  {label} [{bar:<{width}}] {done:3d}%",
                self.rng.uniform(0.05, 0.2),
            )
        yield f" {GREEN}✔{RESET}\n", self.rng.uniform(0.2, 0.5)

    def opening(self) -> Iterator[Event]:
        """``saga implement``'s header, then the banner and the workspace scan."""
        epic, story = self.story.epic, self.story.story
        yield self.line("Starting story implementation...")
        yield self.line(f"  Epic: {epic}")
        yield self.line(f"  Story: {story}")
        yield self.line(f"  Worktree: ~/work/app-saga-worktrees/saga/{epic}/{story}")
        yield self.line("  Streaming: enabled")
        title = f" ✻ SAGA worker · {epic} / {story} "
        yield self.line(f"{ORANGE}╭{'─' * len(title)}╮{RESET}")
        yield self.line(f"{ORANGE}│{RESET}{BOLD}{title}{RESET}{ORANGE}│{RESET}")
        yield self.line(f"{ORANGE}╰{'─' * len(title)}╯{RESET}")
        yield self.line(f"{BOLD}>{RESET} Implement story {CYAN}{story}{RESET}")
        yield self.line(f"{BOLD}⏺{RESET} Indexing workspace")
        yield from self.progress(f"{self.rng.randint(180, 900)} files")

    def cycle_start(self, cycle: int) -> Iterator[Event]:
        """A worker cycle begins: a headless agent session of its own."""
        session = "".join(self.rng.choice("0123456789abcdef") for _ in range(8))
        yield self.line(f"--- Worker {cycle} started ---")
        yield f"[Session started: {session}-{cycle:04d}]", 0.2  # the stream: no newline

    def cycle_end(
        self, cycle: int, seconds: float, result: str, failed: bool = False
    ) -> Iterator[Event]:
        """A worker cycle ends with its result."""
        verb = "failed" if failed else "completed"
        yield f"[Worker {verb} in {seconds:.1f}s]\n", 0.1
        yield self.line(f"--- Worker {cycle} result: {result} ---")

    def steps(self) -> Iterator[Iterator[Event]]:
        """An endless sequence of agent steps: think, read, search, edit, test."""
        while True:
            file = self.rng.choice(self.story.files)
            yield self.think(file)
            yield self.read(file)
            if self.rng.random() < 0.5:
                yield self.search()
            yield self.edit(file)
            if self.rng.random() < 0.6:
                yield self.run_tests()

    def think(self, file: str) -> Iterator[Event]:
        """A pause to think, then one line of reasoning."""
        yield self.line(f"{ORANGE}✻{RESET} {ITALIC}Thinking…{RESET}", slow=True)
        thought = self.rng.choice(THOUGHTS).format(file=file, story=self.story.story)
        yield self.line(f"  {DIM}{thought}{RESET}")

    def read(self, file: str) -> Iterator[Event]:
        """A Read tool call."""
        yield f"[Tool: Read]{GREEN}⏺{RESET} {BOLD}Read{RESET}({file})\n", 0.3
        yield self.line(f"  {DIM}⎿{RESET}  Read {self.rng.randint(30, 420)} lines")

    def search(self) -> Iterator[Event]:
        """A Grep tool call."""
        word = self.rng.choice(["TODO", "deprecated", self.story.story.split("-")[0], "fixture"])
        yield self.line(
            f'[Tool: Grep]{GREEN}⏺{RESET} {BOLD}Grep{RESET}(pattern: "{word}", path: "src/")'
        )
        yield self.line(f"  {DIM}⎿{RESET}  Found {self.rng.randint(1, 9)} files")

    def edit(self, file: str) -> Iterator[Event]:
        """An Update tool call with a small coloured diff."""
        old, new = self.rng.choice(EDITS[Path(file).suffix])
        at = self.rng.randint(12, 240)
        added, removed = self.rng.randint(1, 14), self.rng.randint(0, 5)
        self.edited.add(file)
        yield self.line(f"[Tool: Edit]{GREEN}⏺{RESET} {BOLD}Update{RESET}({file})")
        yield self.line(
            f"  {DIM}⎿{RESET}  Updated {file} with {added} additions, {removed} removals"
        )
        yield self.line(f"     {DIM}{at - 1:4d} │{RESET}   ...")
        yield self.line(f"     {DIM}{at:4d} │{RESET} {RED}-  {old}{RESET}")
        yield self.line(f"     {DIM}{at:4d} │{RESET} {GREEN}+  {new}{RESET}")

    def run_tests(self) -> Iterator[Event]:
        """A Bash tool call running the tests; now and then one fails and gets fixed later."""
        yield self.line(f"[Tool: Bash]{GREEN}⏺{RESET} {BOLD}Bash{RESET}({self.story.test_command})")
        self.tests += self.rng.randint(0, 2)
        yield from self.progress(f"{self.tests} tests")
        seconds = self.rng.uniform(0.8, 9.0)
        if self.rng.random() < 0.25:
            yield self.line(
                f"     {RED}✘ 1 failed{RESET}, {self.tests - 1} passed ({seconds:.1f}s)"
            )
            yield self.line(f"     {YELLOW}AssertionError: expected 200, received 422{RESET}")
        else:
            yield self.line(
                f"     {GREEN}✔ {self.tests} passed{RESET} {DIM}({seconds:.1f}s){RESET}"
            )

    def summary(self, elapsed: float, cycles: int) -> Iterator[Event]:
        """The last cycle's closing lines, then the loop's result as ``saga implement`` does."""
        epic, story, outcome = self.story.epic, self.story.story, self.story.outcome
        if outcome == "FINISH":
            commit = f'{BOLD}Bash{RESET}(git commit -am "feat({epic}): {story}")'
            yield self.line(f"[Tool: Bash]{GREEN}⏺{RESET} {commit}")
            sha = "".join(self.rng.choice("0123456789abcdef") for _ in range(7))
            yield self.line(f"  {DIM}⎿{RESET}  [saga/{epic}/{story} {sha}] feat({epic}): {story}")
            files = max(1, len(self.edited))
            changed = f"{files} file{'s' if files > 1 else ''} changed"
            summary = f"Story {epic}/{story} complete: {changed}, {self.tests} tests passing."
            yield self.line(f"{BOLD}{GREEN}✔ {summary}{RESET}")
        elif outcome == "BLOCKED":
            yield self.line(f"{YELLOW}⏸ Blocked: {self.story.blocker}{RESET}")
            summary = f"Stopped before changing the {story} ordering: a product decision is needed."
        else:
            yield self.line(f"{RED}✘ The agent exited with status 1{RESET}")
            summary = "The worker failed: the agent exited with status 1 twice in a row."
        result = {"FINISH": "FINISH", "BLOCKED": "BLOCKED"}.get(outcome, "ONGOING")
        yield from self.cycle_end(cycles, elapsed / cycles, result, failed=outcome == "ERROR")
        document = {
            "status": outcome,
            "summary": summary,
            "cycles": cycles,
            "elapsedMinutes": round(elapsed / 60, 1),
            "blocker": self.story.blocker,
            "epicSlug": epic,
            "storySlug": story,
        }
        yield json.dumps(document, indent=2) + "\n", 0.0


def story_of(output_file: Path) -> Story:
    """The story a worker's output file is named after (any other name: the first story)."""
    name = name_from_output_file(output_file.name)
    if name is None:
        return STORIES[0]
    parts = parse_name(name)
    return STORY_BY_SLUGS.get((parts.epic, parts.story), STORIES[0])


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
