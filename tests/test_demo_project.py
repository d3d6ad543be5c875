"""The demo's SAGA project: a real git repository that reads as one, moved by the demo's workers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from libtmux.server import Server

from saga_jupyter import demo
from saga_jupyter.core.errors import SagaError
from saga_jupyter.core.saga.catalog import Catalog, list_stories
from saga_jupyter.demo_project import (
    edit_journal,
    make_project,
    story_dir,
    sync_task,
    worktree_of,
)
from saga_jupyter.demo_stories import STORIES_BY_ID
from tests.helpers import wait_until

LOGIN, TAX = STORIES_BY_ID["auth-login-flow"], STORIES_BY_ID["billing-tax-rates"]
WORKTREES = ["auth-login-flow", "auth-password-reset", "billing-invoice-pdf", "billing-tax-rates"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def test_the_demo_project_reads_as_a_saga_project_and_is_removed(tmp_path: Path) -> None:
    project = make_project(tmp_path / "sessions")
    root = project.path
    assert root.parent == tmp_path and root.name.startswith("saga-demo-shop-")

    stories = {story.id: story for story in list_stories(project_dirs=root)}
    catalog = Catalog([root])
    catalog.refresh()
    assert catalog.projects[root].errors == []
    epics = {epic.id: (epic.status, epic.story_counts()["total"]) for epic in catalog.epics()}
    assert epics == {"auth": ("pending", 3), "billing": ("pending", 2)}
    assert {story_id: (s.epic, s.status, s.progress) for story_id, s in stories.items()} == {
        "auth-login-flow": ("auth", "pending", "0/4 tasks"),
        "auth-password-reset": ("auth", "pending", "0/0 tasks"),  # its worker dies: no tasks
        "auth-session-timeout": ("auth", "completed", "2/2 tasks"),  # merged to main
        "billing-invoice-pdf": ("billing", "pending", "0/4 tasks"),
        "billing-tax-rates": ("billing", "pending", "0/4 tasks"),
    }
    # Every other story is read from its worktree, the merged one from main.
    assert stories["auth-session-timeout"].directory == str(
        root / ".saga/stories/auth-session-timeout"
    )
    for story_id in WORKTREES:
        assert stories[story_id].directory == str(story_dir(worktree_of(root, story_id), story_id))
        assert stories[story_id].branch == f"story/{story_id}"

    listed = git(root, "worktree", "list", "--porcelain")
    paths = [line[9:] for line in listed.splitlines() if line.startswith("worktree ")]
    assert paths == [str(root), *(str(worktree_of(root, story_id)) for story_id in WORKTREES)]
    assert [f"branch refs/heads/story/{s}" in listed for s in WORKTREES] == [True] * 4
    assert "Merge pull request #43 from story/auth-session-timeout" in git(root, "log", "-1")
    assert git(root, "status", "--porcelain") == ""  # worktrees are gitignored

    blockers = {
        (story_id, entry.title, entry.resolved)
        for story_id, story in stories.items()
        for entry in story.journal
        if entry.type == "blocker"
    }
    assert blockers == {
        ("billing-invoice-pdf", "Rounding rule for tax lines", True),
        ("billing-tax-rates", "No way to validate EU VAT numbers", False),
    }
    assert TAX.ending == "incomplete"  # the story view shows why its worker ran out of cycles
    assert stories["billing-tax-rates"].blockers == ["No way to validate EU VAT numbers"]

    project.remove()
    assert list(tmp_path.iterdir()) == []


def test_a_demo_workers_task_moves_reach_its_story(server: Server, tmp_path: Path) -> None:
    project = make_project(tmp_path / "sessions")
    root = project.path
    catalog = Catalog([root])
    seen: list[tuple[str, int]] = []

    def login_done() -> bool:
        catalog.refresh()
        story = catalog.get_story(LOGIN.id)
        if not seen or seen[-1] != (story.status, story.task_counts()["completed"]):
            seen.append((story.status, story.task_counts()["completed"]))
        return story.status == "completed"

    assert not login_done()
    (worker,) = demo.start_demo(tmp_path / "sessions", server.socket_name, 1, [8.0], [LOGIN], root)
    try:
        wait_until(login_done, timeout=60)
        # Its last commit and pipeline_end come after the story completed.
        wait_until(lambda: worker.name not in {s.name for s in server.sessions}, timeout=30)
    finally:
        demo.stop_demo([worker], server.socket_name, remove_output=True)
    # The story went in progress with its first task, then its tasks completed one by one.
    assert seen[0] == ("pending", 0) and seen[-1] == ("completed", 4)
    assert ("inProgress", 0) in seen
    completed = [count for _, count in seen]
    assert completed == sorted(completed)
    worktree = worktree_of(root, LOGIN.id)
    log = git(worktree, "log", "--format=%s")
    assert [line for line in log.splitlines() if line.startswith("feat(")] == [
        f"feat(auth-login-flow): complete t{n}" for n in (4, 3, 2, 1)
    ]
    assert git(worktree, "status", "--porcelain") == ""
    # Its journal has an entry per task, under the heading of the session that completed it.
    journal = (story_dir(worktree, LOGIN.id) / "journal.md").read_text()
    assert journal.startswith("## Session: ") and journal.count("## Session: ") == 2
    tasks = [line for line in journal.splitlines() if line.startswith("### Task: ")]
    assert sorted(tasks) == [f"### Task: t{n}" for n in (1, 2, 3, 4)]
    task = json.loads((story_dir(worktree, LOGIN.id) / "t1.json").read_text())
    assert task == {**task, "id": "t1", "subject": LOGIN.tasks[0].subject, "status": "completed"}
    project.remove()
    assert [p.name for p in tmp_path.iterdir()] == ["sessions"]
    assert list((tmp_path / "sessions").iterdir()) == []


def test_the_workers_name_the_project(server: Server, tmp_path: Path) -> None:
    project = make_project(tmp_path / "sessions")
    try:
        (worker,) = demo.start_demo(
            tmp_path / "sessions", server.socket_name, 1, [600.0], [TAX], project.path
        )
        try:

            def init() -> list[dict[str, object]]:
                lines = worker.output_file.read_text().splitlines()
                return [
                    m
                    for m in map(json.loads, lines)
                    if m.get("subtype") in ("pipeline_step", "init")
                ]

            found = wait_until(lambda: len(init()) >= 3 and init(), timeout=60)
        finally:
            demo.stop_demo([worker], server.socket_name, remove_output=True)
    finally:
        project.remove()
    worktree = str(worktree_of(project.path, TAX.id))
    assert found[0]["message"] == f"Created worktree at {worktree}"
    assert found[2]["cwd"] == worktree


def test_a_project_dir_must_be_absent_or_empty(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep\n")
    with pytest.raises(SagaError, match="must not exist, or be an empty directory"):
        make_project(tmp_path / "sessions", busy)
    assert [p.name for p in busy.iterdir()] == ["mine.txt"]

    empty = tmp_path / "empty"
    empty.mkdir()
    project = make_project(tmp_path / "sessions", empty)
    assert (empty / ".saga" / "epics" / "auth.json").is_file()
    project.remove()
    assert empty.is_dir() and list(empty.iterdir()) == []  # the directory was there before


def test_a_task_file_or_journal_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    directory = story_dir(tmp_path, "s")
    directory.mkdir(parents=True)
    target = tmp_path / "elsewhere.json"
    target.write_text('{"id": "t1", "status": "pending"}')
    (directory / "t1.json").symlink_to(target)
    assert sync_task(tmp_path, "s", "t1", "completed") is False
    assert sync_task(tmp_path, "s", "t2", "completed") is False  # no such task: nothing made
    assert target.read_text() == '{"id": "t1", "status": "pending"}'
    (directory / "journal.md").symlink_to(target)
    assert edit_journal(tmp_path, "s", "## Session: x", "## Session: x\n\n### Task: t1") is False
    assert target.read_text() == '{"id": "t1", "status": "pending"}'
    assert edit_journal(tmp_path, "gone", "## Session: x", "## Session: x\n") is False
    assert sorted(p.name for p in directory.iterdir()) == ["journal.md", "t1.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".saga", "elsewhere.json"]
