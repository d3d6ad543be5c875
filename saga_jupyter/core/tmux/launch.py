"""Launching a SAGA worker: a detached tmux session whose output is captured to its ``.out`` file.

The operator's command runs through ``sh`` as written (that is the point of a command), but
it reaches tmux as an environment value, never spliced into a command line; every name and
path is validated first.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest, TooManySessions
from ..saga.names import MAX_NAME_LENGTH, is_slug, output_path
from ..watch.files import create_exclusive, make_private_directory
from .client import Tmux, literal, target
from .panes import pipe_command

logger = logging.getLogger(__name__)

MAX_COMMAND_LENGTH = 10_000
MAX_NAME_TRIES = 1000
GIT_TIMEOUT = 30.0


@dataclass(frozen=True)
class LaunchRequest:
    """A validated launch body."""

    epic: str
    story: str
    command: str
    cwd: Path | None
    worktree: bool


@dataclass(frozen=True)
class Launched:
    """What was started: the session name and where its command runs."""

    name: str
    command: str
    cwd: str | None
    worktree: str | None


def parse_launch(body: Any, root_dir: Path | None = None) -> LaunchRequest:
    """Validate ``{"epicSlug", "storySlug", "command", "cwd"?, "worktree"?}``."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    epic, story = body.get("epicSlug"), body.get("storySlug")
    for key, value in (("epicSlug", epic), ("storySlug", story)):
        if not is_slug(value):
            raise InvalidRequest(f"{key} must match [a-z0-9]+([-_][a-z0-9]+)*: {str(value)[:60]!r}")
    command = body.get("command")
    if not isinstance(command, str) or not command.strip():
        raise InvalidRequest("command must be a non-empty string")
    if len(command) > MAX_COMMAND_LENGTH or "\0" in command:
        raise InvalidRequest(f"command must be at most {MAX_COMMAND_LENGTH} characters, no NUL")
    worktree = body.get("worktree", False)
    if not isinstance(worktree, bool):
        raise InvalidRequest("worktree must be true or false")
    cwd = _directory(body.get("cwd"), root_dir)
    if worktree and cwd is None:
        raise InvalidRequest("worktree needs a cwd inside a git repository")
    return LaunchRequest(str(epic), str(story), command, cwd, worktree)


def _directory(value: Any, root_dir: Path | None) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or "\0" in value:
        raise InvalidRequest("cwd must be a directory path")
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~user" of no such user
        raise InvalidRequest(f"cwd is not a directory: {value[:200]}") from None
    if not path.is_absolute() and root_dir is not None:
        path = root_dir / path
    if not path.is_dir():
        raise InvalidRequest(f"cwd is not a directory: {value[:200]}")
    return path.resolve()


def launch(request: LaunchRequest, tmux: Tmux, output_dir: Path, max_sessions: int) -> Launched:
    """Start the worker; blocks (tmux and git calls), so the server runs it off the event loop."""
    running = {session.name for session in tmux.list_sessions()}
    if len(running) >= max_sessions:
        raise TooManySessions(
            f"{len(running)} SAGA sessions are running, the limit is {max_sessions}: "
            "stop one before launching another"
        )
    try:
        make_private_directory(output_dir)
    except OSError as error:
        raise InvalidRequest(f"cannot create the output directory {output_dir}: {error}") from None
    name, inode = _free_name(request, running, output_dir)
    out = output_path(output_dir, name)
    try:
        cwd = _worktree(request, name) if request.worktree else request.cwd
        _start(tmux, name, request.command, cwd, pipe_command(out, inode))
    except BaseException:
        out.unlink(missing_ok=True)  # empty, made by _free_name: no session to list
        raise
    logger.info("session launched: %s (cwd %s)", name, cwd or "default")
    worktree = str(cwd) if request.worktree else None
    return Launched(name, request.command, str(cwd) if cwd else None, worktree)


def _start(tmux: Tmux, name: str, command: str, cwd: Path | None, pipe: str) -> None:
    """One tmux call: the session, its output piped (``pipe``) before anyone reads it."""
    # tmux splits commands at an argument ending in ";": no argument of ours may end so. The
    # command goes in the environment (-e is not expanded); -c and pipe-pane's command are.
    location = ["-c", literal(f"{cwd}/")] if cwd else []
    result = tmux.run(
        "new-session", "-d", "-s", name, *location, "-x", "200", "-y", "50",
        "-e", f"SAGA_COMMAND={command}\n",
        "sh", "-c", 'eval "$SAGA_COMMAND"',
        ";", "pipe-pane", "-o", "-t", f"{target(name)}:", pipe,
    )  # fmt: skip
    if result.returncode != 0:
        raise InvalidRequest(f"tmux could not start {name}: {result.stderr.strip()[:300]}")


def _free_name(request: LaunchRequest, running: set[str], output_dir: Path) -> tuple[str, int]:
    """A name not running, whose output file this call created empty (exclusively); its inode.

    A name whose output file exists in any form, a dangling link included, is passed over:
    the worker's output is never written through something put there before it.
    """
    suffix = int(time.time())
    for _ in range(MAX_NAME_TRIES):
        name = f"saga__{request.epic}__{request.story}__{suffix}"
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidRequest(f"epicSlug and storySlug make a name over {MAX_NAME_LENGTH}")
        suffix += 1
        if name in running:
            continue
        try:
            inode = create_exclusive(output_path(output_dir, name))
        except FileExistsError:
            continue
        except OSError as error:
            raise InvalidRequest(f"cannot create the output file of {name}: {error}") from None
        return name, inode
    raise InvalidRequest(f"no free session name after {MAX_NAME_TRIES} tries")


def _worktree(request: LaunchRequest, name: str) -> Path:
    """A git worktree of ``cwd``'s repository on branch ``saga/<epic>/<story>``."""
    assert request.cwd is not None
    top = Path(_git(request.cwd, "rev-parse", "--show-toplevel").strip())
    branch = f"saga/{request.epic}/{request.story}"
    path = top.parent / f"{top.name}-saga-worktrees" / name
    exists = _git(top, "branch", "--list", branch).strip()
    if exists:
        _git(top, "worktree", "add", str(path), branch)
    else:
        _git(top, "worktree", "add", "-b", branch, str(path))
    logger.info("worktree %s on branch %s for %s", path, branch, name)
    return path


def _git(cwd: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InvalidRequest(f"git failed: {error}") from error
    if result.returncode != 0:
        raise InvalidRequest(f"git {args[0]} failed in {cwd}: {result.stderr.strip()[:300]}")
    return result.stdout
