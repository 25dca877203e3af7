// The renders page: choose variants, format and loudness, start a render, watch its progress, download, read the report.
import { api, clock, el, live, page, status } from "./common.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1500;
const jobs = new Map(); // id → {node, job}
let songs = [];

function showSolos() {
  const song = songs.find((s) => s.id === $("song").value);
  $("solo-variants").replaceChildren(...(song ? song.stems : []).map((stem) =>
    el("label", {}, el("input", { type: "checkbox", name: "variant", value: `solo:${stem}` }), ` solo ${stem}`)));
}

async function loadSongs() {
  const [list, state] = await Promise.all([api("GET", "/api/songs"), api("GET", "/api/state").catch(() => null)]);
  songs = list.filter((s) => !s.error);
  const open = state && state.song ? state.song.id : null;
  $("song").replaceChildren(...songs.map((s) => el("option", { value: s.id, selected: s.id === open }, s.title)));
  if (state) { // the bundled mastering presets, as the server lists them
    $("master-preset").replaceChildren(el("option", { value: "" }, "none"),
      ...state.masters.map((name) => el("option", { value: name }, name)));
  }
  showSolos();
}

function request() {
  const variants = [...document.querySelectorAll('input[name="variant"]:checked')].map((box) => box.value);
  const text = $("variants-text").value.trim();
  if (text) variants.push(text); // one item in the CLI's grammar (commas and * as `stemhost export --variants`)
  const number = (id) => ($(id).value.trim() === "" ? null : Number($(id).value));
  return {
    song: $("song").value || undefined,
    variants,
    format: $("format").value,
    loudness: number("loudness"),
    true_peak: number("true-peak"),
    master: $("master-preset").value || null,
    use_mix: $("use-mix").checked,
  };
}

async function start(event) {
  event.preventDefault();
  const body = request();
  if (!body.variants.length) { status("choose at least one variant", "error"); return; }
  $("start").disabled = true;
  try {
    const { id } = await api("POST", "/api/renders", body);
    status(`render ${id} started`, "ok");
    show({ id, song: body.song, state: "queued", progress: 0, files: [], error: null, report_url: null });
    poll(id);
  } catch { /* shown */ } finally {
    $("start").disabled = false;
  }
}

function card(id) {
  const node = el("article", { class: "job", "data-job": id, "aria-label": `Render ${id}` },
    el("div", { class: "row" }, el("strong", {}, `Render ${id}`), el("span", { class: "song muted" }),
      el("span", { class: "state" }), el("span", { class: "percent muted" })),
    el("progress", { class: "progress", max: "1", value: "0", "aria-label": `Render ${id} progress` }),
    el("p", { class: "error state-failed", hidden: true }),
    el("ul", { class: "files", "aria-label": "Files" }),
    el("div", { class: "report" }));
  $("jobs").prepend(node);
  return node;
}

/** Draw a job as GET /api/renders/{id} or a WS render message gives it. */
function show(job) {
  const entry = jobs.get(job.id) || { node: card(job.id) };
  entry.job = job;
  jobs.set(job.id, entry);
  const node = entry.node;
  const song = songs.find((s) => s.id === job.song);
  node.querySelector(".song").textContent = song ? song.title : job.song || "";
  node.querySelector(".state").textContent = job.state;
  node.querySelector(".state").className = `state state-${job.state}`;
  node.querySelector(".progress").value = job.state === "done" ? 1 : job.progress || 0;
  node.querySelector(".percent").textContent = `${Math.round((job.state === "done" ? 1 : job.progress || 0) * 100)} %`;
  const error = node.querySelector(".error");
  error.hidden = !job.error;
  error.textContent = job.error || "";
  const files = job.files || [];
  const list = node.querySelector(".files");
  if (list.children.length !== files.length) {
    list.replaceChildren(...files.map((file) => {
      const facts = [file.variant, file.loudness_lufs != null ? `${file.loudness_lufs.toFixed(1)} LUFS` : null,
        file.duration_s != null ? clock(file.duration_s) : null].filter(Boolean).join(" · ");
      return el("li", {}, el("a", { href: file.url, download: file.name, "data-file": file.name }, file.name),
        el("span", { class: "muted" }, ` ${facts}`));
    }));
  }
  const report = node.querySelector(".report");
  if (job.state === "done" && job.report_url && !report.firstChild) {
    report.append(el("iframe", { src: job.report_url, title: `Mix report of render ${job.id}`, loading: "lazy" }));
  }
}

/** The fallback when the WebSocket is away: ask for the job until it has finished. */
async function poll(id) {
  const entry = jobs.get(id);
  if (entry && (entry.job.state === "done" || entry.job.state === "failed")) return;
  try {
    show(await api("GET", `/api/renders/${encodeURIComponent(id)}`));
  } catch { /* shown */ }
  const now = jobs.get(id);
  if (now && now.job.state !== "done" && now.job.state !== "failed") setTimeout(() => poll(id), POLL_MS);
}

page("renders");
$("render-form").addEventListener("submit", start);
$("song").addEventListener("change", showSolos);
live({
  render: (message) => show(message.job),
});
loadSongs().catch(() => {});
api("GET", "/api/renders").then((list) => {
  for (const job of list || []) { show(job); poll(job.id); }
}).catch(() => {});
