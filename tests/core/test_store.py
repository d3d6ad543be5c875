from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import shutil
import signal
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import saga_jupyter as saga
from saga_jupyter.core import store as store_module
from saga_jupyter.core.errors import InvalidSessionName
from saga_jupyter.core.info import iso
from saga_jupyter.core.records import SessionRecord, parse_time
from saga_jupyter.core.store import MAX_FILE, MAX_RECORDS, MetadataStore, peek
from tests.helpers import many_records, read_bytes_of_this_process

START = 1795343400.0  # 2026-11-22T10:30:00Z
BACKUP_SUFFIX = ".corrupt-20261122T103000Z"


def keyed(*records: SessionRecord) -> dict[str, SessionRecord]:
    return {record.name: record for record in records}


def sample() -> dict[str, SessionRecord]:
    return keyed(
        SessionRecord(
            "saga__auth__login-form__4242",
            start_time=START,
            last_activity=START + 67,
            command="claude -p 'fix the \"login\" form' — ünïcode \udcff",
            cwd="/work/repo",
            worktree="/work/repo/.worktrees/login-form",
        ),
        SessionRecord(
            "saga__auth__old__17",
            status="completed",
            start_time=START - 3600,
            end_time=START - 1,
        ),
        SessionRecord("saga__billing__invoices__9"),
    )


def store_at(path: Path) -> MetadataStore:
    return MetadataStore(path, clock=lambda: START)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "saga" / "sessions.json"  # the parent does not exist yet


def test_round_trip(state_file: Path) -> None:
    records = sample()
    assert MetadataStore(state_file).save(records) is True
    assert MetadataStore(state_file).load() == records
    document = json.loads(state_file.read_text())
    assert document["version"] == 1
    stored = {item["name"]: item for item in document["sessions"]}
    launched = stored["saga__auth__login-form__4242"]
    assert launched["epicSlug"] == "auth"
    assert launched["storySlug"] == "login-form"
    assert launched["status"] == "running"
    assert launched["startTime"] == "2026-11-22T10:30:00Z"
    assert launched["lastActivity"].endswith("Z")
    assert launched["endTime"] is None
    assert stored["saga__auth__old__17"]["endTime"] == "2026-11-22T10:29:59Z"
    assert stored["saga__billing__invoices__9"]["command"] is None


@pytest.mark.parametrize("timestamp", [0.0, START, START + 1, 253402300799.0])
def test_times_preserved_exactly(state_file: Path, timestamp: float) -> None:
    assert parse_time(iso(timestamp)) == timestamp
    record = SessionRecord("saga__t__t__1", start_time=timestamp, end_time=timestamp)
    MetadataStore(state_file).save(keyed(record))
    loaded = MetadataStore(state_file).load()["saga__t__t__1"]
    assert (loaded.start_time, loaded.end_time) == (timestamp, timestamp)


def test_now_preserved_to_the_second(state_file: Path) -> None:
    now = time.time()
    MetadataStore(state_file).save(keyed(SessionRecord("saga__t__t__1", last_activity=now)))
    assert MetadataStore(state_file).load()["saga__t__t__1"].last_activity == int(now)


def test_ids_are_uuid4_and_stable(state_file: Path) -> None:
    records = sample()
    ids = {name: record.id for name, record in records.items()}
    assert len(set(ids.values())) == len(ids)
    assert all(uuid.UUID(value).version == 4 for value in ids.values())
    MetadataStore(state_file).save(records)
    store = MetadataStore(state_file)
    loaded = store.load()
    assert {name: record.id for name, record in loaded.items()} == ids
    ended = replace(loaded["saga__auth__login-form__4242"], status="completed", end_time=START + 99)
    assert store.save({**loaded, ended.name: ended}) is True
    again = MetadataStore(state_file).load()
    assert again[ended.name].status == "completed"
    assert {name: record.id for name, record in again.items()} == ids


def test_unchanged_records_are_not_written(state_file: Path) -> None:
    records = sample()
    store = MetadataStore(state_file)
    assert store.save(records) is True
    before = state_file.stat()
    for _ in range(100):
        assert store.save({name: replace(record) for name, record in records.items()}) is False
    reloaded = MetadataStore(state_file)
    for _ in range(100):
        assert reloaded.save(reloaded.load()) is False
    after = state_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(path.name for path in state_file.parent.iterdir()) == [state_file.name]
    changed = replace(records["saga__auth__old__17"], last_activity=START)
    assert store.save({**records, changed.name: changed}) is True
    assert state_file.stat().st_ino != before.st_ino  # replaced, not rewritten in place


def test_missing_file_is_empty_and_quiet(
    state_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = MetadataStore(state_file)
    assert store.load() == {}
    assert (store.last_error, store.backup_path) == (None, None)
    assert store.save({}) is False
    assert not state_file.exists()
    assert store.save(sample()) is True
    assert warnings_of(caplog) == []


TRUNCATED = json.dumps(
    {"version": 1, "sessions": [SessionRecord("saga__a__b__1").to_json()]}
).encode()[:-20]

DAMAGED = {
    "empty": (b"", "empty"),
    "blank": (b" \n\n", "empty"),
    "truncated": (TRUNCATED, "not valid JSON"),
    "wrong version": (b'{"version": 2, "sessions": []}', "unsupported version 2"),
    "boolean version": (b'{"version": true, "sessions": []}', "unsupported version True"),
    "no version": (b'{"sessions": []}', "unsupported version None"),
    "not an object": (b"[1, 2]", "not a JSON object"),
    "sessions not a list": (b'{"version": 1, "sessions": {}}', '"sessions" is not a list'),
    "outputDir not a string": (
        b'{"version": 1, "outputDir": 7, "sessions": []}',
        '"outputDir" is not a string',
    ),
    "binary junk": (bytes(range(256)) * 8, "not UTF-8"),
    "deeply nested": (b"[" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize(("content", "reason"), DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_file_is_moved_aside_and_reported_once(
    state_file: Path, caplog: pytest.LogCaptureFixture, content: bytes, reason: str
) -> None:
    state_file.parent.mkdir(parents=True)
    state_file.write_bytes(content)
    store = store_at(state_file)
    assert store.load() == {}
    (warning,) = warnings_of(caplog)
    assert reason in warning
    assert store.last_error is not None and reason in store.last_error
    backup = state_file.with_name(state_file.name + BACKUP_SUFFIX)
    assert store.backup_path == backup
    assert backup.read_bytes() == content
    assert not state_file.exists()
    records = sample()
    assert store.save(records) is True
    assert store_at(state_file).load() == records
    assert len(warnings_of(caplog)) == 1


def test_a_sparse_terabyte_file_is_set_aside_unread(state_file: Path, tmp_path: Path) -> None:
    # Reading it whole raised MemoryError: the extension never started, kernels failed to list.
    state_file.parent.mkdir(parents=True)
    state_file.write_text('{"version": 1, "sessions": []}\n')
    os.truncate(state_file, 1 << 40)
    before = read_bytes_of_this_process()
    assert peek(state_file, tmp_path) == {}  # a kernel's read: no MemoryError, nothing moved
    store = store_at(state_file)
    assert store.load() == {}
    assert read_bytes_of_this_process() - before < 1 << 20  # the size was checked, not read
    assert store.last_error == (
        f"cannot read it: too large ({1 << 40} bytes; at most {MAX_FILE} are read)"
    )
    assert store.backup_path == state_file.with_name(state_file.name + BACKUP_SUFFIX)
    assert store.backup_path.stat().st_size == 1 << 40 and not state_file.exists()
    assert store.refusal is None  # set aside as damaged: the next save writes a good one
    records = sample()
    assert store.save(records) is True
    assert store_at(state_file).load() == records


def test_a_kernel_lists_sessions_beside_a_sparse_terabyte_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # list_sessions() peeks at the store when its engine starts: it raised MemoryError.
    state_file = tmp_path / "sessions.json"
    state_file.write_text('{"version": 1, "sessions": []}\n')
    os.truncate(state_file, 1 << 40)
    monkeypatch.setenv("SAGA_STATE_FILE", str(state_file))
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "saga__e__s__1.out").write_text("done\n")
    listed = saga.list_sessions(output_dir=output_dir, tmux_socket_name="saga-none")
    assert [info.name for info in listed] == ["saga__e__s__1"]
    assert state_file.stat().st_size == 1 << 40  # left for the server to set aside


def test_a_load_that_fails_otherwise_leaves_the_file_and_the_store_memory_only(
    state_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    records = sample()
    store_at(state_file).save(records)
    content = state_file.read_bytes()

    def out_of_memory(data: bytes) -> Any:
        raise MemoryError

    monkeypatch.setattr(store_module, "_parse", out_of_memory)  # what no file can be made to do
    store = store_at(state_file)
    assert store.load() == {}  # never raises: the extension starts all the same
    assert store.refusal is not None and store.last_error == store.refusal
    assert "cannot be loaded (MemoryError" in store.refusal and "memory only" in store.refusal
    assert store.save(keyed(SessionRecord("saga__e__s__9"))) is False
    assert state_file.read_bytes() == content and store.backup_path is None
    assert len(warnings_of(caplog)) == 1
    monkeypatch.undo()
    assert store.load() == records and store.refusal is None  # the next load tries again


def test_at_most_max_records_are_read_and_written(state_file: Path) -> None:
    # 200,000 records: running ones are kept, then the newest completed; the rest never read.
    count, running_every = 200_000, 25_000
    many_records(state_file, count, running_every)
    store = store_at(state_file)
    loaded = store.load()
    running = {f"saga__e__s__{index}" for index in range(0, count, running_every)}
    completed = [f"saga__e__s__{index}" for index in range(count - 1, -1, -1)]
    newest = [name for name in completed if name not in running][: MAX_RECORDS - len(running)]
    assert loaded.keys() == running | set(newest)
    # Written back capped too, and a new session pushes out the oldest completed one.
    new = SessionRecord("saga__e__s__999999", "completed", START + count, START + count + 1)
    assert store.save({**loaded, new.name: new}) is True
    saved = store_at(state_file).load()
    assert len(saved) == MAX_RECORDS and new.name in saved and running <= saved.keys()
    assert saved.keys() == loaded.keys() - {newest[-1]} | {new.name}
    assert store.save({**loaded, new.name: new}) is False  # the same once capped: not rewritten


def plant(kind: str, path: Path) -> None:
    """Put something that is no regular file where the store's file should be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "directory":
        path.mkdir()
        (path / "inside").write_bytes(b"kept")
    elif kind == "fifo":
        os.mkfifo(path)
    else:  # a link, even to a good store file: never followed, never replaced
        target = path.with_name("elsewhere.json")
        target.write_bytes(b'{"version": 1, "sessions": []}')
        path.symlink_to(target)


@pytest.mark.parametrize("kind", ["directory", "fifo", "link"])
def test_a_path_that_is_no_regular_file_is_refused_never_moved(
    kind: str, state_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plant(kind, state_file)
    before = os.lstat(state_file)
    store = store_at(state_file)
    assert store.load() == {}  # a FIFO: returns at once, not blocked in open()
    (warning,) = warnings_of(caplog)
    assert "not a regular file" in warning and "memory only" in warning
    assert store.refusal is not None and store.last_error == store.refusal
    assert store.backup_path is None
    records = sample()
    assert store.save(records) is False  # kept in memory only
    after = os.lstat(state_file)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert [p.name for p in state_file.parent.iterdir() if "corrupt" in p.name] == []
    assert len(warnings_of(caplog)) == 1  # said once, not at every save
    if kind == "directory":
        assert (state_file / "inside").read_bytes() == b"kept"
    # Once the operator removes it, the next save writes the file.
    if kind == "directory":
        shutil.rmtree(state_file)
    else:
        state_file.unlink()
    assert store.save(records) is True
    assert store.refusal is None
    assert store_at(state_file).load() == records


def test_peek_never_blocks_on_a_fifo(state_file: Path, tmp_path: Path) -> None:
    plant("fifo", state_file)
    assert peek(state_file, tmp_path) == {}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_file_without_read_permission_is_moved_aside(
    state_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state_file.parent.mkdir(parents=True)
    state_file.write_bytes(b"{}")
    state_file.chmod(0)
    store = store_at(state_file)
    assert store.load() == {}
    (warning,) = warnings_of(caplog)
    assert "Permission denied" in warning
    assert store.backup_path is not None and store.backup_path.exists()
    assert store.save(sample()) is True


def test_backups_never_overwrite_each_other(state_file: Path) -> None:
    state_file.parent.mkdir(parents=True)
    backups = []
    for content in (b"first", b"second", b"third"):
        state_file.write_bytes(content)
        store = store_at(state_file)
        store.load()
        backups.append(store.backup_path)
    base = state_file.name + BACKUP_SUFFIX
    assert [path.name for path in backups if path] == [base, base + "-1", base + "-2"]
    assert [path.read_bytes() for path in backups if path] == [b"first", b"second", b"third"]


def test_bad_records_are_dropped_and_the_rest_kept(
    state_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = SessionRecord("saga__auth__login__1", start_time=START)
    item = good.to_json()
    bad: list[Any] = [
        {**item, "name": "saga__auth__login__1; rm -rf ~"},
        {**item, "name": "../../etc/passwd"},
        {**item, "name": 7},
        42,
        {**item, "status": "paused"},
        {**item, "startTime": "yesterday"},
        {**item, "endTime": "2026-13-01T00:00:00Z"},
        {**item, "id": "not-a-uuid"},
        {key: value for key, value in item.items() if key != "id"},
        {**item, "epicSlug": "billing"},
        {**item, "command": ["rm", "-rf"]},
        item,  # a second record of the same name
    ]
    state_file.parent.mkdir(parents=True)
    state_file.write_text(json.dumps({"version": 1, "sessions": [item, *bad]}))
    store = MetadataStore(state_file)
    assert store.load() == keyed(good)
    assert len(warnings_of(caplog)) == len(bad)
    assert (store.last_error, store.backup_path) == (None, None)
    assert store.save(keyed(good)) is True  # rewritten without the dropped records
    assert len(json.loads(state_file.read_text())["sessions"]) == 1
    caplog.clear()
    assert MetadataStore(state_file).load() == keyed(good)
    assert warnings_of(caplog) == []


def test_optional_fields_may_be_missing(state_file: Path) -> None:
    record_id = str(uuid.uuid4())
    state_file.parent.mkdir(parents=True)
    minimal = {"name": "saga__a__b__1", "id": record_id, "status": "completed"}
    state_file.write_text(json.dumps({"version": 1, "sessions": [minimal]}))
    expected = SessionRecord("saga__a__b__1", status="completed", id=record_id)
    assert MetadataStore(state_file).load() == keyed(expected)


def test_the_file_says_whose_sessions_it_holds(tmp_path: Path, state_file: Path) -> None:
    output_dir = tmp_path / "sessions"
    records = sample()
    store = MetadataStore(state_file, output_dir=tmp_path / "link" / ".." / "sessions")
    store.save(records)
    assert json.loads(state_file.read_text())["outputDir"] == str(output_dir)
    again = MetadataStore(state_file, output_dir=output_dir)
    assert again.load() == records
    assert again.save(records) is False


def test_a_file_of_another_output_dir_is_moved_aside(
    tmp_path: Path, state_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    MetadataStore(state_file, output_dir=tmp_path / "a").save(sample())
    content = state_file.read_bytes()
    store = MetadataStore(state_file, clock=lambda: START, output_dir=tmp_path / "b")
    assert store.load() == {}
    reason = f"it holds the sessions of {tmp_path / 'a'}, not of {tmp_path / 'b'}"
    reason += " (one state_file per output_dir)"
    assert store.last_error == reason
    (warning,) = warnings_of(caplog)
    assert reason in warning
    assert store.backup_path == state_file.with_name(state_file.name + ".other-20261122T103000Z")
    assert store.backup_path.read_bytes() == content
    assert not state_file.exists()


def test_the_directory_is_matched_through_links(tmp_path: Path, state_file: Path) -> None:
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real)
    records = sample()
    MetadataStore(state_file, output_dir=link).save(records)
    assert json.loads(state_file.read_text())["outputDir"] == str(real)
    assert peek(state_file, real) == peek(state_file, f"{link}/") == records
    assert peek(state_file, tmp_path) == {}


def test_a_directory_made_after_the_file_is_matched(tmp_path: Path, state_file: Path) -> None:
    # The server started before its output directory existed; then it was made, as a link.
    later, real = tmp_path / "later", tmp_path / "real"
    records = sample()
    MetadataStore(state_file, output_dir=later).save(records)
    real.mkdir()
    later.symlink_to(real)
    assert peek(state_file, real) == records
    store = MetadataStore(state_file, output_dir=real)
    assert (store.load(), store.last_error) == (records, None)


def test_a_file_from_before_output_dir_is_used_and_rewritten(
    tmp_path: Path, state_file: Path
) -> None:
    records = sample()
    MetadataStore(state_file).save(records)
    assert "outputDir" not in json.loads(state_file.read_text())
    store = MetadataStore(state_file, output_dir=tmp_path)
    assert store.load() == records
    assert peek(state_file, tmp_path) == {}  # kernels wait for the server to say whose it is
    assert store.save(records) is True  # the same records, now with their directory
    assert json.loads(state_file.read_text())["outputDir"] == str(tmp_path)
    assert peek(state_file, tmp_path) == records


def test_write_failure_is_reported_once_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the directory should be")
    store = MetadataStore(blocker / "sessions.json")
    records = sample()
    for _ in range(3):
        assert store.save(records) is False
    assert len(warnings_of(caplog)) == 1
    assert store.save_error is not None
    blocker.unlink()
    assert store.save(records) is True
    assert store.save_error is None
    assert MetadataStore(blocker / "sessions.json").load() == records


def test_a_name_that_is_not_saga_is_never_written(state_file: Path) -> None:
    with pytest.raises(InvalidSessionName):
        MetadataStore(state_file).save(keyed(SessionRecord("saga__a__b__1; reboot")))
    assert not state_file.exists()


SLUGS = st.from_regex(r"[a-z0-9]+(-[a-z0-9]+)?", fullmatch=True)
TIMES = st.none() | st.floats(0, 4e9)
TEXTS = st.none() | st.text(max_size=40)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(SLUGS, SLUGS, st.sampled_from(["running", "completed"]), TIMES, TIMES, TIMES, TEXTS, TEXTS)
def test_a_record_line_is_its_json(
    epic: str, story: str, status: Any, start: Any, end: Any, last: Any, command: Any, cwd: Any
) -> None:
    # The line is put together by hand for speed: it must be what json.dumps would write.
    record = SessionRecord(f"saga__{epic}__{story}__7", status, start, end, last, command, cwd)
    assert record.line == json.dumps(record.to_json())


def test_thousand_records(state_file: Path) -> None:
    records = keyed(
        *(
            SessionRecord(f"saga__epic-{i % 7}__story-{i}__{1000 + i}", start_time=START + i)
            for i in range(1000)
        )
    )
    store = MetadataStore(state_file)
    assert store.save(records) is True
    assert len(json.loads(state_file.read_text())["sessions"]) == 1000
    assert MetadataStore(state_file).load() == records
    assert store.save(records) is False


CRASH_NAMES = [f"saga__crash__worker-{i}__{i}" for i in range(40)]


def generation_records(
    generation: int, previous: dict[str, SessionRecord]
) -> dict[str, SessionRecord]:
    """Generation ``n``: 1 + n % 40 records, all stamped with ``n``; ids carried over."""
    records = {}
    for name in CRASH_NAMES[: 1 + generation % len(CRASH_NAMES)]:
        fields: dict[str, Any] = {
            "start_time": START + generation,
            "command": f"generation {generation} " + "x" * 500,
        }
        old = previous.get(name)
        records[name] = replace(old, **fields) if old else SessionRecord(name, **fields)
    return records


def writer(path: str, ready: Any) -> None:
    """Save ever newer generations until killed."""
    store = MetadataStore(path)
    records = store.load()
    generation = 0
    if records:
        generation = int((next(iter(records.values())).start_time or 0) - START) + 1
    ready.set()
    while True:
        records = generation_records(generation, records)
        store.save(records)
        generation += 1


def test_killed_writer_leaves_an_old_or_new_version(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    context = multiprocessing.get_context("fork")  # a fresh interpreter per burst is too slow
    seen, first_id, torn = -1, None, 0
    for burst in range(50):
        ready = context.Event()
        child = context.Process(target=writer, args=(str(path), ready), daemon=True)
        child.start()
        try:
            assert ready.wait(10)
            delay = random.uniform(0, 0.02)
            time.sleep(delay)  # kill at a random point of the burst: the point of the test
        finally:
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
        assert child.exitcode == -signal.SIGKILL, "the writer stopped before it was killed"
        torn += any(tmp_path.glob(".sessions.json.*.tmp"))  # killed in the middle of a save
        store = MetadataStore(path)
        records = store.load()
        context_text = f"burst {burst}, killed after {delay * 1000:.1f} ms"
        assert store.last_error is None, context_text
        assert not any(tmp_path.glob(".sessions.json.*.tmp")), context_text  # load cleans up
        assert not list(tmp_path.glob("*.corrupt-*")), context_text
        if not records:
            assert seen == -1, context_text  # only before the first save ever completed
            continue
        stamps = {record.start_time or 0.0 for record in records.values()}
        assert len(stamps) == 1, context_text  # one generation throughout
        generation = int(stamps.pop() - START)
        assert records == generation_records(generation, records), context_text
        assert generation >= seen, context_text
        seen = generation
        first_id = first_id or records[CRASH_NAMES[0]].id
        assert records[CRASH_NAMES[0]].id == first_id, context_text
    assert torn > 0  # some kills landed in the middle of a save
