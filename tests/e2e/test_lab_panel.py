"""The JupyterLab extension in a real browser: the SAGA panel, log tabs, status bar, commands.

One JupyterLab process (control allowed) watches demo workers on a private tmux socket; each
test drives headless Chromium as a person would and checks what the page shows against tmux
and the output files themselves. A log tab's text is read from its node (``sagaLogText()``,
with the byte range it covers in ``data-start-offset`` / ``data-offset``), what xterm drew from
its rows. Screenshots land in tests/e2e/screenshots/ (gitignored).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from libtmux.server import Server
from playwright.sync_api import ElementHandle, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from saga_jupyter.__main__ import DASHBOARD, PANEL_FLAG
from saga_jupyter.core.saga.names import parse_name
from saga_jupyter.demo import LONG_RUNNING, DemoWorker, start_demo, stop_demo
from tests.helpers import (
    QUIET_LAB,
    JupyterProcess,
    hanging_tmux,
    kill_worker,
    lab_settings,
    wait_until,
)

SCREENSHOTS = Path(__file__).parent / "screenshots"
NOTEBOOK = Path(__file__).parents[2] / "saga_jupyter" / "notebooks" / DASHBOARD  # scripts/run
LOAD_MS = 90_000  # a busy two-core machine takes ~15 s to load JupyterLab's page
LIVE_MS = 20_000  # a scan every 0.5 s; a loaded machine is slower
# The first worker ends while JupyterLab starts: a completed row from the outset. Each of the
# others is ended, or followed, by one test (see the ROLE_ indexes).
DURATIONS = [3.0, LONG_RUNNING, LONG_RUNNING, LONG_RUNNING, LONG_RUNNING]
ROLE_ENDS, ROLE_STREAMED, ROLE_RESTART, ROLE_CONTROLLED = 1, 2, 3, 4
INITIAL_LOG_BYTES = 1024  # small: a tab opens on the file's tail, "Load earlier" has work


@dataclass
class Lab:
    """JupyterLab watching demo workers on its own tmux socket and output directory."""

    root: Path
    args: list[str]
    tmux: Server
    workers: list[DemoWorker]
    jupyter: JupyterProcess = field(init=False)

    def start(self, previous: JupyterProcess | None = None) -> None:
        """Start JupyterLab; given the previous one (stopped), on its port with its token."""
        self.jupyter = JupyterProcess(
            self.root,
            *self.args,
            app="lab",
            token=previous.token if previous else None,
            port=previous.port if previous else None,
        )

    def url(self, path: str, *query: str) -> str:
        """A page's URL with the token (and ``query`` flags)."""
        return f"{self.jupyter.url}{path}?{'&'.join([f'token={self.jupyter.token}', *query])}"

    def counts(self) -> str:
        """What the status bar should say, from tmux itself."""
        running = sum(self.tmux.has_session(worker.name) for worker in self.workers)
        return f"SAGA {running} running · {len(self.workers) - running} done"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Demo workers and JupyterLab, shared by the tests of this module (starting both is slow)."""
    tmp = tmp_path_factory.mktemp("lab-panel")
    output_dir, root = tmp / "sessions", tmp / "root"
    root.mkdir()
    settings = lab_settings(tmp / "lab-settings", QUIET_LAB)
    # Module scope, so not libtmux's function-scoped ``server`` fixture; its naming, though.
    tmux = Server(socket_name=f"libtmux_test_saga_{secrets.token_hex(4)}")
    workers = start_demo(output_dir, tmux.socket_name, len(DURATIONS), DURATIONS)
    args = [
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={tmux.socket_name}",
        f"--SagaJupyterApp.state_file={tmp / 'state.json'}",
        "--SagaJupyterApp.poll_interval=0.5",
        f"--SagaJupyterApp.initial_log_bytes={INITIAL_LOG_BYTES}",
        "--SagaJupyterApp.allow_control=True",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
    ]
    lab = Lab(root, args, tmux, workers)
    try:
        lab.start()
        yield lab
    finally:
        if hasattr(lab, "jupyter"):
            lab.jupyter.stop()
        stop_demo(workers, tmux.socket_name)
        if tmux.is_alive():
            tmux.kill()


def open_lab(page: Page, lab: Lab, path: str = "lab") -> Locator:
    """Open JupyterLab with the ``saga-panel`` flag, which opens the panel; the panel."""
    page.goto(lab.url(path, PANEL_FLAG))
    panel = page.locator("#saga-jupyter-panel")
    expect(panel).to_be_visible(timeout=LOAD_MS)
    return panel


def row(panel: Locator, worker: DemoWorker) -> Locator:
    """A worker's row, in its epic's group."""
    epic = parse_name(worker.name).epic
    return panel.locator(f'[data-epic="{epic}"] .jp-SagaPanel-row[data-name="{worker.name}"]')


def open_log(page: Page, panel: Locator, worker: DemoWorker) -> tuple[Locator, Locator]:
    """Click a worker's row; its log tab (toolbar and content), and the content."""
    row(panel, worker).click()
    tab = page.locator(f"#saga-log-{worker.name}")  # other tabs may be open: the layout restored
    view = tab.locator(f'.jp-SagaLog[data-session="{worker.name}"]')
    expect(view).to_be_visible(timeout=LIVE_MS)
    return tab, view


def held(view: Locator | ElementHandle) -> tuple[int, int, str]:
    """What a log tab holds: its byte range in the file and the text."""
    start, end, text = view.evaluate(
        "node => [node.dataset.startOffset, node.dataset.offset, node.sagaLogText()]"
    )
    return int(start or -1), int(end or -1), text


def holds_the_file(view: Locator | ElementHandle, path: Path, start: int | None = None) -> bool:
    """Whether the tab holds exactly the file's bytes from ``start`` (its own if not given) to
    where its stream has got (the worker may be writing on): every byte once, none missing.
    """
    first, end, text = held(view)
    data = path.read_bytes()
    if end < 0 or (start is not None and first != start):
        return False
    return text == data[first:end].decode()


def holds_all_of(view: Locator | ElementHandle, path: Path, *markers: str) -> bool:
    """Whether the tab holds the file's text through its end, ``markers`` included."""
    first, end, text = held(view)
    data = path.read_bytes()
    return end == len(data) and text == data[first:].decode() and all(m in text for m in markers)


def append_line(path: Path, text: str) -> None:
    """Append a line of our own to a worker's output, ANSI bold magenta."""
    with path.open("a", encoding="utf-8") as out:
        out.write(f"\n\x1b[1;35m{text}\x1b[0m\n")


def menu_item(page: Page, label: str) -> Locator:
    """An item of the open menus by its exact label (submenus have no ARIA role to find)."""
    return page.locator(f".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('{label}'))")


def palette_labels(page: Page, query: str) -> list[str]:
    """The command palette's items for ``query`` (Ctrl+Shift+C opens it, Escape closes it).

    The palette closes when it loses the focus, as it does to a log tab the workspace restores
    while the page settles: then it is opened again, a few times at most.
    """
    search = page.locator(".lm-CommandPalette-input")
    items = page.locator(".lm-CommandPalette-item .lm-CommandPalette-itemLabel")
    for _ in range(5):
        page.keyboard.press("Control+Shift+C")
        try:
            search.fill(query, timeout=3000)
            expect(items.first).to_be_visible(timeout=3000)
            labels = items.all_text_contents()
        except PlaywrightTimeoutError:
            continue
        search.press("Escape")
        return labels
    raise AssertionError("the command palette did not stay open")


def screenshot(page: Page, name: str) -> None:
    """Save a screenshot for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name)


def test_panel_lists_workers_and_the_status_bar_counts_them(lab: Lab, page: Page) -> None:
    # As scripts/run opens it: the dashboard notebook, and the panel beside it (the URL flag).
    shutil.copy(NOTEBOOK, lab.root / NOTEBOOK.name)
    panel = open_lab(page, lab, f"lab/tree/{NOTEBOOK.name}")
    expect(page.locator(".jp-NotebookPanel")).to_be_visible(timeout=LOAD_MS)
    for worker in lab.workers:
        story = parse_name(worker.name).story
        expect(row(panel, worker).locator(".jp-SagaPanel-story")).to_have_text(
            story, timeout=LIVE_MS
        )
    status_bar = page.locator(".jp-SagaStatus")
    wait_until(lambda: not lab.tmux.has_session(lab.workers[0].name), timeout=30)
    before = lab.counts()
    expect(status_bar).to_have_text(before, timeout=LIVE_MS)
    expect(row(panel, lab.workers[0]).locator(".jp-SagaPanel-badge[data-status]")).to_have_text(
        "completed"
    )

    # A worker ends: its badge turns completed and the status bar counts one more done.
    ending = lab.workers[ROLE_ENDS]
    badge = row(panel, ending).locator(".jp-SagaPanel-badge[data-status]")
    expect(badge).to_have_text("running")
    duration = row(panel, ending).locator(".jp-SagaPanel-duration")
    ticking = duration.text_content()
    expect(duration).not_to_have_text(ticking or "", timeout=5_000)  # a running one ticks
    kill_worker(lab.tmux, ending.name)
    after = lab.counts()
    assert after != before
    expect(badge).to_have_text("completed", timeout=LIVE_MS)
    expect(status_bar).to_have_text(after, timeout=LIVE_MS)
    expect(status_bar).not_to_have_class(re.compile("jp-mod-warning"))

    # The status filter: completed sessions hidden, then shown again.
    completed = panel.locator('.jp-SagaPanel-filter[data-status="completed"]')
    completed.click()
    expect(completed).to_have_attribute("aria-pressed", "false")
    expect(row(panel, ending)).to_have_count(0)
    expect(row(panel, lab.workers[ROLE_STREAMED])).to_be_visible()
    completed.click()
    expect(row(panel, ending)).to_be_visible()
    screenshot(page, "lab-panel-light.png")

    # Clicking the status bar item opens the panel once another sidebar panel hid it.
    page.locator(".jp-SideBar [data-id='filebrowser']").click()
    expect(panel).to_be_hidden()
    status_bar.click()
    expect(panel).to_be_visible()


def test_a_row_opens_a_log_tab_streaming_the_file(lab: Lab, page: Page) -> None:
    worker = lab.workers[ROLE_STREAMED]
    path = worker.output_file
    append_line(path, "filler " * 300)  # more than INITIAL_LOG_BYTES, whatever the worker wrote
    panel = open_lab(page, lab)
    tab, view = open_log(page, panel, worker)

    # It opens on the file's tail (initial_log_bytes) and loads the rest on demand.
    wait_until(lambda: holds_the_file(view, path), timeout=LIVE_MS / 1000, interval=0.2)
    start, _, _ = held(view)
    assert start > 0, "the first frame holds the tail, not the whole file"
    tab.locator(".jp-SagaLog-loadEarlier").click()
    wait_until(lambda: holds_the_file(view, path, start=0), timeout=10, interval=0.2)

    # A line written to the file shows up in the terminal, and search finds it.
    marker = f"appended-by-the-lab-test-{secrets.token_hex(4)}"
    append_line(path, marker)
    rows = view.locator(".xterm-rows")
    expect(rows).to_contain_text(marker, timeout=LIVE_MS)
    search = tab.locator(".jp-SagaLog-search")
    search.fill(marker)
    expect(tab.locator(".jp-SagaLog-matches")).to_have_text("1 of 1", timeout=5_000)
    search.press("Escape")
    screenshot(page, "lab-log-light.png")

    # Paused, new output is held (the stream has it, the screen does not); Follow shows it.
    follow = tab.locator(".jp-SagaLog-follow")
    follow.click()
    expect(view).to_have_attribute("data-following", "false")
    held_marker = f"held-while-paused-{secrets.token_hex(4)}"
    append_line(path, held_marker)
    wait_until(lambda: held_marker in held(view)[2], timeout=LIVE_MS / 1000, interval=0.2)
    expect(follow).to_have_text(re.compile(r"^Paused · \d+ new characters$"))
    expect(rows).not_to_contain_text(held_marker)
    follow.click()
    expect(rows).to_contain_text(held_marker, timeout=5_000)

    # The worker ends: the tab says completed and holds the whole file, every byte once.
    kill_worker(lab.tmux, worker.name)
    expect(tab.locator(".jp-SagaLog-state")).to_have_text("completed", timeout=LIVE_MS)
    expect(view).to_have_attribute("data-complete", "true")
    assert holds_all_of(view, path, marker, held_marker)
    assert held(view)[0] == 0
    expect(rows).to_contain_text("session completed")

    # Dark theme: the panel and the tab follow (Settings > Theme), the terminal's colours too.
    page.get_by_role("menuitem", name="Settings", exact=True).click()
    menu_item(page, "Theme").click()  # a submenu
    menu_item(page, "JupyterLab Dark").click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=LIVE_MS)
    background = view.locator(".xterm-viewport")
    expect(background).to_have_css("background-color", re.compile(r"rgb\((\d\d?), \d+, \d+\)"))
    screenshot(page, "lab-log-dark.png")  # the panel beside it


def test_a_log_tab_resumes_after_a_server_restart(lab: Lab, page: Page) -> None:
    worker = lab.workers[ROLE_RESTART]
    path = worker.output_file
    panel = open_lab(page, lab)
    tab, view = open_log(page, panel, worker)
    wait_until(lambda: holds_the_file(view, path), timeout=LIVE_MS / 1000, interval=0.2)
    node = view.element_handle()  # the same node after the restart: no reload, no new tab

    previous = lab.jupyter
    previous.stop()
    # The tab notices: the status bar warns while the channel reconnects.
    expect(page.locator(".jp-SagaStatus")).to_have_class(re.compile("jp-mod-warning"))
    down = f"written-while-the-server-was-down-{secrets.token_hex(4)}"
    append_line(path, down)
    lab.start(previous)
    up = f"written-after-the-restart-{secrets.token_hex(4)}"
    append_line(path, up)

    # Resumed from its offset: the text equals the file, nothing missing, nothing twice.
    wait_until(lambda: holds_the_file(node, path) and up in held(node)[2], timeout=30, interval=0.2)
    assert node.evaluate("node => node.isConnected")
    first, _, text = held(node)
    assert text.count(down) == 1 and text.count(up) == 1
    assert holds_the_file(node, path, start=first)
    expect(view.locator(".xterm-rows")).to_contain_text(up, timeout=LIVE_MS)
    expect(tab.locator(".jp-SagaLog-state")).to_have_text("live")
    expect(page.locator(".jp-SagaStatus")).not_to_have_class(re.compile("jp-mod-warning"))


def test_attach_and_stop_from_the_context_menu(lab: Lab, page: Page) -> None:
    worker = lab.workers[ROLE_CONTROLLED]
    panel = open_lab(page, lab)
    target = row(panel, worker)
    expect(target.locator(".jp-SagaPanel-badge[data-status]")).to_have_text(
        "running", timeout=LIVE_MS
    )
    labels = palette_labels(page, "SAGA")  # allow_control is on: stop and attach are offered
    assert {"Stop a SAGA Worker…", "Attach to a SAGA Worker…"} <= set(labels), labels

    # Attach: after the confirmation, a JupyterLab terminal attached to the session opens.
    target.click(button="right")
    page.get_by_role("menuitem", name=re.compile("^Attach a Terminal to ")).click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(worker.name)
    dialog.get_by_role("button", name="Attach").click()
    expect(page.locator(".jp-Terminal")).to_be_visible(timeout=LIVE_MS)

    # Stop: cancelled first (nothing happens), then confirmed (the worker ends).
    for answer in ("Cancel", "Stop"):
        target.click(button="right")
        page.get_by_role("menuitem", name=re.compile("^Stop ")).click()
        page.locator(".jp-Dialog").get_by_role("button", name=answer).click()
        expect(page.locator(".jp-Dialog")).to_have_count(0)
        if answer == "Cancel":
            assert lab.tmux.has_session(worker.name)
    expect(target.locator(".jp-SagaPanel-badge[data-status]")).to_have_text(
        "completed", timeout=LIVE_MS
    )
    assert not lab.tmux.has_session(worker.name)


def test_notebook_7_shows_the_panel(lab: Lab, page: Page) -> None:
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    notebook = {"cells": [], "metadata": kernel, "nbformat": 4, "nbformat_minor": 5}
    (lab.root / "panel.ipynb").write_text(json.dumps(notebook))  # no "Select Kernel" dialog
    page.goto(lab.url("notebooks/panel.ipynb"))
    expect(page.locator(".jp-NotebookPanel")).to_be_visible(timeout=LOAD_MS)
    page.get_by_role("menuitem", name="View", exact=True).click()
    page.get_by_role("menuitem", name="Open the SAGA Panel", exact=True).click()
    panel = page.locator("#saga-jupyter-panel")
    expect(panel).to_be_visible(timeout=LIVE_MS)
    for worker in lab.workers:
        expect(row(panel, worker)).to_be_visible(timeout=LIVE_MS)
    # Notebook 7 has one main widget, the notebook: a log opens in the panel below it.
    worker = lab.workers[ROLE_RESTART]
    _, view = open_log(page, panel, worker)
    wait_until(lambda: holds_the_file(view, worker.output_file), timeout=LIVE_MS / 1000)
    screenshot(page, "notebook7-panel.png")


def test_empty_state_and_a_banner_when_tmux_hangs(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output_dir = tmp_path / "no-workers-yet"
    monkeypatch.setenv("PATH", f"{hanging_tmux(tmp_path)}:{Path(sys.executable).parent}")
    jupyter = JupyterProcess(
        tmp_path,
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.state_file={tmp_path / 'state.json'}",
        f"--LabApp.user_settings_dir={lab_settings(tmp_path / 'lab-settings', QUIET_LAB)}",
        app="lab",
    )
    try:
        page.goto(f"{jupyter.url}lab?token={jupyter.token}&{PANEL_FLAG}")
        panel = page.locator("#saga-jupyter-panel")
        expect(panel).to_be_visible(timeout=LOAD_MS)
        # Where workers would come from: the directory watched, and the session names.
        empty = panel.locator(".jp-SagaPanel-empty")
        expect(empty.locator(".jp-SagaPanel-outputDir")).to_have_text(str(output_dir))
        expect(empty).to_contain_text("saga__<epic>__<story>__<n>")
        # tmux does not answer: a banner says so, and the status bar turns to the warning colour.
        banner = panel.locator('.jp-SagaPanel-banner[data-kind="error"]')
        expect(banner).to_contain_text("tmux is unreachable", timeout=LIVE_MS)
        status_bar = page.locator(".jp-SagaStatus")
        expect(status_bar).to_have_text("SAGA 0 running · 0 done")
        expect(status_bar).to_have_class(re.compile("jp-mod-warning"))
        screenshot(page, "lab-panel-empty-tmux-unreachable.png")
        # allow_control is off: the palette offers the panel and logs, not stop or attach.
        labels = palette_labels(page, "SAGA")
        assert {"Open the SAGA Panel", "Open a SAGA Session Log…"} <= set(labels), labels
        assert not any(label.startswith(("Stop", "Attach")) for label in labels), labels
    finally:
        jupyter.stop()


def test_a_notification_when_a_worker_ends_blocked_with_a_button_to_its_log(
    lab: Lab, page: Page
) -> None:
    panel = open_lab(page, lab)
    expect(row(panel, lab.workers[0])).to_be_visible(timeout=LIVE_MS)
    toasts = page.locator(".Toastify__toast")
    expect(toasts).to_have_count(0)  # those that ended before the page opened: not news
    name = f"saga__notify__blocked-story__{secrets.randbelow(10**6)}"
    result = {"status": "BLOCKED", "summary": "stopped", "cycles": 1, "blocker": "which key?"}
    (lab.workers[0].output_file.parent / f"{name}.out").write_text(
        "Starting story implementation...\n--- Worker 1 started ---\n[Tool: Read]\n"
        "--- Worker 1 result: BLOCKED ---\n" + json.dumps(result, indent=2) + "\n"
    )
    toast = toasts.filter(has_text=name)
    expect(toast).to_contain_text("notify/blocked-story is blocked and waits for you: which key?",
                                  timeout=LIVE_MS)  # fmt: skip
    screenshot(page, "lab-notification.png")
    toast.get_by_role("button", name="Open log").click()
    view = page.locator(f'#saga-log-{name} .jp-SagaLog[data-session="{name}"]')
    expect(view).to_be_visible(timeout=LIVE_MS)
