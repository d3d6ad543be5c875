/**
 * The SAGA icon: a tmux window split in panes, a prompt in the first. Coloured by the theme
 * (jp-icon3), like JupyterLab's own icons.
 */
import { LabIcon } from '@jupyterlab/ui-components';

const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <path class="jp-icon3" fill="#616161" fill-rule="evenodd" d="M4 3h16a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm0 2v14h7.5V5zm9.5 0v6H20V5zm0 8v6H20v-6z"/>
  <path class="jp-icon3" fill="#616161" d="M5 8.6l1.2-1.2 3.6 3.6-3.6 3.6L5 13.4 7.4 11z"/>
</svg>`;

/** The SAGA icon (sidebar tab, log tabs, status bar, settings editor). */
export const sagaIcon = new LabIcon({ name: 'saga-jupyter:saga', svgstr });
