/**
 * A JupyterLab notification when a SAGA worker ends blocked, failed or finished, with a button
 * that opens its log: who needs a person, without looking. Only what changes while the tab is
 * open is told: the first session list says what was already known.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';

import { ISessionInfo } from '../api';
import { SagaModel } from '../model';
import { CommandIDs, ISagaModel } from '../tokens';

/** How each outcome is told. */
const TOLD: Record<string, { type: Notification.TypeOptions; text: string }> = {
  BLOCKED: { type: 'warning', text: 'is blocked and waits for you' },
  ERROR: { type: 'error', text: 'failed' },
  TIMEOUT: { type: 'error', text: 'timed out' },
  MAX_CYCLES: { type: 'error', text: 'ran out of cycles' },
  FINISH: { type: 'success', text: 'finished' }
};

function outcomeOf(session: ISessionInfo): string | null {
  return session.worker?.outcome ?? null;
}

export const notificationsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'saga-jupyter:notifications',
  description: 'Tells when a SAGA worker ends blocked, failed or finished.',
  autoStart: true,
  requires: [ISagaModel],
  activate: (app: JupyterFrontEnd, model: SagaModel): void => {
    let known: Map<string, string | null> | null = null;
    model.changed.connect(() => {
      if (!model.listed) {
        return;
      }
      const now = new Map(model.sessions.map(s => [s.name, outcomeOf(s)]));
      for (const session of known === null ? [] : model.sessions) {
        const outcome = outcomeOf(session);
        const told = outcome === null ? undefined : TOLD[outcome];
        if (told === undefined || known?.get(session.name) === outcome) {
          continue;
        }
        const blocker = session.worker?.blocker;
        const message =
          `${session.epicSlug}/${session.storySlug} ${told.text}` +
          (outcome === 'BLOCKED' && blocker ? `: ${blocker}` : '') +
          ` (${session.name})`;
        Notification.emit(message, told.type, {
          autoClose: outcome === 'FINISH' ? 8000 : false,
          actions: [
            {
              label: 'Open log',
              caption: `Open ${session.name}'s output`,
              callback: () => {
                void app.commands.execute(CommandIDs.openLog, {
                  name: session.name
                });
              }
            }
          ]
        });
      }
      known = now;
    });
  }
};
