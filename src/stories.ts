/**
 * The SAGA projects' epics and stories in the browser: their REST routes, typed, and the
 * model every project view renders, kept live by the channel's `stories:updated` frames.
 * A server with remotes (or `saga-jupyter hub-service`) lists theirs too, each with its `host`:
 * a story is its host, its project and its id.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { sagaRequest } from './api';
import type { Channel } from './channel';
import { IHosted, hostOf, sessionKey, withHost } from './hosts';

/** How SAGA derives a story's (or an epic's, or a task's) status. */
export type DerivedStatus = 'pending' | 'inProgress' | 'completed';

/** Every derived status, in the order counts read. */
export const DERIVED_STATUSES: ReadonlyArray<DerivedStatus> = [
  'completed',
  'inProgress',
  'pending'
];

/** One epic (`GET /api/saga/epics`). */
export interface IEpic extends IHosted {
  id: string;
  title: string;
  description: string;
  project: string;
  status: DerivedStatus;
  storyCounts: Record<DerivedStatus | 'total', number>;
}

/** A story's tasks counted. */
export interface IStoryTaskCounts {
  total: number;
  completed: number;
  inProgress: number;
}

/** One story, as `GET /api/saga/stories` and `stories:updated` frames give it. */
export interface IStorySummary extends IHosted {
  id: string;
  title: string;
  epic: string | null;
  project: string;
  status: DerivedStatus;
  tasks: IStoryTaskCounts;
  /** The titles of its journal's unresolved blockers, in order. */
  blockers: string[];
  branch: string | null;
  pr: string | null;
  /** The sessions that worked on it, newest first. */
  sessions: string[];
}

/** One task of a story. */
export interface ITask {
  id: string;
  subject: string;
  description: string;
  status: DerivedStatus;
  blockedBy: string[];
  activeForm: string | null;
}

/** One entry of a story's journal; `content` is the agent's markdown (untrusted). */
export interface IJournalEntry {
  type: 'session' | 'blocker' | 'resolution';
  title: string;
  content: string;
  /** A blocker's, else `null`. */
  resolved: boolean | null;
}

/** One story in full (`GET /api/saga/stories/{id}`). */
export interface IStoryDetail extends Omit<IStorySummary, 'tasks'> {
  description: string;
  guidance: string | null;
  doneWhen: string | null;
  avoid: string | null;
  worktree?: string | null;
  tasks: ITask[];
  journal: IJournalEntry[];
}

/** The key of a story: ids are unique within a project only, projects within a host. */
export function storyKey(
  project: string,
  id: string,
  host: string | null = null
): string {
  return sessionKey(`${project}\u0000${id}`, host);
}

/** The key of an epic or story as the server lists it. */
export function keyOf(item: IHosted & { project: string; id: string }): string {
  return storyKey(item.project, item.id, hostOf(item));
}

/** `3/5 tasks`. */
export function formatStoryTasks(tasks: IStoryTaskCounts): string {
  return `${tasks.completed}/${tasks.total} tasks`;
}

/** `in progress`, `pending`, `completed`: how a status reads. */
export function statusLabel(status: DerivedStatus): string {
  return status === 'inProgress' ? 'in progress' : status;
}

/** The REST routes of the projects. */
export class StoriesAPI {
  constructor(serverSettings: ServerConnection.ISettings) {
    this.serverSettings = serverSettings;
  }

  readonly serverSettings: ServerConnection.ISettings;

  /** Every project's epics. */
  async epics(): Promise<IEpic[]> {
    return (await this._get('epics')) as IEpic[];
  }

  /** Every project's stories. */
  async stories(): Promise<IStorySummary[]> {
    return (await this._get('stories')) as IStorySummary[];
  }

  /** One story in full (`host`: a remote's, through this server). */
  async story(
    id: string,
    project: string,
    host: string | null = null
  ): Promise<IStoryDetail> {
    const query = URLExt.objectToQueryString(withHost({ project }, host));
    return (await this._get(
      `stories/${encodeURIComponent(id)}${query}`
    )) as IStoryDetail;
  }

  private async _get(path: string): Promise<unknown> {
    return (await sagaRequest(this.serverSettings, path)).json();
  }
}

/** How soon after a `stories:updated` frame the epics are asked for again. */
const EPICS_AFTER_MS = 150;

/** The epics and stories of every project, live. */
export class StoriesModel implements IDisposable {
  constructor(options: StoriesModel.IOptions) {
    this.api = new StoriesAPI(options.serverSettings);
    this._channel = options.channel;
    this._channel.storiesUpdated.connect(this._onStories, this);
    this._channel.statusChanged.connect(this._onConnection, this);
  }

  readonly api: StoriesAPI;

  /** Whether the first lists came (or failed). */
  get loaded(): boolean {
    return this._loaded;
  }

  /** Why the last fetch failed, or `null`. */
  get error(): string | null {
    return this._error;
  }

  /** The epics, in the server's order. */
  get epics(): ReadonlyArray<IEpic> {
    return this._epics;
  }

  /** The stories, in the server's order (those come since at the end). */
  get stories(): ReadonlyArray<IStorySummary> {
    if (this._list === null) {
      this._list = [...this._stories.values()];
    }
    return this._list;
  }

  /** Emitted when epics or stories changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted with the keys (`storyKey`) of the stories a frame changed. */
  get storiesChanged(): ISignal<this, ReadonlySet<string>> {
    return this._storiesChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** A story by project and id, on a host (default: this server's own). */
  get(
    project: string,
    id: string,
    host: string | null = null
  ): IStorySummary | undefined {
    return this._stories.get(storyKey(project, id, host));
  }

  /**
   * The story a session of `host` worked on (it lists the session), else the only one of its
   * id on that host.
   */
  storyOfSession(
    name: string,
    storyId: string,
    host: string | null = null
  ): IStorySummary | undefined {
    if (this._byId === null) {
      // Asked for every worker row at every render: indexed once per change.
      const byId = new Map<string, IStorySummary[]>();
      for (const story of this.stories) {
        const key = sessionKey(story.id, hostOf(story));
        byId.set(key, [...(byId.get(key) ?? []), story]);
      }
      this._byId = byId;
    }
    const ofId = this._byId.get(sessionKey(storyId, host)) ?? [];
    return (
      ofId.find(story => story.sessions.includes(name)) ??
      (ofId.length === 1 ? ofId[0] : undefined)
    );
  }

  /** Fetch the epics and stories (the first call starts the model; later ones refresh). */
  async refresh(): Promise<void> {
    try {
      const [epics, stories] = await Promise.all([
        this.api.epics(),
        this.api.stories()
      ]);
      this._epics = epics;
      this._stories = new Map(stories.map(story => [keyOf(story), story]));
      this._list = this._byId = null;
      this._error = null;
    } catch (error) {
      this._error = (error as Error).message || String(error);
    }
    this._loaded = true;
    this._changed.emit();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    window.clearTimeout(this._epicsTimer);
    Signal.clearData(this);
  }

  private _onStories(_: Channel, stories: IStorySummary[]): void {
    const keys = new Set<string>();
    for (const story of stories) {
      const key = keyOf(story);
      keys.add(key);
      this._stories.set(key, story);
    }
    this._list = this._byId = null;
    this._changed.emit();
    this._storiesChanged.emit(keys);
    // The epics' counts follow their stories: ask once the burst of frames is over.
    window.clearTimeout(this._epicsTimer);
    this._epicsTimer = window.setTimeout(
      () => void this._refreshEpics(),
      EPICS_AFTER_MS
    );
  }

  private async _refreshEpics(): Promise<void> {
    try {
      this._epics = await this.api.epics();
      this._changed.emit();
    } catch (error) {
      console.warn('saga-jupyter: the epics could not be fetched', error);
    }
  }

  private _onConnection(): void {
    // Reconnected: frames may have been missed meanwhile (stories gone too).
    if (this._channel.status === 'open' && this._channel.connections > 1) {
      void this.refresh();
    }
  }

  private _channel: Channel;
  private _epics: IEpic[] = [];
  private _stories = new Map<string, IStorySummary>();
  private _list: IStorySummary[] | null = null;
  private _byId: Map<string, IStorySummary[]> | null = null;
  private _loaded = false;
  private _error: string | null = null;
  private _epicsTimer = 0;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
  private _storiesChanged = new Signal<this, ReadonlySet<string>>(this);
}

/** The stories model's options. */
export namespace StoriesModel {
  export interface IOptions {
    serverSettings: ServerConnection.ISettings;
    channel: Channel;
  }
}
