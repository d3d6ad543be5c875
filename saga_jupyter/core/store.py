"""The metadata store: what is remembered of every SAGA session, in one JSON file.

The file is ``{"version": 1, "outputDir": path, "sessions": [record, ...]}``: the records are
of the sessions in that output directory; camelCase records, times as ISO 8601 UTC strings
ending in ``Z``, in whole seconds. In memory, times are Unix timestamps (as in
``SessionInfo``, whole seconds too, so they survive a round trip exactly). The file is
replaced atomically and only when the records changed.
A path that is there but is no regular file (a directory, a link, a FIFO) is never read, moved
or replaced: the records are then kept in memory only, and ``refusal`` says why.
A file that cannot be used (damaged, or larger than :data:`MAX_FILE`) is moved aside to
``<state_file>.corrupt-<UTC time>``, one of another output directory to
``<state_file>.other-<UTC time>``, and reported once; the caller rebuilds its state from tmux and
the output directory. Any other failure to load (a bug, no memory) leaves the file as it is and
the records in memory only. At most :data:`MAX_RECORDS` records are kept, read or written: the
oldest completed sessions are forgotten first, running ones last.
A file without ``outputDir`` (written before it was added) is used by the server, which writes
it again with the field at once; :func:`peek` does not use it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from .records import SessionRecord
from .retention import MAX_RECORDS, kept, newest_first
from .watch.files import read_regular

logger = logging.getLogger(__name__)

VERSION = 1
# Bytes: MAX_RECORDS records take a few MiB. A larger file is not read (a sparse one can claim a
# terabyte): it is set aside as damaged.
MAX_FILE = 64 << 20
MAX_DROPPED_LOGGED = 20  # unusable records named in the log; the rest are counted


class MetadataStore:
    """The JSON file of session records, keyed by name: atomic writes, and only on change.

    ``output_dir`` is the directory whose sessions the records are of: written into the file,
    and a file of another directory is not used. After :meth:`load`, ``last_error`` says why
    the file could not be used (``None`` when it could, or was missing) and ``backup_path``
    where it was moved. ``save_error`` says why the last :meth:`save` failed (``None`` after a
    good one).
    """

    def __init__(
        self,
        state_file: str | os.PathLike[str],
        clock: Callable[[], float] = time.time,
        *,
        output_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.state_file = Path(state_file)
        self.clock = clock
        self.output_dir = output_dir
        self.last_error: str | None = None
        self.backup_path: Path | None = None
        self.save_error: str | None = None
        #: Why ``state_file`` is not used at all (it is no regular file, or loading it failed
        #: unexpectedly), or ``None``.
        self.refusal: str | None = None
        self._failure: str | None = None  # why load failed unexpectedly: the file is left alone
        self._saved: dict[str, SessionRecord] | None = None  # what the file holds, when known
        self._temporary_prefix = f".{self.state_file.name}."

    def load(self) -> dict[str, SessionRecord]:
        """The records in the file; ``{}`` when it is missing, damaged or of another directory.

        A damaged file, or one of another output directory, is moved aside and logged. Any other
        failure is logged and makes the store memory-only: it never raises.
        """
        self._failure = None
        try:
            return self._load()
        except Exception as error:  # no memory, a bug: the caller starts all the same
            self._saved = None
            self._failure = self.refusal = self.last_error = (
                f"state_file {self.state_file} cannot be loaded ({type(error).__name__}: "
                f"{error}): sessions are remembered in memory only, the file is left as it is"
            )
            logger.exception("metadata store: %s", self.refusal)
            return {}

    def _load(self) -> dict[str, SessionRecord]:
        self.last_error, self.backup_path, self._saved = None, None, None
        self.refusal = self._refusal()
        if self.refusal is not None:
            self.last_error = self.refusal
            logger.warning("metadata store: %s", self.refusal)
            return {}
        self._remove_temporary_files()
        try:
            data = read_regular(self.state_file, MAX_FILE, hard_links=True)
        except FileNotFoundError:
            self.refusal = self.last_error = self._refusal()  # something else appeared meanwhile
            self._saved = None if self.refusal else {}
            return {}
        except OSError as error:
            return self._set_aside(f"cannot read it: {error.strerror or error}", "corrupt")
        try:
            written_for, sessions = _parse(data)
        except ValueError as error:
            return self._set_aside(str(error), "corrupt")
        here = self.output_dir
        if here is not None and written_for is not None and not _is_directory(written_for, here):
            reason = f"it holds the sessions of {written_for}, not of {os.path.realpath(here)}"
            return self._set_aside(f"{reason} (one state_file per output_dir)", "other")
        records = _records(sessions, self.state_file)
        if len(records) == len(sessions) and (written_for is None) == (self.output_dir is None):
            self._saved = records  # else the next save rewrites it: to drop them or add outputDir
        return dict(records)

    def save(self, records: Mapping[str, SessionRecord]) -> bool:
        """Write ``records`` unless they equal what was last loaded or saved; whether it wrote.

        A failed write is logged (once, until a write succeeds) and kept in ``save_error``;
        the next save tries again. A name that is not SAGA raises ``InvalidSessionName``.
        """
        snapshot = kept(records)
        if snapshot == self._saved:
            return False
        refusal = self._refusal()
        if refusal != self.refusal:
            logger.warning("metadata store: %s", refusal or f"{self.state_file} can be used again")
            self.refusal = self.last_error = refusal
        if refusal is not None:
            return False
        # One record a line: a save re-encodes only the records that changed.
        lines = ",\n".join(snapshot[name].line for name in sorted(snapshot))
        head = f'{{"version": {VERSION}, '
        if self.output_dir is not None:
            head += f'"outputDir": {json.dumps(os.path.realpath(self.output_dir))}, '
        content = f'{head}"sessions": [\n{lines}\n]}}\n'
        try:
            self._write(content.encode())
        except OSError as error:
            if str(error) != self.save_error:
                logger.warning("cannot write the metadata store %s: %s", self.state_file, error)
            self.save_error = str(error)
            return False
        self.save_error, self._saved = None, snapshot
        return True

    def _refusal(self) -> str | None:
        """Why the path cannot be the store (it is there, but no regular file), or ``None``.

        Such a path is the operator's mistake, or a trap: it is neither read nor replaced, and
        the sessions are remembered in memory only while it stays so. So is a file whose
        loading failed unexpectedly, until the next load.
        """
        if self._failure is not None:
            return self._failure
        try:
            mode = os.lstat(self.state_file).st_mode
        except OSError:
            return None  # absent (or unreadable: reading says why)
        if stat.S_ISREG(mode):
            return None
        kind = "a link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else None
        kind = kind or "a FIFO, socket or device"
        return (
            f"state_file {self.state_file} is {kind}, not a regular file: sessions are "
            "remembered in memory only (point state_file at a file, or remove what is there)"
        )

    def _write(self, content: bytes) -> None:
        """Replace the file atomically: readers and crashes see the old or the new version."""
        directory = self.state_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(".tmp", self._temporary_prefix, directory)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.state_file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        try:  # makes the rename durable; some file systems cannot fsync a directory
            directory_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(directory_fd)
            finally:
                os.close(directory_fd)
        except OSError as error:
            logger.debug("cannot fsync %s: %s", directory, error)

    def _remove_temporary_files(self) -> None:
        """Remove what a writer killed between ``mkstemp`` and ``os.replace`` left behind."""
        with contextlib.suppress(OSError), os.scandir(self.state_file.parent) as entries:
            for entry in entries:
                if entry.name.startswith(self._temporary_prefix) and entry.name.endswith(".tmp"):
                    os.unlink(entry.path)

    def _set_aside(self, reason: str, kind: str) -> dict[str, SessionRecord]:
        """Move a file that cannot be used aside and report it once; the state starts empty."""
        self.last_error = reason
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))
        backup = self.state_file.with_name(f"{self.state_file.name}.{kind}-{stamp}")
        counter = 0
        while os.path.lexists(backup):
            counter += 1
            backup = self.state_file.with_name(f"{self.state_file.name}.{kind}-{stamp}-{counter}")
        try:
            os.replace(self.state_file, backup)
        except OSError as error:
            where = f"it cannot be moved aside: {error}"
        else:
            self.backup_path, self._saved = backup, {}
            where = f"moved aside to {backup}"
        logger.warning("metadata store %s unusable (%s); %s", self.state_file, reason, where)
        return {}


def peek(
    state_file: str | os.PathLike[str], output_dir: str | os.PathLike[str]
) -> dict[str, SessionRecord]:
    """The usable records of a store file of ``output_dir``, read without changing it.

    ``{}`` when there are none, or the file does not say it is of ``output_dir``. For readers
    beside the server (a notebook's kernel): only the server repairs the file.
    """
    try:
        written_for, sessions = _parse(read_regular(state_file, MAX_FILE, hard_links=True))
        return _records(sessions) if _is_directory(written_for, output_dir) else {}
    except (OSError, ValueError):
        return {}
    except Exception:  # no memory, a bug: a kernel lists what tmux and the files say
        logger.exception("cannot read the metadata store %s", state_file)
        return {}


def _is_directory(written_for: str | None, output_dir: str | os.PathLike[str]) -> bool:
    """Whether a file's ``outputDir`` names ``output_dir``: the same directory, or path if missing.

    Both may have changed since the file was written: a directory created, a link retargeted.
    """
    if written_for is None:
        return False
    try:
        return os.path.samefile(written_for, output_dir)
    except OSError:
        return written_for == os.path.realpath(output_dir)


def _records(items: list[object], source: Path | None = None) -> dict[str, SessionRecord]:
    """The usable records by name, without the unusable ones and second records for a name.

    Each one dropped is logged as a warning naming ``source``, when one is given (the first
    few, then how many). Of more than :data:`MAX_RECORDS`, the newest (running first) are kept.
    """
    records: dict[str, SessionRecord] = {}
    dropped = 0
    ordered = newest_first(items) if len(items) > MAX_RECORDS else items
    for index, item in enumerate(ordered):
        if len(records) == MAX_RECORDS:
            if source is not None:
                logger.warning(
                    "%s: %d session records beyond the %d kept (the oldest completed) forgotten",
                    source, len(items) - index, MAX_RECORDS,
                )  # fmt: skip
            break
        try:
            record = SessionRecord.from_json(item)
            if record.name in records:
                raise ValueError(f"a second record for {record.name}")
        except ValueError as error:
            dropped += 1
            if source is not None and dropped <= MAX_DROPPED_LOGGED:
                logger.warning("%s: dropping session record %d: %s", source, index, error)
            continue
        records[record.name] = record
    if source is not None and dropped > MAX_DROPPED_LOGGED:
        logger.warning("%s: %d session records dropped in all", source, dropped)
    return records


def _parse(data: bytes) -> tuple[str | None, list[object]]:
    """A store file's ``outputDir`` and ``sessions``; ``ValueError`` saying why it is unusable."""
    if not data.strip():
        raise ValueError("the file is empty")
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as error:
        raise ValueError(f"not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    version = document.get("version")
    if type(version) is not int or version != VERSION:
        raise ValueError(f"unsupported version {version!r:.40}")
    if not isinstance(sessions := document.get("sessions"), list):
        raise ValueError('"sessions" is not a list')
    if not isinstance(written_for := document.get("outputDir"), str | None):
        raise ValueError('"outputDir" is not a string')
    return written_for, sessions
