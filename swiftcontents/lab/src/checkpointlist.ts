/**
 * The checkpoints of a notebook as the picker offers them. Pure functions.
 */
import { isRecord, text } from './values';

export interface ICheckpoint {
  id: string;
  lastModified: string;
}

/** The server's list (oldest first) as checkpoints newest first; bad entries dropped. */
export function newestFirst(raw: unknown): ICheckpoint[] {
  if (!Array.isArray(raw)) {
    throw new Error('The server sent no list of checkpoints');
  }
  const checkpoints: ICheckpoint[] = [];
  for (const item of raw) {
    const id = isRecord(item) ? text(item.id, 200) : '';
    // ':' ends the id in the diff API's base "checkpoint@<id>:<path>".
    if (id && !id.includes(':')) {
      checkpoints.push({ id, lastModified: text((item as Record<string, unknown>).last_modified, 64) });
    }
  }
  return checkpoints.reverse();
}

/** "30 Nov 2026, 19:31:05 (checkpoint-1)": local time, then the id. */
export function checkpointLabel(checkpoint: ICheckpoint, newest: boolean): string {
  const date = new Date(checkpoint.lastModified);
  const when = Number.isNaN(date.getTime())
    ? checkpoint.lastModified || 'unknown time'
    : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  return `${when} (${checkpoint.id})${newest ? ', newest' : ''}`;
}
