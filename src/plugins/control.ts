/**
 * Stop and attach (`saga:stop`, `saga:attach`): shown only when the server allows control
 * (`--SagaJupyterApp.allow_control=True`), each behind a confirmation dialog. Attach opens a
 * JupyterLab terminal running `tmux attach` on the session. A remote's session is stopped and
 * attached through this server (`?host=`) under the remote's own rules; its terminal is the
 * remote's, opened in a new browser tab at the remote's address.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { ISessionInfo } from '../api';
import {
  CONTEXT_MENU,
  ROW_SELECTOR,
  chooseSession,
  namedSession,
  shortName
} from '../choose';
import { hostOf } from '../hosts';
import { SagaModel } from '../model';
import { CommandIDs, ISagaModel } from '../tokens';

const isRunning = (session: ISessionInfo): boolean =>
  session.status === 'running';

export const controlPlugin: JupyterFrontEndPlugin<void> = {
  id: 'saga-jupyter:control',
  description:
    'Stop a SAGA worker, or attach a terminal to it (when the server allows).',
  autoStart: true,
  requires: [ISagaModel],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    model: SagaModel,
    palette: ICommandPalette | null
  ): void => {
    const { commands } = app;
    const enabled = (args: ReadonlyPartialJSONObject): boolean => {
      if (!model.allowControl) {
        return false;
      }
      const session = namedSession(app, model, args);
      if (session) {
        return isRunning(session);
      }
      const named =
        typeof args.name === 'string' || args.origin === CONTEXT_MENU;
      return !named && model.sessions.some(isRunning);
    };
    // The commands' visibility follows allow_control, and their state the session list.
    model.changed.connect(() => {
      commands.notifyCommandChanged(CommandIDs.stop);
      commands.notifyCommandChanged(CommandIDs.attach);
    });

    commands.addCommand(CommandIDs.stop, {
      label: args => {
        const session = namedSession(app, model, args);
        return session ? `Stop ${shortName(session)}` : 'Stop a SAGA Worker…';
      },
      caption: "Kill a worker's tmux session (its output stays)",
      isVisible: () => model.allowControl,
      isEnabled: enabled,
      execute: async args => {
        const session = await chooseSession(
          app,
          model,
          args,
          'Stop which worker?',
          isRunning
        );
        if (!session || !(await confirm('Stop', session, stopBody(session)))) {
          return;
        }
        try {
          await model.api.stop(session.name, hostOf(session));
        } catch (error) {
          await showErrorMessage(
            `Could not stop ${shortName(session)}`,
            error as Error
          );
        }
      }
    });

    commands.addCommand(CommandIDs.attach, {
      label: args => {
        const session = namedSession(app, model, args);
        return session
          ? `Attach a Terminal to ${shortName(session)}`
          : 'Attach to a SAGA Worker…';
      },
      caption: "A terminal attached to the worker's tmux session",
      isVisible: () => model.allowControl,
      isEnabled: enabled,
      execute: async args => {
        const session = await chooseSession(
          app,
          model,
          args,
          'Attach to which worker?',
          isRunning
        );
        if (
          !session ||
          !(await confirm('Attach', session, attachBody(session)))
        ) {
          return;
        }
        try {
          const host = hostOf(session);
          const terminal = await model.api.connect(session.name, host);
          if (host !== null) {
            openRemoteTerminal(model, host, terminal);
          } else if (commands.hasCommand('terminal:open')) {
            await commands.execute('terminal:open', { name: terminal });
          } else {
            window.open(
              URLExt.join(PageConfig.getBaseUrl(), 'terminals', terminal),
              '_blank'
            );
          }
        } catch (error) {
          await showErrorMessage(
            `Could not attach to ${shortName(session)}`,
            error as Error
          );
        }
      }
    });

    for (const command of [CommandIDs.stop, CommandIDs.attach]) {
      palette?.addItem({ command, category: 'SAGA' });
    }
    app.contextMenu.addItem({
      command: CommandIDs.attach,
      selector: ROW_SELECTOR,
      args: { origin: CONTEXT_MENU },
      rank: 2
    });
    app.contextMenu.addItem({
      command: CommandIDs.stop,
      selector: ROW_SELECTOR,
      args: { origin: CONTEXT_MENU },
      rank: 3
    });
  }
};

/** A remote's terminal, in a new browser tab at the remote's own address. */
function openRemoteTerminal(
  model: SagaModel,
  host: string,
  terminal: string
): void {
  const url = model.remotes.find(remote => remote.name === host)?.url;
  if (!url) {
    throw new Error(
      `${host} opened the terminal ${terminal}, but its address is not known here: open it on ${host}'s own Jupyter server`
    );
  }
  window.open(URLExt.join(url, 'terminals', terminal), '_blank', 'noopener');
}

/** Ask before acting on a worker; whether the user said yes. */
async function confirm(
  action: string,
  session: ISessionInfo,
  body: string
): Promise<boolean> {
  const result = await showDialog({
    title: `${action} ${shortName(session)}?`,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: action })]
  });
  return result.button.accept;
}

function stopBody(session: ISessionInfo): string {
  return `This kills the tmux session ${session.name}: the worker stops where it is. Its output file stays, and the session stays listed as completed.`;
}

function attachBody(session: ISessionInfo): string {
  const where = session.host
    ? ` on ${session.host}, in a new browser tab at ${session.host}'s own address (log in there if it asks)`
    : '';
  return `This opens a terminal attached to the tmux session ${session.name}${where}. What you type there goes to the worker; detach with Ctrl-b d.`;
}
