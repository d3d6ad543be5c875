"""A today's-SAGA demo worker: SAGA's pipeline, as its messages file and its pane show it.

What ``node worker.js <storyId> --messages-file <file>`` does (SAGA ≥ 4.0, SAGA-V4.md §2, §3),
at a demo's pace: it appends one compact JSON message a line to the file (``pipeline_start``,
steps 1 and 2, then per cycle ``cycle_start``, a headless run's SDK messages and ``cycle_end``,
then ``pipeline_end``) and prints SAGA's ``[worker] ...`` lines to its tmux pane. A story in the
table (:mod:`saga_jupyter.demo_stories`) ends completed, incomplete (its cycles ran out), or
with SAGA's fatal ``Error: ...`` on the pane only, no ``pipeline_end``, exit 1.
Each ``TaskUpdate`` it writes also moves the task's file in the story's worktree, as SAGA's
hooks do, when the demo's project is there (:mod:`saga_jupyter.demo_project`).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TextIO

from .demo_messages import HeadlessRun, Message, saga_worker
from .demo_project import edit_journal, sync_task
from .demo_stories import StorySpec, Task

APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
# A run shorter than this many seconds waits less between messages, so that its few rounds of
# work fit in its time (the demo's shortest complete a story in 45 s; a test's in a few).
PACE_SECONDS = 240.0
SETUP_SHARE = 0.1  # of a run's time: worktree, draft PR and hydration before the first cycle
SETUP_SECONDS = 8.0  # at most, as a real worktree and draft PR take
PAUSE = (0.3, 1.6)  # seconds after a message, before the pace
# Messages after a task's last round of work (tests, journal, task and cycle end): that round
# ends early enough for them to fit in the task's time.
CLOSING_MESSAGES = 10
THOUGHTS = (
    "{file} owns this behaviour; reading it before changing anything.",
    "The task's doneWhen needs the error path covered, so the test gets a failing case first.",
    "Two call sites use the old signature; updating both keeps the change small.",
    "The existing helper almost fits: extending it beats adding a second one.",
)
EDITS = (
    ("const total = lines.reduce(sum, 0)", "const total = lines.reduce(sum, 0) + taxOf(lines)"),
    ("if (!email) return", "if (!isValidEmail(email)) return fail('Enter a valid email')"),
    ("export function submit(form) {", "export async function submit(form: FormData) {"),
    ("res.status(500).json(err)", "res.status(err.status ?? 500).json({ error: err.message })"),
)


def append_message(path: Path, message: Message) -> None:
    """Append one message as SAGA does: ``appendFileSync(file, JSON.stringify(m) + EOL)``.

    Opened for each message and closed again, never through a link.
    """
    data = (json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    fd = os.open(path, APPEND_FLAGS, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class StoryWorker:
    """One run of SAGA's pipeline for a story, lasting about ``seconds``."""

    def __init__(
        self,
        story: StorySpec,
        messages_file: Path,
        project_dir: Path,
        seconds: float,
        rng: random.Random,
    ) -> None:
        self.story = story
        self.messages_file = messages_file
        self.worktree = project_dir / ".saga" / "worktrees" / story.id
        self.seconds = seconds
        self.rng = rng
        self.pace = min(1.0, seconds / PACE_SECONDS)
        self.closing = CLOSING_MESSAGES * sum(PAUSE) / 2 * self.pace
        self.test_runs = 0
        self.statuses = {task.id: "pending" for task in story.tasks}

    def write(self, message: Message, pause: tuple[float, float] = PAUSE) -> None:
        """Append a message, then wait a human-paced moment."""
        append_message(self.messages_file, message)
        time.sleep(self.rng.uniform(*pause) * self.pace)

    def say(self, line: str, stream: TextIO | None = None) -> None:
        """Print a line to the pane (stdout; a closed one is no reason to stop)."""
        try:
            print(line, file=stream or sys.stdout, flush=True)
        except (OSError, ValueError):
            pass

    def run(self) -> int:
        """The pipeline (``worker.ts`` ``main``); the process's exit status (0, 1 or 2)."""
        story = self.story
        started_ms = time.time_ns() // 1_000_000
        self.say(f"[worker] Starting pipeline for story: {story.id}")
        self.write(saga_worker("pipeline_start", storyId=story.id), (0, 0))
        if story.ending == "fatal":
            return self.fail(self.seconds)
        setup = min(self.seconds * SETUP_SHARE, SETUP_SECONDS)
        self.set_up(setup)
        plan = cycle_plan(story)
        cycle_seconds = (self.seconds - setup) / len(plan)
        for number, tasks in enumerate(plan, 1):
            self.cycle(number, tasks, cycle_seconds)
        completed = story.ending == "completed"
        if completed:
            self.say(f"[worker] PR marked as ready for review: story/{story.id}")
        elapsed = (time.time_ns() // 1_000_000 - started_ms) / 60_000  # unrounded, as SAGA's
        status = "completed" if completed else "incomplete"
        exit_code = 0 if completed else 2
        end = saga_worker(
            "pipeline_end", storyId=story.id, status=status, exitCode=exit_code,
            cycles=len(plan), elapsedMinutes=elapsed,
        )  # fmt: skip
        self.write(end, (0, 0))
        self.say(
            f"[worker] Pipeline complete. Status: {status}, cycles: {len(plan)}, "
            f"elapsed: {elapsed:.1f}m"
        )
        return exit_code

    def set_up(self, seconds: float, again: bool = False) -> None:
        """Steps 1 to 4: the worktree, the draft PR (messages), hydrating the tasks (pane)."""
        story, worktree = self.story, self.worktree
        time.sleep(seconds * 0.3)  # git fetch, git worktree add
        if again:
            self.say(f"[worker] Worktree already exists: {worktree}")
            step = f"Worktree exists at {worktree}"
        else:
            self.say(f"[worker] Created worktree: {worktree} (branch: story/{story.id})")
            step = f"Created worktree at {worktree}"
        self.write(saga_worker("pipeline_step", step=1, message=step))
        time.sleep(seconds * 0.4)  # git push, gh pr create
        step = f"PR exists: {story.pr_url}" if again else f"Created draft PR: {story.pr_url}"
        self.write(saga_worker("pipeline_step", step=2, message=step), (0, 0))
        task_list = f"saga__{story.id}__{time.time_ns() // 1_000_000}"
        self.say(f"[worker] Step 4: Hydrated {len(story.tasks)} tasks → {task_list}")
        time.sleep(seconds * 0.3)

    def fail(self, seconds: float) -> int:
        """SAGA's fatal error: the story (made in its worktree) has no tasks; on the pane only."""
        self.set_up(seconds, again=True)
        story_dir = self.worktree / ".saga" / "stories" / self.story.id
        self.say(
            f"Error: No task files found in {story_dir}. The story must have at least one "
            "task file (e.g., t1.json) to execute.",
            sys.stderr,
        )
        return 1

    def cycle(self, number: int, tasks: list[tuple[Task, bool]], seconds: float) -> None:
        """One headless run: ``cycle_start``, the agent's messages, ``result``, ``cycle_end``."""
        maximum = self.story.max_cycles
        self.say(f"[worker] Starting headless run cycle {number}/{maximum}")
        self.write(saga_worker("cycle_start", cycle=number, maxCycles=maximum), (0.1, 0.3))
        started = time.monotonic()
        run = HeadlessRun(self.rng, str(self.worktree))
        self.write(run.init())
        self.write(run.text("I'll check the task list and pick up where the story stands."))
        listing = [f"#{t.id} [{self.statuses[t.id]}] {t.subject}" for t in self.story.tasks]
        self.tool(run, "TaskList", {}, "\n".join(listing))
        share = seconds / len(tasks)
        finished = []
        for index, (task, finishes) in enumerate(tasks):
            self.work_on(run, task, finishes, started + share * (index + 1))
            if finishes:
                finished.append(task.id)
        if finished:
            summary = f"Completed {' and '.join(finished)}, journal updated, changes committed."
        else:
            summary = f"{tasks[-1][0].id} is still in progress; the next session continues it."
        self.write(run.text(summary))
        duration = int((time.monotonic() - started) * 1000)
        self.write(run.result(summary, duration), (0.1, 0.3))
        self.write(saga_worker("cycle_end", cycle=number, exitCode=0), (0.2, 0.6))

    def work_on(self, run: HeadlessRun, task: Task, finishes: bool, until: float) -> None:
        """Take a task, work on it until ``until`` (one round at least), maybe complete it."""
        test_file, *sources = self.story.files
        self.statuses[task.id] = "in_progress"
        self.write(run.text(f"Starting {task.id}: {task.subject}."))
        self.tool(run, "TaskUpdate", {"taskId": task.id, "status": "in_progress"},
                  f"Updated task #{task.id} status")  # fmt: skip
        while True:
            source = self.rng.choice(sources or [test_file])
            self.write(run.text(self.rng.choice(THOUGHTS).format(file=source)))
            lines = self.rng.randint(40, 420)
            self.tool(run, "Read", {"file_path": str(self.worktree / source)},
                      f"     1\t// {source}\n     2\timport {{ db }} from '../db';\n"
                      f"(… {lines} lines)")  # fmt: skip
            if self.rng.random() < 0.4:
                word = self.rng.choice(["TODO", task.subject.split()[0], "fixture"])
                self.tool(run, "Grep", {"pattern": word, "path": "src"},
                          f"Found {self.rng.randint(1, 9)} files")  # fmt: skip
            old, new = self.rng.choice(EDITS)
            self.tool(run, "Edit", {"file_path": str(self.worktree / source),
                                    "old_string": old, "new_string": new},
                      f"The file {self.worktree / source} has been updated.")  # fmt: skip
            # Red first (the test is written before the code), now and then again later.
            self.run_tests(run, test_file, fail=self.test_runs == 0 or self.rng.random() < 0.2)
            if time.monotonic() >= until - self.closing:
                break
        if not finishes:
            return
        self.run_tests(run, test_file, fail=False)
        journal = self.worktree / ".saga" / "stories" / self.story.id / "journal.md"
        # SAGA's worker instructions: a "### Task: <id>" entry under the session's heading.
        heading = f"## Session: {run.started}"
        entry = f"{heading}\n\n### Task: {task.id}\n\n{task.subject}: done, tests pass."
        write_entry = partial(edit_journal, self.worktree, self.story.id, heading, entry)
        self.tool(run, "Edit", {"file_path": str(journal), "old_string": heading,
                                "new_string": entry},
                  f"The file {journal} has been updated.", effect=write_entry)  # fmt: skip
        self.statuses[task.id] = "completed"
        self.tool(run, "TaskUpdate", {"taskId": task.id, "status": "completed"},
                  f"Updated task #{task.id} status")  # fmt: skip

    def run_tests(self, run: HeadlessRun, test_file: str, fail: bool) -> None:
        """A Bash call running the story's tests: a failure is the tool's error."""
        self.test_runs += 1
        command = f"npx vitest run {test_file}"
        passed = self.rng.randint(6, 30)
        if fail:
            output = (
                f"FAIL {test_file}\n  ✕ rejects invalid input (12 ms)\n"
                f"    AssertionError: expected 422, received 500\n"
                f"Tests  1 failed | {passed} passed ({passed + 1})"
            )
        else:
            took = self.rng.randint(80, 900)
            output = f"✓ {test_file} ({passed} tests) {took}ms\nTests  {passed} passed ({passed})"
        self.tool(run, "Bash", {"command": command, "description": "Run the story's tests"},
                  output, is_error=fail)  # fmt: skip

    def tool(
        self, run: HeadlessRun, name: str, arguments: dict[str, object], result: str,
        is_error: bool = False, effect: Callable[[], object] | None = None,
    ) -> None:  # fmt: skip
        """A tool call in the current turn and, after it ran, its result.

        A ``TaskUpdate`` moves the task's file in the worktree before its result, as SAGA's
        PostToolUse hooks do (:func:`~saga_jupyter.demo_project.sync_task`); ``effect`` is what
        the tool does to the worktree.
        """
        message, tool_id = run.tool_use(name, arguments)
        self.write(message)
        if effect is not None:
            effect()
        if name == "TaskUpdate":
            sync_task(self.worktree, self.story.id, str(arguments["taskId"]),
                      str(arguments["status"]))  # fmt: skip
        self.write(run.tool_result(tool_id, result, is_error))


def cycle_plan(story: StorySpec) -> list[list[tuple[Task, bool]]]:
    """Per cycle, the tasks it works on and whether it completes each.

    A completed story completes them all, spread over its cycles; an incomplete one runs all
    its ``max_cycles`` and leaves the last task unfinished.

    >>> from saga_jupyter.demo_stories import STORIES_BY_ID
    >>> [[(t.id, done) for t, done in c] for c in cycle_plan(STORIES_BY_ID["billing-tax-rates"])]
    [[('t1', True)], [('t2', True)], [('t3', True), ('t4', False)]]
    """
    cycles = story.cycles if story.ending == "completed" else story.max_cycles
    finishing = story.tasks if story.ending == "completed" else story.tasks[:-1]
    size = len(finishing)
    plan: list[list[tuple[Task, bool]]] = [
        [(task, True) for task in finishing[i * size // cycles : (i + 1) * size // cycles]]
        for i in range(cycles)
    ]
    if story.ending != "completed":
        plan[-1].append((story.tasks[-1], False))
    # A cycle with nothing to complete keeps at the story's last task.
    return [tasks or [(story.tasks[-1], False)] for tasks in plan]
