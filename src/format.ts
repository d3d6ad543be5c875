/**
 * How times and sessions read in the panel and the status bar: pure functions.
 */
import { ICounts } from './model';
import { ISessionInfo, ITaskCounts, IWorkerReading } from './api';

/** `45s`, `3m 12s`, `2h 05m`, `3d 4h`. */
export function formatDuration(milliseconds: number): string {
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  if (seconds < 60) {
    return `${seconds}s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}m ${seconds % 60}s`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  }
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** `just now`, `12s ago`, `3m ago`, `2h ago`, `3d ago`. */
export function formatAgo(milliseconds: number): string {
  if (milliseconds < 5000) {
    return 'just now';
  }
  const text = formatDuration(milliseconds);
  return `${text.split(' ')[0]} ago`;
}

/** How long a session ran (or has been running, at `now`); `null` without a start time. */
export function sessionDuration(
  session: ISessionInfo,
  now: number
): number | null {
  const start = parseTime(session.startTime);
  if (start === null) {
    return null;
  }
  const end =
    session.status === 'running' ? now : (parseTime(session.endTime) ?? now);
  return end - start;
}

/** Milliseconds since the epoch of an ISO 8601 time, or `null`. */
export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) {
    return null;
  }
  const time = Date.parse(iso);
  return Number.isNaN(time) ? null : time;
}

/**
 * The last non-empty line of a session's preview, or `''`. For a worker writing messages, a
 * line that is one of its JSON messages is no preview a person reads: those are skipped.
 */
export function lastLine(
  preview: string | null,
  format: ISessionInfo['outputFormat'] = 'terminal'
): string {
  const lines = (preview ?? '')
    .split('\n')
    .map(line => line.trim())
    .filter(line => line !== '')
    .filter(line => format !== 'messages' || !line.startsWith('{'));
  return lines.length ? lines[lines.length - 1] : '';
}

/**
 * The line that tells most about a session (as `SessionInfo.last_line` in Python): once it
 * ended, its blocker or the summary's line that says why (a failure's last line, else the
 * first); else its output's last line. A seeds' worker's output ends with its result JSON
 * (`}`); a failed today's worker's with nothing at all.
 */
export function tellingLine(session: ISessionInfo): string {
  const worker = session.worker;
  if (session.status === 'completed' && worker) {
    if (worker.blocker) {
      return worker.blocker.trim().split('\n')[0];
    }
    const lines = (worker.summary ?? '')
      .split('\n')
      .map(line => line.trim())
      .filter(line => line !== '');
    if (lines.length) {
      return worker.outcome === 'ERROR' ? lines[lines.length - 1] : lines[0];
    }
  }
  return lastLine(session.outputPreview, session.outputFormat);
}

/** `2 running · 4 done`. */
export function formatCounts(counts: ICounts): string {
  return `${counts.running} running · ${counts.completed} done`;
}

/** What groups and labels call a session without an epic (a v4 story of an unknown project). */
export const NO_EPIC = 'no epic';

/** `auth/login-form`, or `login-form` for a session without an epic. */
export function storyName(session: ISessionInfo): string {
  return session.epicSlug
    ? `${session.epicSlug}/${session.storySlug}`
    : session.storySlug;
}

/** `cycle 2/10` (`cycle 2` when the limit is not known), or `''` before the first cycle. */
export function formatCycle(worker: IWorkerReading | null | undefined): string {
  const cycle = worker?.cycle;
  if (typeof cycle !== 'number') {
    return '';
  }
  const max = worker?.maxCycles;
  return typeof max === 'number' ? `cycle ${cycle}/${max}` : `cycle ${cycle}`;
}

/** `$6.42` (`<$0.01` for less), or `''` when the cost is not known. */
export function formatCost(worker: IWorkerReading | null | undefined): string {
  const cost = worker?.costUsd;
  if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) {
    return '';
  }
  return cost > 0 && cost < 0.005 ? '<$0.01' : `$${cost.toFixed(2)}`;
}

/** `tasks 3/5` (`tasks 3 done` while the story's count is unknown), or `''`. */
export function formatTasks(worker: IWorkerReading | null | undefined): string {
  const tasks = worker?.tasks;
  if (!tasks || typeof tasks.completed !== 'number') {
    return '';
  }
  if (typeof tasks.total === 'number') {
    return `tasks ${tasks.completed}/${tasks.total}`;
  }
  return tasks.completed || tasks.inProgress
    ? `tasks ${tasks.completed} done`
    : '';
}

/** The hover text of a task count: completed, in progress, of how many. */
export function describeTasks(tasks: ITaskCounts): string {
  const of = typeof tasks.total === 'number' ? ` of ${tasks.total}` : '';
  return `${tasks.completed}${of} tasks completed, ${tasks.inProgress} in progress`;
}
