"""``saga-jupyter stories``: the SAGA projects' stories, as a person or a script reads them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from libtmux.server import Server

from tests.sagaproject import git_project, story, story_dir
from tests.test_cli import saga


def test_stories_table_json_filters_and_errors(
    tmp_path: Path, server: Server, output_dir: Path
) -> None:
    project = tmp_path / "app"
    git_project(project, "login", {"t1": "completed", "t2": "in_progress"}, epic_id="auth")
    story(project, "docs", None, {}, journal="## Blocker: Which format?\n")
    (story_dir(project, "docs") / "t9.json").write_text("[" * 100)
    (output_dir / "saga-story-login-1741165923.jsonl").write_text('{"type": "pipeline_start"}\n')
    where = ["--output-dir", str(output_dir), "--tmux-socket", str(server.socket_name)]

    table = saga("stories", "--project-dir", str(project), *where)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["STORY", "EPIC", "STATUS", "TASKS", "BLOCKERS", "SESSION"]
    assert lines[1].split() == ["docs", "-", "pending", "0/0", "Which", "format?", "-"]
    assert lines[2].split() == [
        "login", "auth", "inProgress", "1/2", "-", "saga-story-login-1741165923",
    ]  # fmt: skip
    assert "docs/t9.json: t9.json is not valid JSON" in table.stderr

    env = {**os.environ, "SAGA_PROJECT_DIR": str(project)}
    listed = saga("stories", "--epic", "auth", "--json", *where, env=env)
    assert listed.returncode == 0, listed.stderr
    (login,) = json.loads(listed.stdout)
    assert login["tasks"] == {"total": 2, "completed": 1, "inProgress": 1}
    assert login["sessions"] == ["saga-story-login-1741165923"]
    assert login["project"] == str(project)

    none = saga("stories", *where, env={k: v for k, v in env.items() if k != "SAGA_PROJECT_DIR"})
    assert none.returncode == 0 and none.stdout == ""
    assert "give --project-dir or set $SAGA_PROJECT_DIR" in none.stderr
