/**
 * Provides the SAGA model: one per browser tab, so one channel connection for the panel,
 * the status bar and every log tab. It reads this server's routes, or those at the
 * `serverUrl` setting (`schema/model.json`): under JupyterHub, `saga-jupyter hub-service`'s
 * hub-wide view at `/services/<name>/`, reached with the Hub's own login (same origin).
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { SagaModel } from '../model';
import { ISagaModel } from '../tokens';

const PLUGIN_ID = 'saga-jupyter:model';

export const modelPlugin: JupyterFrontEndPlugin<SagaModel> = {
  id: PLUGIN_ID,
  description:
    'The SAGA sessions, server health and the channel connection of this tab.',
  autoStart: true,
  provides: ISagaModel,
  optional: [ISettingRegistry],
  activate: async (
    app: JupyterFrontEnd,
    registry: ISettingRegistry | null
  ): Promise<SagaModel> => {
    const pageSettings = app.serviceManager.serverSettings;
    let serverUrl = '';
    if (registry) {
      try {
        const settings = await registry.load(PLUGIN_ID);
        serverUrl = String(settings.composite.serverUrl ?? '').trim();
      } catch (error) {
        console.error(`saga-jupyter: could not load ${PLUGIN_ID}`, error);
      }
    }
    const serverSettings = serverUrl
      ? (otherServer(serverUrl) ?? pageSettings)
      : pageSettings;
    return new SagaModel({ serverSettings });
  }
};

/**
 * The settings of the server at `serverUrl`, a path on this site (`null`, with a warning,
 * for another site: the browser would not send it the login, and this page's token is
 * this server's secret). Cookies only: no token goes there.
 */
function otherServer(serverUrl: string): ServerConnection.ISettings | null {
  const url = new URL(serverUrl, window.location.href);
  if (url.origin !== window.location.origin) {
    console.warn(
      `saga-jupyter: serverUrl ${serverUrl} is not on this site; reading this server instead`
    );
    return null;
  }
  const path = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  const baseUrl = URLExt.join(url.origin, path);
  const wsUrl = 'ws' + baseUrl.slice('http'.length);
  return ServerConnection.makeSettings({
    baseUrl,
    wsUrl,
    token: '',
    appendToken: false
  });
}
