// The mixer page: transport, overview, loop A–B, sections, key, tempo, fit, presets, save, and the strips.
// Every control asks the server over HTTP; the view is drawn from the server's state (answers and WebSocket).
import { api, clock, el, keepState, live, page, status } from "./common.js";
import { Overview } from "./overview.js";
import { Sections } from "./sections.js";
import { Strips } from "./strips.js";

const $ = (id) => document.getElementById(id);
let state = null;
let pendingA = null; // loop start set locally until B is set
let overviewSong = null;
let presetNames = "";
// figures the browser tests read: ticks seen, ticks in the last second, states applied and when (performance.now())
const stats = { ticks: 0, tickRate: 0, states: 0, lastStateAt: 0, socketStates: 0, socketStateAt: 0, window: [] };
window.stemhostStats = stats;

const kept = keepState((next) => {
  state = next;
  stats.states += 1;
  stats.lastStateAt = performance.now();
  stats.version = next.version;
  draw();
});
const { apply, change } = kept;

const strips = new Strips((kind, name, patch) => {
  const path = kind === "master" ? "/api/master" : `/api/${kind === "stem" ? "stems" : "buses"}/${encodeURIComponent(name)}`;
  return change("PATCH", path, patch);
});
const sections = new Sections(change);
const overview = new Overview($("overview"), (position_s) => change("POST", "/api/transport", { action: "seek", position_s }));

function draw() {
  const song = state.song;
  $("no-song").hidden = Boolean(song);
  for (const control of document.querySelectorAll("#transport button, .controls button, .controls input, .controls select")) {
    control.disabled = !song;
  }
  $("song-title").textContent = song ? song.title : "No song open";
  document.title = `${song ? song.title : "Mixer"} · stemhost`;
  $("length").textContent = clock(song ? song.length_s : 0);
  transport(state);
  if (song && song.id !== overviewSong) loadOverview(song);
  if (!song) { overviewSong = null; overview.setPeaks([], 0); }
  const wanted = state.key_shift_wanted ?? state.key_shift ?? 0;
  $("key-name").textContent = state.key_name || (song && song.key) || "–";
  $("key-shift").textContent = `${wanted > 0 ? "+" : wanted < 0 ? "−" : "±"}${Math.abs(wanted)}`;
  $("key-up").disabled = !song || wanted >= 12;
  $("key-down").disabled = !song || wanted <= -12;
  const tempo = state.tempo_wanted ?? state.tempo ?? 1;
  if (document.activeElement !== $("tempo-value")) $("tempo-value").value = Math.round(tempo * 100);
  $("tempo-up").disabled = !song || tempo >= 2;
  $("tempo-down").disabled = !song || tempo <= 0.5;
  preparing(state.preparing);
  const loop = state.loop;
  $("loop-on").setAttribute("aria-pressed", String(Boolean(loop && loop.on)));
  $("loop-on").disabled = !loop;
  $("loop-text").textContent = loop ? `A ${clock(loop.start_s)} – B ${clock(loop.end_s)}`
    : pendingA !== null ? `A ${clock(pendingA)} – B ?` : "";
  sections.draw(state);
  const names = JSON.stringify(state.presets || []);
  if (names !== presetNames) {
    presetNames = names;
    $("presets").replaceChildren(...(state.presets || []).map((name) =>
      el("button", { "data-preset": name, onclick: () => change("POST", "/api/presets", { name }) }, name)));
  }
  for (const button of $("presets").children) button.disabled = !song;
  $("buses-h").hidden = !state.buses.length;
  strips.update(state, { stems: $("stems"), buses: $("buses"), master: $("master") });
  if (state.error) status(state.error, "error");
}

function transport(t) {
  $("position").textContent = clock(t.position_s);
  $("play").textContent = t.playing ? "❚❚" : "▶";
  $("play").setAttribute("aria-label", t.playing ? "Pause" : "Play");
  $("play").setAttribute("aria-pressed", String(Boolean(t.playing)));
  overview.update(t.position_s, t.loop);
}

function preparing(text) {
  $("preparing").hidden = !text;
  $("preparing").textContent = text ? `preparing ${text.replace(/^preparing\s*/, "")}…` : "";
}

async function loadOverview(song) {
  overviewSong = song.id;
  try {
    const data = await api("GET", `/api/songs/${encodeURIComponent(song.id)}/overview`);
    if (overviewSong === song.id) overview.setPeaks(data.peaks, data.length_s || song.length_s);
  } catch {
    overview.setPeaks([], song.length_s);
  }
}

function tick(message) {
  const now = performance.now();
  stats.ticks += 1;
  stats.window.push(now);
  while (stats.window.length && now - stats.window[0] > 1000) stats.window.shift();
  stats.tickRate = stats.window.length;
  $("tick-rate").textContent = `${stats.tickRate} updates/s`;
  if (!state) return;
  state.position_s = message.position_s;
  state.playing = message.playing;
  transport(state);
  preparing(message.preparing);
  strips.setMeters(message.meters);
}

function here() {
  return state ? state.position_s : 0;
}

function wire() {
  $("play").onclick = () => change("POST", "/api/transport", { action: state && state.playing ? "pause" : "play" });
  $("loop-a").onclick = () => {
    const a = here(), loop = state.loop;
    if (loop && loop.end_s > a) change("POST", "/api/transport", { action: "loop", loop_start_s: a, loop_end_s: loop.end_s, loop_on: loop.on });
    else { pendingA = a; draw(); status(`loop A at ${clock(a)}: now set B`); }
  };
  $("loop-b").onclick = () => {
    const a = pendingA ?? (state.loop ? state.loop.start_s : 0), b = here();
    if (b <= a) { status(`B (${clock(b)}) must come after A (${clock(a)})`, "error"); return; }
    pendingA = null;
    change("POST", "/api/transport", { action: "loop", loop_start_s: a, loop_end_s: b, loop_on: true });
  };
  $("loop-on").onclick = () => change("POST", "/api/transport", { action: "loop", loop_on: !(state.loop && state.loop.on) });
  const key = (step) => change("POST", "/api/key", { key_shift: (state.key_shift_wanted ?? state.key_shift ?? 0) + step });
  $("key-up").onclick = () => key(1);
  $("key-down").onclick = () => key(-1);
  const tempo = (value) => change("POST", "/api/tempo", { tempo: Math.round(Math.min(2, Math.max(0.5, value)) * 100) / 100 });
  $("tempo-up").onclick = () => tempo((state.tempo_wanted ?? state.tempo) + 0.05);
  $("tempo-down").onclick = () => tempo((state.tempo_wanted ?? state.tempo) - 0.05);
  $("tempo-value").onchange = () => tempo(+$("tempo-value").value / 100);
  $("fit-form").onsubmit = async (event) => {
    event.preventDefault();
    const range = $("fit-range").value.trim(), voice = $("fit-voice").value;
    if (!range && !voice) { status("choose a voice type or type a range such as A2-E4", "error"); return; }
    try {
      const fit = await api("POST", "/api/fit", range ? { range } : { voice });
      $("fit-lines").replaceChildren(...fit.lines.map((line) => el("li", {}, line)));
      status(`fitted: ${fit.key || ""} (${fit.key_shift > 0 ? "+" : ""}${fit.key_shift})`, fit.fits ? "ok" : "info");
    } catch { /* shown */ }
  };
  $("save").onclick = async () => {
    try { status(`mix saved to ${(await api("POST", "/api/save")).saved}`, "ok"); } catch { /* shown */ }
  };
}

page("mixer");
wire();
const socket = live({
  open: kept.reconnected,
  state: (message) => {
    stats.socketStates += 1;
    stats.socketStateAt = performance.now();
    stats.socketState = message.state;
    apply(message.state);
  },
  tick,
});
window.stemhostSocket = socket; // the tests close it to check that a reconnect restores the view
api("GET", "/api/state").then(apply).catch(() => {});
