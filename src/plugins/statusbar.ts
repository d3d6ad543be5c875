/**
 * Adds "SAGA 2 running · 4 done" to the status bar; a click opens the panel. (Notebook 7 has
 * no status bar: nothing to add there.)
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IStatusBar } from '@jupyterlab/statusbar';

import { SagaModel } from '../model';
import { SagaStatusItem } from '../statusitem';
import { CommandIDs, ISagaModel } from '../tokens';

export const statusBarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'saga-jupyter:status-bar',
  description: 'The count of SAGA workers running and done, in the status bar.',
  autoStart: true,
  requires: [ISagaModel],
  optional: [IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    model: SagaModel,
    statusBar: IStatusBar | null
  ): void => {
    if (!statusBar) {
      return;
    }
    const item = new SagaStatusItem(model, () => {
      void app.commands.execute(CommandIDs.openPanel);
    });
    statusBar.registerStatusItem('saga-jupyter:status-bar', {
      item,
      align: 'left',
      rank: 100
    });
  }
};
