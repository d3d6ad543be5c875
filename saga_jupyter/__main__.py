"""``saga-jupyter``: the command line: ``ls``, ``tail``, ``status`` (:mod:`.cli`), and more.

``saga-jupyter demo`` starts demo workers and JupyterLab; ``saga-jupyter server`` a Jupyter
Server with the extension alone (``--help-all`` lists its settings).
"""

from __future__ import annotations

import argparse
import importlib.util
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import cli
from .core.errors import SagaError
from .notebooks import install_dashboard

if TYPE_CHECKING:
    from .demo import DemoWorker
    from .demo_project import DemoProject


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
    from .demo_lab import DEFAULT_PORT, HOST

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
    from .demo_lab import (
        STATE_FILE,
        StopRequest,
        free_port,
        lab_settings,
        print_urls,
        start_lab,
        stop_lab,
        wait_ready,
    )
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
