"""Key and tempo: Rubber Band's offline engine ahead of the mix, and its cache."""

from __future__ import annotations

import math

import numpy as np
import pytest

import stemhost.engine.stretch
from stemhost.cli.main import main
from stemhost.engine.cache import StemCache
from stemhost.errors import SessionError, StemhostWarning
from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.model import Session

from conftest import peak_hz, read_audio, write_audio, write_session

SR = 48000


def sung_note(freq: float, seconds: float = 2.0, vibrato_cents: float = 0.0) -> np.ndarray:
    """A voice-like note: eight harmonics with a falling spectrum and an optional 5.5 Hz vibrato."""
    t = np.arange(round(seconds * SR)) / SR
    bend = 2 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(freq * bend) / SR
    note = sum(np.sin(k * phase) / k**1.5 for k in range(1, 9))
    fade = np.minimum(1, np.minimum(t, t[-1] - t) / 0.05)
    return (0.2 * note * fade).astype(np.float32)[None]


def fundamental(x: np.ndarray, near: float) -> float:
    """The frequency of the spectral peak within a semitone of `near` in the middle half of channel 0."""
    return peak_hz(x[0, x.shape[1] // 4 : 3 * x.shape[1] // 4], near)


def render(folder, data, out="out.wav", **options):
    path = write_session(folder, data)
    options.setdefault("tail_s", 0.0)
    render_session(Session.model_validate(data), path, folder / out, RenderOptions(bit_depth="32f", **options))
    return read_audio(folder / out)[0]


@pytest.mark.parametrize("role", ["lead_vocal", "keys"])
@pytest.mark.parametrize("semitones", [-7.0, -3.0, 2.5, 5.0])
def test_a_sung_note_lands_within_10_cents_of_its_target(tmp_path, role, semitones):
    write_audio(tmp_path / "v.wav", sung_note(220.0))
    out = render(tmp_path, {"stems": [{"name": "v", "file": "v.wav", "role": role}], "key_shift": semitones})
    target = 220.0 * 2 ** (semitones / 12)
    cents = 1200 * math.log2(fundamental(out, target) / target)
    assert abs(cents) <= 10, f"{cents:.1f} cents off"


@pytest.mark.parametrize("role", ["drums", "percussion", "click", "fx"])
def test_unpitched_stems_reach_the_mix_bit_for_bit_whatever_the_key(tmp_path, role):
    rng = np.random.default_rng(3)
    hits = (rng.standard_normal((2, SR)) * (rng.random(SR) > 0.99)).astype(np.float32) * 0.3
    write_audio(tmp_path / "d.wav", hits)
    out = render(tmp_path, {"stems": [{"name": "d", "file": "d.wav", "role": role}], "key_shift": -5})
    np.testing.assert_array_equal(out, hits)


def test_pitched_false_keeps_a_stem_out_of_the_key_change_and_stem_offsets_add(tmp_path):
    write_audio(tmp_path / "a.wav", sung_note(220.0, 1.5))
    data = {"stems": [{"name": "a", "file": "a.wav", "role": "keys", "pitched": False}], "key_shift": 4}
    np.testing.assert_array_equal(
        render(tmp_path, data)[0], read_audio(tmp_path / "a.wav")[0][0] * np.float32(math.sqrt(0.5))
    )
    data = {"stems": [{"name": "a", "file": "a.wav", "role": "keys", "key_shift": -1}], "key_shift": 4}
    out = render(tmp_path, data, out="offset.wav")
    assert 1200 * math.log2(fundamental(out, 220 * 2 ** (3 / 12)) / (220 * 2 ** (3 / 12))) == pytest.approx(0, abs=10)


@pytest.mark.parametrize("tempo", [0.5, 0.8, 1.25, 2.0])
def test_after_a_tempo_change_the_duration_is_the_original_divided_by_the_tempo(tmp_path, tempo):
    write_audio(tmp_path / "a.wav", sung_note(330.0, 3.0))
    write_audio(tmp_path / "d.wav", np.zeros((2, round(2.5 * SR)), np.float32))
    data = {"stems": [{"name": "a", "file": "a.wav"}, {"name": "d", "file": "d.wav", "role": "drums"}], "tempo": tempo}
    out = render(tmp_path, data)
    assert abs(out.shape[1] / SR - 3.0 / tempo) <= 0.010
    assert 1200 * math.log2(fundamental(out, 330.0) / 330.0) == pytest.approx(0, abs=10)  # no pitch change


def onsets(x: np.ndarray, threshold: float) -> np.ndarray:
    """Frames where the envelope first rises above threshold after a quiet spell of 100 ms."""
    env = np.max(np.abs(x), axis=0)
    loud = np.flatnonzero(env > threshold)
    return loud[np.insert(np.diff(loud) > SR // 10, 0, True)]


def render_drums_and_bass(folder, beats, seconds, hit, tempo, key) -> tuple[np.ndarray, np.ndarray]:
    """Drums (hit(start) on every beat) and a plucked bass note on every beat, each rendered at tempo and key."""
    t = np.arange(SR // 4) / SR
    drums = np.zeros((hit(beats[0]).shape[0], seconds * SR), np.float32)
    bass = np.zeros((1, seconds * SR), np.float32)
    for start in beats:
        drums[:, start : start + 480] = hit(start)
        bass[0, start : start + t.size] = 0.5 * np.sin(2 * np.pi * 98 * t) * np.exp(-t * 8)
    write_audio(folder / "drums.wav", drums)
    write_audio(folder / "bass.wav", bass)
    common = {"tempo": tempo, "key_shift": key}
    d = render(folder, {"stems": [{"name": "d", "file": "drums.wav", "role": "drums"}], **common}, out="d.wav")
    b = render(folder, {"stems": [{"name": "b", "file": "bass.wav", "role": "bass"}], **common}, out="b.wav")
    return d, b


@pytest.mark.parametrize(("tempo", "key"), [(0.75, 2.0), (1.3, -3.0), (0.5, 0.0)])
def test_a_drum_hit_and_the_bass_note_on_it_stay_within_5_ms(tmp_path, tempo, key):
    beats = np.arange(8) * SR // 2 + 4000
    t = np.arange(480) / SR
    thump = (np.sin(2 * np.pi * 60 * t) * np.exp(-t * 200))[None].repeat(2, axis=0)
    d, b = render_drums_and_bass(tmp_path, beats, 5, lambda start: thump, tempo, key)
    drum_hits, bass_notes = onsets(d, 0.05), onsets(b, 0.05)
    assert len(drum_hits) == len(bass_notes) == len(beats)
    assert np.max(np.abs(drum_hits - bass_notes)) / SR * 1000 <= 5.0
    assert np.max(np.abs(drum_hits - beats / tempo)) / SR * 1000 <= 15.0  # and both land near the beat


def half_peak_onsets(x: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Where each note's 1 ms peak envelope first reaches half the note's peak, searching around `near`."""
    env = np.abs(x).max(axis=0)
    env = np.maximum.reduceat(env, np.arange(0, env.size, 48)).repeat(48)[: env.size]
    found = []
    for c in near.astype(int):
        lo = max(0, c - SR // 20)
        seg = env[lo : c + SR // 10]
        found.append(lo + int(np.argmax(seg >= 0.5 * seg.max())))
    return np.array(found)


@pytest.mark.skipif(stemhost.engine.stretch.engine() != "rubberband", reason="needs the rubberband command")
@pytest.mark.parametrize(("tempo", "key"), [(1.3, -3.0), (0.75, 5.0)])
def test_drums_and_bass_stay_together_through_a_30_second_song(tmp_path, tempo, key):
    """pedalboard.time_stretch drifts 40-50 ms apart over 30 s at these settings; the offline engine must not."""
    beats = np.arange(58) * SR // 2 + 4000
    t = np.arange(480) / SR

    def burst(start: int) -> np.ndarray:
        return (np.random.default_rng(start).standard_normal(480) * np.exp(-t * 100) * 0.5)[None]

    d, b = render_drums_and_bass(tmp_path, beats, 30, burst, tempo, key)
    apart = np.abs(half_peak_onsets(d, beats / tempo) - half_peak_onsets(b, beats / tempo)) / SR * 1000
    assert apart.max() <= 5.0, f"{apart.max():.1f} ms apart"


def test_without_the_rubberband_command_pedalboard_does_the_work_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(stemhost.engine.stretch.shutil, "which", lambda name: None)
    stemhost.engine.stretch._warn_drift.cache_clear()
    stemhost.engine.stretch.engine_version.cache_clear()
    write_audio(tmp_path / "v.wav", sung_note(220.0))
    with pytest.warns(StemhostWarning, match="apt-get install rubberband-cli"):
        out = render(tmp_path, {"stems": [{"name": "v", "file": "v.wav"}], "key_shift": -3})
    target = 220.0 * 2 ** (-3 / 12)
    assert abs(1200 * math.log2(fundamental(out, target) / target)) <= 10
    stemhost.engine.stretch.engine_version.cache_clear()


def count_stretches(monkeypatch) -> list[int]:
    calls = [0]
    real = stemhost.engine.stretch.stretch

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(stemhost.engine.stretch, "stretch", counting)
    return calls


def test_the_second_render_in_a_key_comes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))
    calls = count_stretches(monkeypatch)
    write_audio(tmp_path / "a.wav", sung_note(220.0, 1.0))
    data = {"stems": [{"name": "a", "file": "a.wav"}], "key_shift": -2}
    first = render(tmp_path, data, out="1.wav")
    second = render(tmp_path, data, out="2.wav")
    assert calls[0] == 1
    np.testing.assert_array_equal(first, second)
    render(tmp_path, {**data, "key_shift": -1}, out="3.wav")
    assert calls[0] == 2  # another key is another entry
    assert len(StemCache.default().entries()) == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete-sidecar"])
def test_a_damaged_cache_entry_is_rebuilt_never_played(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))
    calls = count_stretches(monkeypatch)
    write_audio(tmp_path / "a.wav", sung_note(220.0, 1.0))
    data = {"stems": [{"name": "a", "file": "a.wav"}], "key_shift": 3}
    first = render(tmp_path, data, out="1.wav")
    (entry,) = StemCache.default().entries()
    raw = bytearray(entry.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
        entry.write_bytes(bytes(raw))
    elif damage == "truncate":
        entry.write_bytes(bytes(raw[: len(raw) // 2]))
    else:
        entry.with_suffix(".json").unlink()
    again = render(tmp_path, data, out="2.wav")
    assert calls[0] == 2
    np.testing.assert_array_equal(first, again)


def test_a_changed_source_file_is_not_served_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))
    calls = count_stretches(monkeypatch)
    write_audio(tmp_path / "a.wav", sung_note(220.0, 1.0))
    data = {"stems": [{"name": "a", "file": "a.wav"}], "key_shift": 3}
    render(tmp_path, data, out="1.wav")
    write_audio(tmp_path / "a.wav", sung_note(247.0, 1.0))
    out = render(tmp_path, data, out="2.wav")
    assert calls[0] == 2
    target = 247.0 * 2 ** (3 / 12)
    assert abs(1200 * math.log2(fundamental(out, target) / target)) <= 10


def test_cache_command_shows_and_clears(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))
    write_audio(tmp_path / "a.wav", sung_note(220.0, 1.0))
    render(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}], "key_shift": 1})
    assert main(["cache"]) == 0
    assert "1 stem," in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "cleared" in capsys.readouterr().out
    assert StemCache.default().entries() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--key", "13"],
            "error: --key 13: key_shift: 13.0 is out of range (input should be less than or equal to 12)",
        ),
        (["--key", "-12.5"], "error: --key -12.5: key_shift: -12.5 is out of range"),
        (["--tempo", "3"], "error: --tempo 3: tempo: 3.0 is out of range (input should be less than or equal to 2)"),
        (["--tempo", "0.25"], "error: --tempo 0.25: tempo: 0.25 is out of range"),
    ],
)
def test_key_and_tempo_out_of_range_are_one_clear_error(tmp_path, capsys, args, message):
    write_audio(tmp_path / "a.wav", sung_note(220.0, 0.2))
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})
    assert main(["render", str(path), "-o", str(tmp_path / "o.wav"), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "o.wav").exists()


def test_session_key_out_of_range_names_the_field():
    with pytest.raises(SessionError, match=r"key_shift: 20 is out of range"):
        from stemhost.session.validation import load_model

        load_model(Session, {"stems": [{"name": "a", "file": "a.wav"}], "key_shift": 20}, "s.json")
