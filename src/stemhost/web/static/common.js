// Shared by every page: the API (JSON errors shown in the status line), the live WebSocket, small helpers.

/** Drop ?token=… from the address bar: the server has already set its cookie for this page load. */
export function forgetToken() {
  const url = new URL(location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
}

/** Show one line in the page's status area; kind is "info", "ok" or "error". */
export function status(text, kind = "info") {
  const line = document.getElementById("status");
  if (!line) return;
  line.textContent = text;
  line.dataset.kind = kind;
}

/** Call the API: method, path, optional JSON body. Resolves to the answer's JSON; errors show and throw. */
export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let answer;
  try {
    answer = await fetch(path, init);
  } catch (err) {
    status(`cannot reach stemhost (${err.message})`, "error");
    throw err;
  }
  const text = await answer.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text.slice(0, 200) }; }
  if (!answer.ok) {
    const field = data && data.field ? ` (${data.field})` : "";
    const message = `${method} ${path}: ${(data && data.error) || answer.statusText}${field}`;
    status(message, "error");
    const err = new Error(message);
    err.status = answer.status;
    throw err;
  }
  return data;
}

/**
 * Keep a WebSocket to /api/ws open, reconnecting with backoff; handlers.state/tick/render get each message,
 * handlers.open/close the connection's changes. The server sends the whole state on connect, which restores the view.
 */
export function live(handlers) {
  let delay = 250;
  let socket = null;
  const shown = (isLive) => { // the page's connection mark, if it has one
    const mark = document.getElementById("conn");
    if (!mark) return;
    mark.textContent = isLive ? "live" : "reconnecting…";
    mark.dataset.live = String(isLive);
  };
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/ws`);
    socket.onopen = () => { delay = 250; shown(true); handlers.open && handlers.open(); };
    socket.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      const handler = handlers[message.type];
      if (handler) handler(message);
    };
    let opened = false;
    socket.addEventListener("open", () => { opened = true; });
    socket.onclose = () => {
      // a refused handshake (a missing token, another site's page) looks like a lost network to the page
      if (!opened) status("no live connection to stemhost (retrying); with a token, open the address it printed", "error");
      shown(false);
      handlers.close && handlers.close();
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 4000);
    };
    socket.onerror = () => socket.close();
  };
  connect();
  return () => socket;
}

/** The server's state as a page keeps it: onState(next) runs for each state kept, the newest by version (an
 * older answer overtaken by a newer state is dropped), or any version after a reconnect (the server may have
 * restarted). change(method, path, body) sends a change and keeps its answer, the new state. */
export function keepState(onState) {
  let newest = null;
  let fresh = true; // the first state, or the first after a reconnect: taken whatever its version
  const kept = {
    apply(next) {
      if (!fresh && newest && next.version < newest.version) return;
      fresh = false;
      newest = next;
      onState(next);
    },
    async change(method, path, body) {
      const next = await api(method, path, body);
      if (next && next.version !== undefined) kept.apply(next);
      return next;
    },
    reconnected() { fresh = true; },
  };
  return kept;
}

/** Seconds as m:ss (or h:mm:ss). */
export function clock(seconds) {
  if (seconds == null || !isFinite(seconds)) return "–:––";
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}

/** Create an element: el("button", {class: "x", "aria-label": "y"}, "text", child…). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** Mark the navigation link of this page and drop the token from the address. */
export function page(name) {
  forgetToken();
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
  }
}
