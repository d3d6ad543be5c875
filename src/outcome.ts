/**
 * How a worker ended, in one vocabulary for the panel, its badges and the notifications:
 * both generations of SAGA (v3's FINISH/BLOCKED/TIMEOUT/MAX_CYCLES/ERROR, v4's
 * FINISH/INCOMPLETE/ERROR/STOPPED) read alike. Each outcome has one colour (style/base.css,
 * `data-outcome`).
 */
import { ISessionInfo, Outcome } from './api';

/** What a person reads for each outcome. */
export const OUTCOME_LABELS: Readonly<Record<Outcome, string>> = {
  FINISH: 'finished',
  INCOMPLETE: 'incomplete',
  ERROR: 'failed',
  STOPPED: 'stopped',
  BLOCKED: 'blocked',
  TIMEOUT: 'timed out',
  MAX_CYCLES: 'out of cycles'
};

/** What each outcome means, said on hover. */
const MEANINGS: Readonly<Record<Outcome, string>> = {
  FINISH: 'Finished: every task completed',
  INCOMPLETE:
    'Incomplete: its cycles or time ran out before every task completed',
  ERROR: 'Failed: the worker ended with an error',
  STOPPED: 'Stopped on request',
  BLOCKED: 'Blocked: it waits for a person',
  TIMEOUT: 'Timed out',
  MAX_CYCLES: 'Out of cycles'
};

/** Longest reason a badge's hover or a notification carries. */
const MAX_REASON = 300;

/** A session's outcome, or `null` while it runs or for output that is not a worker's. */
export function outcomeOf(session: ISessionInfo): string | null {
  return session.worker?.outcome ?? null;
}

/** `finished`, `timed out`, ...; an outcome a newer server added, in lower case. */
export function outcomeLabel(outcome: string): string {
  return (
    OUTCOME_LABELS[outcome as Outcome] ??
    outcome.toLowerCase().replace(/_/g, ' ')
  );
}

/** Why it ended so, in the worker's words: the blocker of a blocked one, else its summary. */
export function outcomeReason(session: ISessionInfo): string | null {
  const worker = session.worker;
  if (!worker?.outcome) {
    return null;
  }
  const reason =
    (worker.outcome === 'BLOCKED' ? worker.blocker : null) ||
    (worker.outcome === 'ERROR' ? errorFirst(worker.summary) : null) ||
    worker.summary ||
    worker.blocker ||
    '';
  const text = reason.trim().replace(/\s+/g, ' ');
  if (!text) {
    return null;
  }
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text;
}

/**
 * A failed worker's summary with its last line first: for today's workers it is the last
 * lines its pane showed, and the error is the last of them (cut short, it must survive).
 */
function errorFirst(summary: string | null | undefined): string | null {
  const lines = (summary ?? '')
    .split('\n')
    .map(line => line.trim())
    .filter(line => line !== '');
  if (!lines.length) {
    return null;
  }
  const last = lines.pop()!;
  return lines.length ? `${last} · ${lines.join(' ')}` : last;
}

/** The badge's hover text: what the outcome means and, when known, why. */
export function outcomeTitle(session: ISessionInfo): string {
  const outcome = outcomeOf(session) ?? '';
  const meaning = MEANINGS[outcome as Outcome] ?? outcomeLabel(outcome);
  const reason = outcomeReason(session);
  return reason ? `${meaning}\n${reason}` : meaning;
}
