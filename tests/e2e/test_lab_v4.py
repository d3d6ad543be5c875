"""Today's SAGA (v4) workers in JupyterLab, in a real browser: the panel and a transcript tab.

One JupyterLab process watches a private tmux socket and an output directory holding two v4
workers, as SAGA >= 4.0 leaves them: one running (a ``saga-story-<id>-<digits>`` tmux session
and its ``.jsonl``) and one that ended incomplete (its ``.jsonl`` only, ending in
``pipeline_end``). Their messages are those of SAGA-V4.md §2.2/§2.3, written compactly as the
worker's ``JSON.stringify`` does. The tests check what a person sees: the rows under "no epic"
(their project is not known), the cycle, cost and outcome badge, a log tab showing the
transcript (not raw JSON), live, with a Raw toggle and resuming after a server restart, a
notification when one ends, and every outcome of both generations in its own readable colour.
Screenshots land in tests/e2e/screenshots/ (the transcript's is docs/transcript.png).
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

from saga_jupyter.__main__ import PANEL_FLAG
from saga_jupyter.core.saga.names import pane_path
from tests.helpers import QUIET_LAB, JupyterProcess, kill_worker, lab_settings, wait_until
from tests.sagaproject import epic, story

SCREENSHOTS = Path(__file__).parent / "screenshots"
LOAD_MS = 90_000  # a busy two-core machine takes ~15 s to load JupyterLab's page
LIVE_MS = 20_000  # a scan every 0.5 s; a loaded machine is slower
INITIAL_LOG_BYTES = 3072  # a tab opens on the running worker's 2nd cycle: "Load earlier" has work
# The project the workers' messages name (as SAGA-V4.md's examples do): it does not exist, so
# their stories' epics are not known and they are listed under "no epic".
PROJECT = Path("/home/me/proj")
TEST_COMMAND = "npm test -- src/auth/login.test.ts"  # the running worker's Bash call
SUMMARY = "Completed t1, t2 and t3; t4 (CSV export of refunds) still fails its tests."


def line(message: dict[str, Any]) -> str:
    """One message as the worker writes it: compact JSON and a newline."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n"


def worker(subtype: str, at: str, **fields: Any) -> str:
    """A ``saga_worker`` message."""
    return line({"type": "saga_worker", "subtype": subtype, "timestamp": at, **fields})


def assistant(*content: dict[str, Any]) -> str:
    """An ``assistant`` message with these content blocks."""
    message = {
        "id": f"msg_01{secrets.token_hex(6)}", "type": "message", "role": "assistant",
        "model": "claude-opus-4-6", "content": list(content), "stop_reason": None,
        "usage": {"input_tokens": 2, "cache_creation_input_tokens": 812,
                  "cache_read_input_tokens": 48211, "output_tokens": 61},
    }  # fmt: skip
    return line({"type": "assistant", "message": message, "parent_tool_use_id": None,
                 "session_id": "0b6e2c1a-5d2e", "uuid": secrets.token_hex(8)})  # fmt: skip


def tool_use(name: str, **tool_input: Any) -> dict[str, Any]:
    """A ``tool_use`` content block."""
    return {"type": "tool_use", "id": f"toolu_01{secrets.token_hex(6)}", "name": name,
            "input": tool_input}  # fmt: skip


def tool_result(text: str, is_error: bool = False) -> str:
    """A ``user`` message carrying one tool result."""
    result: dict[str, Any] = {"tool_use_id": "toolu_01X", "type": "tool_result", "content": text}
    if is_error:
        result["is_error"] = True
    return line({"type": "user", "message": {"role": "user", "content": [result]},
                 "parent_tool_use_id": None, "session_id": "0b6e2c1a-5d2e",
                 "uuid": secrets.token_hex(8)})  # fmt: skip


def result(text: str, cost: float, turns: int) -> str:
    """A cycle's ``result`` message."""
    return line({
        "type": "result", "subtype": "success", "is_error": False, "duration_ms": 1185000,
        "duration_api_ms": 902000, "num_turns": turns, "result": text,
        "session_id": "0b6e2c1a-5d2e", "total_cost_usd": cost,
        "usage": {"input_tokens": 310, "output_tokens": 21877,
                  "cache_read_input_tokens": 3120044, "cache_creation_input_tokens": 160233},
        "permission_denials": [], "uuid": secrets.token_hex(8),
    })  # fmt: skip


def init(cwd: Path) -> str:
    """A cycle's ``system`` ``init`` message."""
    return line({
        "type": "system", "subtype": "init", "cwd": str(cwd), "session_id": "0b6e2c1a-5d2e",
        "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "WebFetch",
                  "TaskCreate", "TaskGet", "TaskUpdate", "TaskList"],
        "mcp_servers": [], "model": "claude-opus-4-6", "permissionMode": "bypassPermissions",
        "apiKeySource": "none", "claude_code_version": "2.1.3", "uuid": secrets.token_hex(8),
    })  # fmt: skip


def running_stream(project: Path, story: str) -> str:
    """A worker in its second cycle of ten: t1 done and paid for, t2 under way."""
    worktree = project / ".saga" / "worktrees" / story
    login = str(worktree / "src/auth/login.ts")
    return "".join([
        worker("pipeline_start", "2026-12-07T09:12:03.481Z", storyId=story),
        worker("pipeline_step", "2026-12-07T09:12:04.902Z", step=1,
               message=f"Created worktree at {worktree}"),
        worker("pipeline_step", "2026-12-07T09:12:09.117Z", step=2,
               message="PR exists: https://github.com/me/proj/pull/42"),
        worker("cycle_start", "2026-12-07T09:12:09.240Z", cycle=1, maxCycles=10),
        init(worktree),
        assistant({"type": "text", "text": "Starting with t1: the login form's validation."}),
        assistant(tool_use("TaskUpdate", taskId="t1", status="in_progress")),
        tool_result("Updated task #t1 status"),
        assistant(tool_use("Read", file_path=login)),
        tool_result("export function login(form: LoginForm) {\n  return api.post(form);\n}\n"),
        assistant(tool_use("Bash", command=TEST_COMMAND, description="Run the login tests")),
        tool_result("FAIL src/auth/login.test.ts\n  ✕ rejects an empty password", is_error=True),
        assistant({"type": "text", "text": "An empty password gets through: adding the guard."}),
        assistant(tool_use("Edit", file_path=login, old_string="return", new_string="if")),
        tool_result(f"The file {login} has been updated."),
        assistant(tool_use("Bash", command="npx vitest run src/auth")),
        tool_result("✓ src/auth/login.test.ts (9 tests) 412ms\nTest Files  1 passed (1)"),
        assistant(tool_use("TaskUpdate", taskId="t1", status="completed")),
        tool_result("Updated task #t1 status"),
        result("Completed t1 (the login form's validation), committed and pushed.", 2.87, 31),
        worker("cycle_end", "2026-12-07T09:31:55.006Z", cycle=1, exitCode=0),
        worker("cycle_start", "2026-12-07T09:31:55.120Z", cycle=2, maxCycles=10),
        init(worktree),
        assistant({"type": "text", "text": "Next, t2: remember the user for 30 days."}),
        assistant(tool_use("TaskUpdate", taskId="t2", status="in_progress")),
        tool_result("Updated task #t2 status"),
        assistant(tool_use("Grep", pattern="rememberMe", path=str(worktree / "src"))),
        tool_result("src/auth/session.ts:12:  rememberMe?: boolean;"),
    ])  # fmt: skip


def incomplete_stream(project: Path, story: str) -> str:
    """A worker whose ten cycles ran out (only the last cycle's messages, for brevity)."""
    worktree = project / ".saga" / "worktrees" / story
    return "".join([
        worker("pipeline_start", "2026-12-07T07:01:10.002Z", storyId=story),
        worker("pipeline_step", "2026-12-07T07:01:11.400Z", step=1,
               message=f"Worktree exists at {worktree}"),
        worker("pipeline_step", "2026-12-07T07:01:15.870Z", step=2,
               message="Created draft PR: https://github.com/me/proj/pull/43"),
        worker("cycle_start", "2026-12-07T07:55:02.113Z", cycle=10, maxCycles=10),
        init(worktree),
        assistant(tool_use("Bash", command="pytest tests/test_export.py -q")),
        tool_result("1 failed, 12 passed", is_error=True),
        result(SUMMARY, cost=6.42, turns=64),
        worker("cycle_end", "2026-12-07T08:02:40.551Z", cycle=10, exitCode=0),
        worker("pipeline_end", "2026-12-07T08:02:41.002Z", storyId=story, status="incomplete",
               exitCode=2, cycles=10, elapsedMinutes=61.2),
    ])  # fmt: skip


@dataclass
class Lab:
    """JupyterLab watching two v4 workers on its own tmux socket and output directory."""

    root: Path
    args: list[str]
    tmux: Server
    running: str
    ended: str
    output_dir: Path
    jupyter: JupyterProcess | None = None

    def start(self, previous: JupyterProcess | None = None) -> None:
        """Start JupyterLab; given the previous one (stopped), on its port with its token."""
        self.jupyter = JupyterProcess(
            self.root,
            *self.args,
            app="lab",
            token=previous.token if previous else None,
            port=previous.port if previous else None,
        )

    def url(self, path: str = "lab") -> str:
        """JupyterLab's URL with the token and the flag that opens the SAGA panel."""
        assert self.jupyter is not None
        return f"{self.jupyter.url}{path}?token={self.jupyter.token}&{PANEL_FLAG}"

    def output(self, name: str) -> Path:
        """A worker's messages file."""
        return self.output_dir / f"{name}.jsonl"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The two workers' files, the running one's tmux session, and JupyterLab."""
    tmp = tmp_path_factory.mktemp("lab-v4")
    output_dir, root, project = tmp / "sessions", tmp / "root", PROJECT
    assert not project.exists(), f"{project} exists: the workers' project would be known"
    output_dir.mkdir()
    root.mkdir()
    suffix = int(time.time())  # SAGA's skill names sessions with `date +%s`
    running = f"saga-story-auth-login-form-{suffix}"
    ended = f"saga-story-billing-csv-export-{suffix - 3700}"
    (output_dir / f"{running}.jsonl").write_text(running_stream(project, "auth-login-form"))
    (output_dir / f"{ended}.jsonl").write_text(incomplete_stream(project, "billing-csv-export"))
    # Module scope, so not libtmux's function-scoped ``server`` fixture; its naming, though.
    tmux = Server(socket_name=f"libtmux_test_saga_{secrets.token_hex(4)}")
    tmux.cmd("new-session", "-d", "-s", running, "sleep 600")
    settings = lab_settings(tmp / "lab-settings", QUIET_LAB)
    args = [
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={tmux.socket_name}",
        f"--SagaJupyterApp.state_file={tmp / 'state.json'}",
        "--SagaJupyterApp.poll_interval=0.5",
        f"--SagaJupyterApp.initial_log_bytes={INITIAL_LOG_BYTES}",
        "--SagaJupyterApp.allow_control=True",  # a worker stopped from here ends STOPPED
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
    ]
    lab = Lab(root, args, tmux, running, ended, output_dir)
    try:
        lab.start()
        yield lab
    finally:
        if lab.jupyter is not None:
            lab.jupyter.stop()
        if tmux.is_alive():
            tmux.kill()


def open_panel(page: Page, lab: Lab) -> Locator:
    """Open JupyterLab with the SAGA panel; the panel."""
    page.goto(lab.url())
    panel = page.locator("#saga-jupyter-panel")
    expect(panel).to_be_visible(timeout=LOAD_MS)
    return panel


def row(panel: Locator, name: str) -> Locator:
    """A worker's row in the "no epic" group (its project is not known)."""
    return panel.locator(f'[data-no-epic="true"] .jp-SagaPanel-row[data-name="{name}"]')


def open_log(page: Page, panel: Locator, name: str) -> tuple[Locator, Locator]:
    """Click a worker's row; its log tab (toolbar and content), and the content."""
    row(panel, name).click()
    tab = page.locator(f"#saga-log-{name}")
    view = tab.locator(f'.jp-SagaLog[data-session="{name}"]')
    expect(view).to_be_visible(timeout=LIVE_MS)
    return tab, view


def text_of(view: Locator) -> str:
    """The text a log tab holds (what it drew in its terminal)."""
    return str(view.evaluate("node => node.sagaLogText()"))


def end_offset(view: Locator) -> int:
    """The byte offset in the file the tab's stream has got to (-1 before its first frame)."""
    return int(view.get_attribute("data-offset") or -1)


def screenshot(page: Page, name: str) -> None:
    """Save a screenshot for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name)


def test_the_panel_lists_v4_workers_by_story_with_cycle_cost_and_outcome(
    lab: Lab, page: Page
) -> None:
    panel = open_panel(page, lab)
    group = panel.locator('[data-no-epic="true"]')
    expect(group.locator(".jp-SagaPanel-epicName")).to_have_text("no epic", timeout=LIVE_MS)
    expect(panel.locator(".jp-SagaPanel-epicName")).to_have_text(["no epic"])  # never "null"
    previews = panel.locator(".jp-SagaPanel-preview").all_text_contents()
    assert not any('{"type":' in preview for preview in previews), previews  # no raw JSON

    # The running one: its story as the title, running, in its second cycle of ten.
    running = row(panel, lab.running)
    expect(running.locator(".jp-SagaPanel-story")).to_have_text("auth-login-form")
    expect(running.locator(".jp-SagaPanel-badge[data-status]")).to_have_text("running")
    expect(running.locator(".jp-SagaPanel-cycle")).to_have_text("cycle 2/10", timeout=LIVE_MS)
    expect(running.locator(".jp-SagaPanel-cost")).to_have_text("$2.87")
    expect(running.locator(".jp-SagaPanel-tasks")).to_have_text("tasks 1 done")  # of unknown
    expect(running.locator(".jp-SagaPanel-badge[data-outcome]")).to_have_count(0)

    # The one whose cycles ran out: completed, "incomplete", its cost, its summary on hover.
    ended = row(panel, lab.ended)
    expect(ended.locator(".jp-SagaPanel-story")).to_have_text("billing-csv-export")
    expect(ended.locator(".jp-SagaPanel-badge[data-status]")).to_have_text("completed")
    badge = ended.locator('.jp-SagaPanel-badge[data-outcome="INCOMPLETE"]')
    expect(badge).to_have_text("incomplete", timeout=LIVE_MS)
    expect(badge).to_have_attribute("title", re.compile(re.escape(SUMMARY)))
    expect(ended.locator(".jp-SagaPanel-cost")).to_have_text("$6.42")
    expect(ended.locator(".jp-SagaPanel-cycle")).to_have_count(0)  # only while running

    # The badge reads in its own colour: white text on a dark enough background.
    colours = badge.evaluate(
        "node => [getComputedStyle(node).color, getComputedStyle(node).backgroundColor]"
    )
    assert colours[0] == "rgb(255, 255, 255)" and colours[1] != "rgba(0, 0, 0, 0)", colours
    expect(page.locator(".jp-SagaStatus")).to_have_text("SAGA 1 running · 1 done")
    screenshot(page, "lab-v4-panel.png")


def test_a_worker_of_a_known_project_is_listed_under_its_epic(
    lab: Lab, page: Page, tmp_path: Path
) -> None:
    project, story_id = tmp_path / "app", "auth-remember-me"
    epic(project, "auth", [story_id])
    story(project, story_id, "auth", {"t1": "completed", "t2": "in_progress", "t3": "pending"})
    worktree = project / ".saga" / "worktrees" / story_id
    name = f"saga-story-{story_id}-{int(time.time())}"
    panel = open_panel(page, lab)
    lab.tmux.cmd("new-session", "-d", "-s", name, "sleep 600")
    lab.output(name).write_text(
        worker("pipeline_start", "2026-12-07T09:40:00.000Z", storyId=story_id)
        + worker("pipeline_step", "2026-12-07T09:40:01.000Z", step=1,
                 message=f"Worktree exists at {worktree}")
        + worker("cycle_start", "2026-12-07T09:40:02.000Z", cycle=1, maxCycles=10)
        + assistant(tool_use("TaskUpdate", taskId="t1", status="completed"))
        + assistant(tool_use("TaskUpdate", taskId="t2", status="in_progress"))
    )  # fmt: skip
    # Its project is named by its worktree: under its story's epic, tasks of the story's three.
    known = panel.locator(f'[data-epic="auth"] .jp-SagaPanel-row[data-name="{name}"]')
    expect(known.locator(".jp-SagaPanel-tasks")).to_have_text("tasks 1/3", timeout=LIVE_MS)
    expect(known.locator(".jp-SagaPanel-cycle")).to_have_text("cycle 1/10")
    expect(panel.locator(".jp-SagaPanel-epicName")).to_have_text(["auth", "no epic"])
    kill_worker(lab.tmux, name)


def test_a_log_tab_shows_the_transcript_live_with_a_raw_toggle(lab: Lab, page: Page) -> None:
    path = lab.output(lab.running)
    panel = open_panel(page, lab)
    tab, view = open_log(page, panel, lab.running)
    expect(view).to_have_attribute("data-view", "transcript")

    # The transcript of the file's tail: the second cycle, no JSON.
    rows = view.locator(".xterm-rows")
    expect(rows).to_contain_text("Next, t2: remember the user for 30 days.", timeout=LIVE_MS)
    wait_until(lambda: end_offset(view) == path.stat().st_size, timeout=LIVE_MS / 1000)
    text = text_of(view)
    assert "cycle 2/10" in text and "Grep" in text and "rememberMe" in text, text
    assert "pipeline started" not in text and TEST_COMMAND not in text, text
    assert '{"type":' not in text, text

    # Load earlier: the whole transcript, from the pipeline's start, each message once.
    earlier = tab.locator(".jp-SagaLog-loadEarlier")
    expect(earlier).to_be_enabled()
    earlier.click()
    expect(rows).to_contain_text("pipeline started", timeout=LIVE_MS)
    expect(view).to_have_attribute("data-start-offset", "0")
    expect(earlier).to_be_disabled()
    wait_until(lambda: end_offset(view) == path.stat().st_size, timeout=LIVE_MS / 1000)
    text = text_of(view)
    assert "Bash" in text and text.count(TEST_COMMAND) == 1, text  # a tool call: name, command
    assert text.count("Starting with t1: the login form's validation.") == 1, text
    assert text.count("Next, t2: remember the user for 30 days.") == 1, text
    assert '{"type":' not in text, text

    # A message the worker appends shows up, rendered, once.
    marker = f"Now t2: remember-me cookie {secrets.token_hex(4)}."
    with path.open("a", encoding="utf-8") as out:
        out.write(assistant({"type": "text", "text": marker}))
    expect(rows).to_contain_text(marker, timeout=LIVE_MS)
    wait_until(lambda: end_offset(view) == path.stat().st_size, timeout=LIVE_MS / 1000)
    assert text_of(view).count(marker) == 1
    expect(tab.locator(".jp-SagaLog-state")).to_have_text("live")
    # docs/transcript.png: the size of docs/panel.png, once the tab fits the smaller page.
    page.set_viewport_size({"width": 1200, "height": 700})
    expect(tab.locator(".jp-SagaLog-state")).to_be_in_viewport()
    screenshot(page, "lab-v4-transcript.png")
    page.set_viewport_size({"width": 1400, "height": 1100})

    # Raw: the same window as the worker wrote it, every byte of the file from its start.
    tab.locator('.jp-SagaLog-viewButton[data-view="raw"]').click()
    expect(view).to_have_attribute("data-view", "raw")
    expect(tab.locator('.jp-SagaLog-viewButton[data-view="raw"]')).to_have_attribute(
        "aria-pressed", "true"
    )

    def holds_the_raw_file() -> bool:
        start = int(view.get_attribute("data-start-offset") or -1)
        data = path.read_bytes()
        held = text_of(view)
        return start >= 0 and end_offset(view) == len(data) and held == data[start:].decode()

    wait_until(holds_the_raw_file, timeout=LIVE_MS / 1000, interval=0.2)
    expect(rows).to_contain_text('{"type":"assistant"')  # its last line, on screen

    # Back to the transcript, which goes on following the file.
    tab.locator('.jp-SagaLog-viewButton[data-view="transcript"]').click()
    expect(view).to_have_attribute("data-view", "transcript")
    after = f"Then t3: the lockout after five tries {secrets.token_hex(4)}."
    with path.open("a", encoding="utf-8") as out:
        out.write(assistant({"type": "text", "text": after}))
    expect(rows).to_contain_text(after, timeout=LIVE_MS)
    wait_until(lambda: end_offset(view) == path.stat().st_size, timeout=LIVE_MS / 1000)
    text = text_of(view)
    assert text.count(after) == 1 and text.count(marker) == 1 and '{"type":' not in text, text


def test_a_transcript_tab_resumes_after_a_server_restart(lab: Lab, page: Page) -> None:
    path = lab.output(lab.running)
    panel = open_panel(page, lab)
    _, view = open_log(page, panel, lab.running)
    expect(view).to_have_attribute("data-view", "transcript")
    wait_until(lambda: end_offset(view) == path.stat().st_size, timeout=LIVE_MS / 1000)
    node = view.element_handle()  # the same node after the restart: no reload, no new tab

    previous = lab.jupyter
    assert previous is not None
    previous.stop()
    expect(page.locator(".jp-SagaStatus")).to_have_class(re.compile("jp-mod-warning"))
    down = f"Written while the server was down {secrets.token_hex(4)}."
    with path.open("a", encoding="utf-8") as out:
        out.write(assistant({"type": "text", "text": down}))
    lab.start(previous)
    up = f"Written after the restart {secrets.token_hex(4)}."
    with path.open("a", encoding="utf-8") as out:
        out.write(assistant({"type": "text", "text": up}))

    # Resumed from its byte offset: each message once, none missing, still a transcript.
    def resumed() -> bool:
        offset = int(node.get_attribute("data-offset") or -1)
        return offset == path.stat().st_size and up in str(node.evaluate("n => n.sagaLogText()"))

    wait_until(resumed, timeout=30, interval=0.2)
    text = str(node.evaluate("n => n.sagaLogText()"))
    assert text.count(down) == 1 and text.count(up) == 1, text
    assert '{"type":' not in text, text  # a transcript still, not the raw messages
    expect(view.locator(".xterm-rows")).to_contain_text(up, timeout=LIVE_MS)


def test_a_notification_when_a_v4_worker_ends_with_its_summary(lab: Lab, page: Page) -> None:
    panel = open_panel(page, lab)
    expect(row(panel, lab.ended)).to_be_visible(timeout=LIVE_MS)
    toasts = page.locator(".Toastify__toast")
    expect(toasts).to_have_count(0)  # those that ended before the page opened: not news
    name = f"saga-story-search-ranking-{int(time.time())}"
    summary = f"Ranking by recency done, tests green {secrets.token_hex(3)}."
    project = PROJECT
    lab.output(name).write_text(
        worker("pipeline_start", "2026-12-07T08:00:00.000Z", storyId="search-ranking")
        + worker("cycle_start", "2026-12-07T08:00:01.000Z", cycle=1, maxCycles=10)
        + init(project / ".saga" / "worktrees" / "search-ranking")
        + result(summary, cost=1.25, turns=12)
        + worker("cycle_end", "2026-12-07T08:20:00.000Z", cycle=1, exitCode=0)
        + worker("pipeline_end", "2026-12-07T08:20:01.000Z", storyId="search-ranking",
                 status="completed", exitCode=0, cycles=1, elapsedMinutes=20.0)
    )  # fmt: skip
    toast = toasts.filter(has_text=name)
    expect(toast).to_contain_text(f"search-ranking finished: {summary}", timeout=LIVE_MS)
    expect(toast).not_to_contain_text("null")
    badge = row(panel, name).locator('.jp-SagaPanel-badge[data-outcome="FINISH"]')
    expect(badge).to_have_text("finished")


def v3_result(status: str, summary: str, blocker: str | None = None) -> str:
    """A seeds' (v3) worker's output ending in its result JSON."""
    ending = {"status": status, "summary": summary, "cycles": 3, "blocker": blocker}
    return (
        "Starting story implementation...\n--- Worker 1 started ---\n[Tool: Read]\n"
        f"--- Worker 1 result: {status} ---\n{json.dumps(ending, indent=2)}\n"
    )


def contrast(text: str, background: str) -> float:
    """WCAG contrast ratio of CSS ``rgb()``/``rgba()`` text over an opaque background."""
    *ink, alpha = [float(c) for c in re.findall(r"[\d.]+", text)] + [1.0]
    paper = [float(c) for c in re.findall(r"[\d.]+", background)][:3]
    seen = [alpha * c + (1 - alpha) * p for c, p in zip(ink[:3], paper, strict=True)]

    def luminance(rgb: list[float]) -> float:
        linear = [c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4
                  for c in rgb]  # fmt: skip
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(seen), luminance(paper)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_every_outcome_has_its_word_and_colour_readable_in_both_themes(
    lab: Lab, page: Page
) -> None:
    suffix = int(time.time())
    for status in ("BLOCKED", "TIMEOUT", "MAX_CYCLES"):  # the seeds' own
        name = f"saga__outcomes__{status.lower().replace('_', '-')}__{suffix}"
        why = f"{status} because {secrets.token_hex(3)}"
        (lab.output_dir / f"{name}.out").write_text(v3_result(status, why, blocker=why))
    finished = f"saga-story-outcome-finished-{suffix}"
    lab.output(finished).write_text(
        worker("pipeline_start", "2026-12-07T08:00:00.000Z", storyId="outcome-finished")
        + result("All done.", cost=0.5, turns=3)
        + worker("pipeline_end", "2026-12-07T08:09:00.000Z", storyId="outcome-finished",
                 status="completed", exitCode=0, cycles=1, elapsedMinutes=9.0)
    )  # fmt: skip
    failing, stopping = f"saga-story-outcome-failed-{suffix}", f"saga-story-outcome-stop-{suffix}"
    panel = open_panel(page, lab)
    fatal = f"Error: No task files found in {PROJECT}/.saga/stories/outcome-failed"
    for name in (failing, stopping):  # seen running, then gone without a pipeline_end
        # As SAGA's worker does: its session, its first message, why it fails on its pane only.
        lab.tmux.cmd("new-session", "-d", "-s", name, f"echo '{fatal}'; sleep 600")
        lab.output(name).write_text(worker("pipeline_start", "2026-12-07T08:00:00.000Z"))
        expect(row(panel, name).locator("[data-status]")).to_have_text("running", timeout=LIVE_MS)
    kept = pane_path(lab.output_dir, failing)  # the server keeps its pane: wait for the error
    wait_until(lambda: kept.exists() and fatal in kept.read_text(errors="replace"), timeout=10)
    kill_worker(lab.tmux, failing)
    assert lab.jupyter is not None
    lab.jupyter.request("POST", f"api/saga/sessions/{stopping}/stop")

    words = {"FINISH": "finished", "INCOMPLETE": "incomplete", "ERROR": "failed",
             "STOPPED": "stopped", "BLOCKED": "blocked", "TIMEOUT": "timed out",
             "MAX_CYCLES": "out of cycles"}  # fmt: skip
    badges = panel.locator(".jp-SagaPanel-badge[data-outcome]")
    for outcome, word in words.items():
        badge = panel.locator(f'.jp-SagaPanel-badge[data-outcome="{outcome}"]').first
        expect(badge).to_have_text(word, timeout=LIVE_MS)
    blocked = panel.locator('.jp-SagaPanel-badge[data-outcome="BLOCKED"]')
    expect(blocked).to_have_attribute("title", re.compile("BLOCKED because"))
    failed = row(panel, failing).locator('.jp-SagaPanel-badge[data-outcome="ERROR"]')
    expect(failed).to_have_attribute("title", re.compile(re.escape(fatal)), timeout=LIVE_MS)

    def colours() -> dict[str, tuple[str, str]]:
        read = badges.evaluate_all(
            "nodes => nodes.map(node => [node.dataset.outcome,"
            " getComputedStyle(node).color, getComputedStyle(node).backgroundColor])"
        )
        return {outcome: (text, back) for outcome, text, back in read}

    light = colours()
    for theme in ("JupyterLab Dark", "JupyterLab Light"):
        seen = colours()
        assert set(seen) >= set(words), seen
        assert len({back for _, back in seen.values()}) == len(seen), seen  # one colour each
        for outcome, (text, back) in seen.items():
            assert contrast(text, back) >= 4.5, (outcome, text, back)
        assert seen == light, "the badges read alike in every theme"
        page.get_by_role("menuitem", name="Settings", exact=True).click()
        page.locator(".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Theme'))").click()
        page.locator(f".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('{theme}'))").click()
        dark = "false" if theme.endswith("Dark") else "true"
        expect(page.locator("body")).to_have_attribute("data-jp-theme-light", dark)
        expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=LIVE_MS)
        screenshot(page, f"lab-v4-outcomes-{'dark' if dark == 'false' else 'light'}.png")
