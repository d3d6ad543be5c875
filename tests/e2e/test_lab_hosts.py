"""The JupyterLab panel over many hosts, in a real browser: one JupyterLab whose server has two
remotes (real Jupyter servers on loopback, tests/hosts.py) shows the workers of all three
hosts grouped by host; a frozen remote (SIGSTOP) greys out with its reason while another's log
tab streams on; woken, its log tab resumes with every line exactly once, and keeps its host
when the page is reloaded.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.test_lab_panel import COMMANDS_EXECUTED, LOAD_MS, screenshot, settle
from tests.e2e.test_lab_v4 import contrast
from tests.helpers import QUIET_LAB, lab_settings, wait_until
from tests.hosts import Host, front_config, remote_of, start_host

STALE_MS = 10_000  # the bound: a frozen host greys out within 10 s
BACK_MS = 45_000  # a remote's lanes back off up to 30 s; the status poll follows
LINE_EVERY = 0.05  # seconds between two lines of a worker (a worker's pace, not a wait)


@pytest.fixture
def lab_front(tmp_path: Path, hosts: list[Host]) -> Iterator[Host]:
    """JupyterLab on the server whose remotes are ``hosts``, with a worker of its own."""
    args = (
        front_config(tmp_path, [remote_of(host) for host in hosts]),
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={lab_settings(tmp_path / 'lab-settings', QUIET_LAB)}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    )
    host = start_host(tmp_path, "front", *args, app="lab")
    try:
        yield host
    finally:
        host.jupyter.stop()
        host.tmux.kill()


def worker_of(host: Host) -> str:
    """The name of ``host``'s worker."""
    return f"saga__{host.name}__work__1"


def log_of(host: Host) -> Path:
    """The output file of ``host``'s worker."""
    return host.output_dir / f"{worker_of(host)}.out"


def write_lines(hosts: list[Host], writing: threading.Event) -> None:
    """Append a numbered line to each host's worker output until ``writing`` is cleared."""
    line = 0
    while writing.is_set():
        for host in hosts:
            with log_of(host).open("a") as out:
                out.write(f"line {line} of {host.name}\n")
        line += 1
        time.sleep(LINE_EVERY)


def section(panel: Locator, host: str) -> Locator:
    """A host's section of the panel ('' for this server's own)."""
    return panel.locator(f'.jp-SagaPanel-hostGroup[data-host="{host}"]')


def log_view(page: Page, host: Host) -> Locator:
    """The log tab's content of ``host``'s worker."""
    return page.locator(f'.jp-SagaLog[data-session="{worker_of(host)}"][data-host="{host.name}"]')


def log_text(view: Locator) -> str:
    """What a log tab holds."""
    text: str = view.evaluate("node => node.sagaLogText()")
    return text


def holds_every_line_once(view: Locator, host: Host) -> bool:
    """Whether the tab holds exactly the file: every line once, none missing, in order."""
    return log_text(view) == log_of(host).read_text()


def open_front(page: Page, front: Host) -> Locator:
    """JupyterLab with the SAGA panel open; the panel, once the page settled."""
    page.add_init_script(COMMANDS_EXECUTED)
    page.goto(f"{front.jupyter.url}lab?token={front.jupyter.token}&saga-panel")
    panel = page.locator("#saga-jupyter-panel")
    expect(panel).to_be_visible(timeout=LOAD_MS)
    settle(page)
    return panel


def colour_of(locator: Locator, prop: str) -> str:
    """A computed colour of the first element ``locator`` finds."""
    colour: str = locator.first.evaluate(f"node => getComputedStyle(node).{prop}")
    return colour


def background_of(locator: Locator) -> str:
    """The colour behind an element: its own or its nearest ancestor's that is not transparent."""
    colour: str = locator.first.evaluate(
        """node => {
          for (; node; node = node.parentElement) {
            const colour = getComputedStyle(node).backgroundColor;
            if (colour !== 'rgba(0, 0, 0, 0)' && colour !== 'transparent') {
              return colour;
            }
          }
          return 'rgb(255, 255, 255)';
        }"""
    )
    return colour


@pytest.mark.timeout(400)
def test_three_hosts_grouped_a_frozen_one_greys_and_its_log_resumes(
    lab_front: Host, hosts: list[Host], page: Page
) -> None:
    alpha, beta = hosts
    panel = open_front(page, lab_front)
    for host, label in (("", "this server"), ("alpha", "alpha"), ("beta", "beta")):
        group = section(panel, host)
        expect(group.locator(".jp-SagaPanel-hostName")).to_have_text(label, timeout=LOAD_MS)
        expect(group.locator(".jp-SagaPanel-hostCounts")).to_have_text("1 running · 0 completed")
        expect(group.locator(".jp-SagaPanel-row")).to_have_count(1)
        expect(group.locator(".jp-SagaPanel-rowHost")).to_have_text(label)
    names = panel.locator(".jp-SagaPanel-hostName").all_text_contents()
    assert names == ["this server", "alpha", "beta"]  # this server first, then the remotes

    writing = threading.Event()
    writing.set()
    writer = threading.Thread(target=write_lines, args=(hosts, writing))
    writer.start()
    try:
        # A log tab per remote worker, each subscribed with its host.
        for host in (alpha, beta):
            section(panel, host.name).locator(".jp-SagaPanel-row").click()
            expect(log_view(page, host)).to_be_attached(timeout=LOAD_MS)
            expect(page.locator(f'[id="saga-log-{worker_of(host)}@{host.name}"]')).to_be_visible()
            wait_until(lambda host=host: "line 5 of" in log_text(log_view(page, host)), 20)
        tab = page.locator(".lm-TabBar-tab", has_text="work @ alpha")
        expect(tab).to_have_count(1)

        os.kill(alpha.jupyter.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            stale = section(panel, "alpha")
            expect(stale).to_have_attribute("data-stale", "true", timeout=STALE_MS)
            expect(stale.locator(".jp-SagaPanel-row")).to_have_attribute("data-stale", "true")
            reason = stale.locator(".jp-SagaPanel-hostReason")
            expect(reason).to_have_text(re.compile(r"^not answering since .+: .*no answer"))
            assert time.monotonic() - frozen < STALE_MS / 1000 + 1
            for other in ("", "beta"):
                expect(section(panel, other)).not_to_have_attribute("data-stale", "true")
            # Greyed, and still readable.
            story = stale.locator(".jp-SagaPanel-story")
            ink, back = colour_of(story, "color"), background_of(story)
            assert ink != colour_of(section(panel, "beta").locator(".jp-SagaPanel-story"), "color")
            assert contrast(ink, back) >= 4.5, (ink, back)
            state = page.locator(".jp-SagaLogPanel:has([data-host='alpha']) .jp-SagaLog-state")
            expect(state).to_have_text("alpha not answering…")
            # beta's log tab streams on: lines written after the freeze arrive.
            line = log_of(beta).read_text().count("\n") + 20
            wait_until(lambda: f"line {line} of beta" in log_text(log_view(page, beta)), 10)
            screenshot(page, "lab-hosts.png")
        finally:
            os.kill(alpha.jupyter.pid, signal.SIGCONT)
        expect(section(panel, "alpha")).not_to_have_attribute("data-stale", "true", timeout=BACK_MS)
        expect(section(panel, "alpha").locator(".jp-SagaPanel-hostReason")).to_have_count(0)
        line = log_of(alpha).read_text().count("\n") + 20
        wait_until(lambda: f"line {line} of alpha" in log_text(log_view(page, alpha)), 20)
    finally:
        writing.clear()
        writer.join()
    for host in (alpha, beta):
        wait_until(lambda host=host: holds_every_line_once(log_view(page, host), host), 20)

    # Reloaded, the restored tabs keep their host.
    page.reload()
    expect(panel).to_be_visible(timeout=LOAD_MS)
    for host in (alpha, beta):
        view = log_view(page, host)
        expect(view).to_be_attached(timeout=LOAD_MS)
        wait_until(lambda host=host, view=view: holds_every_line_once(view, host), 20)
