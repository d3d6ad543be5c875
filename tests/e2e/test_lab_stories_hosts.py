"""The Stories tab and a story's page over many hosts, in a real browser.

A remote (a real Jupyter server on loopback, tests/hosts.py) watches a real ``.saga/`` project
with a today's worker running on one of its stories; the front's JupyterLab, whose server has a
project of its own holding a story of the same id, shows the stories grouped by host, opens the
remote's story page through its host (its tasks and its worker), follows a task changed on the
remote without a reload, links the remote worker's row to that page, greys the remote's stories
with its reason while it is frozen, and restores the page with its host on reload.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.test_lab_hosts import BACK_MS, STALE_MS, open_front, section
from tests.e2e.test_lab_projects import LIVE_MS, LOAD_MS, worker_stream
from tests.helpers import QUIET_LAB, lab_settings, wait_until
from tests.hosts import Host, front_config, remote_of, start_host, stop_host
from tests.sagaproject import epic, story, story_dir, task

STORY = "billing-tax-rates"


@dataclass
class Pair:
    """A remote with a project and a running worker on its story; JupyterLab in front of it."""

    remote: Host
    front: Host
    project: Path  # the remote's
    worker: str  # the remote's worker on STORY


def project_args(root: Path, title: str) -> str:
    """A project with an epic and STORY called ``title``; the option serving it."""
    epic(root, "billing", [STORY], title="Billing")
    story(root, STORY, "billing", {"t1": "completed", "t2": "in_progress", "t3": "pending"},
          title=title)  # fmt: skip
    return f"--SagaJupyterApp.project_dirs={root}"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """The remote ``alpha`` and the front's JupyterLab, each with a project."""
    project = tmp_path / "alpha-shop"
    remote = start_host(tmp_path, "alpha", project_args(project, "Tax rates on alpha"))
    started = [remote]
    try:
        worker = f"saga-story-{STORY}-{int(time.time())}"
        stream = worker_stream(project, STORY)
        (remote.output_dir / f"{worker}.jsonl").write_text(stream)
        remote.tmux.cmd("new-session", "-d", "-s", worker, "sleep 600")
        args = (
            front_config(tmp_path, [remote_of(remote)]),
            project_args(tmp_path / "front-shop", "Tax rates here"),
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={lab_settings(tmp_path / 'lab-settings', QUIET_LAB)}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        )
        front = start_host(tmp_path, "front", *args, app="lab")
        started.append(front)
        yield Pair(remote, front, project, worker)
    finally:
        for host in started:
            stop_host(host)


def story_row(group: Locator) -> Locator:
    """STORY's row in a host's section of the Stories tab."""
    return group.locator(f'.jp-SagaStories-story[data-story="{STORY}"]')


@pytest.mark.timeout(400)
def test_a_remote_story_is_grouped_under_its_host_and_its_page_is_live(
    pair: Pair, page: Page
) -> None:
    front, remote = pair.front, pair.remote
    # The remote's stories are fetched once its channel is up: the page opens after.
    wait_until(lambda: any(s["host"] == "alpha" for s in front.jupyter.get("api/saga/stories")), 30)
    panel = open_front(page, front)
    panel.locator('.jp-SagaPanel-viewTab[data-view="stories"]').click()
    own, alpha = section(panel, ""), section(panel, "alpha")
    expect(alpha.locator(".jp-SagaPanel-hostName")).to_have_text("alpha", timeout=LIVE_MS)
    expect(own.locator(".jp-SagaPanel-hostName")).to_have_text("this server")
    expect(alpha.locator(".jp-SagaPanel-hostCounts")).to_have_text("0/1 stories completed")
    expect(story_row(own).locator(".jp-SagaStories-storyTitle")).to_have_text("Tax rates here")
    row = story_row(alpha)
    expect(row.locator(".jp-SagaStories-storyTitle")).to_have_text("Tax rates on alpha")
    expect(row.locator(".jp-SagaStories-tasks")).to_have_text("1/3 tasks")
    # Its running worker is the remote's, found on its host.
    expect(row.locator(".jp-SagaStories-running")).to_have_text("running · cycle 2/10")
    expect(alpha.locator(".jp-SagaStories-epicTitle")).to_have_text("Billing")

    # The remote's story page, read through the front from its host.
    row.click()
    story_page = page.locator(f'.jp-SagaStory[data-story="{STORY}"][data-host="alpha"]')
    expect(story_page.locator(".jp-SagaStory-title")).to_have_text(
        "Tax rates on alpha", timeout=LIVE_MS
    )
    expect(story_page.locator(".jp-SagaStory-host")).to_have_text("on alpha")
    tasks = story_page.locator(".jp-SagaStory-task")
    expect(tasks).to_have_count(3)
    expect(tasks.nth(2)).to_have_attribute("data-status", "pending")
    session = story_page.locator(f'.jp-SagaStory-session[data-name="{pair.worker}"]')
    expect(session.locator(".jp-SagaStory-sessionState")).to_have_text("running · cycle 2/10")

    # A task done on the remote reaches the open page and the row, without a reload.
    node = story_page.element_handle()
    task(story_dir(pair.project, STORY), "t3", "completed")
    expect(tasks.nth(2)).to_have_attribute("data-status", "completed", timeout=LIVE_MS)
    expect(row.locator(".jp-SagaStories-tasks")).to_have_text("2/3 tasks", timeout=LIVE_MS)
    assert node.evaluate("node => node.isConnected")
    # This server's story of the same id is another story: untouched.
    expect(story_row(own).locator(".jp-SagaStories-tasks")).to_have_text("1/3 tasks")

    # The remote worker's row links to the same page.
    panel.locator('.jp-SagaPanel-viewTab[data-view="sessions"]').click()
    item = section(panel, "alpha").locator(
        ".jp-SagaPanel-rowItem", has=page.locator(f'[data-name="{pair.worker}"]')
    )
    item.locator(".jp-SagaPanel-storyLink").click()
    expect(page.locator(".jp-SagaStory")).to_have_count(1)

    # Frozen, the remote's stories grey out with its reason; this server's do not.
    panel.locator('.jp-SagaPanel-viewTab[data-view="stories"]').click()

    def saved() -> bool:
        workspace = front.jupyter.request("GET", "lab/api/workspaces/default")
        return "saga-story:" in json.dumps(workspace)

    wait_until(saved, timeout=LIVE_MS / 1000, interval=0.2)
    os.kill(remote.jupyter.pid, signal.SIGSTOP)
    try:
        expect(alpha).to_have_attribute("data-stale", "true", timeout=STALE_MS)
        reason = alpha.locator(".jp-SagaPanel-hostReason")
        expect(reason).to_have_text(re.compile(r"^not answering since .+: .*no answer"))
        expect(own).not_to_have_attribute("data-stale", "true")
        title = row.locator(".jp-SagaStories-storyTitle")
        grey = title.evaluate("node => getComputedStyle(node).fontStyle")
        assert grey == "italic", grey
        # Reloaded while its host is frozen, the restored page says why it has no story.
        page.reload()
        expect(story_page.locator(".jp-SagaStory-error")).to_contain_text("alpha", timeout=LOAD_MS)
    finally:
        os.kill(remote.jupyter.pid, signal.SIGCONT)

    # Once the host answers, the page reads its story again, by itself.
    expect(story_page.locator(".jp-SagaStory-title")).to_have_text(
        "Tax rates on alpha", timeout=BACK_MS
    )
    expect(story_page.locator('.jp-SagaStory-task[data-status="completed"]')).to_have_count(2)
