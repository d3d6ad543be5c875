"""A SAGA project's .saga/ read as SAGA reads it: statuses, worktrees, journals, re-reads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import saga_jupyter as saga
from saga_jupyter.core.errors import AmbiguousStory, StoryNotFound
from saga_jupyter.core.info import SessionInfo
from saga_jupyter.core.saga.catalog import Catalog, enrich
from saga_jupyter.core.saga.journal import parse_journal, unresolved_blockers
from saga_jupyter.core.saga.project import Project
from saga_jupyter.core.saga.worker import TaskCounts, WorkerReading
from tests.sagaproject import epic, git_project, story, story_dir, task


def test_statuses_are_derived_as_saga_derives_them(tmp_path: Path) -> None:
    epic(tmp_path, "e1", ["a", "b", "c", "d"])
    epic(tmp_path, "e2", [])
    story(tmp_path, "a", "e1", {"t1": "completed", "t2": "in_progress"})
    story(tmp_path, "b", "e1", {"t1": "completed", "t2": "completed"})
    story(tmp_path, "c", "e1", {"t1": "pending", "t2": "completed"})
    story(tmp_path, "d", "e1", {})
    story(tmp_path, "solo", None, {"t1": "completed"})
    project = Project(tmp_path)
    project.refresh()
    statuses = {story.id: story.status for story in project.stories.values()}
    assert statuses == {
        "a": "inProgress",
        "b": "completed",
        "c": "pending",
        "d": "pending",  # an empty story
        "solo": "completed",
    }
    assert project.stories["a"].task_counts() == {"total": 2, "completed": 1, "inProgress": 1}
    epics = {item.id: item.to_json() for item in project.epics}
    assert epics["e1"]["status"] == "inProgress"
    assert epics["e1"]["storyCounts"] == {
        "total": 4, "pending": 2, "inProgress": 1, "completed": 1,
    }  # fmt: skip
    assert epics["e2"]["status"] == "pending"  # no stories
    assert epics["e2"]["storyCounts"]["total"] == 0
    assert project.errors == []


def test_the_worktree_copy_wins_in_a_real_git_worktree(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    directory = git_project(root, "login", {"t1": "pending", "t2": "pending"})
    story(root, "login", "e1", {"t1": "pending"})  # an old copy on main: the worktree's wins
    project = Project(root)
    project.refresh()
    found = project.stories["login"]
    assert found.directory == str(directory)
    assert found.worktree == str(root / ".saga" / "worktrees" / "login")
    assert found.branch == "story/login"
    assert found.status == "pending"
    assert len(found.tasks) == 2
    task(directory, "t1", "in_progress")  # what the sync hook does on TaskUpdate
    assert project.refresh() == {"login"}
    assert project.stories["login"].status == "inProgress"
    assert project.epics[0].status == "inProgress"


def test_a_task_changing_rereads_only_its_story(tmp_path: Path) -> None:
    for index in range(20):
        story(tmp_path, f"s{index}", None, {"t1": "pending", "t2": "pending"})
    project = Project(tmp_path)
    project.refresh()
    before = dict(project.stories)
    task(story_dir(tmp_path, "s7"), "t2", "completed")
    assert project.refresh({"s7"}) == {"s7"}
    assert project.refresh() == set()  # nothing more changed
    after = project.stories
    assert after["s7"].task_counts()["completed"] == 1
    # The others were not read again: the very same objects.
    assert all(after[key] is before[key] for key in before if key != "s7")


def test_stories_come_and_go(tmp_path: Path) -> None:
    story(tmp_path, "a", None, {})
    project = Project(tmp_path)
    project.refresh()
    story(tmp_path, "b", None, {"t1": "pending"})
    assert project.refresh() == {"b"}
    (story_dir(tmp_path, "b") / "t1.json").unlink()
    (story_dir(tmp_path, "b") / "story.json").unlink()
    story_dir(tmp_path, "b").rmdir()
    assert project.refresh({"b"}) == {"b"}
    assert set(project.stories) == {"a"}


def test_a_project_that_disappears_is_reported(tmp_path: Path) -> None:
    story(tmp_path / "p", "a", None, {})
    project = Project(tmp_path / "p")
    project.refresh()
    (tmp_path / "p").rename(tmp_path / "q")
    project.refresh()
    assert project.stories == {}
    assert [error.file for error in project.errors] == [".saga"]
    assert "moved or deleted" in project.errors[0].error


JOURNAL = """# Journal of login

## Session: 2026-03-01
Started. ### Notes stay inside.

### Notes
- a

## Blocker: Need the API key
Who has it?

## blocker: Flaky CI
red

## Resolution: need the api key
Given by ops.

## Blocker: Database schema
?

## Resolution:
Whatever the last one was.

## Other: not an entry
"""


def test_journal_entries_and_unresolved_blockers() -> None:
    entries = parse_journal(JOURNAL)
    assert [(e.type, e.title) for e in entries] == [
        ("session", "2026-03-01"),
        ("blocker", "Need the API key"),
        ("blocker", "Flaky CI"),
        ("resolution", "need the api key"),
        ("blocker", "Database schema"),
        ("resolution", ""),
    ]
    assert "### Notes" in entries[0].content
    # Resolved by title (ignoring case), then the latest before a resolution naming none.
    assert unresolved_blockers(entries) == ["Flaky CI"]
    assert [e.resolved for e in entries] == [None, True, False, None, True, None]


def test_a_resolution_whose_title_contains_the_blockers_resolves_it() -> None:
    entries = parse_journal(
        "## Blocker: API key\nx\n## Blocker: CI\ny\n## Resolution: Resolved: API key given\nz\n"
    )
    assert unresolved_blockers(entries) == ["CI"]


def test_several_projects_and_an_id_they_share(tmp_path: Path) -> None:
    story(tmp_path / "p1", "same", None, {"t1": "completed"})
    story(tmp_path / "p2", "same", None, {})
    story(tmp_path / "p2", "other", "e9", {})
    catalog = Catalog([tmp_path / "p1", tmp_path / "p2"])
    catalog.refresh()
    with pytest.raises(AmbiguousStory, match=r"p1.*p2"):
        catalog.get_story("same")
    assert catalog.get_story("same", str(tmp_path / "p1")).status == "completed"
    assert catalog.get_story("other").epic == "e9"
    with pytest.raises(StoryNotFound):
        catalog.get_story("nope")
    assert [s.id for s in catalog.list_stories(epic="e9")] == ["other"]
    assert [s.project for s in catalog.list_stories(status="completed")] == [str(tmp_path / "p1")]
    with pytest.raises(ValueError, match="status"):
        catalog.list_stories(status="in_progress")


def test_the_notebook_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    story(tmp_path, "a", "e1", {"t1": "completed", "t2": "pending"}, journal="## Blocker: B\n")
    monkeypatch.setenv("SAGA_PROJECT_DIR", str(tmp_path))
    stories = saga.list_stories()
    assert [s.id for s in stories] == ["a"]
    assert "1/2 tasks" in stories._repr_html_()
    found = saga.get_story("a")
    assert found.blockers == ["B"]
    assert "B" in found._repr_html_()
    assert saga.list_stories(project_dirs=[]) == []
    pandas = pytest.importorskip("pandas")
    frame = stories.to_dataframe()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame["tasks"]) == [2]
    assert list(found.to_dataframe()["status"]) == ["completed", "pending"]


def session(name: str) -> SessionInfo:
    return SessionInfo(name, None, name.split("-")[2], "completed", f"/o/{name}.jsonl", True,
                       None, None, None, None)  # fmt: skip


def test_a_v4_session_meets_its_story(tmp_path: Path) -> None:
    story(tmp_path, "login", "auth", {"t1": "completed", "t2": "pending"},
          journal="## Blocker: Need a key\n")  # fmt: skip
    catalog = Catalog([tmp_path])
    catalog.refresh()
    info = session("saga-story-login-1741165923")
    enriched = catalog.enrich_all([info, session("saga-story-other-1")])
    assert enriched[0].epic_slug == "auth"
    assert enriched[0].worker is not None and enriched[0].worker.blocker == "Need a key"
    assert enriched[1] == session("saga-story-other-1")  # no story: as it was
    v3 = SessionInfo("saga__e__login__1", "e", "login", "completed", "/o/x.out", True,
                     None, None, None, None)  # fmt: skip
    assert enrich(v3, catalog.get_story("login")) is v3


def test_the_worktree_a_worker_names_chooses_the_project(tmp_path: Path) -> None:
    story(tmp_path / "p1", "login", "web", {"t1": "pending"})
    story(tmp_path / "p2", "login", "mobile", {"t1": "pending", "t2": "pending"},
          journal="## Blocker: Which store?\n")  # fmt: skip
    catalog = Catalog([tmp_path / "p1", tmp_path / "p2"])
    catalog.refresh()
    name = "saga-story-login-1741165923"
    assert enrich_one(catalog, session(name)) == session(name)  # two projects: neither
    # What the reader of its messages found: pipeline_step 1's worktree, hence its project.
    worktree = tmp_path / "p2" / ".saga" / "worktrees" / "login"
    reading = WorkerReading(
        cycle=2, worktree=str(worktree), project=str(tmp_path / "p2"), tasks=TaskCounts(1, 0)
    )
    enriched = enrich_one(catalog, replace(session(name), worker=reading))
    assert enriched.epic_slug == "mobile"
    assert enriched.worker == replace(reading, blocker="Which store?", tasks=TaskCounts(1, 0, 2))
    # No TaskUpdate seen yet: the total all the same.
    enriched = enrich_one(catalog, replace(session(name), worker=replace(reading, tasks=None)))
    assert enriched.worker is not None and enriched.worker.tasks == TaskCounts(0, 0, 2)


def enrich_one(catalog: Catalog, info: SessionInfo) -> SessionInfo:
    (enriched,) = catalog.enrich_all([info])
    return enriched
