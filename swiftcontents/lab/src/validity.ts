/**
 * Validity of the open notebooks: the verdict of the saved or opened model
 * (`swift_validation`), shown in the status bar for the current notebook, and
 * a warning notification when a save or an open gives an invalid notebook.
 *
 * JupyterLab's document context keeps only the standard fields of a contents
 * model, so the verdict is read from the save answer when the contents service
 * reports it, else from the model without content (one HEAD on the server).
 * A notebook written outside Jupyter carries no verdict: the validation
 * storlet's report (GET /api/swiftcontents/validate/<path>) gives it then.
 */
import { Notification } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { fetchNotebookModel, fetchValidation, validationReportUrl } from './api';
import {
  IVerdict,
  STATUS_TEXT,
  hasStamp,
  invalidMessage,
  verdictOf,
  verdictOfReport
} from './verdict';
import { field, text } from './values';

type Reason = 'open' | 'save' | 'change';

/** A save answer seen by the contents service counts for the save that follows it. */
const SAVE_ANSWER_MS = 10000;

const LOADING: IVerdict = { state: 'unknown', firstError: '', title: 'Reading the validation…' };

/** The verdicts of the open notebooks, kept current on open, save, reload, rename. */
export class ValidityTracker {
  constructor(
    tracker: INotebookTracker,
    private readonly _settings: ServerConnection.ISettings,
    contents: Contents.IManager
  ) {
    tracker.widgetAdded.connect((_, panel) => this._watch(panel));
    tracker.forEach(panel => this._watch(panel));
    contents.fileChanged.connect(this._onContentsChanged, this);
  }

  /** Emitted with the context whose verdict changed. */
  get changed(): ISignal<this, DocumentRegistry.IContext<any>> {
    return this._changed;
  }

  /** The verdict of the notebook in `panel` (unknown until read). */
  verdict(panel: NotebookPanel | null): IVerdict {
    return (panel && this._verdicts.get(panel.context)) || LOADING;
  }

  private _watch(panel: NotebookPanel): void {
    const context = panel.context;
    if (this._watched.has(context)) {
      return; // a second view of the same file
    }
    this._watched.add(context);
    void context.ready.then(() => {
      void this._update(context, 'open');
      // After the load: a revert or a reload from disk; a rename.
      context.fileChanged.connect(() => this._schedule(context));
      context.pathChanged.connect(() => this._schedule(context));
    });
    context.saveState.connect((_, state) => {
      if (state === 'completed') {
        void this._update(context, 'save');
      }
    });
    context.disposed.connect(() => {
      this._verdicts.delete(context);
      this._saved.delete(context.localPath);
    });
  }

  /** Save answers carry the verdict: keep it for the context's 'completed' that follows. */
  private _onContentsChanged(_: Contents.IManager, change: Contents.IChangedArgs): void {
    if (change.type !== 'save' || !change.newValue) {
      return;
    }
    const path = text(field(change.newValue, 'path'), 4096);
    if (path && field(change.newValue, 'swift_validation') !== undefined) {
      this._saved.set(path, { model: change.newValue, at: Date.now() });
    }
  }

  private _schedule(context: DocumentRegistry.IContext<any>): void {
    const timers = this._timers;
    window.clearTimeout(timers.get(context));
    timers.set(context, window.setTimeout(() => void this._update(context, 'change'), 300));
  }

  private async _update(context: DocumentRegistry.IContext<any>, reason: Reason): Promise<void> {
    if (context.isDisposed) {
      return;
    }
    const path = context.localPath;
    const request = (this._requests.get(context) ?? 0) + 1;
    this._requests.set(context, request);
    if (reason !== 'change') {
      // Whichever request finishes last reports it: a later one must not swallow it.
      this._notifyPending.add(context);
    }
    let model: unknown;
    const saved = this._saved.get(path);
    if (reason === 'save' && saved && Date.now() - saved.at < SAVE_ANSWER_MS) {
      model = saved.model;
      this._saved.delete(path);
    } else {
      try {
        model = await fetchNotebookModel(this._settings, path);
      } catch (error) {
        model = null;
        console.warn(`swift-notebooks: cannot read the validation of ${path}:`, error);
      }
    }
    if (context.isDisposed || this._requests.get(context) !== request) {
      return;
    }
    let verdict: IVerdict =
      model === null
        ? { state: 'unknown', firstError: '', title: 'Cannot read the validation from the server' }
        : verdictOf(model);
    if (model !== null && !hasStamp(model)) {
      // Written outside Jupyter (no stamp from a save): ask the validation storlet.
      try {
        verdict = verdictOfReport(await fetchValidation(this._settings, path));
      } catch (error) {
        console.warn(`swift-notebooks: cannot validate ${path}:`, error);
      }
      if (context.isDisposed || this._requests.get(context) !== request) {
        return;
      }
    }
    this._verdicts.set(context, verdict);
    this._changed.emit(context);
    if (this._notifyPending.delete(context) && verdict.state === 'false') {
      this._notify(context, path, verdict);
    } else if (verdict.state === 'true') {
      this._dismiss(context); // fixed: the warning no longer holds
    }
  }

  private _dismiss(context: DocumentRegistry.IContext<any>): void {
    const id = this._notices.get(context);
    if (id) {
      Notification.dismiss(id);
      this._notices.delete(context);
    }
  }

  private _notify(context: DocumentRegistry.IContext<any>, path: string, verdict: IVerdict): void {
    this._dismiss(context); // one warning per notebook: the latest
    const url = validationReportUrl(this._settings, path);
    const id = Notification.warning(invalidMessage(path, verdict), {
      autoClose: 10000,
      actions: [
        {
          label: 'Validation report',
          caption: 'Every nbformat error, in a new browser tab',
          callback: () => window.open(url, '_blank', 'noopener')
        }
      ]
    });
    this._notices.set(context, id);
  }

  private _watched = new WeakSet<DocumentRegistry.IContext<any>>();
  private _verdicts = new WeakMap<DocumentRegistry.IContext<any>, IVerdict>();
  private _requests = new WeakMap<DocumentRegistry.IContext<any>, number>();
  private _timers = new WeakMap<DocumentRegistry.IContext<any>, number>();
  private _notifyPending = new WeakSet<DocumentRegistry.IContext<any>>();
  private _notices = new WeakMap<DocumentRegistry.IContext<any>, string>();
  private _saved = new Map<string, { model: unknown; at: number }>();
  private _changed = new Signal<this, DocumentRegistry.IContext<any>>(this);
}

/** The status bar item: the current notebook's verdict, the first error on hover. */
export class ValidityStatus extends Widget {
  constructor(
    private readonly _validity: ValidityTracker,
    private readonly _tracker: INotebookTracker
  ) {
    super();
    this.addClass('jp-SwiftNotebooks-status');
    this.addClass('jp-StatusBar-TextItem');
    this._label = document.createElement('span');
    this._label.className = 'jp-SwiftNotebooks-statusText';
    this.node.appendChild(this._label);
    _tracker.currentChanged.connect(() => this.render());
    _validity.changed.connect((_, context) => {
      if (context === _tracker.currentWidget?.context) {
        this.render();
      }
    });
    this.render();
  }

  render(): void {
    const verdict = this._validity.verdict(this._tracker.currentWidget);
    this.node.dataset.valid = verdict.state;
    this._label.textContent = STATUS_TEXT[verdict.state];
    this.node.title = verdict.title; // invalid: starts with the first error
    this.node.setAttribute('aria-label', `Notebook validity: ${STATUS_TEXT[verdict.state]}. ${verdict.title}`);
  }

  private _label: HTMLElement;
}
