// REST v1 from the browser: the session token, JSON in and out, and errors as ApiError with the field at fault.

const TOKEN_KEY = "smsrooms.session";

// Listeners: "maintenance" (detail: message or null when the service answers again), "signed-out".
export const apiEvents = new EventTarget();

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }

  get field() {
    return typeof this.details.field === "string" ? this.details.field : null;
  }
}

// The session token lives in localStorage, so a link opened in another tab (the verification email's included) is
// signed in too, and signing out in one tab signs out all of them (the "storage" event, see app.js). localStorage is
// readable by any script of this origin, as sessionStorage was: the CSP (web.py) allows scripts only from this origin
// and Stripe's, none inline, and every page builds its text with textContent (ui.js `h`), never as HTML.
export const session = {
  token() {
    // A tab signed in before the token moved to localStorage keeps its session.
    const earlier = sessionStorage.getItem(TOKEN_KEY);
    if (earlier) {
      localStorage.setItem(TOKEN_KEY, earlier);
      sessionStorage.removeItem(TOKEN_KEY);
    }
    return localStorage.getItem(TOKEN_KEY);
  },
  signIn(token) {
    localStorage.setItem(TOKEN_KEY, token);
  },
  forget() {
    localStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KEY);
  },
  // Whether a "storage" event (another tab wrote) changed the session: its key, or the whole store cleared (null).
  changedBy(event) {
    return event.storageArea === localStorage && (event.key === null || event.key === TOKEN_KEY);
  },
};

// Where the service lives, whatever path it is served under: API Gateway's stage (`/api/`), a custom domain's base
// path, or none locally. This module is `<root>static/api.js`, so the root is the folder above it.
export const SERVICE_ROOT = new URL("..", import.meta.url);

// "/v1/me" → "<root>v1/me": every path the dashboard calls is written from the service root.
export const serviceUrl = (path) => new URL(path.replace(/^\/+/, ""), SERVICE_ROOT).href;

export async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    response = await fetch(serviceUrl(path), { method, headers, body: payload });
  } catch {
    throw new ApiError(0, "NETWORK", "Could not reach SMS Rooms. Check your connection and try again.");
  }
  const data = await readJson(response);
  if (response.ok) {
    apiEvents.dispatchEvent(new CustomEvent("maintenance", { detail: null }));
    return data;
  }
  throw failure(response.status, data, Boolean(token));
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}, headers = {}) => api("POST", path, body, headers);
export const put = (path, body = {}) => api("PUT", path, body);
export const del = (path, body) => api("DELETE", path, body);

async function readJson(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function failure(status, data, hadToken) {
  const error = (data && data.error) || {};
  const code = error.code || `HTTP_${status}`;
  const message = error.message || "Something went wrong on our side. Please try again in a moment.";
  if (status === 503 && code === "MAINTENANCE") {
    apiEvents.dispatchEvent(new CustomEvent("maintenance", { detail: message }));
  }
  if (status === 401 && hadToken) {
    session.forget();
    apiEvents.dispatchEvent(new CustomEvent("signed-out", { detail: message }));
  }
  return new ApiError(status, code, message, error.details);
}

// Every list route answers {"items": [...]}; a missing list reads as empty.
export const items = (data) => (data && Array.isArray(data.items) ? data.items : []);
