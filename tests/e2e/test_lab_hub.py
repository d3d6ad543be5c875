"""The panel's hub-wide view under a real JupyterHub: alice's JupyterLab, with the ``serverUrl``
setting at the ``saga`` service (``/services/saga/``), lists the workers the service shows her,
through the Hub's own login (OAuth by redirects, same origin), and streams her worker's log.
Skipped where the Hub is not installed, as tests/e2e/test_hub.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_hub import PASSWORD, running_hub
from tests.e2e.test_lab_panel import LOAD_MS
from tests.harness import this_labextension
from tests.helpers import wait_until


@pytest.mark.timeout(400)
def test_the_panel_reads_the_hub_service(tmp_path: Path, page: Page) -> None:
    settings = tmp_path / "lab-settings"
    model = settings / "saga-jupyter" / "model.jupyterlab-settings"
    model.parent.mkdir(parents=True)
    model.write_text(json.dumps({"serverUrl": "/services/saga/"}))
    args = (*this_labextension(tmp_path), f"--LabApp.user_settings_dir={settings}")
    with running_hub(tmp_path, *args) as hub:
        page.goto(hub.url + "/hub/login")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit], button[type=submit]")
        page.goto(hub.url + "/user/alice/lab?saga-panel")
        panel = page.locator("#saga-jupyter-panel")
        expect(panel).to_be_visible(timeout=LOAD_MS)
        group = panel.locator('.jp-SagaPanel-hostGroup[data-host="alice"]')
        expect(group.locator(".jp-SagaPanel-hostName")).to_have_text("alice", timeout=LOAD_MS)
        expect(panel.locator(".jp-SagaPanel-row")).to_have_count(1)  # not bob's
        group.locator(".jp-SagaPanel-row").click()
        view = page.locator('.jp-SagaLog[data-session="saga__alice__work__1"][data-host="alice"]')
        expect(view).to_be_visible(timeout=LOAD_MS)
        wait_until(lambda: view.evaluate("node => node.sagaLogText()") == "started\n", 30)
