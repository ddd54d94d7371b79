/**
 * The listing storlet's answer (GET /api/swiftcontents/listing/<dir>) as
 * typed rows, the panel's columns and their sort order. Pure functions.
 */
import { ValidState, plainError } from './verdict';
import { count, field, humanBytes, isRecord, text } from './values';

export type ColumnId =
  | 'name'
  | 'title'
  | 'kernel'
  | 'language'
  | 'cells'
  | 'output_size'
  | 'images'
  | 'nbformat'
  | 'valid';

export interface IColumn {
  id: ColumnId;
  label: string;
  caption: string;
  numeric: boolean;
}

export const COLUMNS: IColumn[] = [
  { id: 'name', label: 'Name', caption: 'Object name', numeric: false },
  // Second: visible in the side panel's default width.
  { id: 'valid', label: 'Valid', caption: 'nbformat validation (hover a badge for the first error)', numeric: false },
  { id: 'title', label: 'Title', caption: 'The first heading of the notebook', numeric: false },
  { id: 'kernel', label: 'Kernel', caption: 'Kernel name (kernelspec)', numeric: false },
  { id: 'language', label: 'Language', caption: 'Language (language_info)', numeric: false },
  { id: 'cells', label: 'Cells', caption: 'Number of cells', numeric: true },
  { id: 'output_size', label: 'Outputs', caption: 'Size of all outputs', numeric: true },
  { id: 'images', label: 'Images', caption: 'Number of image outputs', numeric: true },
  { id: 'nbformat', label: 'nbformat', caption: 'nbformat version', numeric: false }
];

export interface IRow {
  /** API path of the notebook (directory + name). */
  path: string;
  name: string;
  title: string;
  kernel: string;
  language: string;
  cells: number | null;
  /** e.g. "3 code, 2 markdown" */
  cellsDetail: string;
  outputBytes: number | null;
  images: number | null;
  nbformat: string;
  valid: ValidState;
  /** The first error, or why validity is unknown ('' when valid or not known). */
  problem: string;
}

export interface IListing {
  rows: IRow[];
  /** The marker of the next page, or null on the last page. */
  next: string | null;
  computedBy: 'storlet' | 'server';
  fallbackReason: string;
}

/** Error rows whose notebook is unreadable as a notebook: invalid, not unknown. */
const INVALID_ERRORS = new Set([
  'empty',
  'invalid_json',
  'truncated_json',
  'not_a_notebook',
  'unknown_version'
]);

const CELL_KINDS = ['code', 'markdown', 'raw', 'other'];

export function joinPath(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

/** One row of the answer, or null when it has no usable name. */
export function parseRow(dir: string, raw: unknown): IRow | null {
  if (!isRecord(raw)) {
    return null;
  }
  const name = text(raw.name, 1024);
  // A name is one path segment of this directory; anything else is not a row.
  if (!name || name.includes('/') || name === '.' || name === '..') {
    return null;
  }
  const row: IRow = {
    path: joinPath(dir, name),
    name,
    title: text(raw.title),
    kernel: text(raw.kernel, 100),
    language: text(raw.language, 100),
    cells: null,
    cellsDetail: '',
    outputBytes: count(field(raw.outputs, 'bytes')),
    images: count(field(raw.outputs, 'images')),
    nbformat: text(raw.nbformat, 20),
    valid: 'unknown',
    problem: ''
  };
  if (isRecord(raw.cells)) {
    const parts: string[] = [];
    let total = 0;
    for (const kind of CELL_KINDS) {
      const n = count(raw.cells[kind]);
      if (n) {
        total += n;
        parts.push(`${n} ${kind}`);
      }
    }
    row.cells = total;
    row.cellsDetail = parts.join(', ');
  }
  const error = text(raw.error, 100);
  if (error) {
    row.valid = INVALID_ERRORS.has(error) ? 'false' : 'unknown';
    row.problem = text(raw.detail) || error;
  } else if (raw.valid === true) {
    row.valid = 'true';
  } else if (raw.valid === false) {
    row.valid = 'false';
    row.problem = plainError(text(raw.first_error)); // '' if the listing has none
  } else {
    row.problem = 'not checked';
  }
  return row;
}

/** The whole answer; throws an Error with a readable message on a wrong shape. */
export function parseListing(dir: string, raw: unknown): IListing {
  if (!isRecord(raw) || !Array.isArray(raw.notebooks)) {
    throw new Error('The server sent a listing without a "notebooks" list');
  }
  const rows: IRow[] = [];
  for (const item of raw.notebooks) {
    const row = parseRow(dir, item);
    if (row) {
      rows.push(row);
    }
  }
  const next = typeof raw.next === 'string' && raw.next ? raw.next : null;
  const computedBy = raw.computed_by === 'storlet' ? 'storlet' : 'server';
  return {
    rows,
    next,
    computedBy,
    fallbackReason: computedBy === 'server' ? text(raw.fallback_reason) || 'no reason given' : ''
  };
}

/** The origin line under the table. */
export function originText(listing: IListing): string {
  return listing.computedBy === 'storlet'
    ? 'computed by the storlet'
    : `computed by the server (fallback: ${listing.fallbackReason})`;
}

const VALID_ORDER: Record<ValidState, number> = { false: 0, unknown: 1, true: 2 };

/** The value a column sorts by. */
export function sortKey(row: IRow, column: ColumnId): string | number | null {
  switch (column) {
    case 'cells':
      return row.cells;
    case 'output_size':
      return row.outputBytes;
    case 'images':
      return row.images;
    case 'valid':
      return VALID_ORDER[row.valid];
    case 'nbformat':
      return row.nbformat;
    default:
      return row[column];
  }
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** A sorted copy; rows without a value go last either way; ties by name. */
export function sortRows(rows: IRow[], column: ColumnId, ascending: boolean): IRow[] {
  const sign = ascending ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = sortKey(a, column);
    const y = sortKey(b, column);
    const xMissing = x === null || x === '';
    const yMissing = y === null || y === '';
    if (xMissing !== yMissing) {
      return xMissing ? 1 : -1;
    }
    let order = 0;
    if (!xMissing) {
      order =
        typeof x === 'number' && typeof y === 'number'
          ? x - y
          : collator.compare(String(x), String(y));
    }
    return sign * order || collator.compare(a.name, b.name);
  });
}

/** The text of one cell of the table. */
export function cellText(row: IRow, column: ColumnId): string {
  switch (column) {
    case 'cells':
      return row.cells === null ? '' : String(row.cells);
    case 'output_size':
      return humanBytes(row.outputBytes);
    case 'images':
      return row.images === null ? '' : String(row.images);
    case 'valid':
      return row.valid === 'true' ? 'valid' : row.valid === 'false' ? 'invalid' : 'unknown';
    default:
      return row[column];
  }
}

/** The badge's hover text. */
export function badgeTitle(row: IRow): string {
  if (row.valid === 'true') {
    return 'Valid against the nbformat schema';
  }
  return row.problem || (row.valid === 'false' ? 'Not valid against the nbformat schema' : 'Not checked');
}
