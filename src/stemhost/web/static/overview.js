// The song's waveform overview on a canvas, with the play position and the loop drawn over it; click or drag to seek.

export class Overview {
  /** canvas: the <canvas>; seek(position_s) asks the server to move there. */
  constructor(canvas, seek) {
    this.canvas = canvas;
    this.seekTo = seek;
    this.peaks = [];
    this.length = 0;
    this.position = 0;
    this.loop = null;
    this.dragging = null; // the position under the finger while dragging
    new ResizeObserver(() => this.draw()).observe(canvas);
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => { if (this.dragging !== null) this.move(e); });
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", () => { this.dragging = null; this.draw(); });
    canvas.addEventListener("keydown", (e) => this.key(e));
  }

  setPeaks(peaks, length) {
    this.peaks = peaks || [];
    this.length = length || 0;
    this.canvas.setAttribute("aria-valuemax", String(Math.round(this.length)));
    this.draw();
  }

  update(position, loop) {
    this.position = position || 0;
    if (loop !== undefined) this.loop = loop;
    this.canvas.setAttribute("aria-valuenow", String(Math.round(this.position)));
    this.draw();
  }

  at(event) {
    const box = this.canvas.getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX - box.left, 0), box.width);
    return box.width ? (x / box.width) * this.length : 0;
  }

  down(event) {
    if (!this.length) return;
    this.canvas.setPointerCapture(event.pointerId);
    this.dragging = this.at(event);
    this.draw();
  }

  move(event) {
    this.dragging = this.at(event);
    this.draw();
  }

  up(event) {
    if (this.dragging === null) return;
    const target = this.at(event);
    this.dragging = null;
    this.position = target;
    this.draw();
    this.seekTo(target);
  }

  key(event) {
    const step = { ArrowLeft: -5, ArrowRight: 5, PageDown: -30, PageUp: 30 }[event.key];
    if (event.key === "Home") this.seekTo(0);
    else if (step !== undefined) this.seekTo(Math.min(Math.max(this.position + step, 0), this.length));
    else return;
    event.preventDefault();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(canvas.clientWidth * ratio), height = Math.round(canvas.clientHeight * ratio);
    if (!width || !height) return;
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, width, height);
    const x = (s) => (this.length ? (s / this.length) * width : 0);
    if (this.loop) {
      g.fillStyle = this.loop.on ? "rgba(255,176,32,0.22)" : "rgba(255,255,255,0.08)";
      g.fillRect(x(this.loop.start_s), 0, x(this.loop.end_s) - x(this.loop.start_s), height);
    }
    const played = x(this.dragging ?? this.position);
    const n = this.peaks.length;
    for (let px = 0; px < width; px += 2 * ratio) {
      const peak = n ? this.peaks[Math.min(n - 1, Math.floor((px / width) * n))] : 0;
      const h = Math.max(1, peak * (height - 4));
      g.fillStyle = px < played ? "#4fb3ff" : "#56606c";
      g.fillRect(px, (height - h) / 2, Math.max(1, ratio), h);
    }
    g.fillStyle = "#ffffff";
    g.fillRect(Math.min(played, width - 2 * ratio), 0, 2 * ratio, height);
  }
}
