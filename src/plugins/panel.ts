/**
 * Adds the SAGA panel to the left sidebar, the `saga:open-panel` command, its settings
 * (`schema/panel.json`), and the `?saga-panel` URL flag that opens it on load.
 */
import {
  ILayoutRestorer,
  IRouter,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { sessionArgs, withHost } from '../hosts';
import { sagaIcon } from '../icons';
import { SagaModel } from '../model';
import {
  DEFAULT_OPTIONS,
  IPanelOptions,
  SagaPanel,
  STATUSES,
  Status
} from '../panel';
import { CommandIDs, ISagaModel } from '../tokens';
import { followSettings } from './settings';

const PLUGIN_ID = 'saga-jupyter:panel';

export const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'The SAGA panel in the left sidebar: workers grouped by epic, live.',
  autoStart: true,
  requires: [ISagaModel],
  optional: [ILayoutRestorer, ISettingRegistry, ICommandPalette, IRouter],
  activate: (
    app: JupyterFrontEnd,
    model: SagaModel,
    restorer: ILayoutRestorer | null,
    registry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    router: IRouter | null
  ): void => {
    let settings: ISettingRegistry.ISettings | null = null;
    const panel = new SagaPanel({
      model,
      onOpen: session =>
        void app.commands.execute(CommandIDs.openLog, sessionArgs(session)),
      onOpenStory: (project, id, host) =>
        void app.commands.execute(
          CommandIDs.openStory,
          withHost({ project, id }, host)
        ),
      onFilter: statuses => {
        if (settings) {
          void settings.set('statuses', statuses); // applied when the registry confirms
        } else {
          panel.options = { ...panel.options, statuses };
        }
      }
    });
    app.shell.add(panel, 'left', { rank: 350 });
    restorer?.add(panel, 'saga-panel');

    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Open the SAGA Panel',
      caption: 'The SAGA workers, live, in the left sidebar',
      icon: sagaIcon,
      execute: () => {
        // Not awaited: the router runs this before the layout is restored, and restoring
        // waits for the router.
        void app.restored.then(() => app.shell.activateById(panel.id));
      }
    });
    palette?.addItem({ command: CommandIDs.openPanel, category: 'SAGA' });
    router?.register({
      command: CommandIDs.openPanel,
      pattern: /[?&]saga-panel(?:[=&#]|$)/
    });

    followSettings(registry, PLUGIN_ID, loaded => {
      settings = loaded;
      panel.options = readOptions(loaded);
    });
  }
};

/** The panel's options from its settings (unknown values fall back to the defaults). */
function readOptions(settings: ISettingRegistry.ISettings): IPanelOptions {
  const composite = settings.composite as Partial<
    Record<keyof IPanelOptions, unknown>
  >;
  const statuses = Array.isArray(composite.statuses)
    ? STATUSES.filter(status =>
        (composite.statuses as Status[]).includes(status)
      )
    : DEFAULT_OPTIONS.statuses;
  return {
    statuses,
    groupBy: composite.groupBy === 'none' ? 'none' : 'epic',
    showPreview: composite.showPreview !== false
  };
}
