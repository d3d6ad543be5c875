/**
 * The SAGA model of a browser tab: the session list (from the channel), the server's health
 * (from `GET /api/saga/status`, polled) and the one channel connection. Widgets only render it.
 */
import { ServerConnection } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { IRemoteStatus, ISessionInfo, IStatus, SagaAPI } from './api';
import { Channel, ConnectionStatus, LogViewKind } from './channel';
import { hostOf } from './hosts';
import { LogStream } from './logstream';
import { StoriesModel } from './stories';

/** How the names of today's SAGA workers begin (`saga-story-<storyId>-<digits>`). */
const V4_PREFIX = 'saga-story-';

/** Seconds between health checks while the page is visible. */
const STATUS_INTERVAL_MS = 5_000;

/** Sessions running and completed. */
export interface ICounts {
  running: number;
  completed: number;
}

/** Everything the panel, the status bar and the log tabs show. */
export class SagaModel implements IDisposable {
  constructor(options: SagaModel.IOptions = {}) {
    const serverSettings =
      options.serverSettings ?? ServerConnection.makeSettings();
    this.api = new SagaAPI(serverSettings);
    this.channel = new Channel({ serverSettings });
    this.channel.sessionsUpdated.connect(this._onSessions, this);
    this.channel.statusChanged.connect(this._onConnection, this);
    this.stories = new StoriesModel({ serverSettings, channel: this.channel });
    void this.stories.refresh();
    this._poll = new Poll({
      factory: () => this._refreshStatus(),
      frequency: { interval: STATUS_INTERVAL_MS, backoff: true, max: 60_000 },
      name: 'saga-jupyter:status',
      standby: 'when-hidden'
    });
  }

  /** The REST client. */
  readonly api: SagaAPI;

  /** The tab's one channel connection. */
  readonly channel: Channel;

  /** The SAGA projects' epics and stories. */
  readonly stories: StoriesModel;

  /** The sessions, newest first; empty until the channel's first list. */
  get sessions(): ReadonlyArray<ISessionInfo> {
    return this._sessions;
  }

  /** Whether the channel sent a session list yet. */
  get listed(): boolean {
    return this._listed;
  }

  /** The server's last health report, or `null` before the first. */
  get status(): IStatus | null {
    return this._status;
  }

  /** Why the last health check failed (the server is unreachable), or `null`. */
  get statusError(): string | null {
    return this._statusError;
  }

  /** The channel connection's state. */
  get connection(): ConnectionStatus {
    return this.channel.status;
  }

  /** Sessions running and completed, counted in the list. */
  get counts(): ICounts {
    let running = 0;
    for (const session of this._sessions) {
      if (session.status === 'running') {
        running++;
      }
    }
    return { running, completed: this._sessions.length - running };
  }

  /** Whether stop and attach are enabled on the server. */
  get allowControl(): boolean {
    return this._status?.allowControl === true;
  }

  /** Whether tmux could not be asked at the last health check. */
  get tmuxUnavailable(): boolean {
    return this._status?.tmux?.available === false;
  }

  /** Each remote's state at the last health check (none without remotes). */
  get remotes(): ReadonlyArray<IRemoteStatus> {
    return this._status?.remotes ?? [];
  }

  /** Emitted whenever anything above changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** The session called `name` on `host` (default: this server's own), if listed. */
  find(name: string, host: string | null = null): ISessionInfo | undefined {
    return this._sessions.find(
      session => session.name === name && hostOf(session) === host
    );
  }

  /** Whether a session writes JSON messages (today's SAGA), which read best as a transcript. */
  writesMessages(name: string, host: string | null = null): boolean {
    const format = this.find(name, host)?.outputFormat;
    // Not listed (yet: a tab restored before the first list): today's names say it.
    return format ? format === 'messages' : name.startsWith(V4_PREFIX);
  }

  /**
   * A new live stream of a session's output (the caller disposes it): a transcript for a
   * session writing messages, else its bytes, unless `view` says which.
   */
  openStream(
    name: string,
    host: string | null = null,
    view?: LogViewKind
  ): LogStream {
    const stream = new LogStream({
      name,
      host,
      channel: this.channel,
      api: this.api,
      view: view ?? (this.writesMessages(name, host) ? 'transcript' : 'raw')
    });
    stream.start();
    return stream;
  }

  /** Ask the server for its health now. */
  refreshStatus(): Promise<void> {
    return this._poll.refresh();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    this.stories.dispose();
    this.channel.dispose();
    Signal.clearData(this);
  }

  private async _refreshStatus(): Promise<void> {
    try {
      this._status = await this.api.status();
      this._statusError = null;
    } catch (error) {
      this._statusError = (error as Error).message || String(error);
      this._changed.emit();
      throw error; // the poll backs off
    }
    this._changed.emit();
  }

  private _onSessions(_: Channel, sessions: ISessionInfo[]): void {
    const counts = this.counts;
    const stale = Private.staleHosts(this._sessions);
    this._sessions = sessions;
    this._listed = true;
    this._changed.emit();
    const now = this.counts;
    if (now.running !== counts.running || now.completed !== counts.completed) {
      void this.refreshStatus(); // a session came or went: tmux was just asked
    } else if (Private.staleHosts(sessions) !== stale) {
      void this.refreshStatus(); // a remote went quiet or came back: /status says why
    }
  }

  private _onConnection(): void {
    if (this.channel.status === 'open') {
      void this.refreshStatus();
    }
    this._changed.emit();
  }

  private _sessions: ISessionInfo[] = [];
  private _listed = false;
  private _status: IStatus | null = null;
  private _statusError: string | null = null;
  private _poll: Poll;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

namespace Private {
  /** The hosts whose sessions are stale, as one string to compare. */
  export function staleHosts(sessions: ReadonlyArray<ISessionInfo>): string {
    const hosts = new Set<string>();
    for (const session of sessions) {
      if (session.stale) {
        hosts.add(hostOf(session) ?? '');
      }
    }
    return [...hosts].sort().join('\n');
  }
}

/** The model's options. */
export namespace SagaModel {
  export interface IOptions {
    /** The server (default: the page's). */
    serverSettings?: ServerConnection.ISettings;
  }
}
