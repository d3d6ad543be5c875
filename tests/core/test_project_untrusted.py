"""Every file under .saga/ is written by agents: each bad one is one error, the rest reads on."""

from __future__ import annotations

import os
import time
from pathlib import Path

from saga_jupyter.core.saga.project import Project
from tests.sagaproject import epic, story, story_dir, write_json

MIB = 1 << 20


def good_project(root: Path) -> None:
    epic(root, "e1", ["good", "bad"])
    story(root, "good", "e1", {"t1": "completed", "t2": "in_progress"}, journal="## Blocker: X\n")
    story(root, "bad", "e1", {"t1": "completed"})


def read(root: Path) -> tuple[Project, dict[str, str]]:
    project = Project(root)
    started = time.monotonic()
    project.refresh()
    assert time.monotonic() - started < 5  # nothing blocked
    return project, {error.file: error.error for error in project.errors}


def assert_rest_fine(project: Project) -> None:
    good = project.stories["good"]
    assert good.status == "inProgress"
    assert good.blockers == ["X"]
    assert len(good.tasks) == 2
    assert [epic.id for epic in project.epics] == ["e1"]


def test_a_task_file_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    good_project(tmp_path)
    secret = tmp_path / "secret.json"
    write_json(secret, {"id": "t9", "status": "completed", "subject": "SECRET"})
    (story_dir(tmp_path, "bad") / "t9.json").symlink_to(secret)
    project, errors = read(tmp_path)
    assert errors == {
        ".saga/stories/bad/t9.json": "t9.json is a link, not a regular file: not read"
    }
    assert [task.id for task in project.stories["bad"].tasks] == ["t1"]
    assert_rest_fine(project)


def test_a_fifo_is_never_waited_on(tmp_path: Path) -> None:
    good_project(tmp_path)
    os.mkfifo(story_dir(tmp_path, "bad") / "t2.json")
    os.mkfifo(story_dir(tmp_path, "bad") / "journal.md")
    project, errors = read(tmp_path)
    assert errors == {
        ".saga/stories/bad/t2.json": "t2.json is not a regular file: not read",
        ".saga/stories/bad/journal.md": "journal.md is not a regular file: not read",
    }
    assert project.stories["bad"].status == "completed"
    assert_rest_fine(project)


def test_a_json_file_over_one_mib_is_not_read(tmp_path: Path) -> None:
    good_project(tmp_path)
    big = {"id": "t2", "status": "pending", "description": "x" * (2 * MIB)}
    write_json(story_dir(tmp_path, "bad") / "t2.json", big)
    project, errors = read(tmp_path)
    assert list(errors) == [".saga/stories/bad/t2.json"]
    assert "2.0 MiB" in errors[".saga/stories/bad/t2.json"]
    assert "larger than the 1 MiB" in errors[".saga/stories/bad/t2.json"]
    assert_rest_fine(project)


def test_json_nested_too_deep_is_not_read(tmp_path: Path) -> None:
    good_project(tmp_path)
    (story_dir(tmp_path, "bad") / "story.json").write_text("[" * 100 + "]" * 100)
    project, errors = read(tmp_path)
    assert errors == {
        ".saga/stories/bad/story.json": "story.json is nested deeper than 32 levels "
        "(at most 32): not read"
    }
    assert "bad" not in project.stories  # no story without its story.json
    assert project.epics[0].story_counts()["total"] == 1
    assert_rest_fine(project)


def test_invalid_utf8(tmp_path: Path) -> None:
    good_project(tmp_path)
    (story_dir(tmp_path, "bad") / "t1.json").write_bytes(b'{"id": "t1", "status": "pend\xff"}')
    (story_dir(tmp_path, "bad") / "journal.md").write_bytes(b"## Blocker: caf\xe9\nbad bytes\n")
    project, errors = read(tmp_path)
    assert (
        errors[".saga/stories/bad/t1.json"]
        == "t1.json is not UTF-8 text (byte 28 is not): not read"
    )
    assert "not all UTF-8" in errors[".saga/stories/bad/journal.md"]
    assert project.stories["bad"].blockers == ["caf\ufffd"]  # shown as it can be
    assert len(errors) == 2
    assert_rest_fine(project)


def test_a_ten_mib_journal_is_read_from_its_last_four(tmp_path: Path) -> None:
    good_project(tmp_path)
    early = "## Blocker: Early\n" + "filler line\n" * (10 * MIB // 12)
    late = "## Blocker: Late\nstill open\n"
    journal = story_dir(tmp_path, "bad") / "journal.md"
    journal.write_text(early + late)
    assert journal.stat().st_size >= 10 * MIB
    project, errors = read(tmp_path)
    assert errors == {
        ".saga/stories/bad/journal.md": "journal.md is 10.0 MiB: only its last 4 MiB are read"
    }
    assert project.stories["bad"].blockers == ["Late"]
    assert_rest_fine(project)


def test_a_story_directory_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    good_project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    story(elsewhere, "linked", "e1", {"t1": "completed"})
    (story_dir(tmp_path, "linked")).symlink_to(story_dir(elsewhere, "linked"))
    # and a worktree whose .saga is a link: the main copy is read instead
    story(tmp_path, "wt", None, {"t1": "pending"})
    (tmp_path / ".saga" / "worktrees" / "wt").mkdir(parents=True)
    (tmp_path / ".saga" / "worktrees" / "wt" / ".saga").symlink_to(elsewhere / ".saga")
    project, errors = read(tmp_path)
    assert errors == {
        ".saga/stories/linked": "a link, not a directory: not followed",
        ".saga/worktrees/wt/.saga": "a link, not a directory: not followed",
    }
    assert "linked" not in project.stories
    assert project.stories["wt"].directory == str(story_dir(tmp_path, "wt"))
    assert_rest_fine(project)


def test_a_file_holding_no_object_or_a_bad_status(tmp_path: Path) -> None:
    good_project(tmp_path)
    write_json(story_dir(tmp_path, "bad") / "t2.json", ["not", "an", "object"])
    write_json(story_dir(tmp_path, "bad") / "t3.json", {"id": "t3", "status": "done"})
    (tmp_path / ".saga" / "epics" / "broken.json").write_text("{not json")
    project, errors = read(tmp_path)
    assert errors == {
        ".saga/stories/bad/t2.json": "t2.json holds no JSON object: not read",
        ".saga/stories/bad/t3.json": "t3.json: status 'done' is not pending, in_progress or "
        "completed: task left out",
        ".saga/epics/broken.json": "broken.json is not valid JSON: not read",
    }
    assert_rest_fine(project)
