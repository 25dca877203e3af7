// The show page: pick a setlist (its problems listed), then play it: the current and next song big, Previous song /
// Next song (foot-switch sized; PageUp/PageDown from USB foot pedals), tap a song to start it, "starts in" during
// an auto gap, play/pause, the section bar, and a link to /mixer for the song's strips. Drawn from the server's state.
import { api, clock, el, keepState, live, page, status } from "./common.js";
import { Sections } from "./sections.js";

const $ = (id) => document.getElementById(id);
const STATES = { playing: "playing", ended: "ended", ready: "ready", preparing: "preparing…", played: "played",
  skipped: "skipped", "": "" };
let state = null;
let setlists = null;
let songsDrawn = "";
// figures the browser tests read: states applied, ticks seen
const stats = { states: 0, ticks: 0 };
window.stemhostStats = stats;

const kept = keepState((next) => {
  state = next;
  stats.states += 1;
  stats.state = next;
  draw();
});
const { apply, change } = kept;

const sections = new Sections(change);

/** "key +2 · tempo 90% · 1 bar count-in · auto after 2 s" for a song of the show. */
function facts(song) {
  const parts = [];
  if (song.key_shift) parts.push(`key ${song.key_shift > 0 ? "+" : "−"}${Math.abs(song.key_shift)}`);
  if (song.tempo !== 1) parts.push(`tempo ${Math.round(song.tempo * 100)}%`);
  if (song.count_in_bars) parts.push(`${song.count_in_bars} bar${song.count_in_bars === 1 ? "" : "s"} count-in`);
  parts.push(song.advance === "auto" ? `then next after ${song.gap_s} s` : "then waits");
  return parts.join(" · ");
}

function draw() {
  const show = state.show;
  $("pick").hidden = Boolean(show);
  $("stage").hidden = !show;
  document.title = `${show ? show.title : "Show"} · stemhost`;
  if (!show) {
    songsDrawn = "";
    if (setlists === null) loadSetlists();
    return;
  }
  setlists = null; // listed afresh when the show closes
  $("show-title").textContent = show.title;
  const now = show.songs[show.index];
  const next = show.songs.slice(show.index + 1).find((s) => s.state !== "skipped");
  $("now-title").textContent = now ? `${now.index + 1}. ${now.title}` : show.over ? "The show is over" : "Not started";
  $("now-facts").textContent = now ? `${STATES[now.state]} · ${facts(now)}` : show.error || "";
  $("next-title").textContent = next ? `${next.index + 1}. ${next.title}` : "–";
  $("next-facts").textContent = next ? `${STATES[next.state] || "later"} · ${facts(next)}` : "the last song";
  $("next-song").disabled = show.over || !next;
  $("previous-song").disabled = show.over || show.index < 0;
  startsIn(show.starts_in_s);
  drawSongs(show);
  $("play").disabled = !state.song;
  $("to-mixer").hidden = !state.song;
  $("length").textContent = clock(state.song ? state.song.length_s : 0);
  transport(state);
  sections.draw(state);
  if (show.error) status(show.error, "error");
  else if (state.error) status(state.error, "error");
}

function drawSongs(show) {
  const drawn = JSON.stringify([show.index, show.songs.map((s) => [s.title, s.state])]);
  if (drawn === songsDrawn) return;
  songsDrawn = drawn;
  $("songs").replaceChildren(...show.songs.map((song) => el("li", {},
    el("button", {
      class: "show-song", "data-index": song.index, "data-state": song.state,
      "aria-current": song.index === show.index ? "true" : null, disabled: song.state === "skipped" || show.over,
      "aria-label": `Start ${song.index + 1}. ${song.title}`,
      onclick: () => change("POST", "/api/show", { action: "start_song", index: song.index }),
    },
    el("span", { class: "title" }, `${song.index + 1}. ${song.title}`),
    el("span", { class: "badge" }, STATES[song.state] ?? song.state),
    el("span", { class: "facts" }, facts(song))))));
}

function startsIn(seconds) {
  $("starts-in").hidden = !(seconds >= 0);
  $("starts-in").textContent = seconds >= 0 ? `starts in ${seconds.toFixed(1)} s` : "";
}

function transport(t) {
  $("position").textContent = clock(t.position_s);
  $("play").textContent = t.playing ? "❚❚" : "▶";
  $("play").setAttribute("aria-label", t.playing ? "Pause" : "Play");
  $("play").setAttribute("aria-pressed", String(Boolean(t.playing)));
}

async function loadSetlists() {
  setlists = [];
  try {
    setlists = await api("GET", "/api/setlists");
  } catch {
    setlists = null;
    return;
  }
  $("no-setlists").hidden = setlists.length > 0;
  $("setlists").replaceChildren(...setlists.map((set) => el("li", { class: "box setlist" },
    el("button", { class: "primary", "data-setlist": set.id, "aria-label": `Open the show ${set.title}`,
      onclick: () => openSetlist(set) }, `Open ${set.title}`),
    el("span", { class: "muted" }, `${set.songs.length} song${set.songs.length === 1 ? "" : "s"}: ${set.songs.join(" · ")}`),
    set.problems.length ? el("ul", { class: "problems", "aria-label": `Problems of ${set.title}` },
      ...set.problems.map((line) => el("li", {}, line))) : null)));
}

async function openSetlist(set) {
  status(`opening ${set.title}…`);
  try {
    await change("POST", `/api/setlists/${encodeURIComponent(set.id)}/open`);
    status(`${set.title}: Next song starts song 1`, "ok");
  } catch { /* shown */ }
}

const act = (action) => change("POST", "/api/show", { action }).catch(() => {});

function tick(message) {
  stats.ticks += 1;
  if (!state || !state.show) return;
  state.position_s = message.position_s;
  state.playing = message.playing;
  transport(state);
  if (message.starts_in_s !== undefined) startsIn(message.starts_in_s);
}

function wire() {
  $("next-song").onclick = () => act("next_song");
  $("previous-song").onclick = () => act("previous_song");
  $("close-show").onclick = () => act("close");
  $("play").onclick = () => change("POST", "/api/transport", { action: state && state.playing ? "pause" : "play" });
  document.addEventListener("keydown", (event) => {
    if (!state || !state.show || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "PageDown") { event.preventDefault(); act("next_song"); }
    if (event.key === "PageUp") { event.preventDefault(); act("previous_song"); }
  });
}

page("show");
wire();
live({
  open: kept.reconnected,
  state: (message) => apply(message.state),
  tick,
});
api("GET", "/api/state").then(apply).catch(() => {});
