/**
 * One session's output as a log tab holds it: the text of its file from byte `startOffset`
 * to byte `offset`, fed by the channel and extended backwards ("load earlier") by REST byte
 * ranges. The tab renders it; this holds it, so a re-render never asks the server again.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { SagaAPI } from './api';
import { Channel, LogFrame } from './channel';

/** How many bytes "load earlier" asks for at a time. */
export const LOAD_EARLIER_BYTES = 256 * 1024;

/** One session's output, live. */
export class LogStream implements IDisposable {
  constructor(options: LogStream.IOptions) {
    this.name = options.name;
    this._channel = options.channel;
    this._api = options.api;
  }

  /** The session's name. */
  readonly name: string;

  /** The text held: bytes `startOffset` to `offset` of the output file. */
  get text(): string {
    if (this._chunks.length > 1) {
      this._chunks = [this._chunks.join('')];
    }
    return this._chunks[0] ?? '';
  }

  /** Byte offset in the file of the first byte held; `null` before the first frame. */
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
      this._subscription = this._channel.subscribe(this.name, frame =>
        this._onFrame(frame)
      );
    }
  }

  /** Ask the server again after an error (the output file may exist by now). */
  retry(): void {
    if (this._error !== null) {
      this._channel.resubscribe(this.name);
    }
  }

  /**
   * Prepend up to `maxBytes` of the output before `startOffset`, starting at a line.
   * Resolves `false` when there is nothing earlier (or the stream was reset meanwhile).
   */
  async loadEarlier(maxBytes = LOAD_EARLIER_BYTES): Promise<boolean> {
    const end = this._startOffset;
    if (end === null || end === 0 || this._loading) {
      return false;
    }
    this._loading = true;
    this._changed.emit({ kind: 'state' });
    try {
      const from = Math.max(0, end - maxBytes);
      const range = await this._api.logRange(this.name, from, end - from);
      if (this._startOffset !== end || this._isDisposed) {
        return false; // reset while the request was out: the range is of another file
      }
      const skip = from === 0 ? 0 : Private.lineStart(range.bytes);
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
    if (this._startOffset === null) {
      // The first frame is the file's tail: it starts this many bytes before its end.
      this._startOffset = frame.offset - Private.utf8Length(frame.data);
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
    /** The tab's one channel connection. */
    channel: Channel;
    /** The REST client ("load earlier"). */
    api: SagaAPI;
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
