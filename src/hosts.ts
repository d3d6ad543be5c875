/**
 * Many hosts: which server a session (or a story) is on, and how a remote's state reads to a
 * person.
 *
 * A session or story of this server's own has no `host` (`null`); one of a remote (the
 * `remotes` trait, or a JupyterHub's servers behind `saga-jupyter hub-service`) has the
 * remote's name. Two hosts may each run a worker of the same name (or hold a story of the same
 * id): a session is its host and its name.
 */
import { IRemoteStatus, ISessionInfo } from './api';
import { parseTime } from './format';

/** How the panel names this server's own sessions' host. */
export const THIS_SERVER = 'this server';

/** What the servers list by host: sessions, stories and epics. */
export interface IHosted {
  /** The remote's name; missing or `null` for this server's own. */
  host?: string | null;
  /** Its remote is not answering: as last seen. */
  stale?: boolean;
}

/** A session's (a story's) host: its remote's name, or `null` for this server's own. */
export function hostOf(item: IHosted): string | null {
  return item.host ?? null;
}

/** One string naming a session on its host (names hold no newline). */
export function sessionKey(name: string, host: string | null): string {
  return host === null ? name : `${host}\n${name}`;
}

/** `args` with the `host` of a remote's session or story (this server's own go without). */
export function withHost<T extends object>(
  args: T,
  host: string | null
): T & { host?: string } {
  return host === null ? args : { ...args, host };
}

/** What the panel calls a host. */
export function hostLabel(host: string | null): string {
  return host ?? THIS_SERVER;
}

/** Whether the panel shows hosts: a session of a remote is listed, or remotes are known. */
export function showsHosts(
  sessions: ReadonlyArray<ISessionInfo>,
  remotes: ReadonlyArray<IRemoteStatus>
): boolean {
  return (
    remotes.length > 0 || sessions.some(session => hostOf(session) !== null)
  );
}

/**
 * Why a host's sessions are not live, in words a person can act on, or `null` when they are:
 * `not answering since 10:32:05: no answer for 5 s: frozen, overloaded or cut off?`.
 */
export function staleReason(remote: IRemoteStatus | undefined): string | null {
  if (remote === undefined || remote.state === 'connected') {
    return null;
  }
  const since = parseTime(remote.since);
  const what = remote.state === 'stale' ? 'not answering' : 'unreachable';
  const when =
    since === null ? '' : ` since ${new Date(since).toLocaleTimeString()}`;
  return `${what}${when}: ${remote.error ?? 'no reason given'}`;
}

/** The `saga:open-log` (stop, attach) arguments naming a session on its host. */
export function sessionArgs(session: ISessionInfo): {
  name: string;
  host?: string;
} {
  return withHost({ name: session.name }, hostOf(session));
}
