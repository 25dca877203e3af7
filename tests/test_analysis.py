"""Session analysis: key, tempo, lead-vocal range and per-stem figures, against synthesized truth."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from stemhost.analysis import (
    ANALYSIS_RATE,
    analyze_session,
    detect_key,
    estimate_tempo,
    estimate_tempo_octave,
    vocal_range,
)
from stemhost.analysis.audio import active_seconds, measure_stem, stem_figures, to_mono
from stemhost.analysis.text import analysis_lines
from stemhost.analysis.vocal import segment_notes
from stemhost.engine.sources import read_stem
from stemhost.errors import AudioFileError
from stemhost.session.files import load_session
from stemhost.session.model import Session
from stemhost.session.notes import key_name

from conftest import write_audio, write_session

SR = ANALYSIS_RATE
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = {  # scale degrees from 0, the mode they are in
    "I-IV-V-I": ("major", (0, 3, 4, 0)),
    "I-V-vi-IV": ("major", (0, 4, 5, 3)),
    "i-iv-V-i": ("minor", (0, 3, 4, 0)),
    "i-VI-VII-i": ("minor", (0, 5, 6, 0)),
}


# --------------------------------------------------------------------------- generators


def hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def pluck(midi: float, seconds: float, sr: int = SR, harmonics: int = 8, decay_s: float = 0.8) -> np.ndarray:
    """An additive-synth note: harmonics at 1/k, 10 ms attack, exponential decay."""
    t = np.arange(round(seconds * sr)) / sr
    out = np.zeros_like(t)
    for k in range(1, harmonics + 1):
        if k * hz(midi) < sr / 2:
            out += np.sin(2 * np.pi * k * hz(midi) * t) / k
    return out * np.minimum(t / 0.01, 1.0) * np.exp(-t / decay_s) * np.minimum((seconds - t) / 0.02, 1.0)


def triad(tonic: int, mode: str, degree: int) -> list[int]:
    """Pitch classes (from tonic) of the triad on a scale degree; V of minor is major (harmonic minor)."""
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    notes = [scale[(degree + k) % 7] for k in (0, 2, 4)]
    if mode == "minor" and degree == 4:
        notes[1] += 1
    return [(tonic + n) % 12 for n in notes]


def progression(
    tonic: int, mode: str, degrees: tuple[int, ...], chord_s: float = 0.75, repeats: int = 2, cents: float = 0.0
) -> np.ndarray:
    """Triads around middle C over their root in the bass (C2-B2), ``repeats`` times, as mono float32,
    tuned ``cents`` away from A = 440 Hz."""
    chords = []
    detune = cents / 100.0
    for degree in list(degrees) * repeats:
        notes = triad(tonic, mode, degree)
        chord = sum(pluck(60 + pc + detune, chord_s) for pc in notes)
        chord = chord + 1.2 * pluck(36 + notes[0] + detune, chord_s, decay_s=1.5)
        chords.append(chord)
    y = np.concatenate(chords)
    return (0.2 * y / np.max(np.abs(y))).astype(np.float32)


def drum_hit(kind: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(round(0.25 * sr)) / sr
    if kind == "kick":  # a sine sweeping 150 → 50 Hz
        return np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / sr) * np.exp(-t / 0.15)
    if kind == "snare":
        return (0.6 * rng.standard_normal(t.size) + 0.5 * np.sin(2 * np.pi * 185 * t)) * np.exp(-t / 0.08)
    return 0.25 * np.diff(rng.standard_normal(t.size), prepend=0.0) * np.exp(-t / 0.025)  # hi-hat


def drums(bpm: float, style: str = "rock", seconds: float = 12.0, sr: int = SR, seed: int = 3) -> np.ndarray:
    """A drum loop as mono float32.

    rock: kick on 1 and 3 and the 'and' of 3, snare on 2 and 4, hi-hat eighths.
    four: kick on every beat, snare on 2 and 4, hi-hat sixteenths.
    punk: kick on 1 and 3, snare on 2 and 4, hi-hat eighths (a fast song's beat: no extra kick).
    six_eight: the beat is a dotted quarter: kick on 1, snare on 4, hi-hat on every eighth (three a beat).
    """
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    y = np.zeros(round((seconds + 1) * sr))
    for b in range(int(seconds / beat)):
        if style in ("rock", "punk"):
            hits = [(0.0, "kick" if b % 2 == 0 else "snare"), (0.0, "hat"), (0.5, "hat")]
            hits += [(0.5, "kick")] if b % 4 == 2 and style == "rock" else []
        elif style == "six_eight":
            hits = [(0.0, "snare" if b % 2 else "kick")] + [(k / 3, "hat") for k in range(3)]
        else:
            hits = [(0.0, "kick")] + [(k / 4, "hat") for k in range(4)] + ([(0.0, "snare")] if b % 2 else [])
        for offset, kind in hits:
            hit = drum_hit(kind, sr, rng)
            i = round((b + offset) * beat * sr)
            y[i : i + hit.size] += hit
    y = y[: round(seconds * sr)]
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


FORMANTS = ((700.0, 130.0, 1.0), (1220.0, 70.0, 0.5), (2600.0, 160.0, 0.25))  # (Hz, bandwidth Hz, gain): /a/


def voice(notes: list[tuple[float | None, float]], sr: int = SR, weak_fundamental: tuple[int, ...] = ()) -> np.ndarray:
    """A sung line: [(MIDI or None for a rest, seconds)] as a formant-filtered sawtooth with 5.5 Hz vibrato
    of ±30 cents and 30 ms fades; notes listed in ``weak_fundamental`` have their fundamental at -34 dB."""
    rng = np.random.default_rng(7)
    out = []
    for i, (midi, seconds) in enumerate(notes):
        n = round(seconds * sr)
        if midi is None:
            out.append(np.zeros(n))
            continue
        t = np.arange(n) / sr
        cents = 30.0 * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 2 * np.pi))
        phase = 2 * np.pi * np.cumsum(hz(midi) * 2.0 ** (cents / 1200.0)) / sr
        y = np.zeros(n)
        for k in range(1, int(sr / 2 / hz(midi))):
            gain = sum(a / (1 + ((k * hz(midi) - fc) / bw) ** 2) for fc, bw, a in FORMANTS) + 0.05
            y += (gain * (0.02 if k == 1 and i in weak_fundamental else 1.0)) * np.sin(k * phase) / k
        out.append(y * np.minimum(np.minimum(t / 0.03, 1.0), np.minimum((seconds - t) / 0.03, 1.0)))
    y = np.concatenate(out)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


# A melody from D3 (50) to G4 (67) with traps: a 60 ms jump of an octave inside a held A3 (an octave
# error), an 80 ms blip at E5 (76) between rests, and an E4 whose fundamental is 34 dB down.
MELODY = [
    (57, 0.5), (60, 0.4), (62, 0.6), (64, 0.8), (62, 0.3), (60, 0.5), (None, 0.3), (55, 0.6), (57, 0.4),
    (69, 0.06), (57, 0.4), (None, 0.2), (50, 0.7), (52, 0.5), (None, 0.1), (76, 0.08), (None, 0.3),
    (59, 0.5), (64, 0.6), (67, 0.5), (64, 0.4), (62, 0.6), (60, 0.8),
]  # fmt: skip
WEAK_FUNDAMENTAL = (3,)  # the first E4


# --------------------------------------------------------------------------- key


@pytest.mark.parametrize("tonic", range(12))
@pytest.mark.parametrize("name", PROGRESSIONS)
def test_key_of_a_chord_progression(name, tonic):
    mode, degrees = PROGRESSIONS[name]
    key = detect_key(progression(tonic, mode, degrees), SR)
    assert key is not None
    assert key.name == key_name(tonic, mode), f"{name} in {key_name(tonic, mode)} read as {key.name}"
    assert (key.tonic, key.mode) == (tonic, mode)
    assert 0.5 < key.confidence <= 1.0
    assert key.runner_up != key.name


@pytest.mark.parametrize(("tonic", "mode"), [(2, "major"), (9, "minor")])
def test_key_survives_a_flat_tuning(tonic, mode):
    cents = -40.0  # A = 430 Hz
    key = detect_key(
        progression(tonic, mode, PROGRESSIONS["I-IV-V-I" if mode == "major" else "i-iv-V-i"][1], cents=cents), SR
    )
    assert key is not None and (key.tonic, key.mode) == (tonic, mode)
    assert key.tuning_cents == pytest.approx(cents, abs=10.0)


def test_key_of_silence_is_none():
    assert detect_key(np.zeros(SR * 3, np.float32), SR) is None


# --------------------------------------------------------------------------- tempo


@pytest.mark.parametrize("style", ["rock", "four"])
@pytest.mark.parametrize("bpm", [84, 100, 128, 150])
def test_tempo_of_a_drum_loop_within_two_percent(bpm, style):
    tempo = estimate_tempo(drums(bpm, style), SR)
    assert tempo is not None
    assert abs(tempo / bpm - 1) < 0.02, f"{style} at {bpm} BPM read as {tempo:.2f}"


@pytest.mark.parametrize("bpm", [72, 176])
def test_tempo_prefers_the_beat_between_70_and_180(bpm):
    tempo = estimate_tempo(drums(bpm, "rock"), SR)
    assert tempo == pytest.approx(bpm, rel=0.02)


@pytest.mark.parametrize("bpm", [185, 250])
def test_fast_songs_are_reported_at_their_tempo_with_the_half_as_alternative(bpm):
    groove = drums(bpm, "punk")
    assert estimate_tempo(groove, SR) == pytest.approx(bpm, rel=0.02)  # not folded to bpm / 2
    found = estimate_tempo_octave(groove, SR)
    assert found is not None
    assert found.bpm == pytest.approx(bpm, rel=0.02)
    assert found.alternative_bpm == pytest.approx(bpm / 2, rel=0.02)
    assert bpm / 60 < found.onsets_per_s <= 2 * bpm / 60 * 1.05  # more than one a beat, at most the eighths
    assert found.double_evenness >= 0.42


@pytest.mark.parametrize("bpm", [66, 84])
def test_six_eight_is_reported_in_dotted_quarters_not_in_folded_eighths(bpm):
    found = estimate_tempo_octave(drums(bpm, "six_eight"), SR)
    assert found is not None
    assert found.bpm == pytest.approx(bpm, rel=0.02)  # eighths at 3 x bpm once folded to 1.5 x bpm
    assert found.alternative_bpm == pytest.approx(1.5 * bpm, rel=0.02)


@pytest.mark.parametrize(("bpm", "alternative"), [(100, 50), (128, 64)])
def test_moderate_rock_keeps_its_tempo_and_offers_an_octave(bpm, alternative):
    found = estimate_tempo_octave(drums(bpm, "rock"), SR)
    assert found is not None
    assert found.bpm == pytest.approx(bpm, rel=0.02)
    assert found.alternative_bpm in (pytest.approx(alternative, rel=0.02), pytest.approx(2 * bpm, rel=0.02))
    assert found.double_evenness < 0.42  # hi-hat eighths between kick and snare: not a faster beat


def test_tempo_of_silence_noise_and_a_steady_tone_is_none():
    rng = np.random.default_rng(0)
    t = np.arange(SR * 6) / SR
    assert estimate_tempo(np.zeros(SR * 6, np.float32), SR) is None
    assert estimate_tempo((0.1 * rng.standard_normal(SR * 6)).astype(np.float32), SR) is None
    assert estimate_tempo((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR) is None
    assert estimate_tempo(drums(100)[:SR], SR) is None  # shorter than 2 s


# --------------------------------------------------------------------------- vocal range


def test_vocal_range_ignores_blips_and_octave_errors():
    sung = vocal_range(voice(MELODY, weak_fundamental=WEAK_FUNDAMENTAL), SR)
    assert sung is not None
    assert abs(sung.low_midi - 50) < 1.0, sung.low_note
    assert abs(sung.high_midi - 67) < 1.0, sung.high_note  # not the E5 blip (76) nor the A4 jump (69)
    assert (sung.low_note, sung.high_note) == ("D3", "G4")
    assert sung.low_midi <= sung.tessitura_low_midi <= sung.tessitura_high_midi <= sung.high_midi
    assert sung.tessitura_low_midi > sung.low_midi and sung.tessitura_high_midi < sung.high_midi
    assert set(sung.histogram) == {n for n, s in MELODY if n is not None and s >= 0.15}
    assert sung.histogram[64] == pytest.approx(0.8 + 0.6 + 0.4, abs=0.25)  # the weak-fundamental E4 counts
    assert sung.histogram[57] == pytest.approx(0.5 + 0.4 + 0.06 + 0.4, abs=0.25)  # the octave jump stays A3
    truth = sum(s for n, s in MELODY if n is not None and s >= 0.15)
    assert sung.sung_s == pytest.approx(truth, rel=0.15)


def test_vocal_range_to_dict_is_json_ready():
    sung = vocal_range(voice([(57, 0.6), (62, 0.6)]), SR)
    data = json.loads(json.dumps(sung.to_dict(), allow_nan=False))
    assert data["low_note"] == "A3" and data["high_note"] == "D4"
    assert [row["note"] for row in data["histogram"]] == ["A3", "D4"]


def test_segment_notes_repairs_octave_jumps_and_drops_blips():
    hop = 0.01
    track = np.concatenate(
        [
            np.full(20, 57.0),
            np.full(10, 69.0),  # 100 ms an octave up inside the held A3
            np.full(20, 57.1),
            np.full(10, np.nan),
            np.full(10, 80.0),  # a 100 ms note on its own: a blip
            np.full(10, np.nan),
            np.full(30, 62.0) + 0.3 * np.sin(np.arange(30)),  # a wobbly D4
        ]
    )
    notes = segment_notes(track, hop, offset_s=1.0)
    assert [round(n.midi) for n in notes] == [57, 62]
    assert notes[0].start_s == pytest.approx(1.0)
    assert notes[0].duration_s == pytest.approx(0.5)
    assert notes[1].start_s == pytest.approx(1.8)
    assert notes[1].duration_s == pytest.approx(0.3)


def test_vocal_range_of_silence_and_noise_is_none():
    rng = np.random.default_rng(2)
    assert vocal_range(np.zeros(SR * 2, np.float32), SR) is None
    assert vocal_range((0.1 * rng.standard_normal(SR * 2)).astype(np.float32), SR) is None


# --------------------------------------------------------------------------- per-stem figures


def test_stem_figures_match_numpy_and_pyloudnorm():
    rate = 48000
    t = np.arange(3 * rate) / rate
    audio = np.array([0.1 * np.sin(2 * np.pi * 1000 * t), 0.05 * np.sin(2 * np.pi * 500 * t)], dtype=np.float32)
    audio[:, 2 * rate :] = 0.0  # the last second silent
    figures = stem_figures("keys", "keys", audio, rate)
    assert figures.peak_dbfs == pytest.approx(20 * math.log10(np.max(np.abs(audio))), abs=0.01)
    assert figures.peak_dbfs == pytest.approx(-20.0, abs=0.01)
    expected = pyloudnorm.Meter(rate).integrated_loudness(audio.T.astype(np.float64))
    assert figures.loudness_lufs == pytest.approx(expected, abs=0.1)
    assert figures.active_s == pytest.approx(2.0)
    assert figures.duration_s == pytest.approx(3.0)


def test_active_time_counts_windows_above_minus_50_dbfs():
    rate = 44100
    rng = np.random.default_rng(4)
    loud = 0.1 * rng.standard_normal(round(1.0 * rate))  # -20 dBFS RMS
    quiet = 10 ** (-60 / 20) * rng.standard_normal(round(1.0 * rate))  # -60 dBFS RMS: not active
    edge = 10 ** (-45 / 20) * rng.standard_normal(round(0.5 * rate))  # -45 dBFS RMS: active
    tail = 0.1 * rng.standard_normal(round(0.05 * rate))  # half a window at the end
    mono = np.concatenate([loud, quiet, edge, np.zeros(rate), tail]).astype(np.float32)
    assert active_seconds(mono[None, :], rate) == pytest.approx(1.55, abs=1e-6)
    windows = mono[: 25 * 4410].reshape(25, 4410)
    rms_db = 10 * np.log10(np.mean(windows.astype(np.float64) ** 2, axis=1))
    assert np.sum(rms_db > -50) * 0.1 == pytest.approx(1.5)


def test_silent_stem_figures_read_minus_infinity_and_none_in_json():
    figures = stem_figures("fx", "fx", np.zeros((1, 48000), np.float32), 48000)
    assert figures.peak_dbfs == -math.inf and figures.loudness_lufs == -math.inf and figures.active_s == 0.0
    assert figures.to_dict()["peak_dbfs"] is None and figures.to_dict()["loudness_lufs"] is None


def test_measure_stem_streams_the_same_figures_and_mono_audio(tmp_path):
    rate = 8000  # 10 s blocks of 800-frame windows: 25 s spans three blocks
    rng = np.random.default_rng(5)
    left = 0.1 * rng.standard_normal(25 * rate)
    left[round(3.0 * rate) : round(14.5 * rate)] = 0.0  # 11.5 s silent, across the first block boundary
    audio = np.stack([left, 0.5 * left]).astype(np.float32)
    path = write_audio(tmp_path / "gtr.wav", audio, rate)
    figures, mono = measure_stem(path, "session.json: stems[0].file", "gtr", "guitar")
    whole = stem_figures("gtr", "guitar", *read_stem(path, "session.json: stems[0].file"))
    assert figures == whole
    assert figures.active_s == pytest.approx(25.0 - 11.5)
    assert figures.duration_s == pytest.approx(25.0)
    reference = to_mono(audio, rate)
    assert abs(mono.size - reference.size) <= 1
    n = min(mono.size, reference.size)
    np.testing.assert_allclose(mono[:n], reference[:n], atol=2e-3)


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".mp3", ".aiff"])
def test_measure_stem_reads_every_supported_format(tmp_path, ext):
    rate = 44100
    t = np.arange(3 * rate) / rate
    audio = np.array([0.25 * np.sin(2 * np.pi * 440 * t)] * 2, dtype=np.float32)
    path = write_audio(tmp_path / f"keys{ext}", audio, rate, subtype=None if ext != ".wav" else "FLOAT")
    figures, mono = measure_stem(path, "session.json: stems[0].file", "keys", "keys")
    assert figures.duration_s == pytest.approx(3.0, abs=0.03)
    assert figures.peak_dbfs == pytest.approx(20 * math.log10(0.25), abs=0.5)
    decoded, decoded_rate = read_stem(path, "session.json: stems[0].file")
    expected = pyloudnorm.Meter(decoded_rate).integrated_loudness(decoded.T.astype(np.float64))
    assert figures.loudness_lufs == pytest.approx(expected, abs=0.1)
    assert figures.loudness_lufs == pytest.approx(-12.7, abs=0.5)  # two channels of a -15 dBFS RMS sine, -0.691
    assert mono.size == pytest.approx(3 * SR, abs=0.03 * SR)


def test_measure_stem_reports_the_time_of_a_nan(tmp_path):
    audio = np.zeros((1, 48000), np.float32)
    audio[0, 36000] = np.nan
    path = write_audio(tmp_path / "bad.wav", audio, 48000)
    with pytest.raises(AudioFileError, match=r"stems\[0\].file: .*bad.wav' holds a NaN sample at 0:00.750"):
        measure_stem(path, "session.json: stems[0].file", "bad", "other")


# --------------------------------------------------------------------------- whole sessions


def _melody_in_e_minor() -> np.ndarray:
    line = [(64, 0.6), (67, 0.5), (71, 0.7), (69, 0.5), (None, 0.3), (66, 0.5), (64, 0.6), (62, 0.4), (59, 0.8)]
    return voice(line)


def _resampled(y: np.ndarray, rate: int) -> np.ndarray:
    import soxr

    return soxr.resample(y, SR, rate).astype(np.float32)


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """A session in E minor at 100 BPM: keys (44.1 kHz stereo), bass (48 kHz mono), drums, a lead vocal,
    and a loud 'fx' riser stem playing a Bb major chord that must not sway the key."""
    folder = tmp_path_factory.mktemp("song")
    harmony = progression(4, "minor", (0, 3, 4, 0), chord_s=1.5, repeats=2)  # 12 s
    write_audio(folder / "keys.wav", np.stack([harmony, 0.8 * harmony]), SR)
    write_audio(folder / "bass.wav", _resampled(0.5 * harmony, 48000)[None, :], 48000)
    write_audio(folder / "drums.wav", _resampled(drums(100, "rock", seconds=12.0), 44100)[None, :], 44100)
    write_audio(folder / "vox.wav", _resampled(_melody_in_e_minor(), 48000)[None, :], 48000)
    bb_major = sum(pluck(m, 12.0, decay_s=100.0) for m in (58, 62, 65))
    write_audio(folder / "riser.wav", (0.5 * bb_major / np.max(np.abs(bb_major)))[None, :].astype(np.float32), SR)
    stems = [
        {"name": "keys", "file": "keys.wav", "role": "keys"},
        {"name": "bass", "file": "bass.wav", "role": "bass", "mute": True},
        {"name": "drums", "file": "drums.wav", "role": "drums"},
        {"name": "vox", "file": "vox.wav", "role": "lead_vocal", "gain_db": -120},
        {"name": "riser", "file": "riser.wav", "role": "fx"},
    ]
    return write_session(folder, {"stems": stems})


def test_analyze_session_finds_key_tempo_range_and_levels(song):
    result = analyze_session(load_session(song), song)
    assert result.key is not None and result.key.name == "E minor"
    assert result.key_stems == ("keys", "bass", "vox")  # not the drums nor the fx stem
    assert result.tempo_bpm == pytest.approx(100, rel=0.02)
    assert result.tempo_stems == ("drums",)
    assert result.lead_vocal_stems == ("vox",)
    assert result.lead_vocal is not None  # a muted or faded-down lead vocal is still measured
    assert (result.lead_vocal.low_note, result.lead_vocal.high_note) == ("B3", "B4")
    assert [s.name for s in result.stems] == ["keys", "bass", "drums", "vox", "riser"]
    assert result.duration_s == pytest.approx(12.0, abs=0.01)
    keys = result.stems[0]
    assert keys.peak_dbfs == pytest.approx(20 * math.log10(0.2), abs=0.01)
    assert keys.active_s == pytest.approx(12.0, abs=0.2)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["key"]["name"] == "E minor" and data["key"]["tonic"] == 4 and data["key"]["mode"] == "minor"
    assert data["lead_vocal"]["low_midi"] == pytest.approx(59, abs=0.5)
    assert [s["name"] for s in data["stems"]] == ["keys", "bass", "drums", "vox", "riser"]


def test_tempo_comes_from_the_whole_mix_without_drums(tmp_path):
    write_audio(tmp_path / "gtr.wav", drums(128, "four")[None, :], SR)  # a percussive guitar part
    write_audio(tmp_path / "pad.wav", progression(0, "major", (0, 3, 4, 0), chord_s=1.5)[None, :], SR)
    path = write_session(
        tmp_path, {"stems": [{"name": "gtr", "file": "gtr.wav", "role": "guitar"}, {"name": "pad", "file": "pad.wav"}]}
    )
    result = analyze_session(load_session(path), path)
    assert result.tempo_stems == ("gtr", "pad")
    assert result.tempo_bpm == pytest.approx(128, rel=0.02)
    assert result.lead_vocal is None and result.lead_vocal_stems == ()


def test_tempo_falls_back_to_the_whole_mix_when_the_drums_have_no_beat(tmp_path):
    count_in = np.zeros(SR * 12, np.float32)
    count_in[: SR // 10] = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(SR // 10) / SR)  # one click, then silence
    write_audio(tmp_path / "kit.wav", count_in[None, :], SR)
    write_audio(tmp_path / "gtr.wav", drums(92, "four")[None, :], SR)
    stems = [{"name": "kit", "file": "kit.wav", "role": "drums"}, {"name": "gtr", "file": "gtr.wav", "role": "guitar"}]
    path = write_session(tmp_path, {"stems": stems})
    result = analyze_session(load_session(path), path)
    assert result.tempo_stems == ("kit", "gtr")
    assert result.tempo_bpm == pytest.approx(92, rel=0.02)


def test_key_never_listens_to_unpitched_roles_even_marked_pitched(tmp_path):
    write_audio(tmp_path / "keys.wav", progression(7, "major", (0, 3, 4, 0))[None, :], SR)
    write_audio(tmp_path / "sweep.wav", (0.5 * pluck(61, 6.0, decay_s=100.0))[None, :].astype(np.float32), SR)
    stems = [
        {"name": "keys", "file": "keys.wav", "role": "keys"},
        {"name": "sweep", "file": "sweep.wav", "role": "fx", "pitched": True},
    ]
    path = write_session(tmp_path, {"stems": stems})
    result = analyze_session(load_session(path), path)
    assert result.key_stems == ("keys",)
    assert result.key is not None and result.key.name == "G major"


def test_silent_lead_vocal_gives_no_range_but_names_the_stem(tmp_path):
    write_audio(tmp_path / "vox.wav", np.zeros((1, SR * 3), np.float32), SR)
    write_audio(tmp_path / "kit.wav", drums(100)[None, :], SR)
    stems = [
        {"name": "vox", "file": "vox.wav", "role": "lead_vocal"},
        {"name": "kit", "file": "kit.wav", "role": "drums"},
    ]
    path = write_session(tmp_path, {"stems": stems})
    result = analyze_session(load_session(path), path)
    assert result.lead_vocal is None and result.lead_vocal_stems == ("vox",)
    assert result.key is None  # the only pitched stem is silent
    assert result.to_dict()["stems"][0]["peak_dbfs"] is None


def test_missing_stem_file_is_an_audio_file_error(tmp_path):
    session = Session.model_validate({"stems": [{"name": "vox", "file": "gone.wav", "role": "lead_vocal"}]})
    with pytest.raises(AudioFileError, match=r"session.json: stems\[0\].file: .*gone.wav' does not exist"):
        analyze_session(session, tmp_path / "session.json")


def test_progress_is_reported_per_step(song):
    messages: list[str] = []
    analyze_session(load_session(song), song, progress=messages.append)
    assert messages[:5] == ["reading keys", "reading bass", "reading drums", "reading vox", "reading riser"]
    assert messages[5:] == ["key", "tempo", "lead vocal range"]


# --------------------------------------------------------------------------- imports and caching


def _python(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | env
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    return done.stdout.strip()


def test_importing_analysis_or_rendering_does_not_load_librosa():
    code = (
        "import sys, stemhost.analysis, stemhost.session.notes, stemhost.render.driver, stemhost.cli.main\n"
        "print(sorted(m for m in ('librosa', 'numba', 'sklearn') if m in sys.modules))"
    )
    assert _python(code) == "[]"


def test_librosa_is_loaded_with_numba_caching_in_the_user_cache(tmp_path):
    code = (
        "import os\n"
        "from stemhost.analysis.backend import load_librosa\n"
        "load_librosa()\n"
        "import numba\n"
        "print(os.environ['NUMBA_CACHE_DIR'], numba.config.CACHE_DIR)"
    )
    expected = str(tmp_path / "stemhost" / "numba")
    assert _python(code, XDG_CACHE_HOME=str(tmp_path)).split() == [expected, expected]
    assert (tmp_path / "stemhost" / "numba").is_dir()


# --------------------------------------------------------------------------- key from stems


def chords(voicings: list[tuple[list[int], float]], decay_s: float = 1.0) -> np.ndarray:
    """Chords as mono float32: [(MIDI notes, seconds)], each note a pluck, normalised to 0.2 peak."""
    y = np.concatenate([sum(pluck(m, seconds, decay_s=decay_s) for m in notes) for notes, seconds in voicings])
    return (0.2 * y / np.max(np.abs(y))).astype(np.float32)


def stems_session(folder: Path, parts: dict[str, tuple[str, np.ndarray]]) -> Path:
    """A session of mono stems at SR: {name: (role, audio)}."""
    stems = []
    for name, (role, audio) in parts.items():
        write_audio(folder / f"{name}.wav", audio[None, :], SR)
        stems.append({"name": name, "file": f"{name}.wav", "role": role})
    return write_session(folder, {"stems": stems})


def twelve_bar_blues(tonic: int) -> dict[str, tuple[str, np.ndarray]]:
    """A 12-bar blues in a major key (2 s bars, twice, ending on I): dominant-seventh chords with their
    major thirds on the keys, the roots in the bass, and a melody of blue notes (the minor third and
    the minor seventh over the tonic) on the lead."""
    bars = [0, 5, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7] * 2 + [0]
    seventh = (0, 4, 7, 10)
    keys = chords([([60 + (tonic + root + n) % 12 for n in seventh], 2.0) for root in bars])
    bass = chords([([36 + (tonic + root) % 12], 1.0) for root in bars for _ in range(2)], decay_s=1.5)
    riff = (3, 0, 10, 7, 3, 5, 3, 0)  # b3, 1, b7, 5, b3, 4, b3, 1 over the tonic
    lead = chords([([60 + (tonic + n) % 12], 0.25) for _ in bars for n in riff], decay_s=0.6)
    return {"keys": ("keys", keys), "bass": ("bass", 1.5 * bass), "lead": ("lead_vocal", 1.5 * lead)}


def _mix(parts: dict[str, tuple[str, np.ndarray]]) -> np.ndarray:
    n = max(audio.size for _, audio in parts.values())
    return sum(np.pad(audio, (0, n - audio.size)) for _, audio in parts.values()).astype(np.float32)


@pytest.mark.parametrize("tonic", [9, 2])
def test_a_major_blues_with_blue_thirds_in_the_melody_is_major_with_a_bass_stem(tmp_path, tonic):
    parts = twelve_bar_blues(tonic)
    fooled = detect_key(_mix(parts), SR)
    assert fooled is not None and fooled.name != key_name(tonic, "major")  # the mix alone is not enough
    path = stems_session(tmp_path, parts)
    result = analyze_session(load_session(path), path)
    assert result.key is not None and result.key.name == key_name(tonic, "major")
    assert result.key_bass_stems == ("bass",)
    assert result.key.runner_up != result.key.name and result.key.runner_up_confidence <= result.key.confidence


def test_a_bass_ending_on_the_tonic_outweighs_a_chroma_leaning_to_the_dominant(tmp_path):
    # C major: C, then G, D7, Em, D, G (the notes lean to G major: the D chords bring F#), back to C;
    # the bass plays the roots, begins and ends on C
    c, g, d7, d, em = (0, 4, 7), (7, 11, 2), (2, 6, 9, 0), (2, 6, 9), (4, 7, 11)
    song_ = [(c, 0, 1.0), (g, 7, 2.0), (d7, 2, 2.0), (em, 4, 1.0), (d, 2, 1.0), (g, 7, 2.0), (c, 0, 2.0)] * 2
    keys = chords([([60 + n for n in notes], seconds) for notes, _, seconds in song_])
    bass = 0.3 * chords([([36 + root], seconds) for _, root, seconds in song_], decay_s=2.0)
    parts = {"keys": ("keys", keys), "bass": ("bass", bass)}
    plain = detect_key(_mix(parts), SR)
    assert plain is not None and plain.name == "G major"  # the chroma leans to the dominant
    path = stems_session(tmp_path, parts)
    result = analyze_session(load_session(path), path)
    assert result.key is not None and result.key.name == "C major"
    assert result.key.runner_up == "G major"


def test_analyze_prints_the_key_runner_up_and_the_other_tempo_octave(tmp_path):
    parts = twelve_bar_blues(9)
    parts["kit"] = ("drums", drums(185, "punk", seconds=parts["keys"][1].size / SR))
    path = stems_session(tmp_path, parts)
    result = analyze_session(load_session(path), path)
    assert result.tempo_bpm == pytest.approx(185, rel=0.02)
    assert result.tempo_alternative_bpm == pytest.approx(92.5, rel=0.02)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["tempo_alternative_bpm"] == pytest.approx(92.5, rel=0.02)
    lines = analysis_lines(result)
    key = result.key
    assert lines[0].startswith(f"key: A major (confidence {key.confidence:.2f}; runner-up {key.runner_up} ")
    assert f"{key.runner_up_confidence:.2f})" in lines[0]
    assert lines[1].startswith(f"tempo: {result.tempo_bpm:.1f} BPM (or {result.tempo_alternative_bpm:.1f}) from kit")


def test_the_demo_songs_pop_groove_is_read_at_its_own_tempo():
    """scripts/make_demo_song.py's drums (100 BPM, kick on 1, 3 and the "and" of 3, snare on 2 and 4, eighth
    hats): alternate eighths read 0.45 even, which once doubled the tempo to 200 BPM."""
    import sys
    from pathlib import Path

    import soxr

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import make_demo_song

    from stemhost.analysis.tempo import estimate_tempo_octave

    drums = make_demo_song.render_drums(np.random.default_rng([make_demo_song.SEED, 0]))
    mono = soxr.resample(drums.mean(axis=0) if drums.shape[0] <= 2 else drums.mean(axis=1), make_demo_song.SR, 22050)
    found = estimate_tempo_octave(mono.astype(np.float32), 22050)
    assert abs(found.bpm - 100.0) < 1.0 and found.double_evenness < 0.48
