"""The demo's JupyterLab: a free port, its settings, started, waited for, shown and stopped.

And the Ctrl-C (or SIGTERM) that stops the demo (:class:`StopRequest`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from .core.saga.catalog import PROJECT_DIR_ENV
from .core.settings import OUTPUT_DIR_ENV, STATE_FILE_ENV, TMUX_SOCKET_ENV
from .notebooks import DASHBOARD

HOST = "127.0.0.1"
WILDCARDS = ("0.0.0.0", "::")  # noqa: S104 - every interface, only when asked with --ip
DEFAULT_PORT = 8888
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
STATE_FILE = ".saga-demo-state.json"
PANEL_FLAG = "saga-panel"  # in a JupyterLab URL: the extension opens its SAGA panel on load


class StopRequest:
    """Set by SIGINT or SIGTERM and polled: ``Event.set`` in a signal handler can deadlock."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler."""
        self.signum = signum

    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self.signum is not None

    def wait(self, seconds: float | None = None) -> bool:
        """Wait up to ``seconds`` (``None``: forever) for a stop; whether one was requested."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while self.signum is None:
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                break
            time.sleep(left)
        return self.signum is not None


def free_port(preferred: int, ip: str = HOST) -> int:
    """``preferred`` or one of the nine after it when free on ``ip``, else any free port."""
    for port in [*range(preferred, preferred + 10), 0]:  # 0: the system picks a free one
        with socket.socket() as probe:
            try:
                probe.bind((ip, port))
            except OSError:
                continue
            chosen: int = probe.getsockname()[1]
            return chosen
    raise OSError(f"no free port on {ip}")


def landing_page() -> str:
    """Where JupyterLab opens: the dashboard notebook (in its ``root_dir``)."""
    return f"lab/tree/{DASHBOARD}"


def lab_settings(workspace: Path) -> Path:
    """JupyterLab's application settings for the demo: the installed ones, and no questions.

    A first visit would ask "get notified about official Jupyter news?" over the dashboard,
    and a kernel starting while the page loads can make it ask which kernel to use. The
    answers are defaults here (an ``overrides.d`` file, for the demo only): what a person chose
    in their own settings still wins.
    """
    from jupyterlab.commands import get_app_dir

    settings = workspace / "lab-settings"
    installed = Path(get_app_dir()) / "settings"
    if installed.is_dir():
        shutil.copytree(installed, settings)
    (settings / "overrides.d").mkdir(parents=True, exist_ok=True)
    document = {
        "@jupyterlab/apputils-extension:notification": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
    }
    (settings / "overrides.d" / "saga-jupyter-demo.json").write_text(json.dumps(document))
    return settings


def start_lab(
    port: int,
    token: str,
    output_dir: Path,
    socket_name: str,
    extra: list[str],
    ip: str = HOST,
    project_dir: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Launch ``jupyter lab`` from this Python, watching the demo's directory, socket, project."""
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        f"--ServerApp.ip={ip}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    command.append(f"--LabApp.default_url=/{landing_page()}")
    # No fetching of news or of the latest version's number (the prompt: lab_settings()).
    command += [
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    # Its own process group: Ctrl-C reaches only us, and we stop it (no "Shutdown?" prompt).
    # The extension's settings, in the environment so that the notebooks' kernels (the API and
    # the widgets) inherit them too. The demo's sessions stay out of the store of real ones.
    env = {
        **os.environ,
        OUTPUT_DIR_ENV: str(output_dir),
        TMUX_SOCKET_ENV: socket_name,
        STATE_FILE_ENV: str(output_dir / STATE_FILE),
    }
    if project_dir is not None:  # its epics show even with no worker naming the project
        env[PROJECT_DIR_ENV] = str(project_dir)
    return subprocess.Popen(
        [*command, *extra], stdin=subprocess.DEVNULL, start_new_session=True, env=env
    )


def wait_ready(
    lab: subprocess.Popen[bytes], port: int, token: str, stop: StopRequest, ip: str = HOST
) -> bool:
    """Wait until the extension has scanned once (``/api/saga/status``); ``False`` if never."""
    import urllib.error  # here: the session commands start without the HTTP client's modules
    import urllib.request

    host = HOST if ip in WILDCARDS else ip
    url = f"http://{host}:{port}/api/saga/status"
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    deadline = time.monotonic() + READY_TIMEOUT
    while not stop.is_set() and lab.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - http only
                if json.loads(response.read()).get("lastPoll") is not None:
                    return True
        except urllib.error.HTTPError as error:
            if error.code == 404:
                print("saga-jupyter: the extension is not enabled in this Jupyter", file=sys.stderr)
                return False
        except OSError:
            pass
        stop.wait(0.25)
    return False


def print_urls(port: int, token: str, ip: str = HOST) -> None:
    """Print where to look: the dashboard notebook, the REST API, how to get there from afar."""
    host = socket.gethostname() if ip in WILDCARDS else ip
    base = f"http://{host}:{port}"
    if ip == HOST:
        away = (
            f"It listens on {HOST} only. From another machine, tunnel to it first:\n"
            f"    ssh -N -L {port}:{HOST}:{port} <you>@<this machine>\n"
            f"then open the same URL there (or start the demo with --ip 0.0.0.0).\n"
        )
    else:
        away = f"It listens on {ip}: anyone who can reach it still needs the token.\n"
    print(
        f"\nJupyterLab with saga_jupyter is ready: the dashboard notebook (run its first cell),\n"
        f"the SAGA panel on the left:\n"
        f"    {base}/{landing_page()}?token={token}&{PANEL_FLAG}\n"
        f"Sessions as JSON:\n"
        f"    {base}/api/saga/sessions?token={token}\n"
        f"{away}"
        f"Ctrl-C stops JupyterLab and the demo workers.\n",
        flush=True,
    )


def stop_lab(lab: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL if it hangs."""
    if lab.poll() is not None:
        return
    lab.terminate()
    try:
        lab.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        lab.kill()
        lab.wait()
