"""SAGA projects in JupyterLab, in a real browser: the panel's project view and a story's page.

One JupyterLab process watches a real ``.saga/`` project (tests/sagaproject.py lays it out as
SAGA does: epics on main, stories in their worktrees) and a today's worker running in tmux on
one of its stories. The tests check what a person sees: epics with their progress bars and
counts, stories with their tasks, blockers and running cycle; a task file changed in a
worktree moving them without a reload; a story's page with its checklist, its journal (the
unresolved blocker first, the agent's markdown sanitised: nothing of a ``<script>``, an
``onerror=`` or a ``javascript:`` link runs or stays), its sessions opening their transcript;
both themes. The light theme's screenshot is docs/stories.png.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server
from playwright.sync_api import Locator, Page, expect

from saga_jupyter.demo_lab import PANEL_FLAG
from tests.e2e.test_lab_v4 import contrast
from tests.helpers import QUIET_LAB, JupyterProcess, lab_settings, wait_until
from tests.sagaproject import epic, story, story_dir, task

DOCS = Path(__file__).parents[2] / "docs"
SCREENSHOTS = Path(__file__).parent / "screenshots"
LOAD_MS = 90_000  # a busy two-core machine takes ~15 s to load JupyterLab's page
LIVE_MS = 20_000  # a change reaches the page within a second; a loaded machine is slower
PR = "https://github.com/me/shop/pull/7"
# What an agent could write into a journal to run code in the page: none of it may run or stay.
HOSTILE = (
    "Tried the VIES client.\n\n"
    "<script>window.sagaPwned = 'script'</script>\n\n"
    '<img src="x" onerror="window.sagaPwned = \'onerror\'">\n\n'
    "[the VIES docs](javascript:window.sagaPwned='link')\n\n"
    "**What I need**: a decision on VIES."
)
JOURNAL = f"""# Journal: billing-tax-rates

## Session: 2026-12-07T07:00:00.000Z

### Task: t1

Read `src/checkout/total.ts`.

## Blocker: Rounding rule for tax lines

Per line or per invoice?

## Resolution: Rounding rule for tax lines

**Decision**: round each tax line.

## Blocker: No way to validate EU VAT numbers

{HOSTILE}
"""
GUIDANCE = "Use **one** `taxRate()` for every country; see [the rates](https://example.com/r)."


def line(message: dict[str, Any]) -> str:
    """One message as today's worker writes it: compact JSON and a newline."""
    return json.dumps(message, separators=(",", ":")) + "\n"


def worker_stream(worktree: Path, story_id: str) -> str:
    """A today's worker in its second cycle of ten on ``story_id``, naming its worktree."""

    def saga(subtype: str, **fields: Any) -> str:
        return line({"type": "saga_worker", "subtype": subtype,
                     "timestamp": "2026-12-07T09:12:03.481Z", **fields})  # fmt: skip

    return "".join([
        saga("pipeline_start", storyId=story_id),
        saga("pipeline_step", step=1, message=f"Worktree exists at {worktree}"),
        saga("cycle_start", cycle=2, maxCycles=10),
        line({"type": "assistant", "message": {"role": "assistant", "content": [
            {"type": "text", "text": "Working on t2: the tax table."}]}}),
    ])  # fmt: skip


@dataclass
class Lab:
    """JupyterLab watching a SAGA project and a worker on one of its stories."""

    jupyter: JupyterProcess
    project: Path
    worker: str

    def url(self) -> str:
        """JupyterLab's URL with the token and the flag that opens the SAGA panel."""
        return f"{self.jupyter.url}lab?token={self.jupyter.token}&{PANEL_FLAG}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The project (two epics; stories in worktrees; a journal), a running worker, JupyterLab."""
    tmp = tmp_path_factory.mktemp("lab-projects")
    project, output_dir = tmp / "shop", tmp / "sessions"
    output_dir.mkdir()
    epic(project, "auth", ["auth-login", "auth-reset"], title="Accounts")
    epic(project, "billing", ["billing-tax-rates", "billing-pdf"], title="Billing")
    story(project, "auth-login", "auth", {"t1": "completed", "t2": "completed"},
          title="Sign in with email")  # fmt: skip
    story(project, "auth-reset", "auth", {"t1": "completed", "t2": "in_progress", "t3": "pending"},
          in_worktree=True, title="Reset a forgotten password")  # fmt: skip
    story(project, "billing-tax-rates", "billing",
          {"t1": "completed", "t2": "in_progress", "t3": "pending", "t4": "pending"},
          in_worktree=True, journal=JOURNAL, title="Tax rates by country",
          description="Checkout applies the customer's country's **tax rate**.",
          guidance=GUIDANCE, pr=PR, branch="story/billing-tax-rates")  # fmt: skip
    story(project, "billing-pdf", "billing", {"t1": "pending"}, title="Invoices as PDF")
    story(project, "search-typos", "search", {"t1": "pending"}, title="Typos")  # no such epic
    worktree = project / ".saga" / "worktrees" / "billing-tax-rates"
    name = f"saga-story-billing-tax-rates-{int(time.time())}"
    (output_dir / f"{name}.jsonl").write_text(worker_stream(worktree, "billing-tax-rates"))
    tmux = Server(socket_name=f"libtmux_test_saga_{secrets.token_hex(4)}")
    tmux.cmd("new-session", "-d", "-s", name, "sleep 600")
    settings = lab_settings(tmp / "lab-settings", QUIET_LAB)
    jupyter = JupyterProcess(
        tmp,
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={tmux.socket_name}",
        f"--SagaJupyterApp.state_file={tmp / 'state.json'}",
        f"--SagaJupyterApp.project_dirs={json.dumps([str(project)])}",
        "--SagaJupyterApp.poll_interval=0.5",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        app="lab",
    )
    try:
        yield Lab(jupyter, project, name)
    finally:
        jupyter.stop()
        if tmux.is_alive():
            tmux.kill()


def open_stories(page: Page, lab: Lab) -> Locator:
    """Open JupyterLab with the SAGA panel on its Stories view; the panel."""
    page.goto(lab.url())
    panel = page.locator("#saga-jupyter-panel")
    expect(panel).to_be_visible(timeout=LOAD_MS)
    panel.locator('.jp-SagaPanel-viewTab[data-view="stories"]').click()
    expect(panel.locator(".jp-SagaStories-epic").first).to_be_visible(timeout=LIVE_MS)
    return panel


def story_row(panel: Locator, story_id: str) -> Locator:
    """A story's row in the project view."""
    return panel.locator(f'.jp-SagaStories-story[data-story="{story_id}"]')


def open_story(page: Page, panel: Locator, story_id: str) -> Locator:
    """Click a story's row; its page in the main area, once read."""
    story_row(panel, story_id).click()
    story_page = page.locator(f'.jp-SagaStory[data-story="{story_id}"]')
    expect(story_page.locator(".jp-SagaStory-title")).to_be_visible(timeout=LIVE_MS)
    return story_page


def screenshot(page: Page, path: Path) -> None:
    """Save a screenshot for a person to look at."""
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=path)


def test_the_project_view_lists_epics_with_counts_progress_and_stories(
    lab: Lab, page: Page
) -> None:
    panel = open_stories(page, lab)
    titles = panel.locator(".jp-SagaStories-epicTitle")
    expect(titles).to_have_text(["Accounts", "Billing", "no epic"])
    # The tab says there is a blocker to look at, seen from the sessions too.
    expect(panel.locator(".jp-SagaPanel-viewBlockers")).to_have_text("1")
    # A story whose epic has no file is listed all the same, under "no epic".
    loose = panel.locator('[data-no-epic="true"]')
    expect(loose.locator('.jp-SagaStories-story[data-story="search-typos"]')).to_be_visible()

    auth = panel.locator('.jp-SagaStories-epic[data-epic="auth"]')
    expect(auth.locator(".jp-SagaStories-epicDone")).to_have_text("1/2")
    bar = auth.locator('[role="progressbar"]')
    expect(bar).to_have_attribute("aria-valuenow", "1")
    expect(bar).to_have_attribute("aria-valuemax", "2")
    width = auth.locator(".jp-SagaStories-progressDone").evaluate(
        "node => node.getBoundingClientRect().width / node.parentNode.getBoundingClientRect().width"
    )
    assert abs(width - 0.5) < 0.02, width
    expect(auth.locator(".jp-SagaStories-count[data-status]")).to_have_text(
        ["1 completed", "1 in progress", "0 pending"]
    )

    billing = panel.locator('.jp-SagaStories-epic[data-epic="billing"]')
    expect(billing.locator(".jp-SagaStories-epicDone")).to_have_text("0/2")
    expect(billing.locator('[role="progressbar"]')).to_have_attribute("aria-valuenow", "0")
    expect(billing.locator('.jp-SagaStories-count[data-blocked="true"]')).to_have_text("1 blocker")

    # Each story: its tasks done, its unresolved blockers (their titles on hover), its worker.
    expect(story_row(panel, "auth-reset").locator(".jp-SagaStories-tasks")).to_have_text(
        "1/3 tasks"
    )
    tax = story_row(panel, "billing-tax-rates")
    expect(tax.locator(".jp-SagaStories-tasks")).to_have_text("1/4 tasks")
    blockers = tax.locator(".jp-SagaStories-blockers")
    expect(blockers).to_have_text("1 blocker")
    expect(blockers).to_have_attribute("title", "No way to validate EU VAT numbers")
    expect(tax.locator(".jp-SagaStories-running")).to_have_text(
        "running · cycle 2/10", timeout=LIVE_MS
    )
    expect(story_row(panel, "auth-login").locator(".jp-SagaStories-blockers")).to_have_count(0)


def test_a_task_changed_in_a_worktree_moves_the_bar_without_a_reload(lab: Lab, page: Page) -> None:
    panel = open_stories(page, lab)
    row = story_row(panel, "auth-reset")
    expect(row.locator(".jp-SagaStories-tasks")).to_have_text("1/3 tasks")
    node = row.element_handle()  # the same page throughout: no reload
    directory = story_dir(lab.project, "auth-reset", worktree=True)
    task(directory, "t2", "completed")
    expect(row.locator(".jp-SagaStories-tasks")).to_have_text("2/3 tasks", timeout=LIVE_MS)
    task(directory, "t3", "completed")  # the story's last: it completes, the epic's bar moves
    expect(row.locator(".jp-SagaStories-tasks")).to_have_text("3/3 tasks", timeout=LIVE_MS)
    auth = panel.locator('.jp-SagaStories-epic[data-epic="auth"]')
    expect(auth.locator('[role="progressbar"]')).to_have_attribute(
        "aria-valuenow", "2", timeout=LIVE_MS
    )
    expect(auth.locator(".jp-SagaStories-epicDone")).to_have_text("2/2")
    expect(row).to_have_attribute("data-status", "completed")
    assert node.evaluate("node => node.isConnected")


def test_a_story_page_shows_tasks_the_unresolved_blocker_first_and_sanitised_markdown(
    lab: Lab, page: Page
) -> None:
    panel = open_stories(page, lab)
    story_page = open_story(page, panel, "billing-tax-rates")
    expect(story_page.locator(".jp-SagaStory-title")).to_have_text("Tax rates by country")
    expect(story_page.locator(".jp-SagaStory-epic")).to_have_text("billing")
    expect(story_page.locator(".jp-SagaStory-pr")).to_have_attribute("href", PR)

    # Description and guidance: markdown rendered by JupyterLab.
    guidance = story_page.locator('[data-section="guidance"]')
    expect(guidance.locator("strong")).to_have_text("one")
    expect(guidance.locator("code")).to_have_text("taxRate()")
    expect(story_page.locator('[data-section="description"] strong')).to_have_text("tax rate")

    # The checklist: every task, the completed one struck through.
    tasks = story_page.locator(".jp-SagaStory-task")
    expect(tasks).to_have_count(4)
    done = story_page.locator(
        '.jp-SagaStory-task[data-status="completed"] .jp-SagaStory-taskSubject'
    )
    expect(done).to_have_text(["do t1"])
    assert "line-through" in done.evaluate("n => getComputedStyle(n).textDecorationLine")
    pending = story_page.locator(
        '.jp-SagaStory-task[data-status="pending"] .jp-SagaStory-taskSubject'
    )
    assert "line-through" not in pending.first.evaluate(
        "n => getComputedStyle(n).textDecorationLine"
    )

    # The journal: the unresolved blocker first, in the error colour; the resolved one marked.
    entries = story_page.locator(".jp-SagaStory-entry")
    expect(entries).to_have_count(4)
    first = entries.first
    expect(first).to_have_attribute("data-type", "blocker")
    expect(first).to_have_attribute("data-resolved", "false")
    expect(first.locator(".jp-SagaStory-entryTitle")).to_have_text(
        "No way to validate EU VAT numbers"
    )
    expect(entries.nth(1)).to_have_attribute("data-resolved", "true")
    expect(entries.nth(1).locator(".jp-SagaStory-entryType")).to_have_text("Blocker (resolved)")
    assert_readable_red(first.locator(".jp-SagaStory-entryTitle"), first)

    # The agent's markdown, sanitised: its text is there; its script, handler and link are not.
    expect(first.locator("strong")).to_have_text("What I need")
    expect(first).to_contain_text("a decision on VIES")
    content = first.locator(".jp-SagaStory-markdown")
    assert content.locator("script").count() == 0
    assert content.locator("[onerror]").count() == 0
    links = content.locator("a").evaluate_all("nodes => nodes.map(n => n.getAttribute('href'))")
    assert not any(href and "javascript" in href.lower() for href in links), links
    for link in content.locator("a").all():
        link.click()  # a click on what is left of the link runs nothing
    html = story_page.inner_html()
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html
    assert page.evaluate("() => window.sagaPwned") is None

    # Restored on reload, like a log tab (once JupyterLab saved its layout).
    def saved() -> bool:
        workspace = lab.jupyter.request("GET", "lab/api/workspaces/default")
        return "saga-story:" in json.dumps(workspace)

    wait_until(saved, timeout=LIVE_MS / 1000, interval=0.2)
    page.reload()
    restored = page.locator('.jp-SagaStory[data-story="billing-tax-rates"]')
    expect(restored.locator(".jp-SagaStory-title")).to_have_text(
        "Tax rates by country", timeout=LOAD_MS
    )


def test_a_story_page_lists_its_sessions_and_opens_their_transcript(lab: Lab, page: Page) -> None:
    page.goto(lab.url())
    panel = page.locator("#saga-jupyter-panel")
    expect(panel).to_be_visible(timeout=LOAD_MS)
    # From the worker's row to its story.
    item = panel.locator(".jp-SagaPanel-rowItem", has=page.locator(f'[data-name="{lab.worker}"]'))
    link = item.locator(".jp-SagaPanel-storyLink")
    expect(link).to_have_attribute("data-story", "billing-tax-rates", timeout=LIVE_MS)
    link.click()
    story_page = page.locator('.jp-SagaStory[data-story="billing-tax-rates"]')
    session = story_page.locator(f'.jp-SagaStory-session[data-name="{lab.worker}"]')
    expect(session.locator(".jp-SagaStory-sessionState")).to_have_text(
        "running · cycle 2/10", timeout=LIVE_MS
    )
    # And back: the session's transcript in its log tab.
    session.click()
    log = page.locator(f'#saga-log-{lab.worker} .jp-SagaLog[data-session="{lab.worker}"]')
    expect(log).to_be_visible(timeout=LIVE_MS)
    expect(log).to_have_attribute("data-view", "transcript")
    expect(log.locator(".xterm-rows")).to_contain_text("Working on t2", timeout=LIVE_MS)

    # The row's context menu has the story too.
    panel.locator(f'.jp-SagaPanel-row[data-name="{lab.worker}"]').click(button="right")
    entry = page.locator(".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Open Story'))")
    expect(entry).to_be_visible()
    page.keyboard.press("Escape")


def colour_of(node: Locator, prop: str) -> str:
    """A computed colour of an element, as ``rgb()`` or ``rgba()`` (``color-mix()`` gives
    ``color(srgb r g b)`` with components from 0 to 1)."""
    colour = str(node.evaluate(f"n => getComputedStyle(n).{prop}"))
    if colour.startswith("color(srgb "):
        parts = [float(part) for part in re.findall(r"[\d.]+", colour)]
        rgb = ", ".join(str(round(255 * part)) for part in parts[:3])
        return f"rgba({rgb}, {parts[3]})" if len(parts) > 3 else f"rgb({rgb})"
    return colour


def assert_readable_red(text: Locator, paper: Locator) -> None:
    """``text`` reads in red (the error colour) over ``paper``'s background: WCAG AA."""
    ink, back = colour_of(text, "color"), colour_of(paper, "backgroundColor")
    red, green, blue = (float(c) for c in re.findall(r"[\d.]+", ink)[:3])
    assert red > 1.5 * max(green, blue, 1), ink
    assert contrast(ink, back) >= 4.5, (ink, back, contrast(ink, back))


def switch_theme(page: Page, theme: str) -> None:
    """Choose a theme in the Settings menu; wait until it applies."""
    page.get_by_role("menuitem", name="Settings", exact=True).click()
    page.locator(".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Theme'))").click()
    page.locator(f".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('{theme}'))").click()
    light = "false" if theme.endswith("Dark") else "true"
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", light)
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=LIVE_MS)


def test_both_themes_render_the_project_view_and_the_story_page(lab: Lab, page: Page) -> None:
    panel = open_stories(page, lab)
    story_page = open_story(page, panel, "billing-tax-rates")
    expect(story_page.locator(".jp-SagaStory-entry").first).to_be_visible()

    def colours() -> dict[str, str]:
        return {
            "page": story_page.evaluate("n => getComputedStyle(n).backgroundColor"),
            "text": story_page.evaluate("n => getComputedStyle(n).color"),
            "panel": panel.evaluate("n => getComputedStyle(n).backgroundColor"),
            "blocker": story_page.locator(".jp-SagaStory-entry").first.evaluate(
                "n => getComputedStyle(n).backgroundColor"
            ),
        }

    def readable() -> None:
        blocker = story_page.locator(".jp-SagaStory-entry").first
        assert_readable_red(blocker.locator(".jp-SagaStory-entryTitle"), blocker)
        badge = panel.locator(".jp-SagaStories-blockers").first
        assert contrast(colour_of(badge, "color"), colour_of(badge, "backgroundColor")) >= 4.5
        for status in panel.locator(".jp-SagaStories-status").all():
            ink, paper = colour_of(status, "color"), colour_of(status, "backgroundColor")
            if paper != "rgba(0, 0, 0, 0)":
                assert contrast(ink, paper) >= 4.5, (ink, paper)

    light = colours()
    readable()
    switch_theme(page, "JupyterLab Dark")
    dark = colours()
    readable()
    screenshot(page, SCREENSHOTS / "lab-stories-dark.png")
    for part in ("page", "text", "panel", "blocker"):
        assert light[part] != dark[part], (part, light, dark)
    switch_theme(page, "JupyterLab Light")
    assert colours() == light
    page.set_viewport_size({"width": 1300, "height": 800})
    expect(story_page.locator(".jp-SagaStory-title")).to_be_in_viewport()
    expect(panel.locator('.jp-SagaStories-epic[data-epic="billing"]')).to_be_in_viewport()
    screenshot(page, DOCS / "stories.png")
