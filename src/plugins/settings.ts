/**
 * A plugin's settings, followed: read once loaded and again at every change.
 */
import { ISettingRegistry } from '@jupyterlab/settingregistry';

/**
 * Load `pluginId`'s settings (when JupyterLab has a registry) and call `read` with them now
 * and whenever they change; a failure to load is logged, the plugin keeps its defaults.
 */
export function followSettings(
  registry: ISettingRegistry | null,
  pluginId: string,
  read: (settings: ISettingRegistry.ISettings) => void
): void {
  void registry?.load(pluginId).then(
    settings => {
      read(settings);
      settings.changed.connect(() => read(settings));
    },
    error =>
      console.error(`saga-jupyter: could not load ${pluginId} settings`, error)
  );
}
