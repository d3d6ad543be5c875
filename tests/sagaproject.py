"""Real ``.saga/`` project trees for tests, laid out as SAGA lays them out (SAGA-V4.md §4)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as JSON at ``path`` (parents made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


def epic(root: Path, epic_id: str, stories: list[str], title: str | None = None) -> Path:
    """``.saga/epics/<id>.json`` with its children."""
    children = [{"id": story, "blockedBy": []} for story in stories]
    value = {
        "id": epic_id,
        "title": title or epic_id.title(),
        "description": "",
        "children": children,
    }
    return write_json(root / ".saga" / "epics" / f"{epic_id}.json", value)


def story_dir(root: Path, story_id: str, *, worktree: bool = False) -> Path:
    """The story's directory on main, or in its worktree."""
    if worktree:
        return root / ".saga" / "worktrees" / story_id / ".saga" / "stories" / story_id
    return root / ".saga" / "stories" / story_id


def story(
    root: Path,
    story_id: str,
    epic_id: str | None,
    tasks: dict[str, str],
    *,
    in_worktree: bool = False,
    journal: str | None = None,
    **fields: Any,
) -> Path:
    """A story: ``story.json``, a task file per ``{task id: status}``, maybe ``journal.md``."""
    directory = story_dir(root, story_id, worktree=in_worktree)
    value = {"id": story_id, "title": f"Story {story_id}", "description": "d", **fields}
    if epic_id is not None:
        value["epic"] = epic_id
    write_json(directory / "story.json", value)
    for task_id, status in tasks.items():
        task(directory, task_id, status)
    if journal is not None:
        (directory / "journal.md").write_text(journal)
    return directory


def task(directory: Path, task_id: str, status: str) -> Path:
    """Write a task file as SAGA's sync hook does (the whole file, in place)."""
    value = {
        "id": task_id,
        "subject": f"do {task_id}",
        "description": "",
        "status": status,
        "blockedBy": [],
    }
    return write_json(directory / f"{task_id}.json", value)


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``; its output."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout  # fmt: skip


def git_project(root: Path, story_id: str, tasks: dict[str, str], epic_id: str = "e1") -> Path:
    """A git repository with an epic, and a story created in its worktree as create-story does.

    ``git worktree add .saga/worktrees/<id> -b story/<id>``, then the story's files written
    and committed there; main has the epic only. Returns the worktree's story directory.
    """
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / ".gitignore").write_text(".saga/worktrees/\n")
    epic(root, epic_id, [story_id])
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "plan")
    worktree = root / ".saga" / "worktrees" / story_id
    git(root, "worktree", "add", "-q", "-b", f"story/{story_id}", str(worktree))
    directory = story(
        root, story_id, epic_id, tasks, in_worktree=True, branch=f"story/{story_id}",
        worktree=f".saga/worktrees/{story_id}/",
    )  # fmt: skip
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", f"docs({story_id}): add story definition")
    return directory
