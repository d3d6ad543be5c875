"""The writer at the end of a tmux ``pipe-pane``: a pane's output into exactly the file made for it.

``cat >> path`` would follow a link put at ``path`` after the file was created; this opens
``path`` without following links or blocking, and writes only if the open descriptor is the
file that was created: a regular file, of this user, with one link, of the given inode. Else
it exits at once, writing nothing (tmux then stops piping that pane).

A creator that writes something first holds a lock (``flock``) on the file meanwhile; the
writer starts once it is let go.

With ``--keep B`` the file holds the last ``B`` bytes written at least, ``2 B`` at most: once it
passes ``2 B``, its last ``B`` bytes are moved to its start and the rest cut off.

Run as a script, ``python3 -S -E panewriter.py PATH --inode N [--keep B]``: the standard
library only, no site packages, no environment, one per piped pane: ~3 MiB of its own with
``--keep`` (Python's floor), else it becomes ``cat`` once the file is checked (~0.2 MiB).
"""

from __future__ import annotations

# Only modules that cost no memory to import: signal and typing would add ~0.8 MiB each to
# every writer (one per pane kept), stat and time next to nothing.
import fcntl
import os
import stat
import sys
import time

CHUNK = 64 * 1024
CREATOR_WAIT = 30.0  # seconds: longer than the creator's tmux call may take
USAGE = "usage: panewriter.py PATH --inode N [--keep BYTES]"


def open_created(path: str, inode: int, bounded: bool) -> int | None:
    """A descriptor of ``path`` if it is the file of that inode as created, else ``None``."""
    # Bounded files are rewritten in place: read and written at positions, never appended to.
    access = os.O_RDWR if bounded else os.O_WRONLY | os.O_APPEND
    try:
        fd = os.open(path, access | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None  # a link (ELOOP), a FIFO without reader (ENXIO), gone, ...
    info = os.fstat(fd)
    if (
        not stat.S_ISREG(info.st_mode)
        or info.st_nlink != 1  # a hard link to a file elsewhere is another file's name
        or info.st_ino != inode
        or info.st_uid != os.geteuid()
    ):
        os.close(fd)
        return None
    os.set_blocking(fd, True)
    return fd


def wait_for_creator(fd: int) -> None:
    """Wait while the file's creator holds its lock (writing what comes first); bounded."""
    deadline = time.monotonic() + CREATOR_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.01)  # a few ms: the creator's one tmux call
                continue
            return  # a lock held that long is not the creator's: write all the same
        fcntl.flock(fd, fcntl.LOCK_UN)
        return


def copy(source: int, fd: int, keep: int | None) -> None:
    """Write everything read from ``source`` to ``fd``, keeping its size bounded if asked."""
    size = os.lseek(fd, 0, os.SEEK_END)
    while data := os.read(source, CHUNK):
        while data:
            written = os.write(fd, data)
            data = data[written:]
            size += written
        if keep is not None and size > 2 * keep:
            size = keep_last(fd, size, keep)


def keep_last(fd: int, size: int, keep: int) -> int:
    """Move the last ``keep`` bytes of the file to its start and cut the rest; the new size."""
    start = size - keep
    for offset in range(0, keep, CHUNK):  # source after target, never overlapping: in order
        os.pwrite(fd, os.pread(fd, min(CHUNK, keep - offset), start + offset), offset)
    os.ftruncate(fd, keep)
    os.lseek(fd, keep, os.SEEK_SET)
    return keep


def main(argv: list[str]) -> int:
    """Parse ``PATH --inode N [--keep B]``, check the file, copy stdin into it."""
    options: dict[str, int] = {}
    paths = []
    arguments = iter(argv)
    for argument in arguments:
        if argument in ("--inode", "--keep"):
            value = next(arguments, "")
            if not value.isdigit():
                print(USAGE, file=sys.stderr)
                return 2
            options[argument[2:]] = int(value)
        else:
            paths.append(argument)
    if len(paths) != 1 or "inode" not in options or options.get("keep") == 0:
        print(USAGE, file=sys.stderr)
        return 2
    keep = options.get("keep")
    fd = open_created(paths[0], options["inode"], keep is not None)
    if fd is None:
        print(f"panewriter: not the file created for this pane: {paths[0]}", file=sys.stderr)
        return 1
    try:
        wait_for_creator(fd)
        if keep is None:  # nothing to bound: cat writes on, in a tenth of the memory
            os.dup2(fd, 1)
            os.execvp("cat", ["cat"])  # noqa: S606 (no shell wanted: cat reads stdin)
        copy(sys.stdin.fileno(), fd, keep)
    except OSError as error:  # the disk full, the file gone: the pane runs on regardless
        print(f"panewriter: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
