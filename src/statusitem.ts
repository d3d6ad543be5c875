/**
 * The status bar item: "SAGA 2 running · 4 done", in the warning colour while tmux is
 * unreachable or the server is out of reach. A click opens the panel.
 */
import { Widget } from '@lumino/widgets';

import { formatCounts } from './format';
import { sagaIcon } from './icons';
import { SagaModel } from './model';

/** The status bar item. */
export class SagaStatusItem extends Widget {
  constructor(model: SagaModel, onClick: () => void) {
    super({ node: document.createElement('button') });
    this._model = model;
    this.addClass('jp-SagaStatus');
    this.node.append(
      sagaIcon.element({ tag: 'span', className: 'jp-SagaStatus-icon' })
    );
    this.node.append(this._text);
    this.node.addEventListener('click', onClick);
    model.changed.connect(this._update, this);
    this._update();
  }

  dispose(): void {
    this._model.changed.disconnect(this._update, this);
    super.dispose();
  }

  private _update(): void {
    const model = this._model;
    const counts = model.counts;
    this._text.textContent = `SAGA ${formatCounts(counts)}`;
    const unreachable =
      model.connection !== 'open' && model.channel.connections > 0;
    let warning: string | null = null;
    if (model.tmuxUnavailable) {
      warning = `tmux is unreachable: ${model.status?.tmux?.error ?? 'no answer'}`;
    } else if (unreachable) {
      warning = 'The server is out of reach: reconnecting…';
    }
    this.toggleClass('jp-mod-warning', warning !== null);
    this.node.dataset.running = String(counts.running);
    this.node.dataset.completed = String(counts.completed);
    this.node.title = `${warning ? warning + '\n' : ''}SAGA workers: ${counts.running} running, ${counts.completed} completed. Click to open the SAGA panel.`;
  }

  private _model: SagaModel;
  private _text = document.createElement('span');
}
