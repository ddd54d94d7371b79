/**
 * The server calls this extension makes, one function per HTTP request, all
 * through JupyterLab's ServerConnection (its base URL, token and XSRF).
 * Answers are returned as untrusted JSON (`unknown`); callers parse them.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { text } from './values';

/** Notebooks per page of the panel (the server caps it at its listing_max_limit). */
export const PAGE_SIZE = 50;

/** An Error whose message is safe to show as text (status and the server's message). */
export class ApiError extends Error {
  constructor(message: string, readonly status: number | null = null) {
    super(message);
  }
}

function apiUrl(settings: ServerConnection.ISettings, ...parts: string[]): string {
  return URLExt.join(settings.baseUrl, ...parts.map(p => URLExt.encodeParts(p)));
}

async function requestJson(
  settings: ServerConnection.ISettings,
  url: string,
  init: RequestInit = {}
): Promise<unknown> {
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(`Cannot reach the Jupyter server: ${text(String(error), 200)}`);
  }
  if (!response.ok) {
    const error = await ServerConnection.ResponseError.create(response);
    // jupyter_server's JSON errors carry {"message"}; anything else is the status line.
    throw new ApiError(
      `${response.status}: ${text(error.message, 300) || response.statusText}`,
      response.status
    );
  }
  try {
    return await response.json();
  } catch {
    throw new ApiError(`${response.status}: the server's answer is not JSON`, response.status);
  }
}

/** One page of the listing storlet's summaries of directory `dir`. */
export function fetchListing(
  settings: ServerConnection.ISettings,
  dir: string,
  marker: string,
  limit: number = PAGE_SIZE
): Promise<unknown> {
  const query = URLExt.objectToQueryString(marker ? { limit, marker } : { limit });
  return requestJson(settings, apiUrl(settings, 'api/swiftcontents/listing', dir) + query);
}

/** The notebook's model without content: its metadata, with `swift_validation`. */
export function fetchNotebookModel(
  settings: ServerConnection.ISettings,
  path: string
): Promise<unknown> {
  // type=notebook: the manager adds the verdict only when the notebook type is asked.
  const query = URLExt.objectToQueryString({ type: 'notebook', content: 0 });
  return requestJson(settings, apiUrl(settings, 'api/contents', path) + query);
}

/** The validation storlet's report on the file at `path` (every error found). */
export function fetchValidation(
  settings: ServerConnection.ISettings,
  path: string
): Promise<unknown> {
  return requestJson(settings, apiUrl(settings, 'api/swiftcontents/validate', path));
}

/** The notebook's checkpoints, oldest first (as jupyter_server lists them). */
export function fetchCheckpoints(
  settings: ServerConnection.ISettings,
  path: string
): Promise<unknown> {
  return requestJson(settings, apiUrl(settings, 'api/contents', path, 'checkpoints'));
}

/** nbdime's diff API: checkpoint `id` of `path` against the saved file. */
export function fetchCheckpointDiff(
  settings: ServerConnection.ISettings,
  path: string,
  id: string
): Promise<unknown> {
  return requestJson(settings, apiUrl(settings, 'nbdime/api/diff'), {
    method: 'POST',
    body: JSON.stringify({ base: `checkpoint@${id}:${path}` })
  });
}

/** The styled HTML validation report of the server (opened in a browser tab). */
export function validationReportUrl(settings: ServerConnection.ISettings, path: string): string {
  return apiUrl(settings, 'api/swiftcontents/validate', path) + '?format=html';
}
