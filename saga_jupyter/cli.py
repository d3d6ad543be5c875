"""The command line's session commands, in the style of kubectl: ``ls``, ``tail``, ``status``.

``stories`` lists the stories of the SAGA projects (``--project-dir``, else
``$SAGA_PROJECT_DIR``), each with the sessions that worked on it.

They run on the notebook's API (:mod:`saga_jupyter.core.api`) and the kernel's engine, with the
same settings: ``--output-dir``, ``--tmux-socket`` and ``--state-file``, else
``$SAGA_SESSIONS_DIR``, ``$SAGA_TMUX_SOCKET`` and ``$SAGA_STATE_FILE``. No Jupyter server is
needed; the server's metadata store (read, never written) gives the times of sessions that
ended before the command ran. Output is for people (aligned columns), or with ``--json`` for
scripts: the contract's JSON, as the REST API gives it. Errors are one line on stderr and exit
status 1; Ctrl-C ends a command with status 130 and no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .core.api import follow, list_sessions, read_log_end
from .core.display import OUTCOME_LABELS
from .core.durations import elapsed, format_duration
from .core.engine import engine_for
from .core.errors import SagaError
from .core.info import STATUSES, SessionInfo, iso
from .core.lookup import choose
from .core.saga.catalog import PROJECT_DIR_ENV, catalog_for, list_stories
from .core.saga.names import is_saga_name
from .core.saga.stories import STATUSES as STORY_STATUSES
from .core.saga.stories import Story
from .core.settings import (
    OUTPUT_DIR_ENV,
    STATE_FILE_ENV,
    TMUX_SOCKET_ENV,
    Settings,
    resolve,
    state_file,
)

COMMANDS = ("ls", "tail", "status", "stories")
INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader went away (`| head`)
GAP = "   "  # between columns, as kubectl prints them
TMUX_FAILED = 1  # `status`: tmux cannot be asked
NO_OUTPUT_DIR = 3  # `status`: the output directory is missing (2 is argparse's usage error)


def add_commands(commands: Any) -> None:
    """Add ``ls``, ``tail`` and ``status`` to an ``argparse`` sub-command set."""
    settings = argparse.ArgumentParser(add_help=False)
    settings.add_argument(
        "--output-dir",
        metavar="DIR",
        help=f"where the <name>.out files are (default: ${OUTPUT_DIR_ENV} or /tmp/saga-sessions)",
    )
    settings.add_argument(
        "--tmux-socket",
        metavar="NAME",
        help=f"tmux -L socket to look at (default: ${TMUX_SOCKET_ENV} or tmux's default server)",
    )
    settings.add_argument(
        "--state-file",
        metavar="FILE",
        help="the Jupyter server's metadata store, read for when ended sessions started and "
        f"ended (default: ${STATE_FILE_ENV} or the server's default, in the Jupyter data dir)",
    )
    ls = commands.add_parser(
        "ls",
        parents=[settings],
        help="list the SAGA sessions, newest first",
        description="List the SAGA sessions, newest first: status, how the worker ended (or "
        "its cycle while it runs), age and duration. A session that ended before the command "
        "ran has the start and end the Jupyter server recorded (its --state-file), else those "
        "its output file tells.",
    )
    ls.add_argument("--status", choices=STATUSES, help="only running or only completed ones")
    ls.add_argument("--epic", metavar="SLUG", help="only this epic's")
    ls.add_argument("--story", metavar="SLUG", help="only this story's")
    ls.add_argument("--json", action="store_true", help="the contract's JSON, as the REST API")
    ls.add_argument(
        "--remote",
        metavar="URL",
        help="list the sessions of the Jupyter server at URL (its REST API; with its remotes' "
        "sessions too) instead of this machine's: https, or http on loopback",
    )
    ls.add_argument(
        "--token", metavar="T", help="the token of --remote's server (default: $SAGA_REMOTE_TOKEN)"
    )
    ls.add_argument(
        "--host",
        metavar="H",
        help="only the sessions of remote H ('' for the server's own) of this machine's "
        "running Jupyter server (its runtime files give its URL and token), or of --remote's",
    )
    tail = commands.add_parser(
        "tail",
        parents=[settings],
        help="print a session's output (-f: follow it until the session ends)",
        description="Print the last lines of a session's output. With -f, go on printing what "
        "it writes until the session ends (also through a truncated or replaced file); "
        "Ctrl-C stops. A today's worker's JSON messages are shown as a transcript (cycles, "
        "tool calls, results, cost); --raw prints them as written. NAME is a session's "
        "name, else the start of one, else its story, as long as one session fits: when "
        "several do, they are listed and the exit status is 1.",
    )
    tail.add_argument(
        "name",
        metavar="NAME",
        help="the session: saga-story-<story>-<n> or saga__<epic>__<story>__<n>, the start of "
        "one (saga__search__rank), or its story (ranking, auth-login-flow)",
    )
    tail.add_argument("-f", "--follow", action="store_true", help="follow until the session ends")
    tail.add_argument(
        "--raw", action="store_true", help="a today's worker's JSON lines as written, not rendered"
    )
    tail.add_argument(
        "-n", "--lines", type=_lines, default=10, metavar="N", help="last N lines (default 10)"
    )
    status = commands.add_parser(
        "status",
        parents=[settings],
        help="whether tmux answers, the output directory, how many sessions",
        description="Health: tmux, the output directory, the sessions by status. Exit status: "
        f"0 when tmux answers (with or without a server on the socket) and the output "
        f"directory exists; {TMUX_FAILED} when tmux cannot be asked (not installed, no answer, "
        f"failing); {NO_OUTPUT_DIR} when the output directory is missing; 2 for a usage error.",
    )
    status.add_argument("--json", action="store_true", help="as JSON")
    stories = commands.add_parser(
        "stories",
        parents=[settings],
        help="list the stories of the SAGA projects: status, tasks, blockers",
        description="List the stories of the SAGA projects (the worktree's copy where there is "
        "one): derived status, tasks done, unresolved journal blockers. Files that could not "
        "be read are reported on stderr.",
    )
    stories.add_argument(
        "--project-dir",
        action="append",
        metavar="DIR",
        help=f"a SAGA project (holding .saga/); repeat for several (default: ${PROJECT_DIR_ENV})",
    )
    stories.add_argument("--epic", metavar="ID", help="only this epic's")
    stories.add_argument("--status", choices=STORY_STATUSES, help="only stories in this status")
    stories.add_argument("--json", action="store_true", help="the contract's StorySummary list")


def run(args: argparse.Namespace) -> int:
    """Run a command of :data:`COMMANDS`; its exit status."""
    settings = resolve(args.output_dir, args.tmux_socket)
    if args.state_file:
        # The engine finds the store as a kernel does, in the environment: this process's own.
        os.environ[STATE_FILE_ENV] = args.state_file
        if not os.path.lexists(args.state_file):  # a typo would silently give times of files
            print(
                f"saga-jupyter {args.command}: no metadata store at {args.state_file}: the "
                "times of ended sessions are those of their output files",
                file=sys.stderr,
            )
    try:
        if args.command == "ls" and (args.remote or args.host is not None):
            from .cli_remote import remote_ls  # only here: local commands stay light

            filters = {"status": args.status, "epicSlug": args.epic, "storySlug": args.story}
            return remote_ls(
                args.remote, args.token, {**filters, "host": args.host}, as_json=args.json
            )
        if args.command == "ls":
            return ls(settings, args.status, args.epic, args.story, as_json=args.json)
        if args.command == "stories":
            return list_stories_command(
                settings, args.project_dir, args.epic, args.status, as_json=args.json
            )
        if args.command == "tail":
            view = "raw" if args.raw else "transcript"
            return tail(settings, args.name, args.lines, follow_on=args.follow, view=view)
        return status(settings, as_json=args.json)
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        # Whoever read our output stopped (`| head`): no traceback, and no second one when
        # Python flushes stdout at exit.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except (SagaError, ValueError, OSError) as error:
        print(f"saga-jupyter {args.command}: {error}", file=sys.stderr)
        return 1


def ls(
    settings: Settings,
    status: str | None = None,
    epic: str | None = None,
    story: str | None = None,
    *,
    as_json: bool = False,
) -> int:
    """Print the sessions (a table, or JSON)."""
    sessions = list_sessions(status, epic, story, **settings._asdict())
    if as_json:
        print(json.dumps([info.to_json() for info in sessions], indent=2, ensure_ascii=False))
    elif not sessions:
        print(f"No SAGA sessions found ({_where(settings)}).", file=sys.stderr)
    else:
        print(table(sessions, time.time()))
    return 0


def table(sessions: Sequence[SessionInfo], now: float) -> str:
    """The sessions as aligned columns: name, status, outcome (or cycle), cost, age, duration."""
    rows: list[tuple[str, ...]] = [("NAME", "STATUS", "OUTCOME", "COST", "AGE", "DURATION")]
    for info in sessions:
        start = info.start_time.timestamp() if info.start_time else None
        age = format_duration(elapsed(start, now)) if start is not None else ""
        cost = info.worker.cost_usd if info.worker is not None else None
        cells = (
            OUTCOME_LABELS.get(info.outcome or "", info.progress),  # every view's words
            f"${cost:.2f}" if cost is not None else "",
            age,
            format_duration(info.duration),
        )
        # "-" for nothing known: every row has every column, for `awk` and the eye.
        rows.append((info.name, info.status, *(cell or "-" for cell in cells)))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def tail(
    settings: Settings, name: str, lines: int, *, follow_on: bool = False, view: str = "transcript"
) -> int:
    """Print the last ``lines`` lines of the session's output; with ``follow_on`` all it writes.

    ``name`` may be the start of a session's name or its story (:func:`~.core.lookup.choose`).
    """
    if not is_saga_name(name):  # a whole name needs no listing: it is that session or none
        name = choose(name, list_sessions(**settings._asdict()))
    text, end = read_log_end(name, lines, view=view, **settings._asdict())
    _write(text)
    if follow_on:
        asyncio.run(_follow(settings, name, end, view))
    return 0


async def _follow(settings: Settings, name: str, offset: int, view: str) -> None:
    chunks = follow(name, offset=offset, view=view, **settings._asdict())
    try:
        async for text in chunks:
            _write(text)
    finally:
        await chunks.aclose()


def _write(text: str) -> None:
    # The file's bytes as they were (invalid UTF-8 aside), whatever the locale's encoding.
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def status(settings: Settings, *, as_json: bool = False) -> int:
    """Print tmux's health, the output directory and the sessions by status."""
    engine = engine_for(settings)
    sessions = engine.refresh()
    tmux = engine.discovery.tmux
    running = sum(1 for info in sessions if info.status == "running")
    attention = sum(1 for info in sessions if info.worker and info.worker.needs_attention)
    health: dict[str, Any] = {
        "tmux": {
            "available": engine.tmux_error is None,
            "serverRunning": engine.tmux_server_running,
            "version": tmux.version() if engine.tmux_error is None else None,
            "socketName": tmux.socket_name,
            "error": engine.tmux_error,
        },
        "outputDir": str(settings.output_dir),
        "outputDirExists": engine.output_dir_exists,
        "outputDirWarning": engine.discovery.output_dir_warning,
        "stateFile": str(state_file()),
        "sessions": {
            "running": running,
            "completed": len(sessions) - running,
            "needAttention": attention,
        },
        "checkedAt": iso(time.time()),
    }
    print(json.dumps(health, indent=2) if as_json else _health_lines(health))
    if engine.tmux_error is not None:
        return TMUX_FAILED
    return 0 if engine.output_dir_exists else NO_OUTPUT_DIR


def _health_lines(health: dict[str, Any]) -> str:
    tmux, counts = health["tmux"], health["sessions"]
    socket = f"socket {tmux['socketName']}" if tmux["socketName"] else "default socket"
    if not tmux["available"]:
        state = f"unavailable: {tmux['error']}"
    else:
        server = "server running" if tmux["serverRunning"] else "no server running"
        state = f"reachable, {server} (tmux {tmux['version'] or '?'}, {socket})"
    directory = health["outputDir"] + ("" if health["outputDirExists"] else " (missing)")
    if health["outputDirWarning"]:
        directory += f" (warning: {health['outputDirWarning']})"
    sessions = f"{counts['running']} running, {counts['completed']} completed"
    if counts["needAttention"]:
        sessions += f" ({counts['needAttention']} blocked or failed)"
    return "\n".join(
        [
            f"tmux:        {state}",
            f"output dir:  {directory}",
            f"sessions:    {sessions}",
            f"state file:  {health['stateFile']}",
        ]
    )


def list_stories_command(
    settings: Settings,
    project_dirs: list[str] | None,
    epic: str | None = None,
    status: str | None = None,
    *,
    as_json: bool = False,
) -> int:
    """Print the stories (a table, or JSON), each with its sessions; failed files on stderr."""
    catalog = catalog_for(project_dirs)
    stories = list_stories(epic, status, project_dirs=project_dirs)
    for project in catalog.projects.values():
        for error in project.errors:
            print(
                f"saga-jupyter stories: {project.path}/{error.file}: {error.error}", file=sys.stderr
            )
    sessions: dict[str, list[str]] = {}
    for info in list_sessions(**settings._asdict()):
        if info.output_format == "messages":
            sessions.setdefault(info.story_slug, []).append(info.name)
    found = [replace(story, sessions=tuple(sessions.get(story.id, ()))) for story in stories]
    if as_json:
        print(json.dumps([story.summary_json() for story in found], indent=2, ensure_ascii=False))
    elif not catalog.projects:
        print(f"No SAGA project: give --project-dir or set ${PROJECT_DIR_ENV}.", file=sys.stderr)
    elif not found:
        print("No SAGA stories found.", file=sys.stderr)
    else:
        print(stories_table(found))
    return 0


def stories_table(stories: Sequence[Story]) -> str:
    """The stories as aligned columns: id, epic, status, tasks, blockers, last session."""
    rows: list[tuple[str, ...]] = [("STORY", "EPIC", "STATUS", "TASKS", "BLOCKERS", "SESSION")]
    for story in stories:
        counts = story.task_counts()
        tasks = f"{counts['completed']}/{counts['total']}"
        session = story.sessions[0] if story.sessions else ""
        # "-" for nothing known, as ls prints it.
        optional = [cell or "-" for cell in ("; ".join(story.blockers), session)]
        rows.append((story.id, story.epic or "-", story.status, tasks, *optional))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _where(settings: Settings) -> str:
    socket = (
        f"socket {settings.tmux_socket_name}" if settings.tmux_socket_name else "default socket"
    )
    return f"output dir {settings.output_dir}, tmux {socket}"


def _lines(value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise argparse.ArgumentTypeError(f"not a number of lines: {value!r}")
    return int(value)
