/**
 * A JupyterLab notification when a SAGA worker ends blocked, failed, incomplete or finished
 * (either generation), with its blocker or summary as the reason and a button that opens its
 * log: who needs a person, without looking. Only what changes while the tab is open is told:
 * the first session list says what was already known. A worker stopped on request is not news.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';

import { storyName } from '../format';
import { SagaModel } from '../model';
import { outcomeOf, outcomeReason } from '../outcome';
import { CommandIDs, ISagaModel } from '../tokens';

/** How each outcome is told. */
const TOLD: Record<string, { type: Notification.TypeOptions; text: string }> = {
  BLOCKED: { type: 'warning', text: 'is blocked and waits for you' },
  ERROR: { type: 'error', text: 'failed' },
  TIMEOUT: { type: 'error', text: 'timed out' },
  MAX_CYCLES: { type: 'error', text: 'ran out of cycles' },
  INCOMPLETE: { type: 'warning', text: 'ended incomplete' },
  FINISH: { type: 'success', text: 'finished' }
};

export const notificationsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'saga-jupyter:notifications',
  description:
    'Tells when a SAGA worker ends blocked, failed, incomplete or finished.',
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
        const reason = outcomeReason(session);
        const message =
          `${storyName(session)} ${told.text}` +
          (reason ? `: ${reason}` : '') +
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
