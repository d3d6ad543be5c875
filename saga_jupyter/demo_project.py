"""The demo's SAGA project: a real git repository laid out as SAGA lays one out.

:func:`build_project` makes it from the story table (:mod:`saga_jupyter.demo_stories`), as
SAGA's skills would have (SAGA-V4.md §4): a tiny app on ``main`` with the epics
(``.saga/epics/<id>.json``) and one story already merged (its files in main's
``.saga/stories/<id>/``); every other story created in its own worktree (``git worktree add -b
story/<id> .saga/worktrees/<id>``) with its ``story.json``, task files and ``journal.md``. One
journal holds a resolved blocker, another (the story whose worker runs out of cycles) one still
unresolved. The demo's workers then move their tasks in those worktrees (:func:`sync_task`).

git runs with its identity on the command line and no global or system configuration: nothing
of the user's (hooks, signing) applies, and nothing goes over a network.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .core.errors import SagaError
from .demo_stories import EPICS, STORIES_BY_ID, STORY_TABLE, StorySpec

GIT = ("git", "-c", "user.name=SAGA demo", "-c", "user.email=saga-demo@example.com")
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
GIT_TIMEOUT = 30.0  # seconds, for one local git command
MAX_FILE = 1 << 20  # characters of a task file or journal the demo rewrites
MERGED = "auth-session-timeout"  # merged to main already: its files are in main's .saga/
#: Epic children's ``blockedBy``.
BLOCKED_BY = {"auth-password-reset": ("auth-login-flow",)}
DESCRIPTIONS = {
    "auth-login-flow": "Customers sign in with their email and password and stay signed in.",
    "auth-password-reset": "A customer who forgot their password gets a link to set a new one.",
    "auth-session-timeout": "Sessions idle for 30 minutes end, in the browser and the server.",
    "billing-invoice-pdf": "Every invoice can be downloaded as a PDF matching the printed one.",
    "billing-tax-rates": "Checkout applies the customer's country's tax rate.",
}
APP_FILES = {
    ".gitignore": "node_modules/\ndist/\n.saga/worktrees/\n",
    "package.json": '{\n  "name": "shop",\n  "private": true\n}\n',
    "README.md": "# shop\n\nA small web shop: accounts, checkout, invoices.\n",
    "src/auth/session.ts": "export const SESSION_COOKIE = 'sid';\n",
    "src/billing/invoice.ts": "export interface Invoice { id: string; lines: Line[] }\n",
    "src/checkout/total.ts": "export const total = (lines: Line[]) => lines.reduce(sum, 0);\n",
}
# The story whose worker runs out of cycles: its journal says why.
UNRESOLVED, RESOLVED = "billing-tax-rates", "billing-invoice-pdf"


class DemoProject:
    """Where the demo's project is, and whether the demo made that directory (to remove it)."""

    def __init__(self, path: Path, made: bool) -> None:
        self.path = path
        self.made = made

    def remove(self) -> None:
        """Remove the project (the directory too when the demo made it)."""
        if self.made:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for entry in self.path.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def make_project(output_dir: Path, project_dir: Path | None = None) -> DemoProject:
    """Build the demo project in ``project_dir`` (absent or empty), else a new temporary one.

    The temporary one is next to ``output_dir`` (its parent), ``saga-demo-shop-*``.
    """
    if project_dir is None:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        project = DemoProject(
            Path(tempfile.mkdtemp(prefix="saga-demo-shop-", dir=output_dir.parent)), True
        )
    else:
        path = project_dir.absolute()
        if path.is_symlink() or (path.exists() and (not path.is_dir() or any(path.iterdir()))):
            raise SagaError(f"--project-dir {path} must not exist, or be an empty directory")
        made = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        project = DemoProject(path, made)
    try:
        build_project(project.path)
    except BaseException:
        project.remove()
        raise
    return project


def build_project(root: Path, stories: tuple[StorySpec, ...] = STORY_TABLE) -> Path:
    """Make the demo's SAGA project in the empty directory ``root``; ``root``."""
    git(root, "init", "-q", "-b", "main")
    for name, text in APP_FILES.items():
        write(root / name, text)
    for epic, title in EPICS.items():
        children = [
            {"id": story.id, "blockedBy": list(BLOCKED_BY.get(story.id, ()))}
            for story in stories
            if story.epic == epic
        ]
        value = {"id": epic, "title": title, "description": f"{title} for the shop.",
                 "children": children}  # fmt: skip
        write_json(root / ".saga" / "epics" / f"{epic}.json", value)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "chore: plan the auth and billing epics")
    for story in stories:
        create_story(root, story)
    merged = STORIES_BY_ID[MERGED]
    if merged in stories:
        worktree = worktree_of(root, merged.id)
        for task in merged.tasks:
            sync_task(worktree, merged.id, task.id, "completed")
        git(root, "merge", "-q", "--no-ff", f"story/{merged.id}",
            "-m", f"Merge pull request #{merged.pr} from story/{merged.id}")  # fmt: skip
        git(root, "worktree", "remove", str(worktree))
    return root


def create_story(root: Path, story: StorySpec) -> None:
    """What SAGA's create-story does: a worktree on ``story/<id>``, its files, one commit."""
    worktree = worktree_of(root, story.id)
    git(root, "worktree", "add", "-q", "-b", f"story/{story.id}", str(worktree))
    directory = story_dir(worktree, story.id)
    write_json(directory / "story.json", {
        "id": story.id, "title": story.title, "description": DESCRIPTIONS.get(story.id, ""),
        "epic": story.epic, "guidance": "Write the failing test first; keep changes small.",
        "doneWhen": "Every task's tests pass and the PR is ready for review.",
        "avoid": "New dependencies.", "branch": f"story/{story.id}", "pr": story.pr_url,
        "worktree": f".saga/worktrees/{story.id}/",
    })  # fmt: skip
    for number, task in enumerate(story.tasks):
        write_json(directory / f"{task.id}.json", {
            "id": task.id, "subject": task.subject,
            "description": f"{task.subject}, with its tests.",
            "activeForm": f"Working on: {task.subject[0].lower()}{task.subject[1:]}",
            "status": "pending", "blockedBy": [story.tasks[number - 1].id] if number else [],
        })  # fmt: skip
    journal = JOURNALS.get(story.id)
    if journal is not None:
        write(directory / "journal.md", journal(datetime.now(timezone.utc)))
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", f"docs({story.id}): add story definition")


def sync_task(worktree: Path, story_id: str, task_id: str, status: str) -> bool:
    """SAGA's sync and auto-commit hooks after a ``TaskUpdate``; whether the task file was there.

    The sync hook rewrites the whole task file, its ``status`` changed; on ``completed`` the
    auto-commit hook commits the story's files (the push left out: no network). A file missing
    (no project there), a link or not JSON: nothing is done.
    """
    path = story_dir(worktree, story_id) / f"{task_id}.json"
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    with os.fdopen(fd, "r+", encoding="utf-8") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return False
        try:
            value = json.loads(file.read(MAX_FILE))
        except ValueError:
            return False
        if not isinstance(value, dict):
            return False
        value["status"] = status
        file.seek(0)
        file.truncate()
        file.write(json.dumps(value, indent=2) + "\n")
    if status == "completed":
        try:  # the story's files: the task and the journal entry written before it
            git(worktree, "add", "-A", "--", str(path.parent))
            git(worktree, "commit", "-q", "-m", f"feat({story_id}): complete {task_id}")
        except SagaError:
            pass  # as SAGA's hook, a failed commit does not stop the worker
    return True


def edit_journal(worktree: Path, story_id: str, heading: str, entry: str) -> bool:
    """The worker's ``Edit`` of its story's ``journal.md``: ``heading`` becomes ``entry``.

    The session's heading is added first if the journal lacks it (the file made if the story's
    directory is there); whether the journal was written. A link is not followed.
    """
    path = story_dir(worktree, story_id) / "journal.md"
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        return False
    with os.fdopen(fd, "r+", encoding="utf-8") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return False
        text = file.read(MAX_FILE)
        if heading not in text:
            text = f"{text.rstrip()}\n\n{heading}\n" if text.strip() else f"{heading}\n"
        file.seek(0)
        file.truncate()
        file.write(text.replace(heading, entry, 1))
    return True


def worktree_of(root: Path, story_id: str) -> Path:
    """A story's worktree: ``<project>/.saga/worktrees/<id>``."""
    return root / ".saga" / "worktrees" / story_id


def story_dir(worktree: Path, story_id: str) -> Path:
    """A story's files in its worktree: ``.saga/stories/<id>/``."""
    return worktree / ".saga" / "stories" / story_id


def git(cwd: Path, *args: str) -> str:
    """Run a local git command in ``cwd``; its output, or ``SagaError`` saying why it failed."""
    try:
        result = subprocess.run(
            [*GIT, *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT,
            env={**os.environ, **GIT_ENV}, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SagaError(f"git {args[0]} failed: {error}") from error
    if result.returncode != 0:
        raise SagaError(f"git {args[0]} failed: {result.stderr.strip()[:300]}")
    return result.stdout


def write(path: Path, text: str) -> None:
    """Write a new file of the project (its directories made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_json(path: Path, value: object) -> None:
    """Write a JSON file as SAGA's scripts do (two-space indent)."""
    write(path, json.dumps(value, indent=2) + "\n")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _resolved_journal(now: datetime) -> str:
    started, approved = _iso(now - timedelta(hours=5)), (now - timedelta(hours=4)).date()
    return f"""# Journal: {RESOLVED}

## Session: {started}

### Task: t1

Read src/billing/invoice.ts; totals today ignore tax. Tax lines need a rounding rule first.

## Blocker: Rounding rule for tax lines

**Task**: t1
**What I'm trying to do**: Total an invoice with one tax line per rate.
**What I tried**: Rounding each line, and rounding the sum once: 3 of the 40 fixture invoices
differ by a cent between the two.
**What I need**: The rule finance uses, per line or per invoice.
**Suggested options**:
1. Round each tax line, then add the rounded lines (what the printed invoices show).
2. Add unrounded amounts and round once.

## Resolution: Rounding rule for tax lines

**Decision**: Round each tax line half-up to the cent, then add the rounded lines.
**Implementation guidance**: One roundTaxLine() in src/billing/invoice.ts; the fixtures'
totals follow it.
**Rationale**: Finance reconciles invoices line by line: the lines must add up to the total.
**Approved**: {approved}
"""


def _unresolved_journal(now: datetime) -> str:
    started = _iso(now - timedelta(hours=2))
    return f"""# Journal: {UNRESOLVED}

## Session: {started}

### Task: t4

Reverse charge applies to EU businesses with a valid VAT number: checkout must check it.

## Blocker: No way to validate EU VAT numbers

**Task**: t4
**What I'm trying to do**: Apply reverse charge at checkout for EU business customers.
**What I tried**: The format check alone accepts numbers that VIES rejects; the story's
avoid list rules out a new dependency for a VIES client.
**What I need**: Whether to call VIES (an outgoing network call at checkout) or to accept
numbers by format and check them later.
**Suggested options**:
1. Call VIES at checkout, with a timeout and a fallback to charging tax.
2. Accept by format, validate nightly, invoice the tax when a number fails.
"""


JOURNALS = {RESOLVED: _resolved_journal, UNRESOLVED: _unresolved_journal}
