/**
 * The validation verdict a notebook model carries (`swift_validation`, stamped
 * by the nbvalidate storlet at save time, or by the server when it fell back),
 * turned into what the status bar and notifications show. Pure functions.
 */
import { count, field, isRecord, text } from './values';

/** The three states the DOM exposes as data-valid="true|false|unknown". */
export type ValidState = 'true' | 'false' | 'unknown';

export interface IVerdict {
  state: ValidState;
  /** nbformat's first error ('' when valid or unknown). */
  firstError: string;
  /** One-line hover text: the first error, or why the state is unknown. */
  title: string;
}

/** Notification messages are cut at 140 characters by JupyterLab. */
const NOTIFICATION_MAX = 140;
const NAME_MAX = 40;

export const STATUS_TEXT: Record<ValidState, string> = {
  true: 'Valid',
  false: 'Invalid',
  unknown: 'Validity unknown'
};

/** "cells[0]: cells[0] must ..." reads as "cells[0] must ...": the message names its place. */
export function plainError(error: string): string {
  const colon = error.indexOf(': ');
  return colon > 0 && error.startsWith(error.slice(0, colon), colon + 2)
    ? error.slice(colon + 2)
    : error;
}

/** Whether a model carries a verdict at all (objects written outside Jupyter have none). */
export function hasStamp(model: unknown): boolean {
  return isRecord(field(model, 'swift_validation'));
}

/** The first error of a validation report (GET /api/swiftcontents/validate/<path>), or ''. */
export function reportFirstError(report: unknown): string {
  const errors = field(report, 'errors');
  const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
  const message = text(field(first, 'message'));
  const where = text(field(first, 'path'), 100);
  return message ? plainError(where ? `${where}: ${message}` : message) : text(field(report, 'error'));
}

/** The verdict of a validation report, in the stamp's terms. */
export function verdictOfReport(report: unknown): IVerdict {
  const valid = field(report, 'valid');
  const stamp = {
    valid: typeof valid === 'boolean' ? valid : null,
    error_count: field(report, 'error_count'),
    truncated: field(report, 'truncated'),
    validated_by: field(report, 'computed_by'),
    nbformat: [field(report, 'nbformat'), field(report, 'nbformat_minor')].join('.'),
    first_error: reportFirstError(report),
    error_detail: text(field(report, 'detail')) || text(field(report, 'error'))
  };
  return verdictOf({ swift_validation: stamp });
}

/** The verdict of a contents model (any JSON; a missing stamp is "unknown"). */
export function verdictOf(model: unknown): IVerdict {
  const stamp = field(model, 'swift_validation');
  if (!isRecord(stamp)) {
    return {
      state: 'unknown',
      firstError: '',
      title: 'No validation stored with this notebook yet: save it to have it validated'
    };
  }
  const by = text(stamp.validated_by, 20) || 'storlet';
  if (stamp.valid === true) {
    const version = /^\d+\.\d+$/.test(text(stamp.nbformat, 20)) ? text(stamp.nbformat, 20) : '';
    return {
      state: 'true',
      firstError: '',
      title: `Valid${version ? ` nbformat ${version}` : ''} notebook (validated by the ${by})`
    };
  }
  if (stamp.valid === false) {
    const firstError =
      plainError(text(stamp.first_error)) || text(stamp.error) || 'not valid against the nbformat schema';
    const errors = count(stamp.error_count);
    const more =
      errors !== null && errors > 1
        ? `${errors}${stamp.truncated === true ? '+' : ''} errors, `
        : '';
    return { state: 'false', firstError, title: `${firstError} (${more}validated by the ${by})` };
  }
  const why = text(stamp.error_detail) || text(stamp.error) || 'not checked';
  return { state: 'unknown', firstError: '', title: `Not validated: ${why}` };
}

/** The warning shown when a save or an open gives an invalid notebook. */
export function invalidMessage(path: string, verdict: IVerdict): string {
  let name = path.slice(path.lastIndexOf('/') + 1);
  if (name.length > NAME_MAX) {
    name = name.slice(0, NAME_MAX - 1) + '…';
  }
  const message = `${name} is not a valid notebook: ${verdict.firstError}`;
  return message.length > NOTIFICATION_MAX
    ? message.slice(0, NOTIFICATION_MAX - 1) + '…'
    : message;
}
