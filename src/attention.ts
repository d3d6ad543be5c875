/**
 * Who needs a person, for someone looking elsewhere: the count of workers that ended blocked
 * or failed, carried in the browser tab's title (`(2) JupyterLab`, as Claude Code's Agent View
 * says "2 awaiting input"), and the transitions to those outcomes a browser notification tells
 * (each once: by session and outcome, and only those seen live, never an initial list's).
 */
import { ISessionInfo } from './api';
import { hostOf, sessionKey } from './hosts';
import { outcomeOf } from './outcome';

/** The outcomes that wait for a person. */
export const NEEDS_YOU: ReadonlySet<string> = new Set(['BLOCKED', 'ERROR']);

/** How many listed workers wait for a person. */
export function countNeedingYou(sessions: ReadonlyArray<ISessionInfo>): number {
  return sessions.filter(session => NEEDS_YOU.has(outcomeOf(session) ?? ''))
    .length;
}

/**
 * Keeps `(N) ` in front of the document's title while N > 0, whatever title JupyterLab sets
 * meanwhile (it retitles the page as the current tab changes), and removes it at 0.
 */
export class TitleCount {
  constructor() {
    this._observer.observe(document.head, {
      childList: true,
      characterData: true,
      subtree: true
    });
  }

  /** The number shown; 0 shows none. */
  get count(): number {
    return this._count;
  }
  set count(count: number) {
    this._count = count;
    this._apply();
  }

  /** Restore the title and stop. */
  dispose(): void {
    this._observer.disconnect();
    this._count = 0;
    this._apply();
  }

  private _apply(): void {
    const title = document.title;
    const base =
      this._prefix && title.startsWith(this._prefix)
        ? title.slice(this._prefix.length)
        : title;
    this._prefix = this._count > 0 ? `(${this._count}) ` : '';
    const wanted = this._prefix + base;
    if (wanted !== title) {
      document.title = wanted; // observed: _apply again finds it as wanted
    }
  }

  private _count = 0;
  private _prefix = '';
  private _observer = new MutationObserver(() => this._apply());
}

/** A transition to an outcome that waits for a person, to be told once. */
export interface IAlert {
  session: ISessionInfo;
  outcome: string;
}

/**
 * Finds the transitions to blocked or failed in successive session lists. The first list of
 * each connection (on load, and after every reconnect) is what was already so: it is
 * remembered, not told; a session and outcome told once are never told again.
 */
export class AlertTracker {
  /**
   * The alerts a new list brings. `connection` counts the channel's connections: a list of a
   * connection not seen before is that connection's first.
   */
  update(sessions: ReadonlyArray<ISessionInfo>, connection: number): IAlert[] {
    const first = this._known === null || connection !== this._connection;
    this._connection = connection;
    const alerts: IAlert[] = [];
    const now = new Map<string, string | null>();
    for (const session of sessions) {
      const outcome = outcomeOf(session);
      const id = sessionKey(session.name, hostOf(session));
      now.set(id, outcome);
      if (outcome === null || !NEEDS_YOU.has(outcome)) {
        continue;
      }
      const key = `${id}\n${outcome}`;
      const changed = this._known?.get(id) !== outcome;
      if (!first && changed && !this._told.has(key)) {
        alerts.push({ session, outcome });
      }
      this._told.add(key);
    }
    this._known = now;
    return alerts;
  }

  private _known: Map<string, string | null> | null = null;
  private _connection = -1;
  private _told = new Set<string>();
}
