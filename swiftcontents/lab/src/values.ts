/**
 * Untrusted JSON in, plain typed values out.
 *
 * Everything the server sends (names, titles, kernels, errors) comes from
 * notebooks or object metadata anyone could have written: these helpers never
 * throw on a wrong type, and cap lengths so that one hostile field cannot
 * flood the page. Rendering is always by textContent (never as HTML).
 */

/** The longest string kept from one server field. */
export const MAX_TEXT = 500;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string field, capped; '' for anything that is not a string. */
export function text(value: unknown, max: number = MAX_TEXT): string {
  if (typeof value !== 'string') {
    return '';
  }
  return value.length > max ? value.slice(0, max - 1) + '…' : value;
}

/** A finite non-negative number, else null. */
export function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
    ? value
    : null;
}

/** A field of a nested object, or undefined. */
export function field(value: unknown, key: string): unknown {
  return isRecord(value) ? value[key] : undefined;
}

/** Bytes as a short human size (B, KB, MB, GB; powers of 1024). */
export function humanBytes(bytes: number | null): string {
  if (bytes === null) {
    return '';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}
