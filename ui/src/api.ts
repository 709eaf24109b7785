// HTTP access to the Strix API: the Strix envelope, Prometheus' envelope, and the API key.
//
// With no API keys configured every API is open. When one answers 401 the dashboard asks
// for a key (see `onAuthNeeded`), keeps it in localStorage and sends it as a Bearer token.

const KEY_STORAGE = 'strix.apiKey';

export class ApiError extends Error {
  constructor(
    message: string,
    public status: number,
  ) {
    super(message);
  }
}

let authListeners: Array<() => void> = [];
/** Subscribes to "an API answered 401"; returns the unsubscribe function. */
export function onAuthNeeded(f: () => void): () => void {
  authListeners.push(f);
  return () => {
    authListeners = authListeners.filter((g) => g !== f);
  };
}

export function apiKey(): string | null {
  try {
    return localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setApiKey(key: string | null): void {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

export function authHeaders(): Record<string, string> {
  const k = apiKey();
  return k ? { Authorization: `Bearer ${k}` } : {};
}

async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders() };
  if (init.body) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { ...init, headers: { ...headers, ...(init.headers as object) } });
  if (res.status === 401) {
    authListeners.forEach((f) => f());
  }
  return res;
}

function errorMessage(body: any, res: Response): string {
  if (body && body.error) {
    if (typeof body.error === 'string') return body.error;
    if (typeof body.error.message === 'string') return body.error.message;
  }
  return `${res.status} ${res.statusText}`;
}

/** A Strix API call (`{"success": true, "data": …}`); returns `data` (and `meta`). */
export async function strix<T = any>(path: string, init?: RequestInit): Promise<T> {
  const r = await strixFull<T>(path, init);
  return r.data;
}

export async function strixFull<T = any>(
  path: string,
  init?: RequestInit,
): Promise<{ data: T; meta?: any }> {
  const res = await request(path, init);
  let body: any = null;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`${res.status} ${res.statusText}: not JSON`, res.status);
  }
  if (!res.ok || !body || body.success === false) {
    throw new ApiError(errorMessage(body, res), res.status);
  }
  return { data: body.data as T, meta: body.meta };
}

/** POST a JSON body to a Strix API. */
export function post<T = any>(path: string, body: unknown): Promise<T> {
  return strix<T>(path, { method: 'POST', body: JSON.stringify(body) });
}

/** A Prometheus API call (`{"status": "success", "data": …}`). */
export async function prom<T = any>(path: string, params: Record<string, string | number>): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) q.set(k, String(v));
  const res = await request(`${path}?${q.toString()}`);
  let body: any = null;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`${res.status} ${res.statusText}: not JSON`, res.status);
  }
  if (!res.ok || body.status !== 'success') throw new ApiError(errorMessage(body, res), res.status);
  return body.data as T;
}

export interface PromSeries {
  metric: Record<string, string>;
  values?: Array<[number, string]>;
  value?: [number, string];
}

export interface RangeResult {
  resultType: string;
  result: PromSeries[];
  /** The requested window (Unix seconds), set by `queryRange`. */
  start?: number;
  end?: number;
}

/** `query_range` over the last `rangeSec` seconds with about `points` points per series. */
export function queryRange(expr: string, rangeSec: number, points = 240): Promise<RangeResult> {
  const step = Math.max(1, Math.ceil(rangeSec / points));
  // End on the next multiple of the step, so queries issued together share one time grid and
  // their series line up on a chart.
  const end = Math.ceil(Date.now() / 1000 / step) * step;
  const start = end - rangeSec;
  return prom<RangeResult>('/api/v1/query_range', { query: expr, start, end, step }).then((r) => ({ ...r, start, end }));
}

export function queryInstant(expr: string): Promise<RangeResult> {
  return prom<RangeResult>('/api/v1/query', { query: expr });
}

/** Parses a Prometheus sample value ("NaN", "+Inf" included). */
export function num(s: string): number {
  return Number(s === '+Inf' ? Infinity : s === '-Inf' ? -Infinity : s);
}

/** A series' label set in PromQL syntax (for display as text only). */
export function seriesName(m: Record<string, string>): string {
  const name = m.__name__ ?? '';
  const rest = Object.keys(m)
    .filter((k) => k !== '__name__')
    .sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`);
  return rest.length ? `${name}{${rest.join(', ')}}` : name || '{}';
}
