/**
 * The panel's sessions by host, when there are several: a section per host (this server's
 * own first, then the remotes as `/status` lists them), its header naming the host with its
 * counts. A host that stopped answering is greyed, and a line under its header says since
 * when and why, from `/status`; its rows (`stale: true`) are greyed by the panel.
 */
import * as React from 'react';

import { IRemoteStatus, ISessionInfo } from './api';
import { hostLabel, hostOf, staleReason } from './hosts';

/** What the host sections show. */
export interface IHostGroupsProps {
  /** The sessions shown, in the panel's order. */
  sessions: ReadonlyArray<ISessionInfo>;
  /** Each remote's state, from `/status`. */
  remotes: ReadonlyArray<IRemoteStatus>;
  /** Renders one host's sessions (grouped by epic, or not, as the panel's settings say). */
  children: (sessions: ISessionInfo[]) => JSX.Element;
}

/** One section per host. */
export function HostGroups(props: IHostGroupsProps): JSX.Element {
  const { remotes } = props;
  const byHost = new Map<string | null, ISessionInfo[]>();
  for (const session of props.sessions) {
    const host = hostOf(session);
    byHost.set(host, [...(byHost.get(host) ?? []), session]);
  }
  // A remote not answering has a section even with no rows: its reason is what to see.
  for (const remote of remotes) {
    if (remote.state !== 'connected' && !byHost.has(remote.name)) {
      byHost.set(remote.name, []);
    }
  }
  const rank = (host: string | null): number =>
    host === null ? -1 : remotes.findIndex(remote => remote.name === host);
  const hosts = [...byHost.keys()].sort(
    (a, b) => rank(a) - rank(b) || (a ?? '').localeCompare(b ?? '')
  );
  return (
    <>
      {hosts.map(host => (
        <HostGroup
          key={host ?? ''}
          host={host}
          sessions={byHost.get(host)!}
          remote={remotes.find(remote => remote.name === host)}
        >
          {props.children}
        </HostGroup>
      ))}
    </>
  );
}

function HostGroup(props: {
  host: string | null;
  sessions: ISessionInfo[];
  remote: IRemoteStatus | undefined;
  children: (sessions: ISessionInfo[]) => JSX.Element;
}): JSX.Element {
  const { host, sessions } = props;
  const running = sessions.filter(s => s.status === 'running').length;
  const stale = sessions.some(session => session.stale);
  const reason =
    staleReason(props.remote) ??
    (stale ? 'not answering: its workers are shown as last seen' : null);
  return (
    <section
      className="jp-SagaPanel-hostGroup"
      data-host={host ?? ''}
      data-stale={reason === null ? undefined : 'true'}
    >
      <h3 className="jp-SagaPanel-host" title={reason ?? props.remote?.url}>
        <span className="jp-SagaPanel-hostName">{hostLabel(host)}</span>
        <span className="jp-SagaPanel-hostCounts">
          {running} running · {sessions.length - running} completed
        </span>
      </h3>
      {reason !== null && (
        <p className="jp-SagaPanel-hostReason" role="status">
          {reason}
        </p>
      )}
      {sessions.length > 0 && props.children(sessions)}
    </section>
  );
}
