/**
 * One session's output as a log tab holds it: the text of its file from byte `startOffset`
 * to byte `offset`, fed by the channel and extended backwards ("load earlier") by REST byte
 * ranges. The tab renders it; this holds it, so a re-render never asks the server again.
 *
 * Today's workers write JSON messages: their stream is the server's transcript of them
 * (`view` "transcript"), text that is not the file's bytes. Its window starts where it was
 * asked to (a line start) and earlier output comes by subscribing again from further back.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { SagaAPI } from './api';
import { Channel, LogFrame, LogViewKind } from './channel';

/** How many bytes "load earlier" asks for at a time. */
export const LOAD_EARLIER_BYTES = 256 * 1024;

/** One session's output, live. */
export class LogStream implements IDisposable {
  constructor(options: LogStream.IOptions) {
    this.name = options.name;
    this.host = options.host ?? null;
    this._channel = options.channel;
    this._api = options.api;
    this._view = options.view ?? 'raw';
  }

  /** The session's name. */
  readonly name: string;

  /** The remote it runs on, or `null` for this server's own. */
  readonly host: string | null;

  /** The file's bytes, or the transcript of its messages. */
  get view(): LogViewKind {
    return this._view;
  }

  /** The text held: bytes `startOffset` to `offset` of the output file. */
  get text(): string {
    if (this._chunks.length > 1) {
      this._chunks = [this._chunks.join('')];
    }
    return this._chunks[0] ?? '';
  }

  /**
   * Byte offset in the file of the first byte held (of a transcript: of the first line it
   * renders); `null` before the first frame, or for a transcript of the file's tail, whose
   * start the server does not say.
   */
  get startOffset(): number | null {
    return this._startOffset;
  }

  /** Byte offset just after the last byte held; `null` before the first frame. */
  get offset(): number | null {
    return this._offset;
  }

  /** The session completed and every byte of its output arrived. */
  get complete(): boolean {
    return this._complete;
  }

  /** Why the server cannot stream the session (e.g. no output file yet), or `null`. */
  get error(): string | null {
    return this._error;
  }

  /** Whether output before the window exists (or may: a transcript's unknown start). */
  get hasEarlier(): boolean {
    if (this._startOffset === null) {
      return this._view === 'transcript' && this._offset !== null;
    }
    return this._startOffset > 0;
  }

  /** Whether "load earlier" is under way. */
  get loading(): boolean {
    return this._loading;
  }

  /** Emitted for every change, with what changed. */
  get changed(): ISignal<this, LogStream.IChange> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Subscribe on the channel: the file's tail first, then every byte appended. */
  start(): void {
    if (!this._subscription && !this._isDisposed) {
      this._subscribe(null);
    }
  }

  /**
   * Show the output in `view` instead: the same window (from `startOffset`, or the tail when
   * that is not known), subscribed again, drawn afresh.
   */
  setView(view: LogViewKind): void {
    if (view === this._view || this._isDisposed) {
      return;
    }
    this._view = view;
    this._restart(this._startOffset);
  }

  /** Ask the server again after an error (the output file may exist by now). */
  retry(): void {
    if (this._error !== null) {
      this._channel.resubscribe(this.name, this.host);
    }
  }

  /**
   * Prepend up to `maxBytes` of the output before `startOffset`, starting at a line.
   * Resolves `false` when there is nothing earlier (or the stream was reset meanwhile).
   */
  async loadEarlier(maxBytes = LOAD_EARLIER_BYTES): Promise<boolean> {
    const end = this._startOffset;
    if (!this.hasEarlier || this._loading) {
      return false;
    }
    this._loading = true;
    this._changed.emit({ kind: 'state' });
    try {
      if (end === null) {
        // A transcript of the tail: its start is not known, so the whole file it is.
        this._restart(0);
        return true;
      }
      const from = Math.max(0, end - maxBytes);
      const range = await this._api.logRange(
        this.name,
        from,
        end - from,
        this.host
      );
      if (this._startOffset !== end || this._isDisposed) {
        return false; // reset while the request was out: the range is of another file
      }
      const skip = from === 0 ? 0 : Private.lineStart(range.bytes);
      if (this._view === 'transcript') {
        // Only the server renders messages: ask it for the transcript from that line on.
        this._restart(from + skip);
        return true;
      }
      const data = new TextDecoder().decode(range.bytes.subarray(skip));
      this._chunks.unshift(data);
      this._startOffset = from + skip;
      this._changed.emit({ kind: 'prepend', data });
      return true;
    } finally {
      this._loading = false;
      if (!this._isDisposed) {
        this._changed.emit({ kind: 'state' });
      }
    }
  }

  /** Unsubscribe. */
  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._subscription?.dispose();
    this._subscription = null;
    Signal.clearData(this);
  }

  /** Subscribe from byte `offset` (a line start), or from the tail with `null`. */
  private _subscribe(offset: number | null): void {
    this._requestedStart = offset;
    const options: Channel.ISubscribeOptions = {
      view: this._view,
      host: this.host
    };
    if (offset !== null) {
      options.offset = offset;
    }
    this._subscription = this._channel.subscribe(
      this.name,
      frame => this._onFrame(frame),
      options
    );
  }

  /** Drop what is held and subscribe again from `offset` (or the tail), in the current view. */
  private _restart(offset: number | null): void {
    const previous = this._subscription;
    this._subscription = null;
    this._chunks = [];
    this._startOffset = null;
    this._offset = null;
    this._complete = false;
    this._error = null;
    this._subscribe(offset); // replaces the previous subscription on the channel
    previous?.dispose(); // a no-op now: the channel holds the new one
    this._changed.emit({ kind: 'reset' });
    this._changed.emit({ kind: 'state' });
  }

  private _onFrame(frame: LogFrame): void {
    if (frame.type === 'logs:error') {
      this._error = frame.error;
      this._changed.emit({ kind: 'state' });
      return;
    }
    this._error = null;
    if (frame.reset) {
      // Truncated or replaced: the server streams it again from byte 0.
      this._chunks = [];
      this._startOffset = 0;
      this._changed.emit({ kind: 'reset' });
    }
    if (this._startOffset === null && frame.isInitial && !frame.reset) {
      if (this._view === 'raw') {
        // The first frame is the file's tail: it starts this many bytes before its end.
        this._startOffset = frame.offset - Private.utf8Length(frame.data);
      } else {
        // A transcript's text is not the file's bytes: its start is where it was asked for.
        this._startOffset = this._requestedStart;
      }
    }
    this._offset = frame.offset;
    if (frame.data) {
      this._chunks.push(frame.data);
      this._changed.emit({ kind: 'append', data: frame.data });
    }
    if (frame.isComplete || frame.isInitial) {
      this._complete = frame.isComplete;
      this._changed.emit({ kind: 'state' });
    }
  }

  private _channel: Channel;
  private _api: SagaAPI;
  private _subscription: IDisposable | null = null;
  private _chunks: string[] = [];
  private _view: LogViewKind;
  private _requestedStart: number | null = null;
  private _startOffset: number | null = null;
  private _offset: number | null = null;
  private _complete = false;
  private _error: string | null = null;
  private _loading = false;
  private _isDisposed = false;
  private _changed = new Signal<this, LogStream.IChange>(this);
}

/** The log stream's options and change kinds. */
export namespace LogStream {
  export interface IOptions {
    /** The session's name. */
    name: string;
    /** The remote it runs on (default: this server). */
    host?: string | null;
    /** The tab's one channel connection. */
    channel: Channel;
    /** The REST client ("load earlier"). */
    api: SagaAPI;
    /** The file's bytes (the default) or, for a v4 worker's messages, their transcript. */
    view?: LogViewKind;
  }

  /**
   * What changed: text appended at the end, text prepended at the start, everything
   * dropped (the file was truncated or replaced), or only state (complete, error, loading).
   */
  export interface IChange {
    kind: 'append' | 'prepend' | 'reset' | 'state';
    data?: string;
  }
}

namespace Private {
  const encoder = new TextEncoder();

  /** Bytes of `text` in UTF-8, as the server counted them. */
  export function utf8Length(text: string): number {
    return encoder.encode(text).length;
  }

  /**
   * Where the first whole line of `bytes` starts (after the first newline), so that text
   * prepended by "load earlier" never begins inside a line or a character.
   */
  export function lineStart(bytes: Uint8Array): number {
    const newline = bytes.indexOf(0x0a);
    if (newline >= 0 && newline < bytes.length - 1) {
      return newline + 1;
    }
    let skip = 0; // one long line: at least never split a character
    while (skip < bytes.length && (bytes[skip] & 0xc0) === 0x80) {
      skip++;
    }
    return skip;
  }
}
