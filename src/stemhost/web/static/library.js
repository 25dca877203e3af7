// The library page: every song, a search box, "analysing…" until the analysis is cached; a click opens the song.
import { api, clock, el, page, status } from "./common.js";

const POLL_MS = 3000;
let songs = [];
let timer = null;

function matches(song, words) {
  const hay = [song.title, song.id, song.key || "", ...(song.stems || [])].join(" ").toLowerCase();
  return words.every((word) => hay.includes(word));
}

function facts(song) {
  if (song.error) return el("span", { class: "facts error" }, song.error);
  if (!song.analysed) return el("span", { class: "facts analysing" }, `analysing… · ${clock(song.length_s)}`);
  const bpm = song.bpm ? `${Math.round(song.bpm)} bpm` : "tempo ?";
  return el("span", { class: "facts" }, `${song.key || "key ?"} · ${bpm} · ${clock(song.length_s)}`);
}

function draw() {
  const words = document.getElementById("search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = songs.filter((song) => matches(song, words));
  const list = document.getElementById("songs");
  list.replaceChildren(...shown.map((song) => el("li", {},
    el("button", {
      class: "song", "data-song": song.id, disabled: Boolean(song.error),
      "aria-label": `Open ${song.title}`, onclick: () => open(song),
    },
    el("span", { class: "title" }, song.title),
    facts(song),
    el("span", { class: "stems" }, (song.stems || []).join(" · "))))));
  document.getElementById("count").textContent =
    words.length ? `${shown.length} of ${songs.length} songs` : `${songs.length} song${songs.length === 1 ? "" : "s"}`;
}

async function open(song) {
  status(`opening ${song.title}…`);
  try {
    await api("POST", `/api/songs/${encodeURIComponent(song.id)}/open`);
  } catch {
    return;
  }
  location.href = "/mixer";
}

async function load() {
  clearTimeout(timer);
  try {
    songs = await api("GET", "/api/songs");
  } catch {
    timer = setTimeout(load, POLL_MS);
    return;
  }
  draw();
  if (songs.some((song) => !song.analysed && !song.error)) timer = setTimeout(load, POLL_MS);
}

page("library");
document.getElementById("search").addEventListener("input", draw);
load();
