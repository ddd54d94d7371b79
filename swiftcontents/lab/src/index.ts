/**
 * swift-notebooks in JupyterLab: what the storlets compute, shown where the
 * user works.
 *
 * - panel: the listing storlet's summaries of the file browser's directory;
 * - validity: the open notebook's nbformat verdict in the status bar, and a
 *   warning when a save or an open gives an invalid notebook;
 * - checkpoint-diff: a checkpoint picker, then nbdime's diff view.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { PathExt } from '@jupyterlab/coreutils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IStatusBar } from '@jupyterlab/statusbar';
import { CommandToolbarButton, LabIcon, historyIcon } from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

import { CheckpointDiffView, diffViewId, pickCheckpoint } from './checkpoints';
import { PANEL_ID, SwiftNotebooksPanel } from './panel';
import { ValidityStatus, ValidityTracker } from './validity';
import { text } from './values';

const PLUGIN = 'swift-notebooks-jupyterlab';

export namespace CommandIDs {
  export const openPanel = 'swift-notebooks:open-panel';
  export const diffCheckpoint = 'swift-notebooks:diff-checkpoint';
}

const PALETTE_CATEGORY = 'Swift notebooks';

/** The panel's icon: a notebook on a storage stack, in the theme's icon colour. */
const panelIcon = new LabIcon({
  name: 'swift-notebooks:panel',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M5 2h11l3 3v9h-2V6h-3V4H7v10H5z"/>' +
    '<path d="M9 8h6v1.5H9zM9 11h6v1.5H9z"/>' +
    '<path d="M3 16h18v2.5H3zM3 19.5h18V22H3z"/>' +
    '</g></svg>'
});

/** The directory of the default file browser, without a drive prefix. */
function browserDirectory(app: JupyterFrontEnd, browser: IDefaultFileBrowser): string {
  return app.serviceManager.contents.localPath(browser.model.path);
}

const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN}:panel`,
  description: 'The "Swift notebooks" side panel: the listing storlet\'s summaries.',
  autoStart: true,
  optional: [IDefaultFileBrowser, ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    browser: IDefaultFileBrowser | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const panel = new SwiftNotebooksPanel({
      serverSettings: app.serviceManager.serverSettings,
      open: path => void app.commands.execute('docmanager:open', { path }),
      icon: panelIcon
    });
    app.shell.add(panel, 'left', { rank: 150 });
    restorer?.add(panel, PANEL_ID);

    if (browser) {
      const follow = () => panel.setDirectory(browserDirectory(app, browser));
      browser.model.pathChanged.connect(follow);
      void browser.model.restored.then(follow);
      follow();
    }
    // Saves, renames, deletes and uploads of this session change the listing.
    app.serviceManager.contents.fileChanged.connect((_, change) => {
      for (const value of [change.oldValue, change.newValue]) {
        const path = value && typeof value.path === 'string' ? value.path : null;
        if (path !== null) {
          panel.markChanged(PathExt.dirname(app.serviceManager.contents.localPath(path)));
        }
      }
    });

    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Show the Swift notebooks panel',
      caption: 'The notebooks of the current directory, summarised in Swift by the listing storlet',
      icon: panelIcon,
      execute: () => app.shell.activateById(PANEL_ID)
    });
    palette?.addItem({ command: CommandIDs.openPanel, category: PALETTE_CATEGORY });
  }
};

const validityPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN}:validity`,
  description: 'The open notebook\'s nbformat verdict: status bar item and notifications.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IStatusBar, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    statusBar: IStatusBar | null,
    labShell: ILabShell | null
  ) => {
    const validity = new ValidityTracker(
      tracker,
      app.serviceManager.serverSettings,
      app.serviceManager.contents
    );
    if (!statusBar) {
      return;
    }
    const item = new ValidityStatus(validity, tracker);
    const isActive = () =>
      tracker.currentWidget !== null && app.shell.currentWidget === tracker.currentWidget;
    const activeStateChanged = new Signal<ValidityStatus, void>(item);
    labShell?.currentChanged.connect(() => activeStateChanged.emit());
    tracker.currentChanged.connect(() => activeStateChanged.emit());
    statusBar.registerStatusItem(`${PLUGIN}:validity`, {
      item,
      align: 'left',
      rank: 4,
      isActive,
      activeStateChanged
    });
  }
};

/** Adds the command's button to every notebook's toolbar. */
class DiffButtonExtension
  implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel>
{
  constructor(private readonly _app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new CommandToolbarButton({
      commands: this._app.commands,
      id: CommandIDs.diffCheckpoint,
      label: ''
    });
    button.addClass('jp-SwiftNotebooks-diffButton');
    const names = Array.from(panel.toolbar.names());
    const at = names.indexOf('cellType');
    const name = 'swiftNotebooksDiffCheckpoint';
    if (at >= 0) {
      panel.toolbar.insertItem(at + 1, name, button);
    } else {
      panel.toolbar.addItem(name, button);
    }
    return button;
  }
}

const diffPlugin: JupyterFrontEndPlugin<void> = {
  id: `${PLUGIN}:checkpoint-diff`,
  description: 'Diff against a chosen checkpoint, in nbdime\'s diff view.',
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry, IEditorServices],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    editorServices: IEditorServices,
    palette: ICommandPalette | null
  ) => {
    const settings = app.serviceManager.serverSettings;
    const editorFactory = editorServices.factoryService.newInlineEditor.bind(
      editorServices.factoryService
    );

    const openDiff = (path: string, checkpoint: string) => {
      const id = diffViewId(path, checkpoint);
      for (const widget of app.shell.widgets('main')) {
        if (widget.id === id) {
          app.shell.activateById(id);
          return;
        }
      }
      const view = new CheckpointDiffView({ settings, rendermime, editorFactory, path, checkpoint });
      app.shell.add(view, 'main');
      app.shell.activateById(view.id);
      void view.load();
    };

    app.commands.addCommand(CommandIDs.diffCheckpoint, {
      label: 'Diff against checkpoint…',
      caption: 'Compare the saved notebook with one of its checkpoints (nbdime diff)',
      icon: historyIcon,
      isEnabled: () => tracker.currentWidget !== null,
      // args: path (default: the current notebook), checkpoint (default: ask).
      execute: async args => {
        const current = tracker.currentWidget;
        const path = text(args.path, 4096) || (current ? current.context.localPath : '');
        if (!path) {
          return;
        }
        let checkpoint: string | null = text(args.checkpoint, 200);
        try {
          if (!checkpoint) {
            const dirty = current?.context.localPath === path && current.context.model.dirty;
            checkpoint = await pickCheckpoint(settings, path, dirty === true);
          }
        } catch (error) {
          Notification.error(
            `Cannot diff ${PathExt.basename(path)}: ${error instanceof Error ? error.message : error}`,
            { autoClose: 8000 }
          );
          return;
        }
        if (checkpoint) {
          openDiff(path, checkpoint);
        }
      }
    });
    palette?.addItem({ command: CommandIDs.diffCheckpoint, category: PALETTE_CATEGORY });
    tracker.currentChanged.connect(() => app.commands.notifyCommandChanged(CommandIDs.diffCheckpoint));
    app.docRegistry.addWidgetExtension('Notebook', new DiffButtonExtension(app));
  }
};

export default [panelPlugin, validityPlugin, diffPlugin];
