/**
 * Opens a story's page in the main area (`saga:open-story`, with `host` for a remote's): one
 * tab per story on its host, restored on reload, from the panel's project view, a worker row's
 * story link or its context menu.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { CONTEXT_MENU, ROW_SELECTOR, namedSession } from '../choose';
import { hostOf, withHost } from '../hosts';
import { sagaIcon } from '../icons';
import { SagaModel } from '../model';
import { IStorySummary } from '../stories';
import { StoryPage } from '../storypage';
import { CommandIDs, ISagaModel } from '../tokens';

export const storiesPlugin: JupyterFrontEndPlugin<void> = {
  id: 'saga-jupyter:stories',
  description: "A SAGA story's page: its tasks, journal and sessions, live.",
  autoStart: true,
  requires: [ISagaModel, IRenderMimeRegistry],
  optional: [ILayoutRestorer, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    model: SagaModel,
    rendermime: IRenderMimeRegistry,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null
  ): void => {
    const area = labShell ? 'main' : 'down';
    const tracker = new WidgetTracker<MainAreaWidget<StoryPage>>({
      namespace: 'saga-story'
    });

    const open = (
      project: string,
      id: string,
      host: string | null
    ): MainAreaWidget<StoryPage> => {
      const existing = tracker.find(
        widget =>
          widget.content.project === project &&
          widget.content.storyId === id &&
          widget.content.host === host
      );
      if (existing) {
        app.shell.activateById(existing.id);
        return existing;
      }
      const page = new StoryPage({
        model,
        project,
        id,
        host,
        rendermime,
        onOpenSession: (name, host) =>
          void app.commands.execute(
            CommandIDs.openLog,
            withHost({ name }, host)
          )
      });
      const widget = new MainAreaWidget({ content: page });
      const story = model.stories.get(project, id, host);
      const on = host === null ? '' : `@${encodeURIComponent(host)}`;
      widget.id = `saga-story-${encodeURIComponent(project)}-${id}${on}`;
      widget.title.label = story?.title ?? id;
      widget.title.caption = `${id} (${project})${host === null ? '' : ` on ${host}`}`;
      widget.title.icon = sagaIcon;
      widget.title.closable = true;
      widget.addClass('jp-SagaStoryPanel');
      page.title.changed.connect(() => {
        widget.title.label = page.title.label || id;
      });
      void tracker.add(widget);
      app.shell.add(widget, area);
      app.shell.activateById(widget.id);
      return widget;
    };

    /** The story of the worker row a context menu was opened on. */
    const storyOfRow = (
      args: Record<string, unknown>
    ): IStorySummary | undefined => {
      const session = namedSession(app, model, {
        origin: args.origin as string
      });
      return session
        ? model.stories.storyOfSession(
            session.name,
            session.storySlug,
            hostOf(session)
          )
        : undefined;
    };
    /** The `host` argument: a remote's name, else `null` (this server's own). */
    const hostArg = (args: Record<string, unknown>): string | null =>
      typeof args.host === 'string' ? args.host : null;

    app.commands.addCommand(CommandIDs.openStory, {
      label: args => {
        if (args.origin === CONTEXT_MENU) {
          return 'Open Story';
        }
        const story =
          typeof args.project === 'string' && typeof args.id === 'string'
            ? model.stories.get(args.project, args.id, hostArg(args))
            : undefined;
        return story ? `Open Story ${story.title}` : 'Open a SAGA Story';
      },
      caption: "A SAGA story's tasks, journal and sessions",
      isVisible: args =>
        args.origin !== CONTEXT_MENU || storyOfRow(args) !== undefined,
      execute: args => {
        if (args.origin === CONTEXT_MENU) {
          const story = storyOfRow(args);
          return story
            ? open(story.project, story.id, hostOf(story))
            : undefined;
        }
        if (typeof args.project === 'string' && typeof args.id === 'string') {
          return open(args.project, args.id, hostArg(args));
        }
        return undefined;
      }
    });
    app.contextMenu.addItem({
      command: CommandIDs.openStory,
      selector: ROW_SELECTOR,
      args: { origin: CONTEXT_MENU },
      rank: 2
    });

    void restorer?.restore(tracker, {
      command: CommandIDs.openStory,
      args: ({ content }) =>
        content.host === null
          ? { project: content.project, id: content.storyId }
          : {
              project: content.project,
              id: content.storyId,
              host: content.host
            },
      name: ({ content }) =>
        `${content.project}:${content.storyId}` +
        (content.host === null ? '' : `@${content.host}`)
    });
  }
};
