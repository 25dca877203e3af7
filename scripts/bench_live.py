"""Live playback load: the audio callback's and the render thread's time per block, for 8, 16 and 32 stems.

Each session (stems with an EQ and a compressor, two reverb sends, a master limiter; the main
benchmark's phrases) plays for a few seconds through JACK's dummy backend at blocksize 256, the
way `stemhost play --no-ui` plays it. Reported as fractions of a block's duration: the callback
(the audio thread), median and 99th percentile, and the render thread's work per 512-frame render
block, with the device's xruns and the render underruns. Then a sparse session of 64 such stems
plays for 25 s: each stem sounds in about half of its 5-second sections, digital silence between,
so stems fall silent and come in again while it plays (the silence gate puts their chains to sleep
and wakes them); with its figures, the latency reported at the end and whether the render-ahead
ring grew to ride out stalls. The target: no render underrun. Then the demo song (``demo/silver-sand``,
synthesised when missing) plays with an empty cache while the key goes up a semitone and, once that
plays, the tempo to 0.9: the seconds until each is heard, and the output latency reported. A JACK
server must be running, or ``jackd`` installed (then one is started for the run:
``jackd -d dummy -r 48000 -p 256``).

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BLOCKSIZE = 256
DEMO = Path(__file__).resolve().parent.parent / "demo" / "silver-sand"
CHANGE_TIMEOUT_S = 60.0
SPARSE_STEMS = 64
SPARSE_S = 25.0  # seconds played: five changes of section
SPARSE_SECTION_S = 5.0  # on the phrases' note boundaries (whole seconds), where they are silent


def jack_running() -> bool:
    return shutil.which("jack_lsp") is not None and subprocess.run(["jack_lsp"], capture_output=True).returncode == 0


def start_jack() -> subprocess.Popen | None:
    """A JACK dummy server for the run, if none is running and jackd is installed."""
    if jack_running() or shutil.which("jackd") is None:
        return None
    realtime = (
        "-R" if subprocess.run(["chrt", "-f", "10", "true"], capture_output=True).returncode == 0 else "--no-realtime"
    )
    server = subprocess.Popen(["jackd", realtime, "-d", "dummy", "-r", "48000", "-p", "256"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    subprocess.run(["jack_wait", "-w", "-t", "10"], capture_output=True)
    return server


def play_for(session_path: Path, seconds: float) -> dict:
    from stemhost.live.play import PlayOptions, playing
    from stemhost.session.files import load_session

    session = load_session(session_path)
    with playing(session, session_path, PlayOptions(device="system", blocksize=BLOCKSIZE, duration_s=seconds)) as (
        player,
        _,
    ):
        while not player.ended:
            time.sleep(0.05)
    audio, render = player.callback_stats(BLOCKSIZE), player.render_stats()
    gates = [stem._gate for stem in player.graph.stems if stem._gate is not None]  # a bench may look inside
    return {
        "callback_median": round(audio.median, 4),
        "callback_p99": round(audio.p99, 4),
        "render_median": round(render.median, 4),
        "render_p99": round(render.p99, 4),
        "device_xruns": player.device_xruns,
        "render_underruns": player.render_underruns,
        "program_underruns": player.program_underruns,
        "latency_ms": round(player.latency_ms, 1),
        "start_latency_ms": round(1000 * (player.device_latency_s + player.start_ahead_s), 1),
        "ring_grew": player.ahead_s > player.start_ahead_s,
        "stem_blocks_skipped": round(sum(g.skipped for g in gates) / max(1, render.calls * len(player.graph.stems)), 3),
    }


def write_session(folder: Path, stems: int, frames: int, phrases, write_stem, session_data, sections=None) -> Path:
    """``stems`` stems of the main benchmark's phrases (``sections(i)``: which of a sparse stem's sections sound)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(stems):
        name = f"stem{i + 1:02d}.wav"
        sounding = None if sections is None else sections(i)
        write_stem(folder / name, phrases[i % len(phrases)], frames, sections=sounding, section_s=SPARSE_SECTION_S)
        files.append(name)
    data = session_data(files)
    for k, stem in enumerate(data["stems"]):
        stem["name"], stem["role"] = f"stem{k + 1:02d}", "keys"
    (folder / "session.json").write_text(json.dumps(data))
    return folder / "session.json"


def line(label: str, figures: dict) -> str:
    return (
        f"  {label}: callback median {100 * figures['callback_median']:.2f} %, "
        f"p99 {100 * figures['callback_p99']:.2f} % of a {BLOCKSIZE}-frame block; render thread median "
        f"{100 * figures['render_median']:.1f} %, p99 {100 * figures['render_p99']:.1f} % of a 512-frame block; "
        f"xruns {figures['device_xruns']} (device), {figures['render_underruns']} (render)"
    )


def key_and_tempo_changes(work: Path) -> dict:
    """Seconds from asking for a key change (+1), then a tempo change (0.9), until each plays; and the latency."""
    from stemhost.live.play import PlayOptions, playing
    from stemhost.session.files import load_session

    if not (DEMO / "lead_vocal.wav").exists():
        script = DEMO.parent.parent / "scripts" / "make_demo_song.py"
        subprocess.run([sys.executable, str(script), str(DEMO)], check=True, capture_output=True)
    os.environ["STEMHOST_CACHE_DIR"] = str(work / "live-cache")  # empty: the changes are rendered, not found
    session_path = DEMO / "session.json"
    session = load_session(session_path)
    pitched = sum(1 for stem in session.stems if stem.is_pitched)
    figures = {"pitched_stems": pitched, "stems": len(session.stems)}
    with playing(session, session_path, PlayOptions(device="system", blocksize=BLOCKSIZE)) as (player, _):
        time.sleep(1.5)
        figures["latency_ms"] = round(player.latency_ms, 1)
        for name, change in (("key_s", lambda: player.set_key(1)), ("tempo_s", lambda: player.set_tempo(0.9))):
            began = time.monotonic()
            change()
            while player.preparing and time.monotonic() - began < CHANGE_TIMEOUT_S:
                time.sleep(0.01)
            figures[name] = round(time.monotonic() - began, 2) if not player.preparing else None
        figures["render_underruns"] = player.render_underruns
    return figures


def run(work: Path, phrases, write_stem, session_data, sounding_sections=None, seconds: float = 8.0) -> dict:
    """Print and return the live figures (empty when no JACK server can be had); the sparse session needs
    ``sounding_sections`` (scripts/bench.py's)."""
    server = start_jack()
    if not jack_running():
        print("  skipped: no JACK server and no jackd to start one (apt-get install jackd2)")
        return {}
    results = {}
    try:
        for stems in (8, 16, 32):
            frames = round((seconds + 2) * 48000)
            session = write_session(work / f"live-{stems}", stems, frames, phrases, write_stem, session_data)
            figures = play_for(session, seconds)
            results[stems] = figures
            print(line(f"{stems:>2} stems", figures))
        if sounding_sections is not None:
            frames = round((SPARSE_S + 2) * 48000)
            session = write_session(
                work / f"live-sparse-{SPARSE_STEMS}",
                SPARSE_STEMS,
                frames,
                phrases,
                write_stem,
                session_data,
                lambda i: sounding_sections(i, frames, section_s=SPARSE_SECTION_S),
            )
            figures = {"stems": SPARSE_STEMS, **play_for(session, SPARSE_S)}
            results["sparse"] = figures
            grew = f"grown from {figures['start_latency_ms']} ms" if figures["ring_grew"] else "the ring never grew"
            print(
                line(f"{SPARSE_STEMS} stems, sparse ({SPARSE_SECTION_S:g} s sections, {SPARSE_S:g} s)", figures)
                + f" ({figures['program_underruns']} the program's); latency {figures['latency_ms']} ms ({grew}); "
                f"{100 * figures['stem_blocks_skipped']:.0f} % of the stems' blocks skipped by the silence gate"
            )
        changes = key_and_tempo_changes(work)
        results["changes"] = changes
        print(
            f"  demo song ({changes['pitched_stems']} pitched stems of {changes['stems']}, nothing cached): key +1 "
            f"heard after {changes['key_s']} s, then tempo 0.9 after {changes['tempo_s']} s; output latency "
            f"{changes['latency_ms']} ms; render underruns {changes['render_underruns']}"
        )
    finally:
        if server is not None:
            import sounddevice

            sounddevice._terminate()  # PortAudio aborts the process at exit if its JACK server went first
            server.terminate()
            server.wait(timeout=10)
    return {"live": results}
