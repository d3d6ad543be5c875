/**
 * A list by host, when there are several: a section per host (this server's own first, then
 * the remotes as `/status` lists them), its header naming the host with its counts. A host
 * that stopped answering is greyed, and a line under its header says since when and why, from
 * `/status`. The panel's sessions and the Stories tab's stories are both shown so.
 */
import * as React from 'react';

import { IRemoteStatus } from './api';
import { IHosted, hostLabel, hostOf, staleReason } from './hosts';

/** What the host sections show. */
export interface IHostGroupsProps<T extends IHosted> {
  /** The items shown (sessions, or stories), in the view's order. */
  items: ReadonlyArray<T>;
  /** Each remote's state, from `/status`. */
  remotes: ReadonlyArray<IRemoteStatus>;
  /** What a host's header counts: `1 running · 0 completed`. */
  counts: (items: T[]) => string;
  /** What the items are called, for a host said stale by its items only: `workers`. */
  noun: string;
  /** Renders one host's items. */
  children: (items: T[], host: string | null) => JSX.Element;
}

/** One section per host. */
export function HostGroups<T extends IHosted>(
  props: IHostGroupsProps<T>
): JSX.Element {
  const { remotes } = props;
  const byHost = new Map<string | null, T[]>();
  for (const item of props.items) {
    const host = hostOf(item);
    byHost.set(host, [...(byHost.get(host) ?? []), item]);
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
          {...props}
          host={host}
          items={byHost.get(host)!}
          remote={remotes.find(remote => remote.name === host)}
        />
      ))}
    </>
  );
}

function HostGroup<T extends IHosted>(
  props: IHostGroupsProps<T> & {
    host: string | null;
    items: T[];
    remote: IRemoteStatus | undefined;
  }
): JSX.Element {
  const { host, items } = props;
  const stale = items.some(item => item.stale);
  const reason =
    staleReason(props.remote) ??
    (stale ? `not answering: its ${props.noun} are shown as last seen` : null);
  return (
    <section
      className="jp-SagaPanel-hostGroup"
      data-host={host ?? ''}
      data-stale={reason === null ? undefined : 'true'}
    >
      <h3 className="jp-SagaPanel-host" title={reason ?? props.remote?.url}>
        <span className="jp-SagaPanel-hostName">{hostLabel(host)}</span>
        <span className="jp-SagaPanel-hostCounts">{props.counts(items)}</span>
      </h3>
      {reason !== null && (
        <p className="jp-SagaPanel-hostReason" role="status">
          {reason}
        </p>
      )}
      {items.length > 0 && props.children(items, host)}
    </section>
  );
}
