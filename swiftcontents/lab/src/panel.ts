/**
 * The "Swift notebooks" side panel: the listing storlet's summaries of the
 * file browser's current directory, a page at a time, sortable, with the
 * validity badge and where the answer was computed.
 *
 * Every server value is rendered with textContent or as an attribute value:
 * titles and names are notebook content, never markup.
 */
import { ServerConnection } from '@jupyterlab/services';
import { LabIcon, caretLeftIcon, caretRightIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { ApiError, fetchListing, fetchValidation } from './api';
import { reportFirstError } from './verdict';
import {
  COLUMNS,
  ColumnId,
  IListing,
  IRow,
  badgeTitle,
  cellText,
  originText,
  parseListing,
  sortRows
} from './listing';

export const PANEL_ID = 'swift-notebooks-panel';
/** At most this many validation reports per page, for invalid rows the listing gave no error for. */
const MAX_REPORTS = 20;
const CLASS = 'jp-SwiftNotebooks';

export interface IPanelOptions {
  serverSettings: ServerConnection.ISettings;
  /** Opens a notebook (the panel knows nothing of the document manager). */
  open: (path: string) => void;
  icon: LabIcon;
}

/** The page being shown: which directory, which marker, which sort. */
interface IPageState {
  dir: string;
  /** Markers of the pages before and including this one ('' is the first page). */
  markers: string[];
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  textContent = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (textContent) {
    node.textContent = textContent;
  }
  return node;
}

function iconButton(className: string, icon: LabIcon, label: string, title: string): HTMLButtonElement {
  const button = element('button', `${CLASS}-button ${className}`);
  button.type = 'button';
  button.title = title;
  button.setAttribute('aria-label', title);
  button.appendChild(icon.element({ tag: 'span', className: `${CLASS}-buttonIcon` }));
  if (label) {
    button.appendChild(element('span', `${CLASS}-buttonLabel`, label));
  }
  return button;
}

export class SwiftNotebooksPanel extends Widget {
  constructor(options: IPanelOptions) {
    super();
    this._settings = options.serverSettings;
    this._open = options.open;
    this.id = PANEL_ID;
    this.addClass(CLASS);
    this.title.icon = options.icon;
    this.title.caption = 'Swift notebooks';
    this.title.label = 'Swift notebooks';
    this.node.setAttribute('aria-label', 'Swift notebooks');

    const toolbar = element('div', `${CLASS}-toolbar`);
    toolbar.appendChild(element('span', `${CLASS}-heading`, 'Swift notebooks'));
    this._refreshButton = iconButton(
      `${CLASS}-refresh`,
      refreshIcon,
      '',
      'Refresh the listing (computed in Swift by the listing storlet)'
    );
    this._refreshButton.addEventListener('click', () => void this.refresh());
    toolbar.appendChild(this._refreshButton);
    this._dirNode = element('div', `${CLASS}-dir`);
    this._errorNode = element('div', `${CLASS}-error`);
    this._errorNode.setAttribute('role', 'alert');
    this._errorNode.hidden = true;

    this._table = element('table', `${CLASS}-table`);
    const head = this._table.createTHead().insertRow();
    for (const column of COLUMNS) {
      const th = element('th', `${CLASS}-header${column.numeric ? ` ${CLASS}-numeric` : ''}`, column.label);
      th.dataset.column = column.id;
      th.scope = 'col';
      th.title = `${column.caption} (click to sort)`;
      th.tabIndex = 0;
      th.addEventListener('click', () => this._sortBy(column.id));
      th.addEventListener('keydown', event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          this._sortBy(column.id);
        }
      });
      head.appendChild(th);
    }
    this._body = this._table.createTBody();
    this._emptyNode = element('div', `${CLASS}-empty`, 'No notebooks in this directory');
    this._emptyNode.hidden = true;
    const scroller = element('div', `${CLASS}-scroller`);
    scroller.append(this._table, this._emptyNode);

    const pager = element('div', `${CLASS}-pager`);
    this._prevButton = iconButton(`${CLASS}-prev`, caretLeftIcon, 'Previous', 'Previous page');
    this._nextButton = iconButton(`${CLASS}-next`, caretRightIcon, 'Next', 'Next page');
    this._pageNode = element('span', `${CLASS}-page`);
    this._prevButton.addEventListener('click', () => void this._previousPage());
    this._nextButton.addEventListener('click', () => void this._nextPage());
    pager.append(this._prevButton, this._pageNode, this._nextButton);
    this._originNode = element('div', `${CLASS}-computedBy`);

    this.node.append(toolbar, this._dirNode, this._errorNode, scroller, pager, this._originNode);
    this._renderDir();
    this._renderPager();
  }

  /** The directory shown ('' is the root). */
  get directory(): string {
    return this._state.dir;
  }

  /** Show directory `dir` from its first page (loads now if visible, else when shown). */
  setDirectory(dir: string): void {
    if (dir === this._state.dir && this._listing) {
      return;
    }
    this._state = { dir, markers: [''] };
    // Another directory's rows must not show under this one's name, even briefly.
    this._listing = null;
    this._request++;
    this._showError('');
    this._renderDir();
    this._renderRows();
    this._renderPager();
    this._stale = true;
    if (this.isVisible) {
      void this.refresh();
    }
  }

  /** Something in directory `dir` changed: reload (now if visible, else when shown). */
  markChanged(dir: string): void {
    if (dir !== this._state.dir) {
      return;
    }
    this._stale = true;
    if (this.isVisible) {
      window.clearTimeout(this._debounce);
      // Saves come in bursts (autosave, several files): one listing for them all.
      this._debounce = window.setTimeout(() => void this.refresh(), 800);
    }
  }

  /** Reload the current page. */
  async refresh(): Promise<void> {
    const state = this._state;
    const marker = state.markers[state.markers.length - 1];
    const request = ++this._request;
    this._stale = false;
    this.node.setAttribute('aria-busy', 'true');
    this._refreshButton.disabled = true;
    try {
      const listing = parseListing(state.dir, await fetchListing(this._settings, state.dir, marker));
      if (request !== this._request) {
        return; // a newer request (another directory or page) owns the panel now
      }
      await this._fillFirstErrors(listing.rows);
      if (request !== this._request) {
        return;
      }
      this._listing = listing;
      this._showError('');
    } catch (error) {
      if (request !== this._request) {
        return;
      }
      this._listing = null;
      const message = error instanceof ApiError || error instanceof Error ? error.message : String(error);
      this._showError(`Cannot list /${state.dir}: ${message}`);
    } finally {
      if (request === this._request) {
        this.node.removeAttribute('aria-busy');
        this._refreshButton.disabled = false;
        this._renderRows();
        this._renderPager();
      }
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this._stale) {
      void this.refresh();
    }
  }

  dispose(): void {
    window.clearTimeout(this._debounce);
    super.dispose();
  }

  /**
   * The listing says which notebooks are invalid but not why: ask the validation
   * storlet for the first error of each (a few, side by side) before showing them.
   */
  private async _fillFirstErrors(rows: IRow[]): Promise<void> {
    const missing = rows.filter(row => row.valid === 'false' && !row.problem).slice(0, MAX_REPORTS);
    await Promise.all(
      missing.map(async row => {
        try {
          row.problem = reportFirstError(await fetchValidation(this._settings, row.path));
        } catch {
          // the badge still says invalid; its title stays generic
        }
      })
    );
  }

  private async _nextPage(): Promise<void> {
    const next = this._listing?.next;
    if (next) {
      this._state = { dir: this._state.dir, markers: [...this._state.markers, next] };
      await this.refresh();
    }
  }

  private async _previousPage(): Promise<void> {
    if (this._state.markers.length > 1) {
      this._state = { dir: this._state.dir, markers: this._state.markers.slice(0, -1) };
      await this.refresh();
    }
  }

  private _sortBy(column: ColumnId): void {
    this._ascending = this._sortColumn === column ? !this._ascending : true;
    this._sortColumn = column;
    this._renderRows();
  }

  private _showError(message: string): void {
    this._errorNode.textContent = message;
    this._errorNode.hidden = !message;
  }

  private _renderDir(): void {
    this._dirNode.textContent = `/${this._state.dir}`;
    this._dirNode.title = `Notebooks directly in /${this._state.dir} (follows the file browser)`;
  }

  private _renderPager(): void {
    const page = this._state.markers.length;
    this._prevButton.disabled = page <= 1;
    this._nextButton.disabled = !this._listing?.next;
    this._pageNode.textContent = `Page ${page}`;
    const listing = this._listing;
    if (listing) {
      this._originNode.dataset.computedBy = listing.computedBy;
      this._originNode.textContent = originText(listing);
      this._originNode.hidden = false;
    } else {
      delete this._originNode.dataset.computedBy;
      this._originNode.textContent = '';
      this._originNode.hidden = true;
    }
  }

  private _renderRows(): void {
    for (const th of Array.from(this._table.tHead!.rows[0].cells)) {
      if (th.dataset.column === this._sortColumn) {
        th.setAttribute('aria-sort', this._ascending ? 'ascending' : 'descending');
      } else {
        th.removeAttribute('aria-sort');
      }
    }
    const rows = this._listing?.rows ?? [];
    const sorted = this._sortColumn ? sortRows(rows, this._sortColumn, this._ascending) : rows;
    this._body.replaceChildren(...sorted.map(row => this._renderRow(row)));
    this._emptyNode.hidden = !(this._listing && rows.length === 0);
  }

  private _renderRow(row: IRow): HTMLTableRowElement {
    const tr = element('tr', `${CLASS}-row`);
    tr.dataset.path = row.path;
    tr.tabIndex = 0;
    tr.title = `Open ${row.path}`;
    tr.addEventListener('click', () => this._open(row.path));
    tr.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this._open(row.path);
      }
    });
    for (const column of COLUMNS) {
      const td = element('td', column.numeric ? `${CLASS}-numeric` : '');
      td.dataset.column = column.id;
      if (column.id === 'valid') {
        td.appendChild(this._badge(row));
      } else {
        td.textContent = cellText(row, column.id);
        if (column.id === 'cells' && row.cellsDetail) {
          td.title = row.cellsDetail;
        } else if (column.id === 'title' || column.id === 'name') {
          td.title = td.textContent;
        }
      }
      tr.appendChild(td);
    }
    return tr;
  }

  private _badge(row: IRow): HTMLElement {
    const badge = element('span', `${CLASS}-badge`, cellText(row, 'valid'));
    badge.dataset.valid = row.valid;
    badge.title = badgeTitle(row);
    return badge;
  }

  private _settings: ServerConnection.ISettings;
  private _open: (path: string) => void;
  private _state: IPageState = { dir: '', markers: [''] };
  private _listing: IListing | null = null;
  private _sortColumn: ColumnId | null = null;
  private _ascending = true;
  private _request = 0;
  private _stale = true;
  private _debounce = 0;
  private _refreshButton: HTMLButtonElement;
  private _prevButton: HTMLButtonElement;
  private _nextButton: HTMLButtonElement;
  private _pageNode: HTMLElement;
  private _dirNode: HTMLElement;
  private _errorNode: HTMLElement;
  private _originNode: HTMLElement;
  private _table: HTMLTableElement;
  private _body: HTMLTableSectionElement;
  private _emptyNode: HTMLElement;
}
