/**
 * What the plugins share: the model token and the command IDs.
 */
import { Token } from '@lumino/coreutils';

import { SagaModel } from './model';

/** The SAGA model of this browser tab: one per tab, one channel connection. */
export const ISagaModel = new Token<SagaModel>(
  'saga-jupyter:ISagaModel',
  'The SAGA sessions, server health and the one channel connection of this browser tab.'
);

/** The palette commands (the contract's names). */
export namespace CommandIDs {
  export const openPanel = 'saga:open-panel';
  export const openLog = 'saga:open-log';
  export const stop = 'saga:stop';
  export const attach = 'saga:attach';
  export const enableBrowserNotifications = 'saga:enable-browser-notifications';
  export const openStory = 'saga:open-story';
}

/** The sidebar panel's widget ID (also what `?saga-panel` in the URL opens). */
export const PANEL_ID = 'saga-jupyter-panel';
