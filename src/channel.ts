/**
 * The channel: one WebSocket to `/api/saga/channels` per browser tab, shared by the panel,
 * the status bar and every log tab.
 *
 * It reconnects with back-off and resubscribes each log stream from the byte offset its last
 * frame ended at (`subscribe:logs` with `offset`), so a server restart or a dropped network
 * loses and repeats nothing: the server sends exactly the bytes after that offset. A stream
 * is of the file's bytes (`view: "raw"`) or, for today's workers' JSON messages, of their
 * transcript (`view: "transcript"`: the server renders each line as terminal text); `offset`
 * is a byte offset in the file either way, so resuming is the same. A remote's session (see
 * hosts.ts) is subscribed with its `host`, and its frames carry it: a stream is its host and
 * its session's name.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { ISessionInfo } from './api';
import { sessionKey } from './hosts';
import type { IStorySummary } from './stories';

/** Where the connection is: trying to (re)connect, open, or closed for good. */
export type ConnectionStatus = 'connecting' | 'open' | 'disposed';

/** How a log is streamed: the file's bytes, or (v4 messages) the server's transcript of them. */
export type LogViewKind = 'raw' | 'transcript';

/** A `logs:data` frame: text of one session's output file ending at byte `offset`. */
export interface ILogData {
  type: 'logs:data';
  sessionName: string;
  /** The remote the session runs on; missing for this server's own. */
  host?: string | null;
  data: string;
  isInitial: boolean;
  isComplete: boolean;
  offset: number;
  reset: boolean;
}

/** A `logs:error` frame: the session cannot be streamed (yet), e.g. no output file. */
export interface ILogError {
  type: 'logs:error';
  sessionName: string;
  host?: string | null;
  error: string;
}

/** What a log subscription receives. */
export type LogFrame = ILogData | ILogError;

/** The first reconnection waits about this long; each failed attempt doubles it. */
const FIRST_RETRY_MS = 500;
/** Reconnection attempts are never further apart than this. */
const MAX_RETRY_MS = 10_000;
/** A quiet connection is pinged after this long... */
const PING_AFTER_MS = 20_000;
/** ...and given up (then reconnected) when nothing at all came for this long. */
const DEAD_AFTER_MS = 45_000;

/** The one channel connection of a browser tab. */
export class Channel implements IDisposable {
  constructor(options: Channel.IOptions = {}) {
    this._settings = options.serverSettings ?? ServerConnection.makeSettings();
    this._heartbeat = window.setInterval(
      () => this._checkAlive(),
      PING_AFTER_MS / 2
    );
    window.addEventListener('online', this._onOnline);
    this._connect();
  }

  /** Where the connection is. */
  get status(): ConnectionStatus {
    return this._status;
  }

  /** Emitted when `status` changes. */
  get statusChanged(): ISignal<this, ConnectionStatus> {
    return this._statusChanged;
  }

  /** Emitted with the whole session list: on every connect, then on every change. */
  get sessionsUpdated(): ISignal<this, ISessionInfo[]> {
    return this._sessionsUpdated;
  }

  /** Emitted with the stories that changed (a `stories:updated` frame). */
  get storiesUpdated(): ISignal<this, IStorySummary[]> {
    return this._storiesUpdated;
  }

  /** How many times a connection opened (the first time included). */
  get connections(): number {
    return this._connections;
  }

  get isDisposed(): boolean {
    return this._status === 'disposed';
  }

  /**
   * Follow one session's output: `handler` gets its frames, in order, each byte once.
   *
   * The first frame holds the file's tail (or the file from `options.offset`, a line start);
   * after a reconnect the stream resumes from the offset the last frame ended at. Dispose the
   * result to unsubscribe. One subscription per session: subscribing again replaces the
   * earlier one (frames of the earlier one still on their way are dropped).
   */
  subscribe(
    name: string,
    handler: (frame: LogFrame) => void,
    options: Channel.ISubscribeOptions = {}
  ): IDisposable {
    const host = options.host ?? null;
    const key = sessionKey(name, host);
    const previous = this._subscriptions.get(key);
    if (previous && !previous.complete) {
      this._send(Private.logsFrame('unsubscribe:logs', name, host));
    }
    const subscription: Private.ISubscription = {
      name,
      host,
      handler,
      offset: options.offset ?? null,
      view: options.view ?? 'raw',
      complete: false,
      awaitingInitial: true
    };
    this._subscriptions.set(key, subscription);
    this._sendSubscribe(subscription);
    return new DisposableDelegate(() => {
      if (this._subscriptions.get(key) !== subscription) {
        return;
      }
      this._subscriptions.delete(key);
      if (!subscription.complete) {
        this._send(Private.logsFrame('unsubscribe:logs', name, host));
      }
    });
  }

  /** Ask again for a session the server refused (e.g. no output file then), from its offset. */
  resubscribe(name: string, host: string | null = null): void {
    const subscription = this._subscriptions.get(sessionKey(name, host));
    if (subscription && !subscription.complete) {
      this._sendSubscribe(subscription);
    }
  }

  /** Close the connection for good. */
  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._setStatus('disposed');
    window.clearInterval(this._heartbeat);
    window.clearTimeout(this._retry);
    window.removeEventListener('online', this._onOnline);
    this._subscriptions.clear();
    const socket = this._socket;
    this._socket = null;
    socket?.close();
    Signal.clearData(this);
  }

  private _connect(): void {
    const settings = this._settings;
    let url = URLExt.join(settings.wsUrl, 'api', 'saga', 'channels');
    if (settings.appendToken && settings.token) {
      url += `?token=${encodeURIComponent(settings.token)}`;
    }
    this._setStatus('connecting');
    const socket = new settings.WebSocket(url);
    this._socket = socket;
    socket.onopen = () => {
      if (socket !== this._socket) {
        return;
      }
      this._attempts = 0;
      this._connections++;
      this._lastFrame = Date.now();
      this._setStatus('open');
      // Resume every stream where its last frame ended: no gap, no duplicate.
      this._subscriptions.forEach(subscription => {
        if (!subscription.complete) {
          this._sendSubscribe(subscription);
        }
      });
    };
    socket.onmessage = event => {
      if (socket === this._socket) {
        this._lastFrame = Date.now();
        this._onFrame(event.data);
      }
    };
    socket.onclose = () => {
      if (socket === this._socket) {
        this._socket = null;
        this._scheduleReconnect();
      }
    };
  }

  private _scheduleReconnect(): void {
    if (this.isDisposed) {
      return;
    }
    this._setStatus('connecting');
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this._attempts);
    this._attempts++;
    // Jitter: tabs that lost the same server do not all come back at the same instant.
    const jittered = delay * (0.75 + Math.random() * 0.5);
    window.clearTimeout(this._retry);
    this._retry = window.setTimeout(() => this._connect(), jittered);
  }

  private _onOnline = (): void => {
    // The network is back: try now rather than at the end of a long back-off.
    if (this._status === 'connecting' && this._socket === null) {
      window.clearTimeout(this._retry);
      this._connect();
    }
  };

  /** Ping a quiet connection; drop one that stopped answering (a half-open TCP connection). */
  private _checkAlive(): void {
    if (this._status !== 'open' || this._socket === null) {
      return;
    }
    const quiet = Date.now() - this._lastFrame;
    if (quiet > DEAD_AFTER_MS) {
      const socket = this._socket;
      this._socket = null;
      socket.close();
      this._scheduleReconnect();
    } else if (quiet > PING_AFTER_MS) {
      this._send({ type: 'ping' });
    }
  }

  private _onFrame(text: unknown): void {
    let frame: Private.IFrame;
    try {
      frame = JSON.parse(String(text)) as Private.IFrame;
    } catch {
      console.warn('saga-jupyter: a channel frame that is not JSON', text);
      return;
    }
    switch (frame.type) {
      case 'sessions:updated':
        this._sessionsUpdated.emit(frame.sessions as ISessionInfo[]);
        break;
      case 'stories:updated':
        // A remote's, relayed (`host` on the frame), carry their `host` too.
        if (Array.isArray(frame.stories)) {
          this._storiesUpdated.emit(frame.stories as IStorySummary[]);
        }
        break;
      case 'logs:data':
      case 'logs:error':
        this._onLogFrame(frame as unknown as LogFrame);
        break;
      case 'error':
        console.warn(
          'saga-jupyter: the server did not understand a frame:',
          frame.error
        );
        break;
      default:
        break; // pong, and types a newer server may add
    }
  }

  private _onLogFrame(frame: LogFrame): void {
    const subscription = this._subscriptions.get(
      sessionKey(frame.sessionName, frame.host ?? null)
    );
    if (!subscription) {
      return; // unsubscribed while the frame was on its way
    }
    if (frame.type === 'logs:data') {
      if (subscription.awaitingInitial && !frame.isInitial) {
        return; // the tail of a subscription replaced or resumed since: the new one repeats it
      }
      subscription.awaitingInitial = false;
      subscription.offset = frame.offset;
      subscription.complete = frame.isComplete;
    }
    subscription.handler(frame);
  }

  private _sendSubscribe(subscription: Private.ISubscription): void {
    const { name, host } = subscription;
    const frame = Private.logsFrame('subscribe:logs', name, host);
    if (subscription.offset !== null) {
      frame.offset = subscription.offset;
    }
    if (subscription.view !== 'raw') {
      frame.view = subscription.view; // raw is the default: older servers see what they know
    }
    subscription.awaitingInitial = true;
    this._send(frame);
  }

  /** Send a frame if the socket is open; otherwise opening it will send what is needed. */
  private _send(frame: Record<string, unknown>): void {
    const socket = this._socket;
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
    }
  }

  private _setStatus(status: ConnectionStatus): void {
    if (this._status !== status && this._status !== 'disposed') {
      this._status = status;
      this._statusChanged.emit(status);
    }
  }

  private _settings: ServerConnection.ISettings;
  private _socket: WebSocket | null = null;
  private _status: ConnectionStatus = 'connecting';
  private _attempts = 0;
  private _connections = 0;
  private _retry = 0;
  private _heartbeat: number;
  private _lastFrame = 0;
  /** By `sessionKey`: a session on its host. */
  private _subscriptions = new Map<string, Private.ISubscription>();
  private _statusChanged = new Signal<this, ConnectionStatus>(this);
  private _sessionsUpdated = new Signal<this, ISessionInfo[]>(this);
  private _storiesUpdated = new Signal<this, IStorySummary[]>(this);
}

/** The channel's options. */
export namespace Channel {
  export interface IOptions {
    /** The server to connect to (default: the page's). */
    serverSettings?: ServerConnection.ISettings;
  }

  /** How to follow a session's output. */
  export interface ISubscribeOptions {
    /** The remote the session runs on (default: this server). */
    host?: string | null;
    /** The file's bytes (the default) or the transcript of its messages. */
    view?: LogViewKind;
    /** Start at this byte offset of the file (a line start), not at its tail. */
    offset?: number;
  }
}

namespace Private {
  /** One followed session: where its stream has got to. */
  export interface ISubscription {
    name: string;
    host: string | null;
    handler: (frame: LogFrame) => void;
    /** The byte offset the last frame ended at (or to start at); `null`: from the tail. */
    offset: number | null;
    /** Bytes or transcript. */
    view: LogViewKind;
    /** The stream ended (`isComplete`): the server sends nothing more, nothing to resume. */
    complete: boolean;
    /** Subscribed (again) and no `isInitial` frame since: data frames before it are stale. */
    awaitingInitial: boolean;
  }

  /** A `subscribe:logs` or `unsubscribe:logs` frame, with `host` for a remote's session. */
  export function logsFrame(
    type: string,
    name: string,
    host: string | null
  ): Record<string, unknown> {
    return host === null
      ? { type, sessionName: name }
      : { type, sessionName: name, host };
  }

  /** Any frame, before its type is looked at. */
  export interface IFrame {
    type: string;
    [key: string]: unknown;
  }
}
