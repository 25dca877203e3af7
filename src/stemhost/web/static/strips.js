// Mixer strips (stems, buses, master): fader, pan, mute, solo and a live meter fed by WebSocket ticks.
import { el } from "./common.js";

const FLOOR_DB = -60;
const HOLD_MS = 400; // after a drag ends, keep the local value this long while the server's answer arrives

function dbText(db) {
  return db <= FLOOR_DB ? "−∞ dB" : `${db > 0 ? "+" : ""}${db.toFixed(1)} dB`;
}

function panText(pan) {
  if (Math.abs(pan) < 0.005) return "C";
  return `${Math.round(Math.abs(pan) * 100)} ${pan < 0 ? "L" : "R"}`;
}

/** Send a control's changes one request at a time, always ending with its latest value. */
function latest(send) {
  let busy = false, queued;
  const pump = async (value) => {
    busy = true;
    try { await send(value); } catch { /* shown in the status line */ }
    busy = false;
    if (queued !== undefined) { const next = queued; queued = undefined; pump(next); }
  };
  return (value) => { if (busy) queued = value; else pump(value); };
}

/** A range input the server's state must not move while the user holds it. */
function held(input) {
  let until = 0, down = false;
  const grab = () => { down = true; };
  const drop = () => { down = false; until = performance.now() + HOLD_MS; };
  input.addEventListener("pointerdown", grab);
  input.addEventListener("pointerup", drop);
  input.addEventListener("pointercancel", drop);
  input.addEventListener("keydown", () => { until = performance.now() + HOLD_MS; });
  input.addEventListener("input", () => { until = performance.now() + HOLD_MS; });
  return () => down || performance.now() < until;
}

export class Strips {
  /** send(kind, name, patch) → Promise of the new state; kind is "stem", "bus" or "master". */
  constructor(send) {
    this.send = send;
    this.strips = new Map(); // "stem:vocals" | "bus:x" | "master" → parts
    this.meters = {};
    this.layout = "";
    requestAnimationFrame(() => this.frame());
  }

  build(kind, item) {
    const name = item.name || "master";
    const key = kind === "master" ? "master" : `${kind}:${name}`;
    const label = kind === "master" ? "master" : name;
    const send = (patch) => this.send(kind, name, patch);
    const fader = el("input", { type: "range", class: "fader", min: FLOOR_DB, max: 12, step: 0.5, value: 0,
      "aria-label": `${label} level in dB` });
    const gain = el("output", { class: "gain" }, "0.0 dB");
    const pan = kind !== "stem" ? null : el("input", { type: "range", class: "pan", min: -1, max: 1, step: 0.05,
      value: 0, "aria-label": `${label} pan, left to right` });
    const panOut = pan ? el("span", { class: "pan-text" }, "C") : el("span");
    const mute = el("button", { class: "mute", "aria-pressed": "false", "aria-label": `Mute ${label}` }, "M");
    const solo = kind === "master" ? null
      : el("button", { class: "solo", "aria-pressed": "false", "aria-label": `Solo ${label}` }, "S");
    const fill = el("div", { class: "fill" });
    const attrs = { class: `strip ${kind}` };
    attrs[`data-${kind}`] = kind === "master" ? "" : name;
    const node = el("div", attrs,
      el("header", {}, el("h3", { class: "name" }, label), el("span", { class: "role" }, item.role || (kind === "bus" ? "bus" : ""))),
      el("div", { class: "meter", "aria-hidden": "true" }, fill),
      fader, el("div", { class: "readout" }, gain, panOut), pan,
      el("div", { class: "buttons" }, mute, solo));
    const parts = { node, fader, gain, pan, panOut, mute, solo, fill, faderHeld: held(fader), panHeld: pan && held(pan) };
    const sendGain = latest((value) => send({ gain_db: value }));
    fader.addEventListener("input", () => { gain.textContent = dbText(+fader.value); sendGain(+fader.value); });
    fader.addEventListener("dblclick", () => { fader.value = 0; gain.textContent = dbText(0); sendGain(0); });
    if (pan) {
      const sendPan = latest((value) => send({ pan: value }));
      pan.addEventListener("input", () => { panOut.textContent = panText(+pan.value); sendPan(+pan.value); });
      pan.addEventListener("dblclick", () => { pan.value = 0; panOut.textContent = "C"; sendPan(0); });
    }
    for (const [button, field] of [[mute, "mute"], [solo, "solo"]]) {
      if (!button) continue;
      button.addEventListener("click", () => {
        const on = button.getAttribute("aria-pressed") !== "true";
        button.setAttribute("aria-pressed", String(on)); // at once; the server's state confirms or corrects it
        send({ [field]: on }).catch(() => button.setAttribute("aria-pressed", String(!on)));
      });
    }
    this.strips.set(key, parts);
    return node;
  }

  /** Redraw from the server's state; rebuild only when the strips themselves change. */
  update(state, containers) {
    const layout = JSON.stringify([state.stems.map((s) => [s.name, s.role]), state.buses.map((b) => b.name)]);
    if (layout !== this.layout) {
      this.layout = layout;
      this.strips.clear();
      containers.stems.replaceChildren(...state.stems.map((s) => this.build("stem", s)));
      containers.buses.replaceChildren(...state.buses.map((b) => this.build("bus", b)));
      containers.master.replaceChildren(this.build("master", {}));
    }
    const items = [...state.stems.map((s) => [`stem:${s.name}`, s]), ...state.buses.map((b) => [`bus:${b.name}`, b]),
      ["master", state.master]];
    for (const [key, item] of items) {
      const parts = this.strips.get(key);
      if (!parts || !item) continue;
      if (!parts.faderHeld()) {
        parts.fader.value = item.gain_db;
        parts.gain.textContent = dbText(item.gain_db);
      }
      if (parts.pan && !parts.panHeld()) {
        parts.pan.value = item.pan;
        parts.panOut.textContent = panText(item.pan);
      }
      parts.mute.setAttribute("aria-pressed", String(Boolean(item.mute)));
      if (parts.solo) parts.solo.setAttribute("aria-pressed", String(Boolean(item.solo)));
    }
  }

  /** Peaks in dBFS since the last tick, keyed like the strips ("stem:vocals", "bus:x", "master"). */
  setMeters(meters) {
    this.meters = meters || {};
    this.dirty = true;
  }

  frame() {
    if (this.dirty) {
      this.dirty = false;
      for (const [key, parts] of this.strips) {
        const db = this.meters[key] ?? -120;
        const level = Math.min(1, Math.max(0, (db - FLOOR_DB) / -FLOOR_DB));
        parts.fill.style.transform = `scaleX(${level.toFixed(3)})`;
        parts.fill.className = db > -3 ? "fill hot" : db > -12 ? "fill warm" : "fill";
      }
    }
    requestAnimationFrame(() => this.frame());
  }
}
