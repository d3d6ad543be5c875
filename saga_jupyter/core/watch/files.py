"""Opening files in the output directory, where workers (untrusted) can put anything.

Only regular files are read: a link is never followed (``O_NOFOLLOW``), a FIFO or device never
waited on (``O_NONBLOCK``), and the check is made on the open descriptor (``fstat``), so a file
swapped between a look and the open cannot pass. ``O_NOFOLLOW`` concerns the last component
only: the output directory itself may be a link. A hard link (a file with more than one name)
is refused too: it can be a name in the output directory for any file of its file system.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator

logger = logging.getLogger(__name__)

# What open(2) says of a socket (ENXIO), a device without its driver (ENODEV) or a special file a
# file system cannot open (EOPNOTSUPP): none is a regular file.
NOT_REGULAR = (errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP)
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def open_regular(
    path: str | os.PathLike[str], *, hard_links: bool = False
) -> tuple[int, os.stat_result]:
    """Open a regular file for reading; its descriptor and status.

    Raises ``FileNotFoundError`` when there is no regular file at ``path``: a link, FIFO,
    socket, device or directory counts as none, and so does a file with other names (hard
    links) unless ``hard_links`` (for files not in the output directory). Other ``OSError`` as
    ``os.open`` raises them.
    """
    try:
        fd = os.open(path, READ_FLAGS)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK):  # a link (EMLINK: the BSDs' word)
            why = "a link, not a regular file"
            raise FileNotFoundError(errno.ENOENT, why, os.fspath(path)) from None
        if error.errno in NOT_REGULAR:
            why = "a socket or device, not a regular file"
            raise FileNotFoundError(errno.ENOENT, why, os.fspath(path)) from None
        raise
    try:
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise FileNotFoundError(errno.ENOENT, "not a regular file", os.fspath(path))
    if info.st_nlink > 1 and not hard_links:
        os.close(fd)
        why = "a hard link (the file has other names), not an output file"
        raise FileNotFoundError(errno.ENOENT, why, os.fspath(path))
    return fd, info


def read_regular(path: str | os.PathLike[str], limit: int, *, hard_links: bool = False) -> bytes:
    """The whole content of a regular file (see :func:`open_regular`) of at most ``limit`` bytes.

    A larger file raises ``OSError`` (``EFBIG``) before anything is read: the size is checked
    on the open descriptor (a sparse file can claim a terabyte), and again while reading (it
    may grow meanwhile).
    """
    fd, info = open_regular(path, hard_links=hard_links)
    try:
        parts, offset, size = [], 0, info.st_size
        while size <= limit:
            part = os.pread(fd, min(max(size - offset, 64 * 1024), limit + 1 - offset), offset)
            if not part:
                break
            parts.append(part)
            offset += len(part)
            size = max(size, offset)
        if size > limit:
            why = f"too large ({size} bytes; at most {limit} are read)"
            raise OSError(errno.EFBIG, why, os.fspath(path))
        return b"".join(parts)
    finally:
        os.close(fd)


def read_pieces(fd: int, start: int, end: int, piece: int) -> Iterator[bytes]:
    """The bytes of ``fd`` from ``start`` to ``end``, ``piece`` bytes at a time (never more held).

    Stops early where the file ends first (truncated meanwhile) or a read fails.
    """
    position = start
    while position < end:
        try:
            data = os.pread(fd, min(piece, end - position), position)
        except OSError:
            return
        if not data:
            return
        yield data
        position += len(data)


def create_exclusive(path: str | os.PathLike[str]) -> int:
    """Create an empty file (``0600``) that must not exist yet, not even as a dangling link.

    Returns its inode (what a writer checks it opened: :mod:`.panewriter`). Raises
    ``FileExistsError`` when anything is at ``path``.
    """
    fd = os.open(path, CREATE_FLAGS, 0o600)
    try:
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


def make_private_directory(directory: str | os.PathLike[str]) -> None:
    """Create ``directory`` and its parents if missing, the directory for this user only (0700).

    One that exists is left as it is (:func:`directory_warning` says whether it is private).
    """
    try:
        os.makedirs(directory, mode=0o700)
    except FileExistsError:
        return
    logger.info("output directory created (0700): %s", directory)


def directory_warning(directory: str | os.PathLike[str]) -> str | None:
    """Why other users could put files in ``directory`` (a link to it is followed), or ``None``.

    Other users who can write there can plant a link or a FIFO under a session's name.
    """
    try:
        info = os.stat(directory)
    except OSError:
        return None
    if info.st_uid != os.geteuid():
        return f"owned by another user (uid {info.st_uid}): other users can put files in it"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = stat.S_IMODE(info.st_mode)
        return f"writable by other users (mode {mode:04o}): chmod 700 it"
    return None
