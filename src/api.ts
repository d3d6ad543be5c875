/**
 * The REST routes under `/api/saga/` (see saga_jupyter/rest-api.yml), typed.
 *
 * Requests go through Jupyter's `ServerConnection`, so they carry the page's token or
 * XSRF cookie like every other request JupyterLab makes.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { withHost } from './hosts';

/**
 * How a worker ended: the seeds' SAGA (v3) writes FINISH, BLOCKED, TIMEOUT, MAX_CYCLES or
 * ERROR; today's (v4) ends FINISH, INCOMPLETE, ERROR or STOPPED. A newer server may add more.
 */
export type Outcome =
  | 'FINISH'
  | 'INCOMPLETE'
  | 'ERROR'
  | 'STOPPED'
  | 'BLOCKED'
  | 'TIMEOUT'
  | 'MAX_CYCLES';

/** A v4 worker's tasks, counted from its `TaskUpdate` calls (`total` once its story is known). */
export interface ITaskCounts {
  completed: number;
  inProgress: number;
  total: number | null;
}

/** What a SAGA worker's own output says about it (`worker` in a SessionInfo). */
export interface IWorkerReading {
  cycle?: number | null;
  /** v4: the cycle limit its last `cycle_start` named. */
  maxCycles?: number | null;
  lastResult?: string | null;
  lastTool?: string | null;
  /** A newer server may send others: read it through outcome.ts. */
  outcome?: Outcome | null;
  summary?: string | null;
  blocker?: string | null;
  elapsedMinutes?: number | null;
  /** v4: dollars spent so far (the sum of its `result` messages' `total_cost_usd`). */
  costUsd?: number | null;
  /** v4: agent turns so far. */
  turns?: number | null;
  /** v4: its tasks, or `null` before any was counted. */
  tasks?: ITaskCounts | null;
  /** v4: the path of the story's git worktree. */
  worktree?: string | null;
  /** v4: the URL of the story's pull request. */
  pr?: string | null;
}

/** What a session's output file holds: terminal bytes (v3, `.out`) or JSON messages (v4). */
export type OutputFormat = 'terminal' | 'messages';

/** One session, as `GET /api/saga/sessions` and the channel list it (camelCase JSON). */
export interface ISessionInfo {
  name: string;
  /** `null` for a v4 worker whose story's project is not known (yet). */
  epicSlug: string | null;
  storySlug: string;
  /** Missing from servers older than today's SAGA: then `terminal`. */
  outputFormat?: OutputFormat;
  status: 'running' | 'completed';
  outputFile: string;
  outputAvailable: boolean;
  startTime: string | null;
  endTime: string | null;
  lastActivity: string | null;
  outputPreview: string | null;
  worker?: IWorkerReading | null;
  /** The remote it runs on (see hosts.ts); `null` or missing: this server's own. */
  host?: string | null;
  /** Its host stopped answering: as last seen, not live. */
  stale?: boolean;
}

/** What `/api/saga/status` says of one remote (the `remotes` trait, or a Hub's servers). */
export interface IRemoteStatus {
  name: string;
  url?: string;
  state: 'connected' | 'stale' | 'error';
  /** ISO 8601: when it entered this state. */
  since: string | null;
  /** Why it is not connected, in words a person can act on. */
  error: string | null;
}

/**
 * `GET /api/saga/status`: health of tmux, the store, the output directory, the channel.
 * A JupyterHub service (a `serverUrl` setting) answers `remotes` only.
 */
export interface IStatus {
  tmux?: {
    available: boolean;
    serverRunning: boolean;
    version: string | null;
    socketName?: string | null;
    error?: string | null;
  };
  store?: {
    path: string;
    error: string | null;
    saveError: string | null;
    memoryOnly?: boolean;
  };
  outputDir?: string;
  outputDirExists?: boolean;
  outputDirWarning?: string | null;
  sessions?: { running: number; completed: number };
  lastPoll?: string | null;
  pollInterval?: number;
  clients?: number;
  logStreams?: number;
  /** Whether stop and attach are enabled (`--SagaJupyterApp.allow_control`). */
  allowControl?: boolean;
  /** Each remote's state, when the server has remotes. */
  remotes?: IRemoteStatus[];
}

/** A byte range of a session's output file, as `GET .../log?offset=&length=` sent it. */
export interface ILogRange {
  /** The bytes, undecoded: a range may start inside a character. */
  bytes: Uint8Array;
  /** Offset of the first byte in the file. */
  offset: number;
  /** The file's size when it was read. */
  size: number;
}

/** The REST client of one server. */
export class SagaAPI {
  constructor(serverSettings?: ServerConnection.ISettings) {
    this.serverSettings = serverSettings ?? ServerConnection.makeSettings();
  }

  /** Where and how to reach the server. */
  readonly serverSettings: ServerConnection.ISettings;

  /** Health of tmux, the store and the output directory. */
  async status(): Promise<IStatus> {
    const response = await this._request('status');
    return (await response.json()) as IStatus;
  }

  /** Bytes `offset` to `offset + length` of a session's output file. */
  async logRange(
    name: string,
    offset: number,
    length: number,
    host: string | null = null
  ): Promise<ILogRange> {
    const query = URLExt.objectToQueryString(
      withHost({ offset, length }, host)
    );
    const response = await this._request(
      `sessions/${encodeURIComponent(name)}/log${query}`
    );
    return {
      bytes: new Uint8Array(await response.arrayBuffer()),
      offset: Number(response.headers.get('X-Log-Offset') ?? offset),
      size: Number(response.headers.get('X-Log-Size') ?? 0)
    };
  }

  /** Kill a session's tmux session (only with `allow_control`). */
  async stop(name: string, host: string | null = null): Promise<void> {
    await this._request(sessionPath(name, 'stop', host), {
      method: 'POST'
    });
  }

  /** Open a Jupyter terminal attached to a running session; its terminal name. */
  async connect(name: string, host: string | null = null): Promise<string> {
    const response = await this._request(sessionPath(name, 'connect', host), {
      method: 'POST'
    });
    const body = (await response.json()) as { terminal: string };
    return body.terminal;
  }

  private _request(path: string, init: RequestInit = {}): Promise<Response> {
    return sagaRequest(this.serverSettings, path, init);
  }
}

/** `api/saga/<path>` asked of the server; a failure as a `NetworkError` or a `SagaError`. */
export async function sagaRequest(
  settings: ServerConnection.ISettings,
  path: string,
  init: RequestInit = {}
): Promise<Response> {
  const url = URLExt.join(settings.baseUrl, 'api', 'saga', path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (!response.ok) {
    throw new SagaError(response, await errorMessage(response));
  }
  return response;
}

/** `sessions/<name>/<verb>`, with `?host=` for a remote's session. */
function sessionPath(name: string, verb: string, host: string | null): string {
  const query = host === null ? '' : URLExt.objectToQueryString({ host });
  return `sessions/${encodeURIComponent(name)}/${verb}${query}`;
}

/** A route answered with an error: its status and the server's human sentence. */
export class SagaError extends ServerConnection.ResponseError {
  constructor(response: Response, message: string) {
    super(response, message);
    this.name = 'SagaError';
  }
}

/** The `message` of a JSON error body (the contract's), else the status text. */
async function errorMessage(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as {
      message?: string;
      error?: string;
    };
    return body.message || body.error || response.statusText;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}
