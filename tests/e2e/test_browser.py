"""The dashboard notebook in a real browser: JupyterLab and Notebook 7 in headless Chromium.

One JupyterLab process (with the extension) and a handful of demo workers on a private tmux
socket serve both tests. A person's steps: open the notebook, Run > Run All Cells, look at the
table, click a row, watch its log grow, see its badge turn to completed when the worker ends.
Screenshots land in tests/e2e/screenshots/ (gitignored) for a human to look at.

The first impression is the README's first command, ``saga-jupyter demo``, opened as it prints
it on a laptop's screen: saved, trusted, no prompt, the dashboard in view once its cell ran, in
JupyterLab's light theme and then its dark one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from libtmux.server import Server
from playwright.sync_api import Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from saga_jupyter.demo import LONG_RUNNING, DemoWorker, start_demo, stop_demo
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import QUIET_LAB, JupyterProcess, kill_worker, lab_settings, wait_until

NOTEBOOK = Path(__file__).parents[2] / "saga_jupyter" / "notebooks" / "dashboard.ipynb"
STATUS_BADGE = ".saga-badge:not(.saga-outcome)"
LAB_NOTEBOOK, NOTEBOOK_7_NOTEBOOK = "dashboard-lab.ipynb", "dashboard-notebook7.ipynb"
SCREENSHOTS = Path(__file__).parent / "screenshots"
# Bounded, but generous: a busy two-core machine takes ~15 s to load JupyterLab's page and
# start a kernel. Live updates come from a scan every 2 s (the widgets' default interval).
LOAD_MS = 90_000
LIVE_MS = 20_000
RUN_MS = 45_000  # for every cell to run: ~10 s usually (one cell follows a log for 4 s)
# The first worker finishes while JupyterLab starts: a completed row from the outset.
DURATIONS = [3.0, LONG_RUNNING, LONG_RUNNING, LONG_RUNNING]


@dataclass
class Demo:
    """A JupyterLab process watching demo workers on its own tmux socket and directory."""

    jupyter: JupyterProcess
    tmux: Server
    output_dir: Path
    workers: list[DemoWorker]
    state_file: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """Demo workers and JupyterLab, shared by the tests of this module (starting both is slow)."""
    tmp = tmp_path_factory.mktemp("browser")
    output_dir, root, settings = tmp / "sessions", tmp / "root", tmp / "lab-settings"
    state_file = tmp / "state.json"
    root.mkdir()
    for copy in (LAB_NOTEBOOK, NOTEBOOK_7_NOTEBOOK):  # a kernel each
        shutil.copy(NOTEBOOK, root / copy)
    # As a person's settings would be after a first visit: no "get notified about news?"
    # toast over the screenshot, and "Always start the preferred kernel" ticked (else a kernel
    # started while the page loads can make Run All ask "Select Kernel" and drop the cells).
    lab_settings(
        settings, {**QUIET_LAB, "notebook-extension/tracker": {"autoStartDefaultKernel": True}}
    )
    # Module scope, so not libtmux's function-scoped ``server`` fixture; its naming, though.
    tmux = Server(socket_name=f"libtmux_test_saga_{secrets.token_hex(4)}")
    workers = start_demo(output_dir, tmux.socket_name, len(DURATIONS), DURATIONS)
    jupyter = None
    try:
        with pytest.MonkeyPatch.context() as env:
            # Inherited by the server and from it by the notebook's kernel, which has no
            # Jupyter config: the contract's variables are how it finds the sessions.
            env.setenv("SAGA_SESSIONS_DIR", str(output_dir))
            env.setenv("SAGA_TMUX_SOCKET", tmux.socket_name)
            env.setenv("SAGA_STATE_FILE", str(state_file))
            env.setenv("JUPYTERLAB_SETTINGS_DIR", str(settings))
            jupyter = JupyterProcess(root, app="lab")
        yield Demo(jupyter, tmux, output_dir, workers, state_file)
    finally:
        if jupyter is not None:
            jupyter.stop()
        stop_demo(workers, tmux.socket_name)
        if tmux.is_alive():
            tmux.kill()


def open_notebook(page: Page, jupyter: JupyterProcess, url: str) -> None:
    """Open a notebook and wait for its kernel: idle, and connected to this page."""
    page.goto(f"{jupyter.url}{url}?token={jupyter.token}")
    wait_for_kernel(page)


def wait_for_kernel(page: Page) -> None:
    """Wait until the page's extensions have loaded and its kernel is idle."""
    page.wait_for_load_state("networkidle")
    indicator = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
    expect(indicator.first).to_be_attached(timeout=LOAD_MS)


def run_all_cells(page: Page) -> None:
    """Run > Run All Cells, then wait until every code cell has run (``[n]:``, not ``[*]:``).

    While JupyterLab still connects to a new kernel, a Run All can be dropped without a
    trace (every prompt stays ``[ ]:``), and on a loaded machine the page can lose the replies
    (prompts stuck at ``[*]:``): like a person, run them again, then reload the page once.
    Waiting for the end matters: the kernel handles a click on a widget only after the cells.
    """
    for reload in (False, True):
        if reload:
            show_dashboard(page, "run-all-timed-out.png")  # for a person to look at
            reload_page(page)
        start_run_all(page)
        if all_cells_ran(page):
            return
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
    pytest.fail(f"the cells did not all run, after a reload too: {prompts}")


def reload_page(page: Page) -> None:
    """Reload the notebook and wait for its kernel again."""
    page.reload()
    wait_for_kernel(page)


def start_run_all(page: Page) -> None:
    """Run > Run All Cells, up to three times, until the first cell starts (``[*]:``)."""
    first = page.locator(".jp-CodeCell .jp-InputPrompt").first
    for attempt in range(3):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            expect(first).to_have_text(re.compile(r"\[(\*|\d+)\]"), timeout=10_000)
            return
        except AssertionError:
            if attempt == 2:
                raise


def all_cells_ran(page: Page) -> bool:
    """Whether every code cell's prompt shows ``[n]:`` within ``RUN_MS``."""
    try:
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll(".jp-CodeCell .jp-InputPrompt")];
                return prompts.every((p) => /\\[\\d+\\]/.test(p.textContent));
            }""",
            timeout=RUN_MS,
        )
    except PlaywrightTimeoutError:
        return False
    return True


def listing_every_worker(page: Page, workers: list[DemoWorker]) -> Locator:
    """The dashboard's table, once it lists every worker (widgets render after the cells ran).

    On a loaded machine the page's widget manager can miss the kernel's widgets ("Error
    displaying widget: model not found", jupyterlab/jupyterlab#10533), and keeps missing them
    when the cell runs again: like a person, reload the page and run the cells once more.
    """
    table = page.locator(".saga-table")
    missed = page.locator(".jp-CodeCell").first.get_by_text("Error displaying widget")
    expect(table.or_(missed)).to_be_visible(timeout=LIVE_MS)
    if missed.is_visible():
        reload_page(page)
        run_all_cells(page)
    for worker in workers:
        expect(table.locator(f'tr[data-name="{worker.name}"]')).to_be_visible(timeout=LIVE_MS)
    return table


def stored_status(demo: Demo, name: str) -> str | None:
    """The status the server's metadata store holds for a session."""
    document = json.loads(demo.state_file.read_text()) if demo.state_file.exists() else {}
    statuses = {record["name"]: record["status"] for record in document.get("sessions", [])}
    return statuses.get(name)


def show_dashboard(page: Page, name: str) -> None:
    """Scroll the dashboard (the first cell's output) into view and save a screenshot."""
    page.locator(".jp-CodeCell").first.evaluate("(cell) => cell.scrollIntoView()")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name)


@pytest.mark.timeout(300)  # a reload and a second Run All fit in
def test_dashboard_in_jupyterlab(demo: Demo, page: Page) -> None:
    open_notebook(page, demo.jupyter, f"lab/tree/{LAB_NOTEBOOK}")
    run_all_cells(page)

    # The table lists every demo worker, the first one already completed.
    table = listing_every_worker(page, demo.workers)
    first = demo.workers[0].name
    # The status badge (a worker's outcome has a badge of its own once it ended).
    expect(table.locator(f'tr[data-name="{first}"] {STATUS_BADGE}')).to_have_class(
        re.compile("saga-completed"), timeout=LIVE_MS
    )

    # Click a running worker other than the one shown by default: the viewer follows it.
    viewer = page.locator(".sj-logviewer")
    expect(viewer.locator(".sj-name")).to_have_text(
        re.compile("^saga(__|-story-)"), timeout=LIVE_MS
    )
    shown = viewer.locator(".sj-name").text_content()
    chosen = next(w for w in demo.workers[1:] if w.name != shown)
    row = table.locator(f'tr[data-name="{chosen.name}"]')
    row.click()
    expect(row).to_have_class(re.compile("saga-selected"))
    expect(viewer.locator(".sj-name")).to_have_text(chosen.name, timeout=LIVE_MS)
    expect(viewer.locator(".sj-badge")).to_have_text("Streaming")

    # A line appended to its output shows up in the open viewer, ANSI bold made a style.
    marker = f"appended-by-the-browser-test-{secrets.token_hex(4)}"
    with chosen.output_file.open("a", encoding="utf-8") as out:
        out.write(f"\n\x1b[1;35m{marker}\x1b[0m\n")  # own line, whatever the worker was writing
    line = viewer.locator(".sj-line", has_text=marker)
    expect(line).to_be_visible(timeout=LIVE_MS)
    expect(line.locator(".sj-bold")).to_have_text(marker)

    # The worker ends: its badge turns from running to completed, and the viewer says Complete.
    badge = row.locator(STATUS_BADGE)
    expect(badge).to_have_class(re.compile("saga-running"))
    kill_worker(demo.tmux, chosen.name)
    expect(badge).to_have_class(re.compile("saga-completed"), timeout=LIVE_MS)
    expect(badge).to_have_text("completed")
    expect(viewer.locator(".sj-badge")).to_have_text("Complete", timeout=LIVE_MS)

    page.locator(".jp-SideBar [data-id='filebrowser']").click()  # collapse: room for the table
    show_dashboard(page, "jupyterlab-dashboard.png")


@pytest.mark.timeout(300)
def test_dashboard_in_notebook_7(demo: Demo, page: Page) -> None:
    # A worker that ends before this notebook's kernel starts, once the server has stored it.
    ended = next(w for w in demo.workers[1:] if demo.tmux.has_session(w.name))
    kill_worker(demo.tmux, ended.name)
    wait_until(lambda: stored_status(demo, ended.name) == "completed", timeout=10)

    open_notebook(page, demo.jupyter, f"notebooks/{NOTEBOOK_7_NOTEBOOK}")
    run_all_cells(page)
    table = listing_every_worker(page, demo.workers)
    # The new kernel takes the ended worker's times from the server's store: it shows how
    # long the worker ran, not "0s" (as it would with the file's last write as the start).
    duration = table.locator(f'tr[data-name="{ended.name}"] td').nth(5)
    expect(duration).to_have_text(re.compile(r"^(\d+m )?\d+s$"))
    expect(duration).not_to_have_text("0s")
    expect(page.locator(".sj-logviewer .sj-name")).to_have_text(
        re.compile("^saga(__|-story-)"), timeout=LIVE_MS
    )
    show_dashboard(page, "notebook7-dashboard.png")


# -- the first impression: saga-jupyter demo, in both themes -----------------------------------

LAPTOP = {"width": 1280, "height": 800}
# The URL exactly as printed, its query (token, the panel's flag) included.
DEMO_URL = re.compile(r"http://127\.0\.0\.1:\d+/lab/tree/dashboard\.ipynb\?token=\w+(&\S+)?")
# What a colour of the theme resolves to here, and the colour an element has: they must agree.
THEME_COLOURS = """([selector, property, variable]) => {
    const probe = document.createElement("div");
    probe.style.color = `var(${variable})`;
    document.body.append(probe);
    const expected = getComputedStyle(probe).color;
    probe.remove();
    const [element, pseudo] = selector.split("::");
    const style = getComputedStyle(document.querySelector(element), pseudo ? `::${pseudo}` : null);
    return [style.getPropertyValue(property), expected];
}"""


@dataclass
class DemoCommand:
    """``saga-jupyter demo`` running, and the URL it printed."""

    process: subprocess.Popen[bytes]
    url: str
    tmux: Server


@pytest.fixture
def demo_command(tmp_path: Path) -> Iterator[DemoCommand]:
    """The demo as a newcomer starts it: a home of its own (a first visit), six workers."""
    tmux = Server(socket_name=f"libtmux_test_saga_{secrets.token_hex(4)}")
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    env.pop("JUPYTERLAB_SETTINGS_DIR", None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "saga_jupyter", "demo", "--port", str(port),
        "--output-dir", str(tmp_path / "sessions"), "--socket", tmux.socket_name,
    ]  # fmt: skip
    printed = tmp_path / "printed.txt"
    with printed.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = wait_until(lambda: DEMO_URL.search(printed.read_text()), timeout=120)[0]
        yield DemoCommand(process, url, tmux)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if tmux.is_alive():
            tmux.kill()


def theme_colour(page: Page, selector: str, css_property: str, variable: str) -> tuple[str, str]:
    """An element's colour, and what the theme's ``--jp-*`` variable resolves to."""
    found, expected = page.evaluate(THEME_COLOURS, [selector, css_property, variable])
    return str(found), str(expected)


def follows_the_theme(page: Page) -> dict[str, str]:
    """Check the log viewer, its search box, the table and the timeline take the theme's colours.

    Returns the viewer's background, to compare one theme with the other.
    """
    checks = {
        "viewer": (".sj-logviewer", "background-color", "--jp-cell-editor-background"),
        "viewer text": (".sj-logviewer", "color", "--jp-content-font-color1"),
        "placeholder": (".sj-search::placeholder", "color", "--jp-ui-font-color2"),
        "table text": (".saga-table", "color", "--jp-ui-font-color1"),
        "table header": (".saga-table th", "background-color", "--jp-layout-color2"),
        "running bar": (
            '.saga-bar[data-status="running"]',
            "background-color",
            "--jp-success-color1",
        ),
    }
    colours = {}
    for what, (selector, css_property, variable) in checks.items():
        found, expected = theme_colour(page, selector, css_property, variable)
        assert found == expected, f"{what}: {found}, the theme's {variable} is {expected}"
        colours[what] = found
    return colours


def switch_theme(page: Page, theme: str, light: bool) -> None:
    """Settings > Theme > ``theme``, as a person picks it; wait until JupyterLab applied it."""
    before = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    page.locator(".lm-MenuBar-item", has_text="Settings").click()
    page.locator(".lm-Menu-item", has_text="Theme").first.hover()
    page.keyboard.press("ArrowRight")  # open the submenu
    page.locator(".lm-Menu").last.get_by_text(theme, exact=True).click()
    page.wait_for_selector(f'body[data-jp-theme-light="{str(light).lower()}"]', state="attached")
    # Its stylesheet loads after: until then the old theme's colours are there.
    wait_until(
        lambda: page.evaluate("() => getComputedStyle(document.body).backgroundColor") != before,
        timeout=10,
    )


@pytest.mark.timeout(300)
def test_first_impression_in_both_themes(demo_command: DemoCommand) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=LAPTOP)
            first_impression(page, demo_command)
        finally:
            browser.close()


def run_first_cell(page: Page) -> None:
    """Shift+Enter in the first cell, until its widget shows (a person would try again too).

    As with Run All (see :func:`run_all_cells`), on a loaded machine a run can be dropped while
    the kernel connects, or the widget manager miss the kernel's widgets: run it again, then
    reload the page once.
    """
    cell = page.locator(".jp-CodeCell").first
    shown = cell.locator(".saga-table")
    missed = cell.get_by_text("Error displaying widget")
    for attempt in range(4):
        if attempt == 3:
            show_dashboard(page, "first-cell-timed-out.png")
            reload_page(page)
        cell.locator(".jp-InputPrompt").click()  # selects the cell, as a click beside it does
        page.keyboard.press("Shift+Enter")
        try:
            expect(shown.or_(missed)).to_be_visible(timeout=LIVE_MS)
        except AssertionError:
            continue
        if shown.is_visible():
            return
    pytest.fail("the dashboard cell did not show its widget, after a reload too")


def first_impression(page: Page, demo: DemoCommand) -> None:
    page.goto(demo.url)
    wait_for_kernel(page)
    # Opened saved and trusted, nothing asked of the person.
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="dashboard.ipynb")
    expect(tab).to_be_visible()
    expect(tab).not_to_have_class(re.compile("jp-mod-dirty"))
    expect(page.locator(".jp-StatusItem-trust")).to_have_attribute(
        "title", re.compile("^Notebook trusted")
    )
    expect(page.get_by_text("official Jupyter news")).to_have_count(0)
    expect(page.locator(".jp-Dialog")).to_have_count(0)  # no "Select Kernel" either
    # Its first cell, as the printed advice says: the dashboard, whole, without scrolling.
    run_first_cell(page)
    rows = page.locator(".saga-table tr[data-name]")
    expect(rows).to_have_count(6, timeout=LIVE_MS)
    viewer = page.locator(".sj-logviewer")
    expect(viewer.locator(".sj-name")).to_have_text(
        re.compile("^saga(__|-story-)"), timeout=LIVE_MS
    )
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "first-impression-ran.png")
    top = page.locator(".jp-CodeCell .jp-OutputArea-output").first.bounding_box()
    bottom = viewer.bounding_box()
    notebook = page.locator(".jp-NotebookPanel-notebook").bounding_box()
    assert top and bottom and notebook
    assert top["y"] >= notebook["y"], (top, notebook)
    assert bottom["y"] + bottom["height"] <= notebook["y"] + notebook["height"], (bottom, notebook)

    # Light, then dark: the widgets take JupyterLab's colours, whichever theme.
    light = follows_the_theme(page)
    page.screenshot(path=SCREENSHOTS / "first-impression-light.png")
    switch_theme(page, "JupyterLab Dark", light=False)
    dark = follows_the_theme(page)
    assert dark["viewer"] != light["viewer"] and dark["viewer text"] != light["viewer text"]
    # A timeline bar says on hover which story it is, its status and how long it has run.
    bar = page.locator(".saga-bar").first
    bar.hover()
    label = bar.evaluate("(bar) => getComputedStyle(bar, '::after').content")
    assert re.fullmatch(r'"[a-z0-9-]+ · (running|completed)( \(.+\))? · (\d+m )?\d+s"', label)
    page.mouse.move(0, 0)
    page.screenshot(path=SCREENSHOTS / "first-impression-dark.png")
    page.locator(".jp-CodeCell .jp-OutputArea-output").first.screenshot(
        path=SCREENSHOTS / "dashboard-dark.png"
    )
