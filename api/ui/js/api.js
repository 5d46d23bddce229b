// Talking to the API from the page: same-origin fetch with the session cookie (the browser
// sends it; the key never leaves the sign-in form). Errors come back as ApiError with the
// server's problem+json detail, so each view can say what went wrong in words.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

const listeners = new Set();

/** Called with no argument whenever the server answers 401 (the session ended). */
export function onSignedOut(listener) {
  listeners.add(listener);
}

export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, signal, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { detail: 'the server cannot be reached' });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { detail: text.slice(0, 200) };
  }
  if (!response.ok) {
    if (response.status === 401 && !(method === 'POST' && path === '/session')) listeners.forEach((l) => l());
    throw new ApiError(response.status, json);
  }
  return json;
}

/** A URL with query parameters (undefined and empty values left out). */
export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => query.append(key, v));
    else query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** What a person should read for a failed call. */
export function explain(err) {
  if (err instanceof ApiError) {
    if (err.status === 403) return `Not allowed with this key: ${err.message}`;
    if (err.status === 0) return 'The server cannot be reached.';
    return `${err.message} (HTTP ${err.status})`;
  }
  return String(err?.message || err);
}
