"""SAGA projects over REST and the channel: shapes, 404/409, live stories:updated, sessions."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from libtmux.server import Server
from tornado.httpclient import HTTPClientError

from saga_jupyter.core.watch.dirwatch import WATCH_ENV
from saga_jupyter.server.app import SagaJupyterApp
from tests.helpers import Channel, inotify_watches, inotify_watches_on, saga_config, wait_for
from tests.sagaproject import epic, git, git_project, story, story_dir, task
from tests.server.test_openapi import schema

V4 = "saga-story-login-1741165923"
# The backstop re-read comes far later than the 1 s a change must take: the watch does it.
POLL = 30.0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository whose story "login" lives in its worktree, plus stories on main."""
    root = tmp_path / "app"
    git_project(root, "login", {"t1": "pending", "t2": "pending"}, epic_id="auth")
    epic(root, "auth", ["login", "logout"])
    story(root, "logout", "auth", {"t1": "completed"}, journal="## Blocker: Which page?\n")
    story(root, "docs", None, {})
    return root


@pytest.fixture
def other(tmp_path: Path) -> Path:
    """A second project, holding a story "logout" too."""
    root = tmp_path / "other"
    story(root, "logout", None, {"t1": "in_progress"})
    return root


@pytest.fixture(params=["inotify", "polling"])
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(WATCH_ENV, request.param)
    return str(request.param)


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path, project: Path, other: Path) -> Any:
    return saga_config(
        server, output_dir, poll_interval=POLL, project_dirs=[str(project), str(other)]
    )


async def get(jp_fetch: Any, *path: str, **params: str) -> Any:
    return json.loads((await jp_fetch("api", "saga", *path, params=params)).body)


async def error(jp_fetch: Any, *path: str, **params: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("api", "saga", *path, params=params)
    assert caught.value.response is not None
    return caught.value.code, json.loads(caught.value.response.body)


def array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": schema(name)}


async def test_rest_shapes_filters_and_errors(
    jp_fetch: Any, saga_app: Any, project: Path, other: Path
) -> None:
    projects = await get(jp_fetch, "projects")
    jsonschema.validate(projects, array("Project"))
    assert [(p["path"], p["stories"], p["errors"]) for p in projects] == [
        (str(project), 3, []),
        (str(other), 1, []),
    ]
    epics = await get(jp_fetch, "epics")
    jsonschema.validate(epics, array("Epic"))
    assert [(e["id"], e["status"], e["storyCounts"]) for e in epics] == [
        ("auth", "pending",
         {"total": 2, "pending": 1, "inProgress": 0, "completed": 1}),
    ]  # fmt: skip
    stories = await get(jp_fetch, "stories")
    jsonschema.validate(stories, array("StorySummary"))
    assert sorted(s["id"] for s in stories) == ["docs", "login", "logout", "logout"]
    assert [s["id"] for s in await get(jp_fetch, "stories", epic="auth")] == ["login", "logout"]
    assert [s["project"] for s in await get(jp_fetch, "stories", status="inProgress")] == [
        str(other)
    ]
    assert [s["id"] for s in await get(jp_fetch, "stories", project=str(other))] == ["logout"]
    login = await get(jp_fetch, "stories", "login")
    jsonschema.validate(login, schema("StoryDetail"))
    assert login["branch"] == "story/login"
    assert [t["status"] for t in login["tasks"]] == ["pending", "pending"]
    assert login["worktree"] == str(project / ".saga" / "worktrees" / "login")

    code, body = await error(jp_fetch, "stories", "logout")
    assert code == 409 and body["error"] == "Ambiguous story"
    assert str(project) in body["message"] and str(other) in body["message"]
    chosen = await get(jp_fetch, "stories", "logout", project=str(project))
    assert chosen["blockers"] == ["Which page?"]
    assert chosen["journal"] == [
        {"type": "blocker", "title": "Which page?", "content": "", "resolved": False}
    ]
    code, body = await error(jp_fetch, "stories", "nope")
    assert code == 404 and body["error"] == "Story not found"
    code, body = await error(jp_fetch, "stories", status="in_progress")
    assert code == 400


async def test_a_task_changed_in_a_worktree_is_pushed_within_a_second(
    kind: str, jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, project: Path
) -> None:
    channel = await Channel.open(jp_ws_fetch)
    directory = story_dir(project, "login", worktree=True)
    # Through the server's one watch: the output directory's, one inotify watch per directory.
    assert saga_app.projects.watch is saga_app.poller.watch
    assert directory in saga_app.poller.watch.directories
    assert inotify_watches_on(directory) == inotify_watches(1)
    for status, counts, derived in (
        ("in_progress", (0, 1), "inProgress"),
        ("completed", (1, 0), "pending"),  # t2 is still pending
    ):
        started = time.monotonic()
        task(directory, "t1", status)  # the sync hook rewriting a task file
        frame = await stories_frame(channel, lambda s: s["id"] == "login")
        assert time.monotonic() - started < 1.0, kind
        (login,) = [s for s in frame["stories"] if s["id"] == "login"]
        assert (login["tasks"]["completed"], login["tasks"]["inProgress"]) == counts
        assert login["status"] == derived
        # What REST serves (encoded once per change) has changed with it.
        listed = {s["id"]: s for s in await get(jp_fetch, "stories", project=str(project))}
        assert listed["login"] == login
        unfiltered = [s for s in await get(jp_fetch, "stories") if s["id"] == "login"]
        assert unfiltered == [login]
    # An epic renamed: no story changed, the epics' body all the same.
    epic(project, "auth", ["login", "logout"], title="Authentication")
    await wait_for(lambda: epic_titles(jp_fetch), timeout=2)
    # A story created in a new worktree (as create-story does) is found and watched.
    worktree = project / ".saga" / "worktrees" / "signup"
    git(project, "worktree", "add", "-q", "-b", "story/signup", str(worktree))
    new = story(project, "signup", "auth", {"t1": "pending"}, in_worktree=True)
    await stories_frame(channel, lambda s: s["id"] == "signup")
    task(new, "t1", "in_progress")
    frame = await stories_frame(channel, lambda s: s["id"] == "signup")
    assert frame["stories"][0]["status"] == "inProgress"
    # The journal too: a blocker written in the worktree.
    (new / "journal.md").write_text("## Blocker: Which provider?\n")
    await stories_frame(channel, lambda s: s["blockers"] == ["Which provider?"])
    channel.close()


async def epic_titles(jp_fetch: Any) -> bool:
    return [e["title"] for e in await get(jp_fetch, "epics")] == ["Authentication"]


async def stories_frame(channel: Channel, wanted: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The next stories:updated frame holding a story ``wanted`` says yes to."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await channel.receive(max(0.01, deadline - time.monotonic()))
        if frame["type"] == "stories:updated" and any(map(wanted, frame["stories"])):
            jsonschema.validate(frame["stories"], array("StorySummary"))
            return frame


async def test_a_v4_session_meets_its_story(
    jp_fetch: Any, saga_app: Any, project: Path, output_dir: Path
) -> None:
    blocked = "saga-story-logout-1741165000"
    for name in (V4, blocked):
        (output_dir / f"{name}.jsonl").write_text(json.dumps({"type": "pipeline_start"}) + "\n")
    older = time.time() - 600  # newest first would put it last: the blocker puts it first
    os.utime(output_dir / f"{blocked}.jsonl", (older, older))
    await saga_app.poller.request_scan()
    # "logout" is in two projects: without a worktree named, its session meets none.
    (project.parent / "other" / ".saga" / "stories" / "logout" / "t1.json").unlink()
    shutil.rmtree(project.parent / "other" / ".saga" / "stories" / "logout")
    await wait_for(lambda: saga_app.poller.find(blocked).epic_slug == "auth", timeout=5)
    info = await get(jp_fetch, "sessions", V4.replace(V4, V4))
    assert info["epicSlug"] == "auth"
    listed = {s["name"]: s for s in await get(jp_fetch, "sessions")}
    assert listed[blocked]["worker"]["blocker"] == "Which page?"
    assert listed[V4]["worker"]["blocker"] is None
    attention = [s["name"] for s in await get(jp_fetch, "sessions", sort="attention")]
    assert attention.index(blocked) < attention.index(V4)  # its story has a blocker
    summary = await get(jp_fetch, "stories", "login")
    assert summary["sessions"] == [V4]
    # The blocker resolved in the journal: the session's row follows.
    journal = story_dir(project, "logout") / "journal.md"
    journal.write_text(journal.read_text() + "## Resolution: which page\nThe login page.\n")
    await wait_for(lambda: saga_app.poller.find(blocked).worker.blocker is None, timeout=5)


async def test_a_project_that_disappears_is_reported(
    jp_fetch: Any, saga_app: Any, project: Path
) -> None:
    project.rename(project.parent / "moved")
    await saga_app.projects.request_refresh({project: None})
    projects = {p["path"]: p for p in await get(jp_fetch, "projects")}
    assert projects[str(project)]["stories"] == 0
    assert projects[str(project)]["errors"][0]["file"] == ".saga"
    assert len(await get(jp_fetch, "stories")) == 1  # the other project's


def test_project_dirs_default_to_saga_project_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAGA_PROJECT_DIR", raising=False)
    assert SagaJupyterApp().project_dirs == []
    monkeypatch.setenv("SAGA_PROJECT_DIR", "/srv/app")
    assert SagaJupyterApp().project_dirs == ["/srv/app"]
    assert SagaJupyterApp(project_dirs=["/a", "/b"]).project_dirs == ["/a", "/b"]


async def test_a_project_a_worker_names_is_read_and_watched(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, tmp_path: Path, output_dir: Path
) -> None:
    named = tmp_path / "named"
    directory = git_project(named, "pay", {"t1": "pending", "t2": "pending", "t3": "pending"})
    channel = await Channel.open(jp_ws_fetch)
    step = {
        "type": "saga_worker",
        "subtype": "pipeline_step",
        "step": 1,
        "message": f"Created worktree at {named}/.saga/worktrees/pay",
    }
    name = "saga-story-pay-1741165923"
    (output_dir / f"{name}.jsonl").write_text(json.dumps(step) + "\n")
    frame = await stories_frame(channel, lambda s: s["id"] == "pay")
    assert frame["stories"][0]["project"] == str(named)
    assert str(named) in [p["path"] for p in await get(jp_fetch, "projects")]
    await wait_for(lambda: saga_app.poller.find(name).epic_slug == "e1", timeout=5)
    info = await get(jp_fetch, "sessions", name)
    assert info["worker"]["tasks"]["total"] == 3
    assert (await get(jp_fetch, "stories", "pay"))["sessions"] == [name]
    task(directory, "t1", "in_progress")  # its worktree is watched as the configured ones
    await stories_frame(channel, lambda s: s["id"] == "pay" and s["status"] == "inProgress")
    channel.close()


async def test_a_story_written_into_a_worktree_made_before_it(
    jp_ws_fetch: Any, saga_app: Any, project: Path
) -> None:
    channel = await Channel.open(jp_ws_fetch)
    worktree = project / ".saga" / "worktrees" / "late"
    git(project, "worktree", "add", "-q", "-b", "story/late", str(worktree))
    # Read with no story yet, and watched: the story's directories are awaited there.
    await wait_for(lambda: worktree / ".saga" in saga_app.poller.watch.directories, timeout=5)
    started = time.monotonic()
    story(project, "late", "auth", {"t1": "in_progress"}, in_worktree=True)
    frame = await stories_frame(channel, lambda s: s["id"] == "late")
    assert time.monotonic() - started < 1.0
    assert frame["stories"][0]["status"] == "inProgress"
    channel.close()
