"""sort=attention over both generations: blocked, failed, ran out, running, the rest."""

from __future__ import annotations

from saga_jupyter.core.info import SessionInfo
from saga_jupyter.core.saga.worker import OUTCOMES, WorkerReading, attention_rank


def session(name: str, status: str, worker: WorkerReading | None) -> SessionInfo:
    return SessionInfo(
        name=name, epic_slug=None, story_slug=name, status=status,  # type: ignore[arg-type]
        output_file=f"/out/{name}.jsonl", output_available=True, start_time=None,
        end_time=None, last_activity=None, output_preview=None, worker=worker,
    )  # fmt: skip


def test_blocked_then_failed_then_ran_out_then_running_then_the_rest() -> None:
    sessions = [
        session("finished", "completed", WorkerReading(outcome="FINISH")),
        session("running", "running", WorkerReading(cycle=2)),
        session("stopped", "completed", WorkerReading(outcome="STOPPED")),
        session("no-worker", "completed", None),
        session("running-bare", "running", None),
        session("incomplete", "completed", WorkerReading(outcome="INCOMPLETE")),
        session("timeout", "completed", WorkerReading(outcome="TIMEOUT")),
        session("error", "completed", WorkerReading(outcome="ERROR")),
        session("max-cycles", "completed", WorkerReading(outcome="MAX_CYCLES")),
        session("blocked", "completed", WorkerReading(outcome="BLOCKED")),
        # A today's worker still running whose story's journal has an unresolved blocker.
        session("journal-blocker", "running", WorkerReading(cycle=1, blocker="Which API?")),
    ]
    ordered = [info.name for info in sorted(sessions, key=attention_rank)]  # stable
    assert ordered == [
        "blocked", "journal-blocker", "error", "incomplete", "timeout", "max-cycles",
        "running", "running-bare", "finished", "stopped", "no-worker",
    ]  # fmt: skip
    needing = {info.name for info in sessions if info.worker and info.worker.needs_attention}
    assert needing == {
        "blocked", "journal-blocker", "error", "incomplete", "timeout", "max-cycles",
    }  # fmt: skip
    assert set(OUTCOMES) >= {"FINISH", "INCOMPLETE", "ERROR", "STOPPED", "BLOCKED"}
