"""What reaches a person in JupyterLab, in a real browser: log tabs that say how a worker ended,
restored tabs of workers gone since, the "failed" toast's reason, the page title's count of
workers that need a person, and one browser notification per event while the page is hidden.

One JupyterLab (test_lab_v4's: a running and an incomplete v4 worker on a private tmux socket)
serves the module; each test adds the workers it needs as SAGA leaves them: v4 ``.jsonl``
files and tmux sessions, v3 ``.out`` files ending in their result.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from saga_jupyter.core.saga.names import pane_path
from tests.e2e import test_lab_v4
from tests.e2e.test_lab_v4 import (
    LIVE_MS,
    LOAD_MS,
    PROJECT,
    Lab,
    open_log,
    open_panel,
    result,
    row,
    v3_result,
    worker,
)
from tests.helpers import kill_worker, wait_until

lab = test_lab_v4.lab  # its JupyterLab and workers, a fixture: this module starts its own

# The page's view of the world, made controllable: whether the page is hidden (kept across a
# reload in sessionStorage), the browser notifications it raised (a stub counting them, with
# permission granted), and its WebSockets (to drop the channel and see it reconnect).
HIDDEN_PAGE = """
(() => {
  const hidden = () => sessionStorage.getItem('test-hidden') === '1';
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true, get: () => (hidden() ? 'hidden' : 'visible')
  });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: hidden });
  window.setHidden = value => {
    sessionStorage.setItem('test-hidden', value ? '1' : '0');
    document.dispatchEvent(new Event('visibilitychange'));
  };
  window.notes = [];
  window.Notification = class {
    constructor(title, options) { window.notes.push({ title, body: options?.body ?? '' }); }
    close() {}
    static get permission() { return 'granted'; }
    static requestPermission() { return Promise.resolve('granted'); }
  };
  const Native = window.WebSocket;
  window.sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.frames = 0;
      this.addEventListener('message', () => this.frames++);
      window.sockets.push(this);
    }
  };
})();
"""

# How many lines a piece of a toast's text is laid out on.
LINES_OF = """(node, text) => {
  const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const at = t.data.indexOf(text);
    if (at >= 0) {
      const range = document.createRange();
      range.setStart(t, at);
      range.setEnd(t, at + text.length);
      return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
    }
  }
  return -1;
}"""


def finished_stream(story: str) -> str:
    """A v4 worker that finished."""
    return (
        worker("pipeline_start", "2026-12-07T08:00:00.000Z", storyId=story)
        + result("All done.", cost=0.5, turns=3)
        + worker("pipeline_end", "2026-12-07T08:09:00.000Z", storyId=story,
                 status="completed", exitCode=0, cycles=1, elapsedMinutes=9.0)
    )  # fmt: skip


def write_v3(lab: Lab, story: str, status: str, why: str) -> str:
    """A seeds' (v3) worker's output ending in ``status``; its session's name."""
    name = f"saga__attention__{story}__{secrets.randbelow(10**9)}"
    (lab.output_dir / f"{name}.out").write_text(v3_result(status, why, blocker=why))
    return name


def needing_you(lab: Lab) -> int:
    """How many listed workers ended blocked or failed, from the server."""
    assert lab.jupyter is not None
    sessions = lab.jupyter.request("GET", "api/saga/sessions")
    return sum((s.get("worker") or {}).get("outcome") in ("BLOCKED", "ERROR") for s in sessions)


def title_count(count: int) -> re.Pattern[str]:
    """The page title with ``count`` in front, or with no count at 0."""
    return re.compile(rf"^\({count}\) \S") if count else re.compile(r"^(?!\(\d+\) )\S")


def test_a_completed_tab_shows_the_outcome_and_no_cursor(lab: Lab, page: Page) -> None:
    panel = open_panel(page, lab)
    tab, view = open_log(page, panel, lab.running)
    expect(tab.locator(".jp-SagaLog-state")).to_have_text("live", timeout=LIVE_MS)
    expect(tab.locator(".jp-SagaLog-follow")).to_have_text("Following")
    view.locator(".xterm-screen").click()  # focused, where xterm.js draws a block cursor
    expect(view.locator(".xterm-helper-textarea")).to_be_focused()
    expect(view.locator(".xterm-rows")).to_contain_text("remember the user", timeout=LIVE_MS)
    expect(view.locator(".xterm-rows .xterm-cursor")).to_have_count(0)

    # Ended: the badge says how, in the outcome's colour; nothing more comes to follow.
    tab, view = open_log(page, panel, lab.ended)
    state = tab.locator(".jp-SagaLog-state")
    expect(state).to_have_text("incomplete", timeout=LIVE_MS)
    expect(state).to_have_attribute("data-outcome", "INCOMPLETE")
    expect(state).to_have_css("background-color", "rgb(25, 118, 210)")  # md-blue-700, as the panel
    expect(tab.locator(".jp-SagaLog-follow")).to_be_hidden()
    view.locator(".xterm-screen").click()
    expect(view.locator(".xterm-helper-textarea")).to_be_focused()
    expect(view.locator(".xterm-rows")).to_contain_text("session completed", timeout=LIVE_MS)
    expect(view.locator(".xterm-rows .xterm-cursor")).to_have_count(0)


def test_a_restored_tab_of_a_gone_worker_closes_itself_and_says_so(lab: Lab, page: Page) -> None:
    name = f"saga-story-gone-soon-{int(time.time())}"
    lab.output(name).write_text(finished_stream("gone-soon"))
    panel = open_panel(page, lab)
    tab, _ = open_log(page, panel, name)
    expect(tab.locator(".jp-SagaLog-state")).to_have_text("finished", timeout=LIVE_MS)
    workspaces = Path(next(a for a in lab.args if "workspaces_dir" in a).split("=", 1)[1])
    wait_until(lambda: any(name in p.read_text() for p in workspaces.glob("*")), timeout=20)

    lab.output(name).unlink()  # no tmux session, no output: the server forgets it
    expect(row(panel, name)).to_have_count(0, timeout=LIVE_MS)
    page.reload()
    expect(page.locator("#saga-jupyter-panel")).to_be_visible(timeout=LOAD_MS)
    toast = page.locator(".Toastify__toast").filter(has_text=name)
    expect(toast).to_contain_text(
        f"Closed the log tab of {name}: this worker and its output are gone.", timeout=LIVE_MS
    )
    expect(page.locator(f"#saga-log-{name}")).to_have_count(0)
    expect(page.get_by_text(f"no SAGA session named {name}")).to_have_count(0)


def test_the_failed_toast_leads_with_the_error_and_keeps_the_name_whole(
    lab: Lab, page: Page
) -> None:
    panel = open_panel(page, lab)
    story = "toast-failed"
    name = f"saga-story-{story}-{int(time.time())}"
    fatal = f"Error: No task files found in {PROJECT}/.saga/stories/{story}"
    # As SAGA's worker fails: lines on its pane, the error last, then it exits.
    pane = f"printf 'Starting the worker\\nWorktree exists\\nReading the story\\n{fatal}\\n'"
    lab.tmux.cmd("new-session", "-d", "-s", name, f"{pane}; sleep 600")
    lab.output(name).write_text(worker("pipeline_start", "2026-12-07T08:00:00.000Z"))
    expect(row(panel, name).locator("[data-status]")).to_have_text("running", timeout=LIVE_MS)
    kept = pane_path(lab.output_dir, name)
    wait_until(lambda: kept.exists() and fatal in kept.read_text(errors="replace"), timeout=10)
    kill_worker(lab.tmux, name)

    message = page.locator(".Toastify__toast").filter(has_text=name).locator(".jp-toast-message")
    expect(message).to_contain_text(f"{story} failed: {fatal}", timeout=LIVE_MS)
    assert message.evaluate(LINES_OF, name) == 1, "the session's name is cut across lines"
    page.screenshot(path=Path(__file__).parent / "screenshots" / "lab-failed-toast.png")


def test_the_title_counts_the_workers_that_need_you(lab: Lab, page: Page) -> None:
    panel = open_panel(page, lab)
    expect(row(panel, lab.ended)).to_be_visible(timeout=LIVE_MS)
    before = needing_you(lab)
    expect(page).to_have_title(title_count(before), timeout=LIVE_MS)
    blocked = write_v3(lab, "title-blocked", "BLOCKED", "which database?")
    expect(page).to_have_title(title_count(before + 1), timeout=LIVE_MS)
    open_log(page, panel, lab.running)  # JupyterLab retitles the page: the count stays
    expect(page).to_have_title(title_count(before + 1))
    (lab.output_dir / f"{blocked}.out").unlink()  # forgotten: it needs no one any more
    expect(page).to_have_title(title_count(before), timeout=LIVE_MS)


def test_one_browser_notification_per_event_while_the_page_is_hidden(lab: Lab, page: Page) -> None:
    page.context.grant_permissions(["notifications"])
    page.add_init_script(HIDDEN_PAGE)
    panel = open_panel(page, lab)
    expect(row(panel, lab.ended)).to_be_visible(timeout=LIVE_MS)
    notes = lambda: page.evaluate("window.notes")  # noqa: E731
    told = lambda name: [note for note in notes() if name in note["body"]]  # noqa: E731
    page.evaluate("window.setHidden(true)")

    first = write_v3(lab, "hidden-blocked", "BLOCKED", "which key?")
    wait_until(lambda: told(first), timeout=LIVE_MS / 1000)
    assert len(notes()) == 1, notes()
    assert notes()[0]["title"] == "attention/hidden-blocked blocked", notes()
    assert "which key?" in notes()[0]["body"] and first in notes()[0]["body"], notes()

    # The channel drops and reconnects (its first frame, the list, arrived): the blocked one is
    # in that list again, not news.
    channels = "window.sockets.filter(socket => socket.url.includes('/api/saga/channels'))"
    dropped = page.evaluate(f"{channels}.length")
    page.evaluate(f"{channels}.forEach(socket => socket.close())")
    wait_until(lambda: page.evaluate(
        f"{channels}.length > {dropped} && {channels}.at(-1).readyState === WebSocket.OPEN"
        f" && {channels}.at(-1).frames > 0"
    ), timeout=LIVE_MS / 1000)  # fmt: skip
    second = write_v3(lab, "hidden-blocked-again", "BLOCKED", "which port?")
    wait_until(lambda: told(second), timeout=LIVE_MS / 1000)
    assert len(notes()) == 2, notes()

    # A reload: its first list is what was already so; only what happens after is told.
    page.reload()
    expect(panel.locator(f'.jp-SagaPanel-row[data-name="{second}"]')).to_be_visible(timeout=LOAD_MS)
    failed = write_v3(lab, "hidden-failed", "ERROR", "the build broke")
    wait_until(lambda: told(failed), timeout=LIVE_MS / 1000)
    assert len(notes()) == 1, notes()
    assert notes()[0]["title"] == "attention/hidden-failed failed", notes()
    assert failed in notes()[0]["body"], notes()

    # Looking at the page: the toast tells, the browser does not.
    page.evaluate("window.setHidden(false)")
    count = needing_you(lab)
    write_v3(lab, "seen-blocked", "BLOCKED", "which branch?")
    expect(page).to_have_title(title_count(count + 1), timeout=LIVE_MS)
    assert len(notes()) == 1, notes()
