"""``saga-jupyter``: the command line: ``ls``, ``tail``, ``status`` (:mod:`.cli`), and more.

``saga-jupyter demo`` starts demo workers and JupyterLab; ``saga-jupyter server`` a Jupyter
Server with the extension alone (``--help-all`` lists its settings).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from . import cli
from .core.errors import SagaError
from .core.saga.catalog import PROJECT_DIR_ENV
from .core.settings import OUTPUT_DIR_ENV, STATE_FILE_ENV, TMUX_SOCKET_ENV
from .notebooks import DASHBOARD, install_dashboard

if TYPE_CHECKING:
    from .demo import DemoWorker
    from .demo_project import DemoProject

HOST = "127.0.0.1"
WILDCARDS = ("0.0.0.0", "::")  # noqa: S104 - every interface, only when asked with --ip
DEFAULT_PORT = 8888
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
STATE_FILE = ".saga-demo-state.json"
PANEL_FLAG = "saga-panel"  # in a JupyterLab URL: the extension opens its SAGA panel on load


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``saga-jupyter`` console script."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["server"]:  # all the rest is Jupyter Server's, --help-all too
        return serve(arguments[1:])
    if arguments[:1] == ["hub-service"]:  # run by JupyterHub as a managed service
        from .hub.service import main as hub_service  # needs jupyterhub: only here

        proxy = arguments[2] if arguments[1:2] == ["--proxy-url"] and arguments[2:] else None
        return hub_service(proxy)
    parser = argparse.ArgumentParser(
        prog="saga-jupyter", description="Watch SAGA coding-agent workers from Jupyter."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cli.add_commands(commands)
    if arguments[:1] and arguments[0] in cli.COMMANDS:
        # A session command, parsed without the demo's options: their defaults would import the
        # demo workers' modules, which `ls` and `tail` need not wait for.
        return cli.run(parser.parse_args(arguments))
    from .demo import DEFAULT_COUNT, DEFAULT_OUTPUT_DIR, DEFAULT_SOCKET

    demo = commands.add_parser(
        "demo",
        help="start demo workers and JupyterLab with the extension",
        description="Start demo SAGA workers (real tmux sessions) and JupyterLab watching them. "
        "Ctrl-C (or SIGTERM) stops JupyterLab, kills the demo sessions and removes their output "
        "files. Arguments it does not know are passed on to `jupyter lab`.",
    )
    demo.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR, help="default: %(default)s")
    demo.add_argument(
        "--socket", "--tmux-socket", default=DEFAULT_SOCKET, help="tmux -L socket (%(default)s)"
    )
    demo.add_argument("--workers", type=int, default=DEFAULT_COUNT, help="default: %(default)s")
    demo.add_argument("--port", type=int, default=DEFAULT_PORT, help="preferred port (8888)")
    demo.add_argument(
        "--ip",
        default=HOST,
        help="address JupyterLab listens on (default %(default)s: this machine only; 0.0.0.0: "
        "every interface, the token still needed)",
    )
    demo.add_argument("--no-lab", action="store_true", help="only the workers, no JupyterLab")
    demo.add_argument(
        "--keep-output",
        action="store_true",
        help="keep the output files (.out, .jsonl, .pane) and the demo project at the end",
    )
    demo.add_argument(
        "--project-dir",
        type=Path,
        help="where the demo's SAGA project (a git repository with worktrees) is made: absent "
        "or empty (default: a temporary one next to the output directory)",
    )
    demo.add_argument(
        "--notebook-dir",
        type=Path,
        help="JupyterLab's directory, where the dashboard notebook goes unless one is there "
        "(default: a temporary one, removed at the end)",
    )
    commands.add_parser(
        "server",
        add_help=False,
        help="a Jupyter Server with the extension (--help-all: every setting)",
    )
    args, lab_args = parser.parse_known_args(arguments)
    if args.command in cli.COMMANDS:
        if lab_args:
            parser.error(f"unrecognized arguments: {' '.join(lab_args)}")
        return cli.run(args)
    if lab_args and args.no_lab:
        parser.error(f"unrecognized arguments: {' '.join(lab_args)}")
    if "/" in args.socket or not args.socket:
        parser.error("--socket is a tmux -L name, not a path")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if shutil.which("tmux") is None:
        print("saga-jupyter: tmux is not installed (scripts/run installs it)", file=sys.stderr)
        return 1
    if not args.no_lab and importlib.util.find_spec("jupyterlab") is None:
        print(
            "saga-jupyter: JupyterLab is not installed with this saga-jupyter: "
            "pip install 'saga-jupyter[lab]' (or --no-lab for the demo workers alone)",
            file=sys.stderr,
        )
        return 1
    return run_demo(args, lab_args)


def serve(argv: list[str]) -> int:
    """Run Jupyter Server with the extension (``SagaJupyterApp.launch_instance``)."""
    from .server.app import SagaJupyterApp

    SagaJupyterApp.launch_instance(argv)  # type: ignore[no-untyped-call]
    return 0


def run_demo(args: argparse.Namespace, lab_args: list[str]) -> int:
    """Start the workers (and JupyterLab) and clean both up on SIGINT or SIGTERM."""
    from .demo import lineup, start_demo
    from .demo_project import make_project

    stop = StopRequest()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop.handle)
    output_dir = Path(args.output_dir).absolute()
    workers: list[DemoWorker] = []
    lab: subprocess.Popen[bytes] | None = None
    workspace: Path | None = None  # the demo's own files (notebook, JupyterLab settings)
    project: DemoProject | None = None
    status = 0
    try:
        project = make_project(output_dir, args.project_dir)
        stories, seconds = lineup(args.workers)
        workers = start_demo(output_dir, args.socket, args.workers, seconds, stories, project.path)
        print_workers(workers, output_dir, args.socket, output_dir / STATE_FILE)
        print(
            f"Their SAGA project, a git repository with a worktree per story: {project.path}",
            flush=True,
        )
        if args.no_lab:
            print("Demo workers only (--no-lab). Ctrl-C stops them.", flush=True)
            stop.wait()
        elif not stop.is_set():
            port = free_port(args.port, args.ip)
            token = secrets.token_hex(24)
            workspace = Path(tempfile.mkdtemp(prefix="saga-demo-"))
            root = args.notebook_dir or workspace / "notebooks"
            root.mkdir(parents=True, exist_ok=True)
            install_dashboard(root)
            extra = [
                f"--ServerApp.root_dir={root}",
                f"--LabApp.app_settings_dir={lab_settings(workspace)}",
                *lab_args,
            ]
            lab = start_lab(port, token, output_dir, args.socket, extra, args.ip, project.path)
            if not wait_ready(lab, port, token, stop, args.ip) and lab.poll() is None:
                print("saga-jupyter: no answer from the extension yet", file=sys.stderr)
            if not stop.is_set() and lab.poll() is None:
                print_urls(port, token, args.ip)
            while not stop.is_set() and lab.poll() is None:
                stop.wait(0.5)
            if not stop.is_set():
                status = lab.returncode or 1
                print(f"JupyterLab exited with code {lab.returncode}.", file=sys.stderr)
    except SagaError as error:
        print(f"saga-jupyter: {error}", file=sys.stderr)
        status = 1
    finally:
        # A second Ctrl-C during cleanup must not leave sessions behind.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        if lab is not None:
            stop_lab(lab)
        cleanup(workers, args.socket, remove_output=not args.keep_output)
        if not args.keep_output:
            (output_dir / STATE_FILE).unlink(missing_ok=True)
        if workspace is not None:
            shutil.rmtree(workspace, ignore_errors=True)
        if project is not None and args.keep_output:
            print(f"Kept their SAGA project: {project.path}", flush=True)
        elif project is not None:
            project.remove()
    return status


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


def print_workers(
    workers: list[DemoWorker], output_dir: Path, socket_name: str, state_file: Path
) -> None:
    """List the demo sessions and when they finish, and the command that lists them.

    The command names the store the demo's JupyterLab writes: with it, an ended worker's
    duration is what the panel shows (its output file alone says only when it last wrote).
    """
    print(f"Started {len(workers)} demo workers on tmux -L {socket_name}, output in {output_dir}:")
    for worker in workers:
        print(f"  {worker.name:<44} {worker.ending}")
    longest = max(workers, key=lambda worker: worker.seconds)
    print(f"Watch one in a terminal: tmux -L {socket_name} attach -t ={longest.name}")
    print(
        f"List them: saga-jupyter ls --output-dir {output_dir} --tmux-socket {socket_name} "
        f"--state-file {state_file}",
        flush=True,
    )


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


def cleanup(workers: list[DemoWorker], socket_name: str, remove_output: bool) -> None:
    """Kill the demo sessions still running; remove their output files unless asked to keep."""
    from .demo import stop_demo

    if not workers:
        return
    try:
        killed = stop_demo(workers, socket_name, remove_output=remove_output)
    except SagaError as error:
        print(f"saga-jupyter: could not stop the demo sessions: {error}", file=sys.stderr)
        return
    files = "removed their output files" if remove_output else "kept their output files"
    print(f"Stopped {len(killed)} running demo sessions and {files}.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
