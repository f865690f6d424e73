// Live updates: one WebSocket per signed-in page while something subscribes, opened where GET /v1/live says and
// proved with the session token in its first message (never in the URL). While the socket is ready, pages poll
// slowly; without it (none configured, refused, lost) they poll as before: polling is the fallback.

import { get, session } from "./api.js";

const listeners = new Set();
let socket = null;
let ready = false;
let retryMs = 1000;
let retryTimer = null;

function setReady(value) {
  ready = value;
  document.documentElement.dataset.live = value ? "on" : "off";
}

async function open() {
  if (socket || !session.token() || !listeners.size) return;
  let url = null;
  try {
    url = (await get("/v1/live")).url;
  } catch {
    return; // signed out, or the API is down: the page polls
  }
  if (!url || socket || !listeners.size) return;
  const opened = new WebSocket(url);
  socket = opened;
  opened.addEventListener("open", () => {
    opened.send(JSON.stringify({ action: "auth", token: session.token() }));
  });
  opened.addEventListener("message", (event) => {
    let message = null;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "ready") {
      retryMs = 1000;
      setReady(true);
    }
    for (const listener of listeners) listener(message);
  });
  opened.addEventListener("close", () => {
    if (socket !== opened) return;
    socket = null;
    setReady(false);
    if (listeners.size) retryTimer = setTimeout(open, retryMs);
    retryMs = Math.min(retryMs * 2, 30000);
  });
}

// Whether pushes flow (pages then poll slowly).
export function liveReady() {
  return ready;
}

// Close the socket (signing out, or no page listens any more).
export function closeLive() {
  clearTimeout(retryTimer);
  const closing = socket;
  socket = null;
  setReady(false);
  if (closing) closing.close(1000);
}

// `listener(message)` for each pushed message until the returned function is called.
export function subscribe(listener) {
  listeners.add(listener);
  open();
  return () => {
    listeners.delete(listener);
    if (!listeners.size) closeLive();
  };
}
