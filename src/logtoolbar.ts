/**
 * A log tab's toolbar: search (next, previous, matches), for a worker writing messages the
 * choice of its transcript or raw messages, "load earlier", follow/pause (while there is
 * anything to follow), and the stream's state (live, reconnecting, error, gone; once
 * complete, how the worker ended, in the words and colours of outcome.ts). Plain DOM in JupyterLab's toolbar classes,
 * updated from the view's and the stream's signals.
 */
import { Toolbar, caretDownIcon, caretUpIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { LogViewKind } from './channel';
import { LogStream } from './logstream';
import { LogView } from './logview';
import { SagaModel } from './model';
import { outcomeLabel, outcomeOf, outcomeTitle } from './outcome';

/** What a tab of a session that no longer exists says. */
export const GONE =
  'This worker and its output are gone: no tmux session, no output file, not remembered.';

/**
 * Whether a tab's session no longer exists: the server refused its stream and does not list
 * it (a session not listed yet, e.g. before its file appears, is refused but listed).
 */
export function isGone(model: SagaModel, stream: LogStream): boolean {
  return (
    stream.error !== null &&
    model.listed &&
    !model.find(stream.name, stream.host)
  );
}

/** Fill a log tab's toolbar. */
export function populateToolbar(
  toolbar: Toolbar,
  view: LogView,
  model: SagaModel
): void {
  toolbar.addItem('search', new LogSearch(view));
  toolbar.addItem('spacer', Toolbar.createSpacerItem());
  if (model.writesMessages(view.stream.name, view.stream.host)) {
    toolbar.addItem('view', new LogViewChoice(view));
  }
  toolbar.addItem('controls', new LogControls(view, model));
}

/** The search box: Enter finds the next match, Shift+Enter the previous one, Escape clears. */
class LogSearch extends Widget {
  constructor(view: LogView) {
    super();
    this._view = view;
    this.addClass('jp-SagaLog-searchBox');
    this._input.type = 'search';
    this._input.placeholder = 'Search output';
    this._input.setAttribute('aria-label', 'Search output');
    this._input.className = 'jp-SagaLog-search';
    this._input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        event.preventDefault();
        view.find(this._input.value, event.shiftKey);
      } else if (event.key === 'Escape') {
        this._input.value = '';
        view.clearSearch();
      }
    });
    this._input.addEventListener('input', () => view.find(this._input.value));
    this._matches.className = 'jp-SagaLog-matches';
    this._matches.setAttribute('aria-live', 'polite');
    this.node.append(
      this._input,
      button(caretUpIcon.element(), 'Previous match (Shift+Enter)', () =>
        view.find(this._input.value, true)
      ),
      button(caretDownIcon.element(), 'Next match (Enter)', () =>
        view.find(this._input.value)
      ),
      this._matches
    );
    view.stateChanged.connect(this._update, this);
  }

  private _update(): void {
    const results = this._view.searchResults;
    this._matches.textContent = !this._input.value
      ? ''
      : results === null
        ? 'no match'
        : results.index < 0
          ? `${results.count} matches`
          : `${results.index + 1} of ${results.count}`;
  }

  private _view: LogView;
  private _input = document.createElement('input');
  private _matches = document.createElement('span');
}

/** Transcript or Raw: how a worker's JSON messages are shown (switching draws them afresh). */
class LogViewChoice extends Widget {
  constructor(view: LogView) {
    super();
    this._view = view;
    this.addClass('jp-SagaLog-viewChoice');
    this.node.setAttribute('role', 'group');
    this.node.setAttribute('aria-label', 'Show the output as');
    const choices: [LogViewKind, string, string][] = [
      ['transcript', 'Transcript', 'The messages as a person reads them'],
      [
        'raw',
        'Raw',
        'The messages as the worker wrote them: one JSON object a line'
      ]
    ];
    for (const [kind, label, title] of choices) {
      const choice = button(null, title, () => {
        view.following = true; // the other view is asked for to be seen, not held
        view.stream.setView(kind);
      });
      choice.textContent = label;
      choice.dataset.view = kind;
      choice.classList.add('jp-SagaLog-viewButton');
      this._buttons.push(choice);
      this.node.append(choice);
    }
    view.stateChanged.connect(this._update, this);
    this._update();
  }

  private _update(): void {
    for (const choice of this._buttons) {
      const pressed = choice.dataset.view === this._view.stream.view;
      choice.setAttribute('aria-pressed', String(pressed));
    }
  }

  private _view: LogView;
  private _buttons: HTMLButtonElement[] = [];
}

/** "Load earlier", follow/pause, and where the stream stands. */
class LogControls extends Widget {
  constructor(view: LogView, model: SagaModel) {
    super();
    this._view = view;
    this._model = model;
    this.addClass('jp-SagaLog-controls');
    this._earlier = button(null, 'Load the output before what is shown', () => {
      void view.stream.loadEarlier().catch(error => {
        this._state.textContent = `load earlier failed: ${(error as Error).message}`;
      });
    });
    this._earlier.classList.add('jp-SagaLog-loadEarlier');
    this._follow = button(
      null,
      'Pause: hold new output, keep the screen still',
      () => {
        view.following = !view.following;
      }
    );
    this._follow.classList.add('jp-SagaLog-follow');
    this._state.className = 'jp-SagaLog-state';
    this._state.setAttribute('role', 'status');
    this.node.append(this._earlier, this._follow, this._state);
    view.stateChanged.connect(this._update, this);
    model.changed.connect(this._update, this);
    this._update();
  }

  dispose(): void {
    this._model.changed.disconnect(this._update, this);
    super.dispose();
  }

  private _update(): void {
    const view = this._view;
    const stream = view.stream;
    const start = stream.startOffset;
    this._earlier.textContent = stream.loading ? 'Loading…' : 'Load earlier';
    this._earlier.disabled = stream.loading || !stream.hasEarlier;
    this._earlier.title = !stream.hasEarlier
      ? 'The whole output is shown'
      : start === null
        ? 'Load the whole output'
        : `Load the output before byte ${start}`;
    const held = view.heldLength;
    this._follow.textContent = view.following
      ? 'Following'
      : held
        ? `Paused · ${held} new characters`
        : 'Paused';
    this._follow.setAttribute('aria-pressed', String(view.following));
    this._follow.title = view.following
      ? 'Pause: hold new output, keep the screen still'
      : 'Follow: show the held output and what comes';
    // Complete, nothing more comes: nothing to follow (held output is still offered).
    const done = stream.complete && held === 0;
    this._follow.hidden = done;
    this._follow.style.display = done ? 'none' : ''; // JupyterLab's button style shows [hidden]
    const session = this._model.find(stream.name, stream.host);
    const outcome = stream.complete && session ? outcomeOf(session) : null;
    const gone = isGone(this._model, stream);
    // A remote's session while its host does not answer: its stream resumes when it does.
    const quiet =
      this._model.connection === 'open' &&
      session?.stale === true &&
      stream.host !== null;
    let state: string;
    let title = '';
    if (gone) {
      state = 'gone';
      title = GONE;
    } else if (stream.error !== null) {
      state = stream.error;
    } else if (outcome !== null && session) {
      state = outcomeLabel(outcome);
      title = outcomeTitle(session);
    } else if (stream.complete) {
      state = 'completed';
    } else if (this._model.connection !== 'open') {
      state = 'reconnecting…';
    } else if (quiet) {
      state = `${stream.host} not answering…`;
      title =
        'Its output so far is shown; what it writes meanwhile comes when it answers.';
    } else {
      state = stream.offset === null ? 'connecting…' : 'live';
    }
    this._state.textContent = state;
    this._state.title = title;
    this._state.dataset.state = gone
      ? 'gone'
      : stream.error !== null
        ? 'error'
        : stream.complete
          ? 'completed'
          : quiet
            ? 'stale'
            : state.replace('…', '');
    if (outcome !== null) {
      this._state.dataset.outcome = outcome;
    } else {
      delete this._state.dataset.outcome;
    }
  }

  private _view: LogView;
  private _model: SagaModel;
  private _earlier: HTMLButtonElement;
  private _follow: HTMLButtonElement;
  private _state = document.createElement('span');
}

/** A toolbar button in JupyterLab's look. */
function button(
  icon: HTMLElement | null,
  title: string,
  onClick: () => void
): HTMLButtonElement {
  const element = document.createElement('button');
  element.className =
    'jp-ToolbarButtonComponent jp-mod-minimal jp-Button jp-SagaLog-button';
  element.title = title;
  if (icon) {
    element.setAttribute('aria-label', title); // text buttons are labelled by their text
    element.append(icon);
  }
  element.addEventListener('click', onClick);
  return element;
}
