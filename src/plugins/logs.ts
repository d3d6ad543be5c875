/**
 * Opens a session's live log in a main-area tab (`saga:open-log`): one tab per session (a
 * remote's session is its host and its name: arguments `name` and `host`), restored on reload (a restored tab of a session gone since closes itself), following the
 * theme; today's workers as the transcript of their messages (or raw, as the settings say).
 * Its settings: `schema/logs.json`. Notebook 7 has one main widget per page (the notebook):
 * there the tabs open in its bottom ("down") panel.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IThemeManager,
  MainAreaWidget,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { ISessionInfo } from '../api';
import {
  CONTEXT_MENU,
  ROW_SELECTOR,
  chooseSession,
  namedSession,
  shortName
} from '../choose';
import { hostOf, sessionKey, withHost } from '../hosts';
import { sagaIcon } from '../icons';
import { LogViewKind } from '../channel';
import { isGone, populateToolbar } from '../logtoolbar';
import { LogView } from '../logview';
import { SagaModel } from '../model';
import { CommandIDs, ISagaModel } from '../tokens';
import { followSettings } from './settings';

const PLUGIN_ID = 'saga-jupyter:logs';
const DEFAULT_SCROLLBACK = 20_000;

export const logsPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: "A SAGA session's output, live, in a main-area tab.",
  autoStart: true,
  requires: [ISagaModel],
  optional: [
    ILayoutRestorer,
    ISettingRegistry,
    ICommandPalette,
    IThemeManager,
    ILabShell
  ],
  activate: (
    app: JupyterFrontEnd,
    model: SagaModel,
    restorer: ILayoutRestorer | null,
    registry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    themes: IThemeManager | null,
    labShell: ILabShell | null
  ): void => {
    const area = labShell ? 'main' : 'down';
    const tracker = new WidgetTracker<MainAreaWidget<LogView>>({
      namespace: 'saga-log'
    });
    let scrollback = DEFAULT_SCROLLBACK;
    let messagesView: LogViewKind = 'transcript';
    // Tabs opened before the layout is restored are the restorer's, not a person's choice.
    let restoring = true;
    void app.restored.then(() => (restoring = false));
    const gone = new GoneTabs();

    const open = (
      name: string,
      host: string | null = null
    ): MainAreaWidget<LogView> => {
      const existing = tracker.find(
        widget => keyOf(widget) === sessionKey(name, host)
      );
      if (existing) {
        app.shell.activateById(existing.id);
        return existing;
      }
      const kind = model.writesMessages(name, host) ? messagesView : 'raw';
      const view = new LogView({
        stream: model.openStream(name, host, kind),
        scrollback
      });
      const widget = new MainAreaWidget({ content: view });
      const session = model.find(name, host);
      widget.id =
        host === null ? `saga-log-${name}` : `saga-log-${name}@${host}`;
      widget.title.label = session ? tabLabel(session) : name;
      widget.title.caption = host === null ? name : `${name} on ${host}`;
      widget.title.icon = sagaIcon;
      widget.title.closable = true;
      widget.addClass('jp-SagaLogPanel');
      populateToolbar(widget.toolbar, view, model);
      void tracker.add(widget);
      app.shell.add(widget, area);
      if (restoring) {
        // The restored layout says which tab is current; activating each would move the
        // focus (and close a palette just opened) as late as the layout settles.
        gone.watch(widget, model);
      } else {
        app.shell.activateById(widget.id);
      }
      return widget;
    };

    app.commands.addCommand(CommandIDs.openLog, {
      label: args => {
        const session = namedSession(app, model, args);
        if (session) {
          return `Open Log of ${shortName(session)}`;
        }
        return args.origin === CONTEXT_MENU
          ? 'Open Log'
          : 'Open a SAGA Session Log…';
      },
      caption: "A SAGA session's output, live, in a tab",
      icon: args => (args.origin === CONTEXT_MENU ? undefined : sagaIcon),
      execute: async args => {
        if (typeof args.name === 'string' && args.origin === undefined) {
          // Also restores tabs of sessions not listed (yet).
          return open(
            args.name,
            typeof args.host === 'string' ? args.host : null
          );
        }
        const session = await chooseSession(
          app,
          model,
          args,
          'Open the log of'
        );
        return session ? open(session.name, hostOf(session)) : undefined;
      }
    });
    palette?.addItem({ command: CommandIDs.openLog, category: 'SAGA' });
    app.contextMenu.addItem({
      command: CommandIDs.openLog,
      selector: ROW_SELECTOR,
      args: { origin: CONTEXT_MENU },
      rank: 1
    });

    void restorer?.restore(tracker, {
      command: CommandIDs.openLog,
      args: widget => {
        const { name, host } = widget.content.stream;
        return withHost({ name }, host);
      },
      name: keyOf
    });

    themes?.themeChanged.connect(() =>
      tracker.forEach(widget => widget.content.updateTheme())
    );

    model.changed.connect(() => {
      tracker.forEach(widget => {
        const stream = widget.content.stream;
        const session = model.find(stream.name, stream.host);
        // A session refused for want of an output file is asked for again once it has one.
        if (stream.error !== null && session?.outputAvailable) {
          stream.retry();
        }
        // A tab restored before the first session list is named like the others once listed.
        if (session && widget.title.label === stream.name) {
          widget.title.label = tabLabel(session);
        }
      });
    });

    followSettings(registry, PLUGIN_ID, settings => {
      scrollback = Number(settings.composite.scrollback) || DEFAULT_SCROLLBACK;
      messagesView =
        settings.composite.messagesView === 'raw' ? 'raw' : 'transcript';
    });
  }
};

/** A log tab's session: its host and name, as `sessionKey` makes them one string. */
function keyOf(widget: MainAreaWidget<LogView>): string {
  const { name, host } = widget.content.stream;
  return sessionKey(name, host);
}

/** `auth/login-form`, and for a remote's session `auth/login-form @ alpha`. */
function tabLabel(session: ISessionInfo): string {
  const host = hostOf(session);
  return host === null ? shortName(session) : `${shortName(session)} @ ${host}`;
}

/** How long gone tabs are gathered into one notification. */
const GONE_GATHER_MS = 1000;

/**
 * Restored tabs of sessions that no longer exist (their tmux session ended, their output
 * file was deleted and the store forgot them) close themselves, and one notification names
 * them: the tab would only ever be empty, and the workspace would restore it on every
 * reload. A tab a person opened is never closed under them: it says "gone" instead.
 */
class GoneTabs {
  /** Close `widget` if its session turns out gone; stop looking once it streams or is listed. */
  watch(widget: MainAreaWidget<LogView>, model: SagaModel): void {
    const stream = widget.content.stream;
    const check = () => {
      if (isGone(model, stream)) {
        this._closed.push(stream.name);
        this._tell();
        stop();
        widget.close();
      } else if (
        stream.offset !== null ||
        model.find(stream.name, stream.host)
      ) {
        stop(); // it exists
      }
    };
    const stop = () => {
      widget.content.stateChanged.disconnect(check);
      model.changed.disconnect(check);
    };
    widget.content.stateChanged.connect(check);
    model.changed.connect(check);
    widget.disposed.connect(stop);
  }

  private _tell(): void {
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(() => {
      const names = this._closed.splice(0);
      const tabs = names.length === 1 ? 'tab' : 'tabs';
      Notification.info(
        `Closed the log ${tabs} of ${names.join(', ')}: ` +
          `${names.length === 1 ? 'this worker and its output are' : 'these workers and their output are'} gone.`,
        { autoClose: 10_000 }
      );
    }, GONE_GATHER_MS);
  }

  private _closed: string[] = [];
  private _timer = 0;
}
