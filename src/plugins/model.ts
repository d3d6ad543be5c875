/**
 * Provides the SAGA model: one per browser tab, so one channel connection for the panel,
 * the status bar and every log tab.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { SagaModel } from '../model';
import { ISagaModel } from '../tokens';

export const modelPlugin: JupyterFrontEndPlugin<SagaModel> = {
  id: 'saga-jupyter:model',
  description:
    'The SAGA sessions, server health and the channel connection of this tab.',
  autoStart: true,
  provides: ISagaModel,
  activate: (app: JupyterFrontEnd): SagaModel =>
    new SagaModel({ serverSettings: app.serviceManager.serverSettings })
};
