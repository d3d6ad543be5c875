/**
 * How times and sessions read in the panel and the status bar: pure functions.
 */
import { ICounts } from './model';
import { ISessionInfo } from './api';

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

/** The last non-empty line of a session's preview, or `''`. */
export function lastLine(preview: string | null): string {
  const lines = (preview ?? '').split('\n').filter(line => line.trim() !== '');
  return lines.length ? lines[lines.length - 1].trim() : '';
}

/** `2 running · 4 done`. */
export function formatCounts(counts: ICounts): string {
  return `${counts.running} running · ${counts.completed} done`;
}
