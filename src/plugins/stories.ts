/**
 * Opens a story's page in the main area (`saga:open-story`): one tab per story, restored on
 * reload, from the panel's project view, a worker row's story link or its context menu.
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

    const open = (project: string, id: string): MainAreaWidget<StoryPage> => {
      const existing = tracker.find(
        widget =>
          widget.content.project === project && widget.content.storyId === id
      );
      if (existing) {
        app.shell.activateById(existing.id);
        return existing;
      }
      const page = new StoryPage({
        model,
        project,
        id,
        rendermime,
        onOpenSession: name =>
          void app.commands.execute(CommandIDs.openLog, { name })
      });
      const widget = new MainAreaWidget({ content: page });
      const story = model.stories.get(project, id);
      widget.id = `saga-story-${encodeURIComponent(project)}-${id}`;
      widget.title.label = story?.title ?? id;
      widget.title.caption = `${id} (${project})`;
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
      // A remote's worker: its story is on its host, not in this server's projects.
      return session && !session.host
        ? model.stories.storyOfSession(session.name, session.storySlug)
        : undefined;
    };

    app.commands.addCommand(CommandIDs.openStory, {
      label: args => {
        if (args.origin === CONTEXT_MENU) {
          return 'Open Story';
        }
        const story =
          typeof args.project === 'string' && typeof args.id === 'string'
            ? model.stories.get(args.project, args.id)
            : undefined;
        return story ? `Open Story ${story.title}` : 'Open a SAGA Story';
      },
      caption: "A SAGA story's tasks, journal and sessions",
      isVisible: args =>
        args.origin !== CONTEXT_MENU || storyOfRow(args) !== undefined,
      execute: args => {
        if (args.origin === CONTEXT_MENU) {
          const story = storyOfRow(args);
          return story ? open(story.project, story.id) : undefined;
        }
        if (typeof args.project === 'string' && typeof args.id === 'string') {
          return open(args.project, args.id);
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
      args: widget => ({
        project: widget.content.project,
        id: widget.content.storyId
      }),
      name: widget => `${widget.content.project}:${widget.content.storyId}`
    });
  }
};
