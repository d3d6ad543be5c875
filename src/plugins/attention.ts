/**
 * Reaches a person who is looking elsewhere: the browser tab's title counts the workers that
 * wait for a person (blocked or failed), and while the page is hidden a worker that ends so
 * raises one browser notification. The browser asks for permission once, on a person's
 * click (`saga:enable-browser-notifications`, in the palette); `schema/attention.json`
 * turns either off.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import {
  AlertTracker,
  IAlert,
  TitleCount,
  countNeedingYou
} from '../attention';
import { storyName } from '../format';
import { hostOf, sessionArgs, sessionKey } from '../hosts';
import { SagaModel } from '../model';
import { outcomeLabel, outcomeReason } from '../outcome';
import { CommandIDs, ISagaModel } from '../tokens';
import { followSettings } from './settings';

const PLUGIN_ID = 'saga-jupyter:attention';

export const attentionPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    "Counts the SAGA workers waiting for a person in the page's title, and notifies the browser when one ends blocked or failed while the page is hidden.",
  autoStart: true,
  requires: [ISagaModel],
  optional: [ISettingRegistry, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    model: SagaModel,
    registry: ISettingRegistry | null,
    palette: ICommandPalette | null
  ): void => {
    let titleCount = true;
    let browserNotifications = true;
    const title = new TitleCount();
    const tracker = new AlertTracker();
    let listed: ReadonlyArray<unknown> | null = null;

    const update = () => {
      if (!model.listed) {
        return;
      }
      title.count = titleCount ? countNeedingYou(model.sessions) : 0;
      if (model.sessions === listed) {
        return; // the status or the connection changed, not the list
      }
      listed = model.sessions;
      for (const alert of tracker.update(
        model.sessions,
        model.channel.connections
      )) {
        if (browserNotifications && document.visibilityState === 'hidden') {
          notify(app, alert);
        }
      }
    };
    model.changed.connect(update);

    app.commands.addCommand(CommandIDs.enableBrowserNotifications, {
      label: 'Notify Me When a SAGA Worker Needs Me (Browser Notifications)',
      caption:
        'While this page is hidden, a worker that ends blocked or failed raises a browser notification',
      isEnabled: () => permission() !== 'unsupported',
      execute: async () => {
        if (permission() === 'unsupported') {
          return;
        }
        const answer = await window.Notification.requestPermission();
        if (answer === 'granted') {
          Notification.success(
            'SAGA will notify you when a worker needs you while this page is hidden.',
            { autoClose: 5000 }
          );
        } else {
          Notification.warning(
            `The browser did not allow notifications (${answer}): its site settings can.`,
            { autoClose: 8000 }
          );
        }
      }
    });
    palette?.addItem({
      command: CommandIDs.enableBrowserNotifications,
      category: 'SAGA'
    });

    followSettings(registry, PLUGIN_ID, settings => {
      titleCount = settings.composite.titleCount !== false;
      browserNotifications = settings.composite.browserNotifications !== false;
      update();
    });
  }
};

/** The browser's notification permission, or `unsupported` (no Notification API). */
function permission(): NotificationPermission | 'unsupported' {
  return typeof window.Notification === 'function'
    ? window.Notification.permission
    : 'unsupported';
}

/** One browser notification for one alert; a click brings the page and the worker's log. */
function notify(app: JupyterFrontEnd, alert: IAlert): void {
  if (permission() !== 'granted') {
    return;
  }
  const { session, outcome } = alert;
  const reason = outcomeReason(session);
  const notification = new window.Notification(
    `${storyName(session)} ${outcomeLabel(outcome)}`,
    {
      body: reason ? `${reason}\n${session.name}` : session.name,
      // The browser replaces, never doubles, one event.
      tag: `saga:${sessionKey(session.name, hostOf(session))}:${outcome}`
    }
  );
  notification.onclick = () => {
    window.focus();
    void app.commands.execute(CommandIDs.openLog, sessionArgs(session));
    notification.close();
  };
}
