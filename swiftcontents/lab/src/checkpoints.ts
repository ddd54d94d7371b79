/**
 * "Diff against checkpoint…": a picker of the notebook's checkpoints (newest
 * first), then nbdime's diff view of the chosen checkpoint against the saved
 * file, computed by the server's nbdime diff API (base `checkpoint@<id>:<path>`).
 *
 * nbdime's own JupyterLab command (`nbdime:diff-checkpoint`) takes no base: it
 * always asks for `checkpoint:<path>`, the newest. So this view is built from
 * nbdime's public library (NotebookDiffModel, NotebookDiffWidget: the same
 * rendering nbdime's extension and jupyterlab-git use), loaded only when a
 * diff is opened. Its styles come from nbdime's extension, which the nbdime
 * Python package installs along with the diff API this view calls.
 */
import { Dialog } from '@jupyterlab/apputils';
import { CodeEditor } from '@jupyterlab/codeeditor';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ServerConnection } from '@jupyterlab/services';
import { historyIcon } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';

import { fetchCheckpointDiff, fetchCheckpoints } from './api';
import { ICheckpoint, checkpointLabel, newestFirst } from './checkpointlist';
import { isRecord, text } from './values';

/** The dialog's body: the select of checkpoints, newest preselected. */
class PickerBody extends Widget implements Dialog.IBodyWidget<string> {
  constructor(path: string, checkpoints: ICheckpoint[], dirty: boolean) {
    super();
    this.addClass('jp-SwiftNotebooks-pickerBody');
    const label = document.createElement('label');
    label.textContent = `Checkpoint of ${path} to compare with the saved file:`;
    this._select = document.createElement('select');
    this._select.className = 'jp-mod-styled';
    checkpoints.forEach((checkpoint, index) => {
      const option = document.createElement('option');
      option.value = checkpoint.id;
      option.textContent = checkpointLabel(checkpoint, index === 0);
      this._select.appendChild(option);
    });
    this._select.selectedIndex = 0;
    label.appendChild(this._select);
    this.node.appendChild(label);
    if (dirty) {
      const note = document.createElement('p');
      note.className = 'jp-SwiftNotebooks-pickerNote';
      note.textContent = 'Unsaved changes are not part of the diff: save first to include them.';
      this.node.appendChild(note);
    }
  }

  getValue(): string {
    return this._select.value;
  }

  protected onAfterAttach(): void {
    this._select.focus();
  }

  private _select: HTMLSelectElement;
}

/** Ask which checkpoint; null when cancelled. Throws (readable) when there is none. */
export async function pickCheckpoint(
  settings: ServerConnection.ISettings,
  path: string,
  dirty: boolean
): Promise<string | null> {
  const checkpoints = newestFirst(await fetchCheckpoints(settings, path));
  if (checkpoints.length === 0) {
    throw new Error(`No checkpoint of ${path}; save first`);
  }
  const dialog = new Dialog<string>({
    title: 'Diff against checkpoint',
    body: new PickerBody(path, checkpoints, dirty),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'OK' })],
    focusNodeSelector: 'select'
  });
  dialog.addClass('jp-SwiftNotebooks-checkpointPicker');
  const result = await dialog.launch();
  return result.button.accept ? result.value : null;
}

export interface IDiffOptions {
  settings: ServerConnection.ISettings;
  rendermime: IRenderMimeRegistry;
  editorFactory: CodeEditor.Factory;
  path: string;
  checkpoint: string;
}

/** The id of the view of one checkpoint diff (one view per path and checkpoint). */
export function diffViewId(path: string, checkpoint: string): string {
  return `swift-notebooks-diff:${checkpoint}:${path}`;
}

/** A main-area view: nbdime's header and diff of checkpoint -> saved file. */
export class CheckpointDiffView extends Panel {
  constructor(private readonly _options: IDiffOptions) {
    super();
    const { path, checkpoint } = _options;
    this.id = diffViewId(path, checkpoint);
    this.addClass('nbdime-Widget');
    this.addClass('jp-SwiftNotebooks-diff');
    const name = path.slice(path.lastIndexOf('/') + 1);
    this.title.label = `Diff ${name} @ ${checkpoint}`;
    this.title.caption = `Checkpoint ${checkpoint} of ${path} against the saved file`;
    this.title.icon = historyIcon;
    this.title.closable = true;

    const header = document.createElement('div');
    header.className = 'nbdime-Diff jp-SwiftNotebooks-diffHeader';
    const row = document.createElement('div');
    row.className = 'nbdime-header-buttonrow';
    const toggle = document.createElement('label');
    this._hide = document.createElement('input');
    this._hide.type = 'checkbox';
    this._hide.checked = true;
    this._hide.addEventListener('change', () => this._applyHide());
    toggle.append(this._hide, ' Hide unchanged cells');
    this._origin = document.createElement('span');
    this._origin.className = 'jp-SwiftNotebooks-computedBy';
    row.append(toggle, this._origin);
    const banner = document.createElement('div');
    banner.className = 'nbdime-header-banner';
    const base = document.createElement('span');
    base.className = 'nbdime-header-base';
    base.textContent = `Checkpoint ${checkpoint}`;
    const remote = document.createElement('span');
    remote.className = 'nbdime-header-remote';
    remote.textContent = `${path} (saved)`;
    banner.append(base, remote);
    header.append(row, banner);
    this.addWidget(new Widget({ node: header }));

    this._scroller = new Panel();
    this._scroller.addClass('nbdime-root');
    this._scroller.node.tabIndex = -1;
    this.addWidget(this._scroller);
    this._applyHide();
  }

  /** Fetch the diff and render it; errors become a text line in the view. */
  async load(): Promise<void> {
    const { settings, path, checkpoint, rendermime, editorFactory } = this._options;
    try {
      const data = await fetchCheckpointDiff(settings, path, checkpoint);
      if (!isRecord(data) || !isRecord(data.base) || !Array.isArray(data.diff)) {
        throw new Error('the server sent no nbdime diff (base and diff)');
      }
      this._showOrigin(data);
      const [{ NotebookDiffModel }, { NotebookDiffWidget }] = await Promise.all([
        import('nbdime/lib/diff/model'),
        import('nbdime/lib/diff/widget')
      ]);
      if (this.isDisposed) {
        return;
      }
      const model = new NotebookDiffModel(data.base as any, data.diff as any);
      const widget = new NotebookDiffWidget({ model, rendermime, editorFactory });
      this._scroller.addWidget(widget);
      await widget.init();
      this._applyHide();
    } catch (error) {
      if (this.isDisposed) {
        return;
      }
      const line = new Widget();
      line.addClass('jp-SwiftNotebooks-error');
      line.node.textContent = `Cannot diff ${path} against checkpoint ${checkpoint}: ${
        error instanceof Error ? error.message : String(error)
      }`;
      this._scroller.addWidget(line);
    }
  }

  protected onActivateRequest(): void {
    this._scroller.node.focus();
  }

  private _showOrigin(data: Record<string, unknown>): void {
    const by = data.computed_by === 'storlet' ? 'storlet' : data.computed_by === 'server' ? 'server' : '';
    if (!by) {
      return;
    }
    this._origin.dataset.computedBy = by;
    this._origin.textContent =
      by === 'storlet'
        ? 'computed by the storlet'
        : `computed by the server (fallback: ${text(data.fallback_reason) || 'no reason given'})`;
  }

  /** nbdime's extension styles hide unchanged cells under this class. */
  private _applyHide(): void {
    markHiddenRuns(this._scroller.node);
    this._scroller.toggleClass('jp-mod-hideUnchanged', this._hide.checked);
  }

  private _hide: HTMLInputElement;
  private _origin: HTMLElement;
  private _scroller: Panel;
}

/**
 * Say where unchanged cells are hidden, with the attributes nbdime's extension
 * stylesheet turns into "N unchanged cell(s) hidden" bars: on the first shown
 * cell after a hidden run, on the last shown cell before a trailing run, on the
 * diff itself when every cell is unchanged. An added or removed cell sits in a
 * chunk (an add/remove pair): the bar goes on the chunk.
 */
export function markHiddenRuns(root: HTMLElement): void {
  const cells = Array.from(root.querySelectorAll<HTMLElement>('.jp-Cell-diff'));
  const holder = (cell: HTMLElement): HTMLElement =>
    (cell.closest('.jp-Diff-addremchunk') as HTMLElement | null) ?? cell;
  let run = 0;
  let lastShown: HTMLElement | null = null;
  for (const cell of cells) {
    if (cell.classList.contains('jp-Diff-unchanged')) {
      run += 1;
      continue;
    }
    if (run > 0) {
      holder(cell).setAttribute('data-nbdime-NCellsHiddenBefore', String(run));
    }
    run = 0;
    lastShown = cell;
  }
  if (run > 0 && lastShown) {
    holder(lastShown).setAttribute('data-nbdime-NCellsHiddenAfter', String(run));
  } else if (run > 0) {
    (root.querySelector('.jp-Notebook-diff') ?? root).setAttribute('data-nbdime-AllCellsHidden', String(run));
  }
}
