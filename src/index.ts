/**
 * saga-jupyter's JupyterLab (and Notebook 7) extension: one plugin per contribution, all
 * views of one model per browser tab (plugins/model.ts).
 */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { attentionPlugin } from './plugins/attention';
import { controlPlugin } from './plugins/control';
import { logsPlugin } from './plugins/logs';
import { modelPlugin } from './plugins/model';
import { notificationsPlugin } from './plugins/notifications';
import { panelPlugin } from './plugins/panel';
import { statusBarPlugin } from './plugins/statusbar';
import { storiesPlugin } from './plugins/stories';

export { ISagaModel, CommandIDs } from './tokens';

const plugins: JupyterFrontEndPlugin<any>[] = [
  modelPlugin,
  panelPlugin,
  logsPlugin,
  controlPlugin,
  statusBarPlugin,
  storiesPlugin,
  notificationsPlugin,
  attentionPlugin
];

export default plugins;
