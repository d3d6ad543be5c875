/**
 * Which session a command acts on: its `name` argument, the panel row a context menu was
 * opened on, or one the user picks from a list (a command run from the palette).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { InputDialog } from '@jupyterlab/apputils';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { ISessionInfo } from './api';
import { storyName } from './format';
import { hostOf } from './hosts';
import { SagaModel } from './model';

/** The `origin` argument of the commands' context menu items. */
export const CONTEXT_MENU = 'context-menu';

/** The selector of the rows a context menu acts on. */
export const ROW_SELECTOR = '.jp-SagaPanel-row';

/**
 * The session named by a command's arguments (`name`, and `host` for a remote's), or
 * `undefined`.
 */
export function namedSession(
  app: JupyterFrontEnd,
  model: SagaModel,
  args: ReadonlyPartialJSONObject
): ISessionInfo | undefined {
  let name = typeof args.name === 'string' ? args.name : undefined;
  let host = typeof args.host === 'string' ? args.host : null;
  if (name === undefined && args.origin === CONTEXT_MENU) {
    const row = app.contextMenuHitTest(node => node.matches(ROW_SELECTOR));
    name = row?.dataset.name;
    host = row?.dataset.host ?? null;
  }
  return name === undefined ? undefined : model.find(name, host);
}

/** The session a command acts on, asking the user to pick one when none is named. */
export async function chooseSession(
  app: JupyterFrontEnd,
  model: SagaModel,
  args: ReadonlyPartialJSONObject,
  title: string,
  candidates: (session: ISessionInfo) => boolean = () => true
): Promise<ISessionInfo | undefined> {
  const named = namedSession(app, model, args);
  if (named || typeof args.name === 'string' || args.origin === CONTEXT_MENU) {
    return named;
  }
  const sessions = model.sessions.filter(candidates);
  if (!sessions.length) {
    return undefined;
  }
  const items = sessions.map(Private.item);
  const result = await InputDialog.getItem({ title, items, current: 0 });
  return result.button.accept && result.value
    ? sessions[items.indexOf(result.value)]
    : undefined;
}

namespace Private {
  /** A session in the pick list: its name, and its host for a remote's. */
  export function item(session: ISessionInfo): string {
    const host = hostOf(session);
    return host === null ? session.name : `${session.name} @ ${host}`;
  }
}

/** `auth/login-form` (`login-form` without an epic): how tabs and dialogs name a session. */
export function shortName(session: ISessionInfo): string {
  return storyName(session);
}
