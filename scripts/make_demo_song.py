"""Synthesize the demo song "Silver Sand" as six separate stems.

A short, original pop song (A major, 100 BPM, I-V-vi-IV) rendered entirely
with numpy: synthesized drums, a plucky bass, an electric-piano style keys
part, Karplus-Strong guitar arpeggios, a formant-synthesized lead vocal and
backing vocals.  The output is fully deterministic: running the script twice
produces byte-identical WAV files.

Usage::

    python scripts/make_demo_song.py OUT_DIR

writes ``drums.wav``, ``bass.wav``, ``keys.wav``, ``guitar.wav``,
``lead_vocal.wav`` and ``backing_vocals.wav`` (48 kHz, 24-bit PCM) to OUT_DIR.

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 48_000
BPM = 100.0
BEAT = 60.0 / BPM
BAR = 4 * BEAT
SEED = 0x5A11D  # "Silver Sand"
N_BARS = 15
TAIL_SECONDS = 1.6
LENGTH = int(round((N_BARS * BAR + TAIL_SECONDS) * SR))

# Arrangement: intro (bars 0-3), verse (4-7), chorus (8-11), outro (12-14).
INTRO, VERSE, CHORUS, OUTRO = range(4)
SECTION_STARTS = (0, 4, 8, 12)
FILL_BARS = (3, 7, 11, 13)
FINAL_BAR = N_BARS - 1

# Chord name -> (root pitch class, intervals above the root).
CHORDS: dict[str, tuple[int, tuple[int, ...]]] = {
    "A": (9, (0, 4, 7)),
    "E": (4, (0, 4, 7)),
    "F#m": (6, (0, 3, 7)),
    "D": (2, (0, 4, 7)),
}
PROGRESSION = ["A", "E", "F#m", "D"] * 3 + ["D", "E", "A"]
A_MAJOR = (9, 11, 1, 2, 4, 6, 8)  # pitch classes of the A major scale

# Target peak level of each stem before the shared bus-safety gain.
STEM_PEAK_DB = {
    "drums": -3.5,
    "bass": -5.0,
    "keys": -5.5,
    "guitar": -4.0,
    "lead_vocal": -3.0,
    "backing_vocals": -5.0,
}
SUM_CEILING_DB = -1.5  # peak of the sum of all stems
MAX_LIMIT_DB = 4.0  # most gain reduction left to the shared limiter

NOTE_OFFSETS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

# (bar, beat, length in beats, pitch, vowel) of the lead melody.
MELODY = [
    # verse
    (4, 1.0, 0.5, "C#4", "a"),
    (4, 1.5, 0.5, "E4", "o"),
    (4, 2.0, 1.0, "A4", "a"),
    (4, 3.0, 0.5, "G#4", "e"),
    (4, 3.5, 0.5, "F#4", "o"),
    (5, 0.0, 1.5, "E4", "a"),
    (5, 2.0, 0.5, "B3", "e"),
    (5, 2.5, 0.5, "C#4", "o"),
    (5, 3.0, 1.0, "E4", "a"),
    (6, 0.5, 0.5, "C#4", "e"),
    (6, 1.0, 1.0, "F#4", "a"),
    (6, 2.0, 0.5, "E4", "o"),
    (6, 2.5, 0.5, "F#4", "e"),
    (6, 3.0, 1.0, "A4", "a"),
    (7, 0.0, 1.5, "F#4", "o"),
    (7, 1.5, 0.5, "E4", "e"),
    (7, 2.0, 1.5, "D4", "a"),
    # chorus
    (8, 0.0, 1.0, "C#5", "o"),
    (8, 1.0, 0.5, "B4", "a"),
    (8, 1.5, 0.5, "A4", "e"),
    (8, 2.0, 1.5, "A4", "a"),
    (8, 3.5, 0.5, "E4", "o"),
    (9, 0.0, 1.0, "B4", "a"),
    (9, 1.0, 0.5, "A4", "e"),
    (9, 1.5, 0.5, "G#4", "o"),
    (9, 2.0, 1.5, "E4", "a"),
    (10, 0.0, 0.5, "A4", "e"),
    (10, 0.5, 0.5, "C#5", "a"),
    (10, 1.0, 1.5, "E5", "o"),
    (10, 2.5, 0.5, "D5", "e"),
    (10, 3.0, 1.0, "C#5", "a"),
    (11, 0.0, 1.0, "B4", "o"),
    (11, 1.0, 2.5, "A4", "a"),
    # outro
    (12, 1.0, 0.5, "A4", "o"),
    (12, 1.5, 0.5, "B4", "e"),
    (12, 2.0, 2.0, "C#5", "a"),
    (13, 0.0, 1.0, "B4", "o"),
    (13, 1.0, 1.0, "G#4", "e"),
    (13, 2.0, 1.5, "B4", "a"),
    (14, 0.0, 3.0, "A4", "a"),
]

# Formant frequencies and bandwidths (Hz) of the sung vowels (alto voice).
VOWELS: dict[str, tuple[tuple[float, float], ...]] = {
    "a": ((800.0, 80.0), (1150.0, 90.0), (2800.0, 120.0)),
    "o": ((450.0, 70.0), (800.0, 80.0), (2830.0, 100.0)),
    "e": ((400.0, 60.0), (1600.0, 80.0), (2700.0, 120.0)),
    "u": ((325.0, 50.0), (700.0, 60.0), (2530.0, 170.0)),
}


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def note_to_midi(name: str) -> int:
    """Convert a note name such as ``"C#4"`` to a MIDI note number."""
    letter, rest = name[0], name[1:]
    accidental = 0
    while rest and rest[0] in "#b":
        accidental += 1 if rest[0] == "#" else -1
        rest = rest[1:]
    return 12 * (int(rest) + 1) + NOTE_OFFSETS[letter] + accidental


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Equal-tempered frequency of a (possibly fractional) MIDI note."""
    return 440.0 * 2.0 ** ((np.asarray(midi) - 69.0) / 12.0)


def bar_time(bar: int, beat: float = 0.0) -> float:
    """Time in seconds of a beat position within a bar."""
    return bar * BAR + beat * BEAT


def section_of(bar: int) -> int:
    """Section index (INTRO, VERSE, CHORUS, OUTRO) of a bar."""
    return max(i for i, start in enumerate(SECTION_STARTS) if bar >= start)


def chord_pcs(name: str) -> list[int]:
    """Pitch classes of a chord, root first."""
    root, intervals = CHORDS[name]
    return [(root + i) % 12 for i in intervals]


def notes_in_range(pcs: Sequence[int], low: int, high: int) -> list[int]:
    """All MIDI notes in ``[low, high)`` whose pitch class is in ``pcs``."""
    return [m for m in range(low, high) if m % 12 in pcs]


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Cubic 0-to-1 ramp for ``x`` in [0, 1], clamped outside."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def next_pow2(n: int) -> int:
    """Smallest power of two that is >= n."""
    return 1 << max(0, int(n - 1).bit_length())


def add_at(buf: np.ndarray, sig: np.ndarray, start: int) -> None:
    """Mix ``sig`` into ``buf`` starting at sample ``start`` (clipped to fit)."""
    if start >= buf.shape[0]:
        return
    if start < 0:
        sig = sig[-start:]
        start = 0
    n = min(sig.shape[0], buf.shape[0] - start)
    buf[start : start + n] += sig[:n]


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power left/right gains for ``pan`` in [-1 (left), 1 (right)]."""
    angle = (pan + 1.0) * np.pi / 4.0
    return float(np.cos(angle) * np.sqrt(2.0)), float(np.sin(angle) * np.sqrt(2.0))


def lowpass_mag(fc: float, order: int = 2) -> Callable[[np.ndarray], np.ndarray]:
    """Butterworth-shaped low-pass magnitude response."""
    return lambda f: 1.0 / np.sqrt(1.0 + (f / fc) ** (2 * order))


def highpass_mag(fc: float, order: int = 2) -> Callable[[np.ndarray], np.ndarray]:
    """Butterworth-shaped high-pass magnitude response."""
    return lambda f: 1.0 / np.sqrt(1.0 + (fc / np.maximum(f, 1e-3)) ** (2 * order))


def fft_filter(x: np.ndarray, *mags: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Filter ``x`` (last axis) by the product of zero-phase magnitude responses."""
    n = x.shape[-1]
    nfft = next_pow2(n + 4096)
    freqs = np.fft.rfftfreq(nfft, 1.0 / SR)
    gain = np.ones_like(freqs)
    for mag in mags:
        gain = gain * mag(freqs)
    return np.fft.irfft(np.fft.rfft(x, nfft) * gain, nfft)[..., :n]


def reverb_ir(rng: np.random.Generator, t60: float, predelay: float, bright_hz: float) -> np.ndarray:
    """Decaying-noise impulse response of a simple room (unit gain in its passband)."""
    n = int(t60 * SR)
    t = np.arange(n) / SR
    ir = rng.standard_normal(n) * np.exp(-6.91 * t / t60)
    ir /= np.sqrt(np.sum(ir**2))  # flat unit-energy spectrum before darkening
    ir = fft_filter(ir, lowpass_mag(bright_hz, 1), highpass_mag(150.0, 1))
    return np.concatenate([np.zeros(int(predelay * SR)), ir])


def add_reverb(
    x: np.ndarray,
    rng: np.random.Generator,
    wet: float,
    t60: float,
    predelay: float = 0.02,
    bright_hz: float = 5000.0,
) -> np.ndarray:
    """Add a decorrelated noise reverb to a mono (n,) or stereo (n, 2) signal."""
    mono = x if x.ndim == 1 else x.mean(axis=1)
    n = mono.shape[0]
    nfft = next_pow2(n + int((t60 + predelay + 0.01) * SR))
    spec = np.fft.rfft(mono, nfft)
    tails = []
    for ch in range(1 if x.ndim == 1 else x.shape[1]):
        ir = reverb_ir(rng, t60, predelay + 0.004 * ch, bright_hz)
        tails.append(np.fft.irfft(spec * np.fft.rfft(ir, nfft), nfft)[:n])
    wet_sig = tails[0] if x.ndim == 1 else np.stack(tails, axis=1)
    return x + wet * wet_sig


def gate_envelope(n: int, attack: float, gate: float, release: float) -> np.ndarray:
    """Attack ramp, then an exponential release starting at ``gate`` seconds."""
    t = np.arange(n) / SR
    env = smoothstep(t / max(attack, 1e-4))
    after = np.maximum(t - gate, 0.0)
    return env * np.exp(-after / release)


# --------------------------------------------------------------------------
# Drums
# --------------------------------------------------------------------------


def kick_sample(rng: np.random.Generator) -> np.ndarray:
    """Sine-sweep kick drum with a short noise click."""
    n = int(0.5 * SR)
    t = np.arange(n) / SR
    freq = 47.0 + 125.0 * np.exp(-t / 0.03)
    body = np.sin(2 * np.pi * np.cumsum(freq) / SR) * np.exp(-t / 0.2)
    click = fft_filter(rng.standard_normal(n), lowpass_mag(4000.0)) * np.exp(-t / 0.004)
    return np.tanh(1.6 * (body + 0.25 * click)) / np.tanh(1.6)


def snare_sample(rng: np.random.Generator) -> np.ndarray:
    """Snare drum: pitched shell tone plus band-passed noise."""
    n = int(0.35 * SR)
    t = np.arange(n) / SR
    tone = (0.7 * np.sin(2 * np.pi * 185.0 * t) + 0.35 * np.sin(2 * np.pi * 330.0 * t)) * np.exp(-t / 0.06)
    noise = fft_filter(rng.standard_normal(n), highpass_mag(1400.0), lowpass_mag(9000.0))
    noise *= np.exp(-t / 0.11)
    snare = 0.6 * tone + 0.45 * noise
    return snare * smoothstep(t / 0.0008)


def hat_sample(rng: np.random.Generator) -> np.ndarray:
    """Closed hi-hat: high-passed noise with a fast decay."""
    n = int(0.12 * SR)
    t = np.arange(n) / SR
    noise = fft_filter(rng.standard_normal(n), highpass_mag(7500.0, 4), lowpass_mag(15000.0))
    return noise * np.exp(-t / 0.028) * smoothstep(t / 0.0005)


def tom_sample(rng: np.random.Generator, freq: float) -> np.ndarray:
    """Tom: pitch-dropping sine with a little stick noise."""
    n = int(0.45 * SR)
    t = np.arange(n) / SR
    f = freq * (1.0 + 0.5 * np.exp(-t / 0.04))
    body = np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t / 0.22)
    stick = fft_filter(rng.standard_normal(n), highpass_mag(2000.0)) * np.exp(-t / 0.01)
    return np.tanh(1.3 * (body + 0.15 * stick))


def crash_sample(rng: np.random.Generator) -> np.ndarray:
    """Stereo crash cymbal: two independent long high-passed noise decays."""
    n = int(2.2 * SR)
    t = np.arange(n) / SR
    noise = fft_filter(rng.standard_normal((2, n)), highpass_mag(4500.0, 2), lowpass_mag(14000.0))
    env = np.exp(-t / 0.55) * smoothstep(t / 0.002)
    return (noise * env).T


def drum_hits(bar: int) -> list[tuple[float, str, float]]:
    """(beat, instrument, velocity) events of one bar of the groove."""
    section = section_of(bar)
    if bar == FINAL_BAR:
        return [(0.0, "kick", 1.0), (0.0, "snare", 0.8), (0.0, "crash", 1.0)]
    hits: list[tuple[float, str, float]] = []
    kicks = [0.0, 2.0, 2.5] + ([1.5] if section == CHORUS else [])
    hits += [(b, "kick", 1.0 if b in (0.0, 2.0) else 0.8) for b in kicks]
    if bar >= 2:
        hits += [(1.0, "snare", 1.0), (3.0, "snare", 1.0)]
    fill_from = 3.0 if bar in FILL_BARS else 4.0
    hits += [(i / 2, "hat", 1.0 if i % 2 == 0 else 0.6) for i in range(8) if i / 2 < fill_from]
    if bar in SECTION_STARTS[1:]:
        hits.append((0.0, "crash", 0.9))
    if bar in FILL_BARS:
        hits = [h for h in hits if h[0] < 3.0]
        hits += [
            (3.0, "snare", 0.7),
            (3.25, "snare", 0.8),
            (3.5, "tom_hi", 0.9),
            (3.75, "tom_lo", 1.0),
        ]
    return hits


def render_drums(rng: np.random.Generator) -> np.ndarray:
    """Stereo drum stem: groove, fills at section ends, crashes on downbeats."""
    kits = {
        "kick": [kick_sample(rng)],
        "snare": [snare_sample(rng) for _ in range(4)],
        "hat": [hat_sample(rng) for _ in range(6)],
        "tom_hi": [tom_sample(rng, 165.0)],
        "tom_lo": [tom_sample(rng, 110.0)],
        "crash": [crash_sample(rng)],
    }
    pans = {"kick": 0.0, "snare": 0.05, "hat": 0.35, "tom_hi": 0.3, "tom_lo": -0.3, "crash": 0.0}
    levels = {"kick": 1.0, "snare": 0.8, "hat": 0.22, "tom_hi": 0.6, "tom_lo": 0.7, "crash": 0.25}
    out = np.zeros((LENGTH, 2))
    counters = dict.fromkeys(kits, 0)
    for bar in range(N_BARS):
        for beat, name, vel in drum_hits(bar):
            variants = kits[name]
            sample = variants[counters[name] % len(variants)]
            counters[name] += 1
            gain = levels[name] * vel * (1.0 + 0.06 * rng.standard_normal())
            jitter = 0.0 if name == "kick" else 0.002 * rng.standard_normal()
            start = int(round((bar_time(bar, beat) + jitter) * SR))
            if sample.ndim == 2:
                add_at(out, gain * sample, start)
            else:
                left, right = pan_gains(pans[name])
                add_at(out, gain * np.stack([left * sample, right * sample], axis=1), start)
    return add_reverb(out, rng, wet=0.2, t60=0.6, predelay=0.01, bright_hz=6000.0)


# --------------------------------------------------------------------------
# Bass
# --------------------------------------------------------------------------


@functools.cache
def bass_note(freq: float, dur: float, vel: float) -> np.ndarray:
    """Plucky bass: additive saw whose harmonics close like a decaying low-pass."""
    n = int((dur + 0.08) * SR)
    t = np.arange(n) / SR
    k = np.arange(1, int(min(3200.0, 0.45 * SR) / freq) + 1)[:, None]
    cutoff = 260.0 + 1800.0 * vel * np.exp(-t / 0.07)
    harm_gain = (1.0 / k) / np.sqrt(1.0 + (k * freq / cutoff) ** 4)
    wave = np.sum(harm_gain * np.sin(2 * np.pi * freq * k * t), axis=0)
    wave += 0.4 * np.sin(2 * np.pi * freq * t)  # extra fundamental weight
    env = gate_envelope(n, 0.003, dur, 0.03) * (0.3 + 0.7 * np.exp(-t / 0.1)) * np.exp(-t / 2.5)
    out = vel * wave * env
    out.flags.writeable = False  # cached: shared between calls
    return out


def bass_root(chord: str) -> int:
    """MIDI note of the chord root in the bass register (G1 to F#2)."""
    return notes_in_range([CHORDS[chord][0]], 31, 43)[0]


def render_bass() -> np.ndarray:
    """Mono bass stem following the chord roots with an eighth-note pattern."""
    out = np.zeros(LENGTH)
    for bar, chord in enumerate(PROGRESSION):
        root = bass_root(chord)
        if bar == FINAL_BAR:
            pattern = [(0.0, 3.5, 0, 1.0)]
        elif bar < 2:
            pattern = [(0.0, 1.9, 0, 0.9), (2.0, 1.9, 0, 0.8)]
        else:
            pattern = [(0.0, 1.4, 0, 1.0), (1.5, 0.45, 0, 0.7), (2.0, 0.9, 0, 0.9), (3.0, 0.45, 0, 0.7)]
            pattern.append((3.5, 0.45, 12 if section_of(bar) == CHORUS else 7, 0.75))
        for beat, length, offset, vel in pattern:
            note = bass_note(float(midi_to_hz(root + offset)), length * BEAT, vel)
            add_at(out, note, int(round(bar_time(bar, beat) * SR)))
    return out


# --------------------------------------------------------------------------
# Keys (electric piano)
# --------------------------------------------------------------------------


@functools.cache
def ep_note(freq: float, dur: float, vel: float) -> np.ndarray:
    """Additive electric-piano tone: decaying harmonics plus a bell-like tine."""
    n = int((dur + 0.4) * SR)
    t = np.arange(n) / SR
    scale = (261.6 / freq) ** 0.4
    partials = [(1.0, 1.0, 2.4), (2.0, 0.30 * vel, 0.9), (3.0, 0.10 * vel, 0.45), (4.0, 0.05 * vel, 0.3)]
    tone = np.zeros(n)
    for ratio, amp, decay in partials:
        tone += amp * np.sin(2 * np.pi * freq * ratio * t) * np.exp(-t / (decay * scale))
    tone += 0.12 * vel * np.sin(2 * np.pi * freq * 13.9 * t) * np.exp(-t / 0.012)
    out = vel * tone * gate_envelope(n, 0.002, dur, 0.12)
    out.flags.writeable = False  # cached: shared between calls
    return out


def keys_voicing(chord: str) -> list[int]:
    """Close-position right hand (A3..G#4) plus the root an octave below."""
    right = notes_in_range(chord_pcs(chord), 57, 69)
    left = notes_in_range([CHORDS[chord][0]], 45, 57)
    return left + right


def render_keys(rng: np.random.Generator) -> np.ndarray:
    """Stereo keys stem: comped chords with a gentle auto-pan tremolo."""
    mono = np.zeros(LENGTH)
    for bar, chord in enumerate(PROGRESSION):
        notes = keys_voicing(chord)
        hits = [(0.0, 4.0, 1.0)] if bar == FINAL_BAR else [(0.0, 1.5, 1.0), (1.5, 1.0, 0.7), (2.5, 1.5, 0.85)]
        for beat, length, vel in hits:
            for i, midi in enumerate(notes):
                offset = int(0.006 * i * SR)  # slight roll, lowest note first
                gain = 0.6 if i == 0 else 1.0
                tone = ep_note(float(midi_to_hz(midi)), length * BEAT, vel) * gain
                add_at(mono, tone, int(round(bar_time(bar, beat) * SR)) + offset)
    t = np.arange(LENGTH) / SR
    lfo = 0.3 * np.sin(2 * np.pi * 4.2 * t)
    stereo = np.stack([mono * (1.0 + lfo), mono * (1.0 - lfo)], axis=1)
    return add_reverb(stereo, rng, wet=0.3, t60=1.8, predelay=0.025)


# --------------------------------------------------------------------------
# Guitar (Karplus-Strong)
# --------------------------------------------------------------------------


def pluck(freq: float, dur: float, rng: np.random.Generator, t60: float = 3.5) -> np.ndarray:
    """Karplus-Strong plucked string with linear-interpolated fractional delay."""
    n = int(dur * SR)
    period = SR / freq
    delay = int(np.floor(period - 0.5))
    frac = period - 0.5 - delay  # extra delay from the interpolator
    c0, c1, c2 = 0.5 * (1.0 - frac), 0.5, 0.5 * frac  # averager * interpolator
    g = 10.0 ** (-3.0 / (t60 * freq))
    noise = rng.uniform(-1.0, 1.0, delay)
    kernel = np.hanning(17)[1:-1]  # circular smoothing = a soft, warm pick
    excite = np.convolve(np.tile(noise, 3), kernel / kernel.sum(), mode="same")[delay : 2 * delay]
    excite -= excite.mean()
    buf = np.zeros(n + delay + 2)
    buf[2 : delay + 2] = excite
    pos = delay + 2
    while pos < buf.shape[0]:
        m = min(delay, buf.shape[0] - pos)
        a = pos - delay
        buf[pos : pos + m] = g * (c0 * buf[a : a + m] + c1 * buf[a - 1 : a - 1 + m] + c2 * buf[a - 2 : a - 2 + m])
        pos += m
    out = buf[2 : n + 2]
    return out * np.exp(-np.maximum(np.arange(n) / SR - (dur - 0.05), 0.0) / 0.01)


def render_guitar(rng: np.random.Generator) -> np.ndarray:
    """Stereo guitar stem: eighth-note arpeggios, a final strum, a short slap-back."""
    mono = np.zeros(LENGTH)
    pattern = [0, 1, 2, 3, 4, 3, 2, 1]
    for bar, chord in enumerate(PROGRESSION):
        tones = notes_in_range(chord_pcs(chord), 55, 76)[:5]
        if bar == FINAL_BAR:
            for i, midi in enumerate(tones):
                note = pluck(float(midi_to_hz(midi)), 3.5, rng, t60=5.0)
                add_at(mono, 0.8 * note, int(round((bar_time(bar) + 0.025 * i) * SR)))
            continue
        for step, idx in enumerate(pattern):
            vel = 1.0 if step % 2 == 0 else 0.75
            note = pluck(float(midi_to_hz(tones[idx])), 1.5, rng)
            add_at(mono, vel * note, int(round(bar_time(bar, step / 2) * SR)))
    mono = fft_filter(mono, highpass_mag(110.0), lowpass_mag(6000.0, 1))
    delayed = np.concatenate([np.zeros(int(0.014 * SR)), mono])[:LENGTH]
    stereo = np.stack([0.55 * mono + 0.35 * delayed, mono], axis=1)
    return add_reverb(stereo, rng, wet=0.25, t60=1.5, predelay=0.03)


# --------------------------------------------------------------------------
# Voices (formant synthesis)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """One sung note: start and length in seconds, MIDI pitch, vowel."""

    start: float
    dur: float
    midi: float
    vowel: str


@dataclass(frozen=True)
class VoiceStyle:
    """Timbre parameters of a synthetic singer."""

    vib_rate: float = 5.5  # Hz
    vib_cents: float = 20.0  # peak deviation
    breath: float = 0.05  # aspiration noise level
    formant_scale: float = 1.0  # >1 = smaller vocal tract
    onset: float = 0.0  # timing offset in seconds (for double-tracking)


def polyblep_saw(phase: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Band-limited sawtooth from a phase in [0, 1) and per-sample increment."""
    saw = 2.0 * phase - 1.0
    low = phase < dt
    x = phase[low] / dt[low]
    saw[low] -= 2.0 * x - x * x - 1.0
    high = phase > 1.0 - dt
    x = (phase[high] - 1.0) / dt[high]
    saw[high] -= x * x + 2.0 * x + 1.0
    return saw


def formant_response(vowel: str, freqs: np.ndarray, scale: float) -> np.ndarray:
    """Complex response of three cascaded two-pole formant resonators (unit DC gain)."""
    z1 = np.exp(-2j * np.pi * freqs / SR)
    resp = np.ones_like(z1)
    for fc, bw in VOWELS[vowel]:
        r = np.exp(-np.pi * 1.4 * bw / SR)
        c = 2.0 * r * np.cos(2 * np.pi * fc * scale / SR)
        resp *= (1.0 - c + r * r) / (1.0 - c * z1 + r * r * z1 * z1)
    return resp


def presence_gain(freqs: np.ndarray) -> np.ndarray:
    """Fixed brilliance: a "singer's formant" bump near 3 kHz plus a high shelf."""
    return 1.0 + 6.0 * highpass_mag(2200.0, 2)(freqs) + 12.0 * np.exp(-0.5 * ((freqs - 3000.0) / 600.0) ** 2)


def vowel_gain(vowel: str, f0: float, scale: float) -> float:
    """Gain that gives every vowel and pitch the same sawtooth output level."""
    harmonics = np.arange(1, int(0.45 * SR / f0) + 1)
    freqs = harmonics * f0
    resp = np.abs(formant_response(vowel, freqs, scale)) * presence_gain(freqs) / harmonics
    return float(1.0 / np.sqrt(np.sum(resp**2)))


def group_phrases(notes: Sequence[Note], gap: float = 0.02) -> list[list[Note]]:
    """Split notes into phrases of back-to-back notes (rests separate phrases)."""
    phrases: list[list[Note]] = []
    for note in notes:
        if phrases and note.start - (phrases[-1][-1].start + phrases[-1][-1].dur) < gap:
            phrases[-1].append(note)
        else:
            phrases.append([note])
    return phrases


def pitch_contour(
    notes: Sequence[Note], t: np.ndarray, t0: float, style: VoiceStyle, rng: np.random.Generator
) -> np.ndarray:
    """Per-sample MIDI pitch: glides, onset scoop, delayed vibrato, slow drift."""
    midi = np.full(t.shape, float(notes[0].midi))
    vib_depth = np.zeros(t.shape)
    for i, note in enumerate(notes):
        rel = note.start - t0
        if i > 0:
            midi += (note.midi - notes[i - 1].midi) * smoothstep((t - rel + 0.015) / 0.05)
        end = rel + note.dur if i < len(notes) - 1 else t[-1] + 1.0
        grow = smoothstep((t - rel - 0.12) / 0.25) * (style.vib_cents / 100.0)
        vib_depth = np.where((t >= rel) & (t < end), grow, vib_depth)
    scoop = -0.35 * np.exp(-t / 0.05)
    vibrato = vib_depth * np.sin(2 * np.pi * style.vib_rate * t + rng.uniform(0, 2 * np.pi))
    knots = rng.standard_normal(int(t[-1] / 0.1) + 2) * 0.04
    drift = np.interp(t, np.arange(knots.shape[0]) * 0.1, knots)
    return midi + scoop + vibrato + drift


def amplitude_contour(notes: Sequence[Note], t: np.ndarray, t0: float, release: float) -> np.ndarray:
    """Phrase envelope: soft attack, release after the last note, dips between notes."""
    end = notes[-1].start + notes[-1].dur - t0
    env = smoothstep(t / 0.06) * np.where(t < end, 1.0, np.cos(0.5 * np.pi * np.clip((t - end) / release, 0, 1)))
    for prev, note in zip(notes[:-1], notes[1:], strict=True):
        depth = 0.75 if prev.midi == note.midi else 0.45
        env *= 1.0 - depth * np.exp(-0.5 * ((t - (note.start - t0)) / 0.02) ** 2)
    swell = np.ones(t.shape)
    for note in notes:
        rel = t - (note.start - t0)
        swell += np.where((rel >= 0) & (rel < note.dur), 0.12 * np.clip(rel / max(note.dur, 0.3), 0, 1), 0.0)
    return env * swell


def sing_phrase(notes: Sequence[Note], style: VoiceStyle, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """Render one phrase; returns (start sample, mono signal)."""
    release = 0.15
    t0 = notes[0].start + style.onset
    shifted = [Note(n.start + style.onset, n.dur, n.midi, n.vowel) for n in notes]
    n = int((shifted[-1].start + shifted[-1].dur - t0 + release + 0.05) * SR)
    t = np.arange(n) / SR
    f0 = midi_to_hz(pitch_contour(shifted, t, t0, style, rng))
    phase = np.cumsum(f0 / SR) % 1.0
    env = amplitude_contour(shifted, t, t0, release)
    voiced = polyblep_saw(phase, f0 / SR) * env
    breath = rng.standard_normal(n) * env * style.breath
    # Crossfade between per-vowel filterings so the formants glide at note changes.
    xfade = 0.06
    bounds = [note.start - t0 for note in shifted[1:]]
    steps = [np.ones(n)] + [smoothstep((t - b) / xfade + 0.5) for b in bounds] + [np.zeros(n)]
    out = np.zeros(n)
    for i, note in enumerate(shifted):
        weight = steps[i] - steps[i + 1]
        active = np.nonzero(weight > 1e-6)[0]
        lo = max(0, active[0] - int(0.03 * SR))
        hi = active[-1] + 1
        nfft = next_pow2(hi - lo + 4096)
        freqs = np.fft.rfftfreq(nfft, 1.0 / SR)
        level = vowel_gain(note.vowel, float(midi_to_hz(note.midi)), style.formant_scale)
        level *= 10 ** ((note.midi - 67) * 0.25 / 20)  # higher notes sung a little louder
        resp = formant_response(note.vowel, freqs, style.formant_scale) * level
        presence = presence_gain(freqs)
        breath_spec = np.fft.rfft(breath[lo:hi], nfft)
        spec = (np.fft.rfft(voiced[lo:hi], nfft) + breath_spec * highpass_mag(1800.0, 2)(freqs)) * resp * presence
        spec += breath_spec * 0.25 * highpass_mag(5000.0, 2)(freqs)  # unfiltered "air"
        seg = np.fft.irfft(spec, nfft)[: hi - lo]
        out[lo:hi] += seg * weight[lo:hi]
    return int(round(t0 * SR)), out


def render_voice(notes: Sequence[Note], style: VoiceStyle, rng: np.random.Generator) -> np.ndarray:
    """Mono voice track from a list of notes."""
    out = np.zeros(LENGTH)
    for phrase in group_phrases(notes):
        start, sig = sing_phrase(phrase, style, rng)
        add_at(out, sig, start)
    return out


def melody_notes() -> list[Note]:
    """The lead melody as timed notes."""
    return [
        Note(bar_time(bar, beat), length * BEAT, note_to_midi(name), vowel) for bar, beat, length, name, vowel in MELODY
    ]


def harmony_note(midi: int, chord: str, long_note: bool) -> int:
    """Diatonic third below; on long notes prefer a chord tone 3+ semitones below."""
    below = [m for m in range(midi - 1, midi - 6, -1) if m % 12 in A_MAJOR]
    third = below[1]
    pcs = chord_pcs(chord)
    if long_note and third % 12 not in pcs:
        return max(m for m in range(midi - 9, midi - 2) if m % 12 in pcs)
    return third


def backing_notes() -> tuple[list[Note], list[list[Note]]]:
    """Chorus harmony line and the outro "ooh" chord voices."""
    harmony = []
    for bar, beat, length, name, vowel in MELODY:
        if section_of(bar) != CHORUS:
            continue
        midi = harmony_note(note_to_midi(name), PROGRESSION[bar], length >= 1.0)
        harmony.append(Note(bar_time(bar, beat), length * BEAT, midi, vowel))
    oohs: list[list[Note]] = [[], [], []]
    outro_start = SECTION_STARTS[OUTRO]
    for bar in range(outro_start, N_BARS):
        voicing = notes_in_range(chord_pcs(PROGRESSION[bar]), 57, 69)
        length = 3.0 if bar == FINAL_BAR else 4.0
        start = 0.5 if bar == outro_start else 0.0
        for voice, midi in zip(oohs, voicing, strict=True):
            voice.append(Note(bar_time(bar, start), (length - start) * BEAT, midi, "u"))
    return harmony, oohs


def render_lead(rng: np.random.Generator) -> np.ndarray:
    """Mono lead vocal stem with a touch of reverb."""
    dry = render_voice(melody_notes(), VoiceStyle(), rng)
    return add_reverb(dry, rng, wet=0.2, t60=1.6, predelay=0.04)


def render_backing(rng: np.random.Generator) -> np.ndarray:
    """Stereo backing vocals: double-tracked chorus harmony and outro "ooh"s."""
    harmony, oohs = backing_notes()
    take_l = render_voice(harmony, VoiceStyle(vib_rate=5.2, vib_cents=15.0, formant_scale=1.04), rng)
    take_r = render_voice(harmony, VoiceStyle(vib_rate=5.8, vib_cents=15.0, formant_scale=1.02, onset=0.012), rng)
    out = np.stack([take_l + 0.3 * take_r, take_r + 0.3 * take_l], axis=1)
    for i, voice in enumerate(oohs):
        style = VoiceStyle(vib_rate=5.0 + 0.3 * i, vib_cents=12.0, breath=0.08, onset=0.01 * i)
        left, right = pan_gains((-0.6, 0.0, 0.6)[i])
        sig = 0.8 * render_voice(voice, style, rng)
        out += np.stack([left * sig, right * sig], axis=1)
    return add_reverb(out, rng, wet=0.35, t60=2.0, predelay=0.03)


# --------------------------------------------------------------------------
# Mixing and output
# --------------------------------------------------------------------------


def render_stems() -> dict[str, np.ndarray]:
    """Render all stems (unnormalized); each instrument gets its own RNG stream."""
    rngs = [np.random.default_rng([SEED, i]) for i in range(6)]
    return {
        "drums": render_drums(rngs[0]),
        "bass": render_bass(),
        "keys": render_keys(rngs[2]),
        "guitar": render_guitar(rngs[3]),
        "lead_vocal": render_lead(rngs[4]),
        "backing_vocals": render_backing(rngs[5]),
    }


def as_stereo(x: np.ndarray) -> np.ndarray:
    """View a mono (n,) or stereo (n, 2) signal as stereo."""
    return np.stack([x, x], axis=1) if x.ndim == 1 else x


def sliding_min(x: np.ndarray, radius: int) -> np.ndarray:
    """Minimum of ``x`` over a centred window of ``2 * radius + 1`` values."""
    padded = np.pad(x, radius, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1).min(axis=1)


def bus_safety_gain(total: np.ndarray, ceiling: float, release: float = 0.12) -> np.ndarray:
    """Look-ahead limiter gain curve (<= 1) that keeps ``|total * gain| <= ceiling``.

    Works on 64-sample blocks: the required gain is min-filtered, then averaged
    (a smooth ~12 ms attack that never overshoots), given an exponential
    release and interpolated back to samples.
    """
    block, radius = 64, 4
    peak = np.abs(total).max(axis=1) if total.ndim == 2 else np.abs(total)
    n_blocks = -(-peak.shape[0] // block)
    peak = np.pad(peak, (0, n_blocks * block - peak.shape[0])).reshape(n_blocks, block).max(axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    held = sliding_min(need, radius + 1)
    smooth = np.convolve(np.pad(held, radius, mode="edge"), np.ones(2 * radius + 1) / (2 * radius + 1), "valid")
    coef = 1.0 - np.exp(-block / (release * SR))
    gain = smooth.copy()
    for i in range(1, n_blocks):
        gain[i] = min(smooth[i], gain[i - 1] + (1.0 - gain[i - 1]) * coef)
    centres = np.arange(n_blocks) * block + (block - 1) / 2.0
    return np.interp(np.arange(total.shape[0]), centres, gain)


def end_fade(seconds: float = 0.5) -> np.ndarray:
    """Gain curve that is 1 except for a cosine fade over the last ``seconds``."""
    n = int(seconds * SR)
    fade = np.ones(LENGTH)
    fade[-n:] = 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n))
    return fade


def normalize_stems(stems: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scale stems to their target peaks, then apply one shared gain curve.

    A static trim leaves at most MAX_LIMIT_DB of peak reduction to the
    look-ahead limiter.  The same gain curve multiplies every stem, so the
    stems still add up to the limited mix, whose peak stays below
    SUM_CEILING_DB (mono stems are counted at full level in both channels).
    """
    scaled = {name: sig * (10 ** (STEM_PEAK_DB[name] / 20) / np.max(np.abs(sig))) for name, sig in stems.items()}
    total = sum(as_stereo(sig) for sig in scaled.values())
    ceiling = 10 ** (SUM_CEILING_DB / 20)
    trim = min(1.0, ceiling * 10 ** (MAX_LIMIT_DB / 20) / np.max(np.abs(total)))
    gain = trim * bus_safety_gain(trim * total, ceiling) * end_fade()
    return {name: sig * (gain if sig.ndim == 1 else gain[:, None]) for name, sig in scaled.items()}


def write_stems(stems: dict[str, np.ndarray], out_dir: Path) -> None:
    """Write each stem as 48 kHz 24-bit WAV and print its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, sig in stems.items():
        path = out_dir / f"{name}.wav"
        sf.write(path, np.clip(sig, -1.0, 1.0), SR, subtype="PCM_24")
        print(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="directory to write the six WAV stems into")
    args = parser.parse_args(argv)
    write_stems(normalize_stems(render_stems()), args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
