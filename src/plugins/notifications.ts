/**
 * A JupyterLab notification when a SAGA worker ends blocked, failed, incomplete or finished
 * (either generation), with its blocker or summary as the reason (a failed one's error, its
 * last line, first) and a button that opens its log: who needs a person, without looking.
 * Only what changes while the tab is open is told: the first session list says what was
 * already known. A worker stopped on request is not news.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';

import { ISessionInfo } from '../api';
import { storyName } from '../format';
import { hostOf, sessionArgs, sessionKey } from '../hosts';
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

/** A session on its host, as one string. */
const keyOf = (session: ISessionInfo): string =>
  sessionKey(session.name, hostOf(session));

/** JupyterLab shows a toast's first 140 characters (`Notification`'s own limit). */
const TOAST_LENGTH = 140;

/** The "Open log" button's hover text, before the name (style/attention.css finds the toast by it). */
const OPEN_LOG_CAPTION = 'Open the SAGA log of';

/**
 * `<story> failed: <why>` on the first line, cut to fit, and the session's name on its own
 * line, whole (a line break, where JupyterLab would cut the end and wrap the name anywhere).
 */
export function toastMessage(session: ISessionInfo, told: string): string {
  const reason = outcomeReason(session);
  const name = session.name;
  let first = `${storyName(session)} ${told}` + (reason ? `: ${reason}` : '');
  const room = Math.max(TOAST_LENGTH - name.length - 1, 20);
  if (first.length > room) {
    first = `${first.slice(0, room - 1)}…`;
  }
  return `${first}\n${name}`;
}

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
      const now = new Map(model.sessions.map(s => [keyOf(s), outcomeOf(s)]));
      for (const session of known === null ? [] : model.sessions) {
        const outcome = outcomeOf(session);
        const told = outcome === null ? undefined : TOLD[outcome];
        if (told === undefined || known?.get(keyOf(session)) === outcome) {
          continue;
        }
        const message = toastMessage(session, told.text);
        Notification.emit(message, told.type, {
          autoClose: outcome === 'FINISH' ? 8000 : false,
          actions: [
            {
              label: 'Open log',
              caption: `${OPEN_LOG_CAPTION} ${session.name}`,
              callback: () => {
                void app.commands.execute(
                  CommandIDs.openLog,
                  sessionArgs(session)
                );
              }
            }
          ]
        });
      }
      known = now;
    });
  }
};
