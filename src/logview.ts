/**
 * A log tab's content: one session's output rendered by xterm.js, as JupyterLab's terminal
 * renders (colours, carriage-return progress bars, cursor movement); for today's workers, the
 * server's transcript of their messages, terminal text too. It renders a
 * `LogStream`; following can be paused (new output is held, the screen stays still) and
 * earlier output loaded on demand. The tab's toolbar (logtoolbar.ts) drives it.
 */
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import { FitAddon } from '@xterm/addon-fit';
import { ISearchOptions, SearchAddon } from '@xterm/addon-search';
import { ITheme, Terminal } from '@xterm/xterm';

import { LogStream } from './logstream';

/** Shown under the last line once a session completed and all its output arrived. */
const COMPLETED_MARKER = '\x1b[2m──── session completed ────\x1b[0m';

/** DECTCEM, the private mode that shows the cursor (`CSI ? 25 h`) or hides it (`l`). */
const SHOW_CURSOR = 25;
const HIDE_CURSOR = '\x1b[?25l';

/** The node of a log tab's content, as browser tests read it (tests/e2e/test_lab_panel.py). */
export interface ILogViewNode extends HTMLElement {
  /**
   * The text the tab holds: bytes `data-start-offset` to `data-offset` of the file (with
   * `data-view="transcript"`: the transcript of the messages up to byte `data-offset`).
   */
  sagaLogText?: () => string;
}

/** Where a search stands: the active match (0-based) of how many, or none. */
export interface ISearchResults {
  index: number;
  count: number;
}

/** One session's output in a terminal. */
export class LogView extends Widget {
  constructor(options: LogView.IOptions) {
    super();
    this.stream = options.stream;
    this.addClass('jp-SagaLog');
    this.node.dataset.session = this.stream.name;
    if (this.stream.host !== null) {
      this.node.dataset.host = this.stream.host;
    }
    this.node.dataset.view = this.stream.view;
    Object.defineProperty(this.node, 'sagaLogText', {
      value: () => this.stream.text
    });
    this._terminal = new Terminal({
      allowProposedApi: true, // search decorations
      convertEol: true, // workers write "\n"; a terminal needs "\r\n" to return to column 0
      disableStdin: true,
      cursorBlink: false,
      cursorInactiveStyle: 'none',
      scrollback: options.scrollback,
      ...Private.font()
    });
    // A read-only log has no cursor: hidden (DECTCEM) and kept hidden whatever the worker's
    // own output asks for (a program's "show cursor" is for its terminal, not for this one).
    this._terminal.parser.registerCsiHandler(
      { prefix: '?', final: 'h' },
      params => params.length === 1 && params[0] === SHOW_CURSOR
    );
    this._terminal.loadAddon(this._fit);
    this._terminal.loadAddon(this._search);
    this._search.onDidChangeResults(({ resultIndex, resultCount }) => {
      this._results =
        resultCount > 0 ? { index: resultIndex, count: resultCount } : null;
      this._stateChanged.emit();
    });
    this.stream.changed.connect(this._onStream, this);
    this._updateDataset();
  }

  /** The output shown. */
  readonly stream: LogStream;

  /** Whether new output is written as it arrives (else held until following resumes). */
  get following(): boolean {
    return this._following;
  }
  set following(following: boolean) {
    if (following === this._following) {
      return;
    }
    this._following = following;
    if (following) {
      const held = this._held.join('');
      this._held = [];
      this._write(held);
      this._writeMarker();
      this._terminal.scrollToBottom();
    }
    this._updateDataset();
    this._stateChanged.emit();
  }

  /** Characters of output held while paused. */
  get heldLength(): number {
    return this._held.reduce((total, data) => total + data.length, 0);
  }

  /** Where the current search stands, or `null`. */
  get searchResults(): ISearchResults | null {
    return this._results;
  }

  /** Emitted when following, the search results or the stream's state changed. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** Find the next (or previous) match of `term`, highlighting every match. */
  find(term: string, previous = false): boolean {
    if (!term) {
      this.clearSearch();
      return false;
    }
    const options: ISearchOptions = {
      decorations: Private.decorations(),
      incremental: !previous
    };
    return previous
      ? this._search.findPrevious(term, options)
      : this._search.findNext(term, options);
  }

  /** Remove the search highlights. */
  clearSearch(): void {
    this._search.clearDecorations();
    this._terminal.clearSelection();
    this._results = null;
    this._stateChanged.emit();
  }

  /** Colours from the current JupyterLab theme (call when the theme changes). */
  updateTheme(): void {
    this._terminal.options.theme = Private.theme();
    this._terminal.options.fontFamily = Private.font().fontFamily;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.stream.dispose();
    this._terminal.dispose();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._opened) {
      this._opened = true;
      this._terminal.open(this.node);
      this.updateTheme();
      this._render();
    }
    this._fitSoon();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._fitSoon();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this._fitSoon();
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this._terminal.focus();
  }

  private _onStream(_: LogStream, change: LogStream.IChange): void {
    switch (change.kind) {
      case 'append':
        if (this._following) {
          // Following shows the end, also after "Load earlier" scrolled up to what it loaded
          // (xterm.js keeps a scrolled-up screen where it is when output arrives).
          this._write(change.data ?? '');
          this._terminal.scrollToBottom();
        } else {
          this._held.push(change.data ?? '');
        }
        break;
      case 'prepend':
        this._render(change.data ?? '');
        break;
      case 'reset':
        this._held = [];
        this._render();
        break;
      case 'state':
        if (this._following) {
          this._writeMarker();
        }
        break;
    }
    this._updateDataset();
    this._stateChanged.emit();
  }

  /**
   * Draw everything held again (a reset, or earlier output prepended). With `prepended`,
   * scroll so that its end sits at the bottom of the screen: what was just loaded shows.
   */
  private _render(prepended = ''): void {
    if (!this._opened) {
      return; // attaching renders
    }
    const terminal = this._terminal;
    terminal.reset();
    terminal.write(HIDE_CURSOR); // a reset shows it again
    this._markerWritten = false;
    this._held = [];
    const text = this.stream.text;
    this._endsLine = text === '' || text.endsWith('\n');
    if (prepended) {
      let boundary = 0;
      terminal.write(text.slice(0, prepended.length), () => {
        boundary =
          terminal.buffer.active.baseY + terminal.buffer.active.cursorY;
      });
      terminal.write(text.slice(prepended.length), () => {
        terminal.scrollToLine(Math.max(0, boundary - terminal.rows + 1));
      });
    } else {
      this._write(text);
    }
    this._writeMarker();
  }

  private _write(data: string): void {
    if (data && this._opened) {
      this._terminal.write(data);
      this._endsLine = data.endsWith('\n');
    }
  }

  private _writeMarker(): void {
    if (this.stream.complete && !this._markerWritten && this._opened) {
      this._markerWritten = true;
      const text = this.stream.text;
      const newline = text === '' || this._endsLine ? '' : '\r\n';
      this._terminal.write(`${newline}${COMPLETED_MARKER}\r\n`);
    }
  }

  /** Fit the terminal to the widget once layout settled (never while hidden: no size). */
  private _fitSoon(): void {
    window.cancelAnimationFrame(this._fitFrame);
    this._fitFrame = window.requestAnimationFrame(() => {
      if (this._opened && this.isVisible && this.node.clientWidth > 0) {
        this._fit.fit();
      }
    });
  }

  private _updateDataset(): void {
    const stream = this.stream;
    const dataset = this.node.dataset;
    dataset.offset = String(stream.offset ?? '');
    dataset.startOffset = String(stream.startOffset ?? '');
    dataset.complete = String(stream.complete);
    dataset.view = stream.view;
    dataset.following = String(this._following);
  }

  private _terminal: Terminal;
  private _fit = new FitAddon();
  private _search = new SearchAddon();
  private _results: ISearchResults | null = null;
  private _opened = false;
  private _following = true;
  private _held: string[] = [];
  private _markerWritten = false;
  private _endsLine = true;
  private _fitFrame = 0;
  private _stateChanged = new Signal<this, void>(this);
}

/** The log view's options. */
export namespace LogView {
  export interface IOptions {
    /** The output to show; the view disposes it. */
    stream: LogStream;
    /** Lines kept above the screen. */
    scrollback: number;
  }
}

namespace Private {
  /** A CSS variable of the current theme. */
  function cssVariable(name: string): string {
    return getComputedStyle(document.body).getPropertyValue(name).trim();
  }

  /** The terminal's colours, from the JupyterLab theme, as its own terminal takes them. */
  export function theme(): ITheme {
    return {
      foreground: cssVariable('--jp-ui-font-color0'),
      background: cssVariable('--jp-layout-color0'),
      cursor: cssVariable('--jp-ui-font-color1'),
      cursorAccent: cssVariable('--jp-ui-inverse-font-color0'),
      selectionBackground: cssVariable('--jp-layout-color3'),
      selectionInactiveBackground: cssVariable('--jp-layout-color2')
    };
  }

  /** The code font of the theme. */
  export function font(): { fontFamily: string; fontSize: number } {
    const size = parseFloat(cssVariable('--jp-code-font-size'));
    return {
      fontFamily: cssVariable('--jp-code-font-family') || 'monospace',
      fontSize: Number.isFinite(size) && size > 0 ? size : 13
    };
  }

  /** Search highlights in the theme's search colours (xterm wants them as #RRGGBB). */
  export function decorations(): ISearchOptions['decorations'] {
    const match = hex(
      cssVariable('--jp-search-unselected-match-background-color'),
      '#bdbdbd'
    );
    const active = hex(
      cssVariable('--jp-search-selected-match-background-color'),
      '#f57f17'
    );
    return {
      matchBackground: match,
      matchOverviewRuler: match,
      activeMatchBackground: active,
      activeMatchColorOverviewRuler: active
    };
  }

  let context: CanvasRenderingContext2D | null = null;

  /** Any CSS colour as `#RRGGBB` (alpha dropped), or `fallback`. */
  function hex(color: string, fallback: string): string {
    context = context ?? document.createElement('canvas').getContext('2d');
    if (!color || !context) {
      return fallback;
    }
    context.fillStyle = fallback;
    context.fillStyle = color; // the browser normalises: "#rrggbb" or "rgba(r, g, b, a)"
    const normal = String(context.fillStyle);
    if (normal.startsWith('#')) {
      return normal;
    }
    const parts = normal.match(/\d+(\.\d+)?/g);
    if (!parts || parts.length < 3) {
      return fallback;
    }
    return `#${parts
      .slice(0, 3)
      .map(part => Math.round(Number(part)).toString(16).padStart(2, '0'))
      .join('')}`;
  }
}
