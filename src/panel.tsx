/**
 * The SAGA sidebar panel: sessions grouped by epic (those without one, today's workers of an
 * unknown project, under "no epic"), each with its story, status, outcome and, from the
 * worker's output, its cycle, cost and tasks; status filters, counts, the server's
 * health as banners and an empty state that says where workers come from. With remotes, the
 * sessions are grouped by host first (hostgroups.tsx), each row naming its host and greyed
 * while its host does not answer. It renders the model; opening a log and changing the
 * filter go out through callbacks.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ISessionInfo } from './api';
import {
  NO_EPIC,
  describeTasks,
  formatAgo,
  formatCost,
  formatCycle,
  formatDuration,
  formatTasks,
  tellingLine,
  parseTime,
  sessionDuration,
  storyName
} from './format';
import { HostGroups } from './hostgroups';
import { hostLabel, hostOf, sessionKey, showsHosts } from './hosts';
import { sagaIcon } from './icons';
import { outcomeLabel, outcomeOf, outcomeTitle } from './outcome';
import { SagaModel } from './model';
import { OpenStory, StoriesView, countBlockers } from './storyview';
import { PANEL_ID } from './tokens';

/** A session status. */
export type Status = ISessionInfo['status'];

/** Every status, in the order the filters show them. */
export const STATUSES: ReadonlyArray<Status> = ['running', 'completed'];

/** How the panel lists sessions (the `saga-jupyter:panel` settings). */
export interface IPanelOptions {
  /** The statuses listed; the others are counted but hidden. */
  statuses: ReadonlyArray<Status>;
  /** One group per epic, or a single list. */
  groupBy: 'epic' | 'none';
  /** Whether rows show the last line of output. */
  showPreview: boolean;
}

/** The panel's options before settings load, and without a settings registry. */
export const DEFAULT_OPTIONS: IPanelOptions = {
  statuses: STATUSES,
  groupBy: 'epic',
  showPreview: true
};

/** What the panel shows: the workers, or the projects' epics and stories. */
export type PanelViewKind = 'sessions' | 'stories';

/** Durations and "last output … ago" tick while the panel is visible. */
const TICK_MS = 1000;

/** The sidebar panel. */
export class SagaPanel extends ReactWidget {
  constructor(options: SagaPanel.IOptions) {
    super();
    this.model = options.model;
    this._onOpen = options.onOpen;
    this._onFilter = options.onFilter;
    this._onOpenStory = options.onOpenStory ?? (() => undefined);
    this.id = PANEL_ID;
    this.title.icon = sagaIcon;
    this.title.caption = 'SAGA workers';
    this.addClass('jp-SagaPanel');
    this.model.changed.connect(() => this.update(), this);
    this.model.stories.changed.connect(() => this.update(), this);
    this._ticker = window.setInterval(() => {
      if (this.isVisible && this.model.sessions.length > 0) {
        this.update();
      }
    }, TICK_MS);
  }

  /** What the panel shows. */
  readonly model: SagaModel;

  /** How it lists sessions. */
  get options(): IPanelOptions {
    return this._options;
  }
  set options(options: IPanelOptions) {
    this._options = options;
    this.update();
  }

  /** Whether the workers or the projects are shown. */
  get view(): PanelViewKind {
    return this._view;
  }
  set view(view: PanelViewKind) {
    this._view = view;
    this.update();
  }

  dispose(): void {
    window.clearInterval(this._ticker);
    super.dispose();
  }

  protected render(): JSX.Element {
    return (
      <PanelView
        model={this.model}
        options={this._options}
        now={Date.now()}
        onOpen={this._onOpen}
        onFilter={this._onFilter}
        view={this._view}
        onView={view => (this.view = view)}
        onOpenStory={this._onOpenStory}
      />
    );
  }

  private _options: IPanelOptions = DEFAULT_OPTIONS;
  private _onOpen: (session: ISessionInfo) => void;
  private _onFilter: (statuses: Status[]) => void;
  private _onOpenStory: OpenStory;
  private _view: PanelViewKind = 'sessions';
  private _ticker: number;
}

/** The panel's options. */
export namespace SagaPanel {
  export interface IOptions {
    model: SagaModel;
    /** Open a session's log (a row was clicked). */
    onOpen: (session: ISessionInfo) => void;
    /** Show these statuses (a filter was toggled). */
    onFilter: (statuses: Status[]) => void;
    /** Open a story's page (the project view, or a worker row's story link). */
    onOpenStory?: OpenStory;
  }
}

interface IViewProps {
  model: SagaModel;
  options: IPanelOptions;
  now: number;
  onOpen: (session: ISessionInfo) => void;
  onFilter: (statuses: Status[]) => void;
  view: PanelViewKind;
  onView: (view: PanelViewKind) => void;
  onOpenStory: OpenStory;
}

function PanelView(props: IViewProps): JSX.Element {
  const { model, options } = props;
  const counts = model.counts;
  const blockers = countBlockers(model);
  const shown = model.sessions.filter(session =>
    options.statuses.includes(session.status)
  );
  const toggle = (status: Status) => {
    const statuses = options.statuses.includes(status)
      ? options.statuses.filter(s => s !== status)
      : STATUSES.filter(s => s === status || options.statuses.includes(s));
    props.onFilter(statuses);
  };
  return (
    <div className="jp-SagaPanel-content">
      <header className="jp-SagaPanel-header">
        <h2 className="jp-SagaPanel-title">SAGA</h2>
        <span className="jp-SagaPanel-counts">
          {counts.running} running · {counts.completed} completed
        </span>
      </header>
      <div className="jp-SagaPanel-views" role="tablist">
        {(['sessions', 'stories'] as const).map(view => (
          <button
            key={view}
            className="jp-SagaPanel-viewTab"
            role="tab"
            data-view={view}
            aria-selected={props.view === view}
            onClick={() => props.onView(view)}
          >
            {view === 'sessions' ? 'Sessions' : 'Stories'}
            {view === 'stories' && blockers > 0 && (
              <span
                className="jp-SagaPanel-viewBlockers"
                title={`${blockers} unresolved blocker${blockers > 1 ? 's' : ''}`}
              >
                {blockers}
              </span>
            )}
          </button>
        ))}
      </div>
      <Banners model={model} />
      {props.view === 'stories' ? (
        <div className="jp-SagaPanel-body">
          <StoriesView model={model} onOpenStory={props.onOpenStory} />
        </div>
      ) : (
        <SessionsView {...props} shown={shown} toggle={toggle} />
      )}
    </div>
  );
}

function SessionsView(
  props: IViewProps & { shown: ISessionInfo[]; toggle: (s: Status) => void }
): JSX.Element {
  const { model, options, shown, toggle } = props;
  const counts = model.counts;
  return (
    <>
      <div
        className="jp-SagaPanel-filters"
        role="group"
        aria-label="Show sessions by status"
      >
        {STATUSES.map(status => (
          <button
            key={status}
            className="jp-SagaPanel-filter"
            data-status={status}
            aria-pressed={options.statuses.includes(status)}
            onClick={() => toggle(status)}
          >
            {status === 'running' ? 'Running' : 'Completed'}
            <span className="jp-SagaPanel-filterCount">{counts[status]}</span>
          </button>
        ))}
      </div>
      <div className="jp-SagaPanel-body">
        {!model.listed ? (
          <p className="jp-SagaPanel-placeholder">Connecting to the server…</p>
        ) : model.sessions.length === 0 ? (
          <EmptyState model={model} />
        ) : shown.length === 0 ? (
          <p className="jp-SagaPanel-placeholder">
            No {options.statuses.join(' or ') || 'status'} sessions shown:{' '}
            {model.sessions.length} hidden by the filter above.
          </p>
        ) : showsHosts(model.sessions, model.remotes) ? (
          <HostGroups
            items={shown}
            remotes={model.remotes}
            counts={runningCounts}
            noun="workers"
          >
            {sessions => <Groups {...props} sessions={sessions} showHost />}
          </HostGroups>
        ) : (
          <Groups {...props} sessions={shown} />
        )}
      </div>
    </>
  );
}

/** `1 running · 0 completed`: a host's header. */
function runningCounts(sessions: ISessionInfo[]): string {
  const running = sessions.filter(s => s.status === 'running').length;
  return `${running} running · ${sessions.length - running} completed`;
}

/** The rows' props: the sessions, and whether each row names its host. */
type IRowsProps = IViewProps & { sessions: ISessionInfo[]; showHost?: boolean };

function Groups(props: IRowsProps): JSX.Element {
  if (props.options.groupBy === 'none') {
    return <Rows {...props} />;
  }
  // Sessions without an epic (v4 stories of a project not known) gather under '' last.
  const byEpic = new Map<string, ISessionInfo[]>();
  for (const session of props.sessions) {
    const epic = session.epicSlug ?? '';
    const group = byEpic.get(epic) ?? [];
    group.push(session);
    byEpic.set(epic, group);
  }
  const epics = [...byEpic.keys()].sort(byEpicName);
  return (
    <>
      {epics.map(epic => {
        const sessions = byEpic.get(epic)!;
        const running = sessions.filter(s => s.status === 'running').length;
        return (
          <section
            key={epic}
            className="jp-SagaPanel-group"
            data-epic={epic}
            data-no-epic={epic ? undefined : 'true'}
          >
            <h3 className="jp-SagaPanel-epic">
              <span className="jp-SagaPanel-epicName">{epic || NO_EPIC}</span>
              <span className="jp-SagaPanel-epicCounts">
                {running} running · {sessions.length - running} completed
              </span>
            </h3>
            <Rows {...props} sessions={sessions} />
          </section>
        );
      })}
    </>
  );
}

/** Epics in code-point order (as before today's SAGA), "no epic" ('') last. */
function byEpicName(a: string, b: string): number {
  if (!a || !b) {
    return Number(!a) - Number(!b);
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function Rows(props: IRowsProps): JSX.Element {
  return (
    <ul className="jp-SagaPanel-rows">
      {props.sessions.map(session => (
        <RowItem
          key={sessionKey(session.name, hostOf(session))}
          {...props}
          session={session}
        />
      ))}
    </ul>
  );
}

function Row(props: IRowsProps & { session: ISessionInfo }): JSX.Element {
  const { session, now } = props;
  const host = hostOf(session);
  const duration = sessionDuration(session, now);
  const activity = parseTime(session.lastActivity);
  const preview = tellingLine(session);
  const outcome = outcomeOf(session);
  const showEpic = props.options.groupBy === 'none';
  return (
    <button
      className="jp-SagaPanel-row"
      data-name={session.name}
      data-status={session.status}
      data-format={session.outputFormat ?? 'terminal'}
      data-host={host ?? undefined}
      data-stale={session.stale ? 'true' : undefined}
      title={rowTitle(session)}
      onClick={() => props.onOpen(session)}
    >
      <span className="jp-SagaPanel-rowHead">
        <span className="jp-SagaPanel-story">
          {showEpic ? storyName(session) : session.storySlug}
        </span>
        <span className="jp-SagaPanel-duration">
          {duration === null ? '' : formatDuration(duration)}
        </span>
      </span>
      <span className="jp-SagaPanel-state">
        <span className="jp-SagaPanel-badge" data-status={session.status}>
          {session.status}
        </span>
        {props.showHost && (
          <span
            className="jp-SagaPanel-rowHost"
            title={`on ${hostLabel(host)}`}
          >
            {hostLabel(host)}
          </span>
        )}
        {outcome && (
          <span
            className="jp-SagaPanel-badge"
            data-outcome={outcome}
            title={outcomeTitle(session)}
          >
            {outcomeLabel(outcome)}
          </span>
        )}
        <WorkerFacts session={session} />
      </span>
      <span className="jp-SagaPanel-activity">
        {activity === null
          ? session.outputAvailable
            ? 'no output yet'
            : 'no output file'
          : `last output ${formatAgo(now - activity)}`}
      </span>
      {props.options.showPreview && preview && (
        <span className="jp-SagaPanel-preview">{preview}</span>
      )}
    </button>
  );
}

/** What hovering a row tells: its name, its file, and where it runs when that is not here. */
function rowTitle(session: ISessionInfo): string {
  const host = hostOf(session);
  const where = host === null ? '' : `\non ${host}`;
  const stale = session.stale ? ' (not answering: as last seen)' : '';
  return `${session.name}\n${session.outputFile}${where}${stale}`;
}

/** A row, and for a today's worker whose story is known, a button to its story's page. */
function RowItem(props: IRowsProps & { session: ISessionInfo }): JSX.Element {
  const { session } = props;
  // A remote's worker: its story is one of its host's.
  const story =
    session.outputFormat === 'messages'
      ? props.model.stories.storyOfSession(
          session.name,
          session.storySlug,
          hostOf(session)
        )
      : undefined;
  return (
    <li className="jp-SagaPanel-rowItem" data-story={story?.id}>
      <Row {...props} />
      {story && (
        <button
          className="jp-SagaPanel-storyLink"
          data-story={story.id}
          title={`Open the story: ${story.title}`}
          onClick={() =>
            props.onOpenStory(story.project, story.id, hostOf(story))
          }
        >
          story
        </button>
      )}
    </li>
  );
}

/** `cycle 2/10 · $6.42 · tasks 3/5`: what a worker's output says, each part when known. */
function WorkerFacts(props: { session: ISessionInfo }): JSX.Element | null {
  const { session } = props;
  const worker = session.worker;
  const cycle = session.status === 'running' ? formatCycle(worker) : '';
  const cost = formatCost(worker);
  const tasks = formatTasks(worker);
  const facts: JSX.Element[] = [];
  if (cycle) {
    facts.push(
      <span key="cycle" className="jp-SagaPanel-cycle">
        {cycle}
      </span>
    );
  }
  if (cost) {
    const turns = worker?.turns;
    facts.push(
      <span
        key="cost"
        className="jp-SagaPanel-cost"
        title={typeof turns === 'number' ? `${cost} over ${turns} turns` : cost}
      >
        {cost}
      </span>
    );
  }
  if (tasks && worker?.tasks) {
    facts.push(
      <span
        key="tasks"
        className="jp-SagaPanel-tasks"
        title={describeTasks(worker.tasks)}
      >
        {tasks}
      </span>
    );
  }
  if (!facts.length) {
    return null;
  }
  return (
    <span className="jp-SagaPanel-worker">
      {facts.map((fact, index) => (
        <React.Fragment key={fact.key}>
          {index > 0 && ' · '}
          {fact}
        </React.Fragment>
      ))}
    </span>
  );
}

function Banners(props: { model: SagaModel }): JSX.Element | null {
  const { model } = props;
  const banners: { kind: 'error' | 'warning' | 'info'; text: string }[] = [];
  const status = model.status;
  if (model.connection === 'connecting' && model.channel.connections > 0) {
    banners.push({
      kind: 'info',
      text: 'Connection to the server lost: reconnecting…'
    });
  } else if (model.statusError !== null) {
    banners.push({
      kind: 'error',
      text: `The server's health check failed: ${model.statusError}`
    });
  }
  if (status?.tmux && !status.tmux.available) {
    const why = status.tmux.error ? `: ${status.tmux.error}` : '';
    banners.push({ kind: 'error', text: `tmux is unreachable${why}` });
  }
  const store = status?.store;
  if (store?.error || store?.saveError) {
    banners.push({
      kind: 'warning',
      text: `The session store (${store.path}): ${store.saveError ?? store.error}`
    });
  }
  if (status?.outputDirWarning) {
    banners.push({ kind: 'warning', text: status.outputDirWarning });
  }
  if (!banners.length) {
    return null;
  }
  return (
    <div className="jp-SagaPanel-banners">
      {banners.map(banner => (
        <div
          key={banner.text}
          className="jp-SagaPanel-banner"
          data-kind={banner.kind}
          role={banner.kind === 'info' ? 'status' : 'alert'}
        >
          {banner.text}
        </div>
      ))}
    </div>
  );
}

function EmptyState(props: { model: SagaModel }): JSX.Element {
  const status = props.model.status;
  const dir = status?.outputDir ?? 'the output directory';
  const socket = status?.tmux?.socketName;
  return (
    <div className="jp-SagaPanel-empty">
      <p className="jp-SagaPanel-emptyTitle">No SAGA workers yet</p>
      <p>
        Watching <code className="jp-SagaPanel-outputDir">{dir}</code>
        {status?.outputDirExists === false && ' (it does not exist yet)'}.
      </p>
      <p>
        A worker appears here when a tmux session named{' '}
        <code>saga-story-&lt;story&gt;-&lt;n&gt;</code> (today&apos;s SAGA) or{' '}
        <code>saga__&lt;epic&gt;__&lt;story&gt;__&lt;n&gt;</code> runs
        {socket ? (
          <>
            {' '}
            on the socket <code>{socket}</code>
          </>
        ) : (
          ' on the default tmux server'
        )}
        , writing its output to <code>{dir}/&lt;name&gt;.jsonl</code> (or{' '}
        <code>.out</code>).
      </p>
    </div>
  );
}
