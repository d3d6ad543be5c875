/**
 * A story's page in the main area: its title, epic, status and PR; its description and
 * guidance; its live task checklist; its journal, blockers first; the sessions that worked on
 * it. Everything the agents wrote as markdown goes through JupyterLab's own `text/markdown`
 * renderer, untrusted, so its sanitizer removes scripts, event handlers and `javascript:`
 * links. The page re-reads its story whenever a `stories:updated` frame names it. A remote's
 * story (`host`) is read through this server from its host, its sessions are that host's.
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import { outcomeLabel, outcomeOf } from './outcome';
import { formatCycle, storyName } from './format';
import { SagaModel } from './model';
import {
  IJournalEntry,
  IStoryDetail,
  formatStoryTasks,
  statusLabel,
  storyKey
} from './stories';

/** What a task's box shows for each status. */
const TASK_MARKS = { completed: '☑', inProgress: '◐', pending: '☐' };

/** One story's page (the content of its main-area tab). */
export class StoryPage extends Widget {
  constructor(options: StoryPage.IOptions) {
    super();
    this.model = options.model;
    this.project = options.project;
    this.storyId = options.id;
    this.host = options.host ?? null;
    this._rendermime = options.rendermime;
    this._onOpenSession = options.onOpenSession;
    this.addClass('jp-SagaStory');
    this.node.dataset.story = options.id;
    this.node.dataset.project = options.project;
    if (this.host !== null) {
      this.node.dataset.host = this.host;
    }
    this.model.stories.storiesChanged.connect((_, keys) => {
      if (keys.has(storyKey(this.project, this.storyId, this.host))) {
        void this.reload();
      }
    }, this);
    this.model.changed.connect(() => {
      this._renderSessions();
      if (this._retryWhenBack && this._hostState() === 'connected') {
        this._retryWhenBack = false;
        void this.reload();
      }
    }, this);
    void this.reload();
  }

  readonly model: SagaModel;
  readonly project: string;
  readonly storyId: string;
  /** The remote holding the story, `null` for this server's own. */
  readonly host: string | null;

  /** The story as last read, or `null` before. */
  get story(): IStoryDetail | null {
    return this._story;
  }

  /** Read the story again and show it. */
  async reload(): Promise<void> {
    const asked = ++this._asked;
    try {
      const story = await this.model.stories.api.story(
        this.storyId,
        this.project,
        this.host
      );
      if (asked === this._asked && !this.isDisposed) {
        this._story = story;
        this._error = null;
        this._render();
      }
    } catch (error) {
      if (asked === this._asked && !this.isDisposed) {
        this._error = (error as Error).message || String(error);
        // Its host was not answering (or not known yet): read again once it answers.
        this._retryWhenBack =
          this.host !== null && this._hostState() !== 'connected';
        this._render();
      }
    }
  }

  private _render(): void {
    const story = this._story;
    this.node.replaceChildren();
    this._keep = new Map();
    if (this._error !== null) {
      this.node.appendChild(
        element('div', 'jp-SagaStory-error', this._error, { role: 'alert' })
      );
    }
    if (story === null) {
      return;
    }
    this.title.label = story.title;
    this.node.dataset.status = story.status;
    const header = element('header', 'jp-SagaStory-header');
    header.appendChild(element('h1', 'jp-SagaStory-title', story.title));
    const facts = element('div', 'jp-SagaStory-facts');
    if (this.host !== null) {
      facts.appendChild(
        element('span', 'jp-SagaStory-host', `on ${this.host}`)
      );
    }
    facts.appendChild(
      element('span', 'jp-SagaStory-epic', story.epic ?? 'no epic', {
        title: story.project
      })
    );
    facts.appendChild(
      element('span', 'jp-SagaStories-status', statusLabel(story.status), {
        'data-status': story.status
      })
    );
    const completed = story.tasks.filter(t => t.status === 'completed').length;
    const inProgress = story.tasks.filter(
      t => t.status === 'inProgress'
    ).length;
    facts.appendChild(
      element(
        'span',
        'jp-SagaStories-tasks',
        formatStoryTasks({ total: story.tasks.length, completed, inProgress })
      )
    );
    if (story.blockers.length) {
      const count = story.blockers.length;
      facts.appendChild(
        element(
          'span',
          'jp-SagaStories-blockers',
          `${count} blocker${count > 1 ? 's' : ''}`,
          { title: story.blockers.join('\n') }
        )
      );
    }
    if (story.pr) {
      const pr = safeLink(story.pr, 'pull request');
      pr.classList.add('jp-SagaStory-pr');
      facts.appendChild(pr);
    }
    if (story.branch) {
      facts.appendChild(element('code', 'jp-SagaStory-branch', story.branch));
    }
    header.appendChild(facts);
    this.node.appendChild(header);

    this._section('Description', story.description, 'description');
    for (const [label, text, kind] of [
      ['Guidance', story.guidance, 'guidance'],
      ['Done when', story.doneWhen, 'doneWhen'],
      ['Avoid', story.avoid, 'avoid']
    ] as const) {
      if (text) {
        this._section(label, text, kind);
      }
    }

    const tasks = this._heading('Tasks', 'tasks');
    const list = element('ul', 'jp-SagaStory-tasks');
    for (const task of story.tasks) {
      const item = element('li', 'jp-SagaStory-task', undefined, {
        'data-task': task.id,
        'data-status': task.status,
        title: task.description
      });
      item.appendChild(
        element('span', 'jp-SagaStory-taskMark', TASK_MARKS[task.status], {
          'aria-hidden': 'true'
        })
      );
      item.appendChild(
        element('span', 'jp-SagaStory-taskSubject', task.subject)
      );
      if (task.status === 'inProgress' && task.activeForm) {
        item.appendChild(
          element('span', 'jp-SagaStory-taskActive', task.activeForm)
        );
      }
      if (task.blockedBy.length && task.status !== 'completed') {
        item.appendChild(
          element(
            'span',
            'jp-SagaStory-taskBlockedBy',
            `after ${task.blockedBy.join(', ')}`
          )
        );
      }
      list.appendChild(item);
    }
    if (!story.tasks.length) {
      list.appendChild(element('li', 'jp-SagaStory-none', 'No tasks yet.'));
    }
    tasks.appendChild(list);

    const journal = this._heading('Journal', 'journal');
    const entries = journalOrder(story.journal);
    if (!entries.length) {
      journal.appendChild(element('p', 'jp-SagaStory-none', 'No journal yet.'));
    }
    for (const entry of entries) {
      const item = element('article', 'jp-SagaStory-entry', undefined, {
        'data-type': entry.type
      });
      if (entry.resolved !== null) {
        item.dataset.resolved = String(entry.resolved);
      }
      const head = element('h3', 'jp-SagaStory-entryHead');
      head.appendChild(
        element('span', 'jp-SagaStory-entryType', entryLabel(entry))
      );
      head.appendChild(element('span', 'jp-SagaStory-entryTitle', entry.title));
      item.appendChild(head);
      item.appendChild(this._markdown(entry.content));
      journal.appendChild(item);
    }

    this._sessionsNode = this._heading('Sessions', 'sessions');
    this._renderSessions();
    this._rendered = this._keep;
  }

  /** The sessions, newest first, with their state from the live session list. */
  private _renderSessions(): void {
    const story = this._story;
    const section = this._sessionsNode;
    if (!story || !section) {
      return;
    }
    section.querySelector('.jp-SagaStory-sessions')?.remove();
    const list = element('ul', 'jp-SagaStory-sessions');
    for (const name of story.sessions) {
      const session = this.model.find(name, this.host);
      const button = element('button', 'jp-SagaStory-session', undefined, {
        'data-name': name,
        title: `Open the transcript of ${name}`
      });
      button.appendChild(
        element(
          'span',
          'jp-SagaStory-sessionName',
          session ? storyName(session) : name
        )
      );
      button.appendChild(element('span', 'jp-SagaStory-sessionId', name));
      if (session) {
        const outcome = outcomeOf(session);
        const state = [
          session.status,
          session.status === 'running' ? formatCycle(session.worker) : '',
          outcome ? outcomeLabel(outcome) : ''
        ].filter(Boolean);
        button.appendChild(
          element('span', 'jp-SagaStory-sessionState', state.join(' · '), {
            'data-status': session.status
          })
        );
      }
      button.addEventListener('click', () =>
        this._onOpenSession(name, this.host)
      );
      const item = element('li');
      item.appendChild(button);
      list.appendChild(item);
    }
    if (!story.sessions.length) {
      list.appendChild(
        element('li', 'jp-SagaStory-none', 'No worker has run this story yet.')
      );
    }
    section.appendChild(list);
  }

  private _heading(label: string, kind: string): HTMLElement {
    const section = element('section', 'jp-SagaStory-section', undefined, {
      'data-section': kind
    });
    section.appendChild(element('h2', 'jp-SagaStory-sectionHead', label));
    this.node.appendChild(section);
    return section;
  }

  private _section(label: string, markdown: string, kind: string): void {
    this._heading(label, kind).appendChild(this._markdown(markdown));
  }

  /** The agent's markdown rendered by JupyterLab, untrusted: sanitised. */
  private _markdown(source: string): HTMLElement {
    // The same text as the last render: its node, not a new render (no flicker, no jump).
    const held = this._rendered.get(source);
    if (held && !this._keep.has(source)) {
      this._keep.set(source, held);
      return held;
    }
    const host = element('div', 'jp-SagaStory-markdown');
    this._keep.set(source, host);
    const renderer = this._rendermime.createRenderer('text/markdown');
    const model = new MimeModel({
      data: { 'text/markdown': source },
      trusted: false
    });
    renderer.renderModel(model).catch(error => {
      host.textContent = source; // as text: never as HTML
      console.warn('saga-jupyter: markdown not rendered', error);
    });
    host.appendChild(renderer.node);
    return host;
  }

  /** Its host's state at the last health check (`undefined`: its own, or not known yet). */
  private _hostState(): string | undefined {
    return this.model.remotes.find(remote => remote.name === this.host)?.state;
  }

  private _rendermime: IRenderMimeRegistry;
  private _onOpenSession: (name: string, host: string | null) => void;
  private _story: IStoryDetail | null = null;
  private _error: string | null = null;
  private _asked = 0;
  private _retryWhenBack = false;
  private _sessionsNode: HTMLElement | null = null;
  /** Markdown rendered, by source: those of the last render, and of this one. */
  private _rendered = new Map<string, HTMLElement>();
  private _keep = new Map<string, HTMLElement>();
}

/** The story page's options. */
export namespace StoryPage {
  export interface IOptions {
    model: SagaModel;
    project: string;
    id: string;
    /** The remote holding the story (default: this server). */
    host?: string | null;
    rendermime: IRenderMimeRegistry;
    /** Open a session's log tab (`host`: the story's). */
    onOpenSession: (name: string, host: string | null) => void;
  }
}

/** Blockers first (unresolved before resolved), then the rest in the journal's order. */
export function journalOrder(entries: IJournalEntry[]): IJournalEntry[] {
  const rank = (entry: IJournalEntry) =>
    entry.type !== 'blocker' ? 2 : entry.resolved ? 1 : 0;
  return entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => rank(a.entry) - rank(b.entry) || a.index - b.index)
    .map(({ entry }) => entry);
}

function entryLabel(entry: IJournalEntry): string {
  if (entry.type === 'blocker') {
    return entry.resolved ? 'Blocker (resolved)' : 'Blocker';
  }
  return entry.type === 'resolution' ? 'Resolution' : 'Session';
}

/** A link to an http(s) URL opening in a new tab; any other scheme is shown as text only. */
function safeLink(url: string, label: string): HTMLElement {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (
    !parsed ||
    (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
  ) {
    return element('span', undefined, url);
  }
  const link = element('a', undefined, label, {
    href: parsed.href,
    target: '_blank',
    rel: 'noopener noreferrer',
    title: parsed.href
  });
  return link;
}

/** A new element with a class, text (never HTML) and attributes. */
function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
  attributes: Record<string, string> = {}
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, value);
  }
  return node;
}
