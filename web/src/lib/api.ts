// The API client of the app: same-origin requests with the session cookie, the CSRF token on
// every write, and errors turned into messages a person can read.

import type { SessionInfo } from './types';

let csrfToken: string | null = null;

/** Set by the session module whenever the server hands out a new token. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function csrfHeaders(): Record<string, string> {
  return csrfToken ? { 'X-CSRF-Token': csrfToken } : {};
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

type Detail = string | { loc?: (string | number)[]; msg?: string }[] | undefined;

/** A readable message, and one per field, from the API's `{"detail": ...}`. */
export function describeError(status: number, detail: Detail): ApiError {
  if (Array.isArray(detail)) {
    const fields: Record<string, string> = {};
    for (const d of detail) {
      const loc = (d.loc ?? []).filter((p) => p !== 'body' && p !== 'query');
      const name = String(loc[0] ?? 'request');
      fields[name] ??= d.msg ?? 'invalid';
    }
    const message = Object.entries(fields)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ');
    return new ApiError(status, message || 'The request was refused', fields);
  }
  if (typeof detail === 'string' && detail) return new ApiError(status, detail);
  return new ApiError(status, statusText(status));
}

function statusText(status: number): string {
  if (status === 401) return 'Please sign in';
  if (status === 403) return 'You are not allowed to do that';
  if (status === 404) return 'Not found';
  if (status === 413) return 'Too large';
  if (status === 429) return 'Too many requests, try again in a moment';
  if (status >= 500) return 'The server could not do that right now';
  return `Request failed (${status})`;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  let body: BodyInit | undefined;
  if (opts.body instanceof FormData) {
    body = opts.body;
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (method !== 'GET' && method !== 'HEAD') Object.assign(headers, csrfHeaders());
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'Cannot reach the server');
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    throw describeError(response.status, (data as { detail?: Detail } | undefined)?.detail);
  }
  return data as T;
}

export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const sessionApi = {
  current: () => api<SessionInfo>('/api/auth/session'),
  signIn: (username: string, password: string) =>
    api<SessionInfo>('/api/auth/session', { method: 'POST', body: { username, password } }),
  signOut: () => api<void>('/api/auth/session', { method: 'DELETE' }),
};
