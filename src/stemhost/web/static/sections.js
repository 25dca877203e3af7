// The section bar of the mixer and the show pages: a button per section (the one playing pressed, the one looping
// outlined), previous/next section and "Loop section". A jump lands on the next downbeat (at once without a grid).
import { clock, el } from "./common.js";

const $ = (id) => document.getElementById(id);

export class Sections {
  /** change(method, path, body) sends a change and applies the state it answers. */
  constructor(change) {
    this.change = change;
    this.names = "";
    this.looping = null;
    const section = (body) => change("POST", "/api/sections", body);
    $("section-prev").onclick = () => section({ action: "jump", to: "previous" });
    $("section-next").onclick = () => section({ action: "jump", to: "next" });
    $("section-loop").onclick = () => section({ action: this.looping ? "release" : "loop" });
  }

  /** Draw the bar from a state (its sections, section and section_loop); hidden when the song has none. */
  draw(t) {
    const list = (t.song && t.sections) || [];
    this.looping = t.section_loop;
    $("sections-bar").hidden = !list.length;
    const names = JSON.stringify(list.map((s) => s.name));
    if (names !== this.names) {
      this.names = names;
      $("sections").replaceChildren(...list.map((s) =>
        el("button", { "data-section": s.name, title: `from ${clock(s.start_s)}`,
          onclick: () => this.change("POST", "/api/sections", { action: "jump", name: s.name }) }, s.name)));
    }
    for (const button of $("sections").children) {
      button.setAttribute("aria-pressed", String(button.dataset.section === t.section));
      button.classList.toggle("looping", button.dataset.section === t.section_loop);
    }
    $("section-loop").setAttribute("aria-pressed", String(Boolean(t.section_loop)));
    $("section-loop").textContent = t.section_loop ? `Release ${t.section_loop}` : "Loop section";
  }
}
