"""The click and count-in: ticks on the beat grid, offline and live, on the cue bus and never in the main mix."""

from __future__ import annotations

import time

import numpy as np
import pytest

from stemhost.cli.main import main
from stemhost.engine.click import ACCENT_HZ, TICK_S, ClickSource
from stemhost.live.play import PlayOptions, playing
from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.files import load_session
from stemhost.session.grid import beat_s, beat_times, beats_per_bar, count_in_beats, lead_in_frames
from stemhost.session.model import Session

from conftest import noise, read_audio, write_audio, write_session

SR = 48000


def onsets(signal: np.ndarray, floor: float = 0.01, gap_s: float = 0.05) -> np.ndarray:
    """First frames above the floor after at least gap_s below it; signal ``(channels, frames)``."""
    loud = np.flatnonzero(np.max(np.abs(signal), axis=0) > floor)
    if not loud.size:
        return loud
    return loud[np.r_[True, np.diff(loud) > gap_s * SR]]


def expected(session: Session, until_s: float) -> list[tuple[int, bool]]:
    """Every tick's onset in output frames, from the grid: count-in then song beats (shared beats once)."""
    zero, tempo = lead_in_frames(session, SR), session.tempo
    count = count_in_beats(session)
    song = beat_times(session, until_s) if session.click.enabled else []
    if count:
        song = [
            (t, a) for t, a in song if not count[0][0] - beat_s(session) / 2 < t < count[-1][0] + beat_s(session) / 2
        ]
    return sorted((zero + round(t / tempo * SR), a) for t, a in [*count, *song])


def click_session(tmp_path, seconds=4.0, stem=None, **fields) -> tuple[Session, object]:
    audio = noise(seconds, channels=2, level=0.1) if stem is None else stem
    write_audio(tmp_path / "a.wav", audio)
    data = {"stems": [{"name": "a", "file": "a.wav", "role": "drums"}], "bpm": 120.0, **fields}
    path = write_session(tmp_path, data)
    return load_session(path), path


def render(session, path, tmp_path, name="out", **options):
    out, stems = tmp_path / f"{name}.wav", tmp_path / f"{name}-stems"
    render_session(session, path, out, RenderOptions(tail_s=0.5, **options), stems_out=stems)
    main_mix, _ = read_audio(out)
    cue, _ = read_audio(stems / "bus-cue.wav")
    return main_mix, cue


@pytest.mark.parametrize("signature,per_bar", [("4/4", 4), ("3/4", 3), ("6/8", 2), ("12/8", 4), ("7/8", 7), ("2/2", 2)])
def test_beats_per_bar_counts_dotted_quarters_in_compound_metres(signature, per_bar):
    assert beats_per_bar(signature) == per_bar


def test_beat_times_include_the_pickup_and_keep_downbeats_on_the_grid():
    session = Session.model_validate(
        {"stems": [{"name": "a", "file": "a.wav"}], "bpm": 120, "time_signature": "3/4", "first_downbeat_s": 1.2}
    )
    beats = beat_times(session, 3.0)
    assert [round(t, 6) for t, _ in beats] == [0.2, 0.7, 1.2, 1.7, 2.2, 2.7]
    assert [a for _, a in beats] == [False, False, True, False, False, True]


@pytest.mark.parametrize("block_size", [64, 1000, 65536])
def test_count_in_clicks_on_the_grid_with_accents_on_the_cue_bus_only(tmp_path, block_size):
    session, path = click_session(
        tmp_path, time_signature="4/4", first_downbeat_s=0.25, click={"count_in_bars": 2, "accent_db": 6.0}
    )
    main_mix, cue = render(session, path, tmp_path, block_size=block_size)
    assert main_mix.shape == cue.shape, "the cue bus is frame-aligned with the main file"
    want = expected(session, 4.0)
    got = onsets(cue)
    errors_ms = 1000 * np.abs(got - [f for f, _ in want]) / SR
    print(f"offline tempo 1: {len(got)} clicks, worst {errors_ms.max():.3f} ms from the grid")
    assert len(got) == len(want) and errors_ms.max() <= 1.0
    lead = lead_in_frames(session, SR)
    assert lead == round((8 * 0.5 - 0.25) * SR) and want[0][0] == 0
    assert want[7][0] == lead + round((0.25 - 0.5) * SR), "the count-in's last beat is one beat before bar 1"
    assert not np.any(main_mix[:, :lead]), "the main mix is silent while the count-in clicks"
    peaks = np.array([np.max(np.abs(cue[:, f : f + round(TICK_S * SR)])) for f in got])
    accents = np.array([a for _, a in want])
    ratio_db = 20 * np.log10(peaks[accents].mean() / peaks[~accents].mean())
    assert ratio_db == pytest.approx(6.0, abs=0.01)
    assert np.max(peaks[~accents]) == pytest.approx(10 ** (-6 / 20), rel=1e-4)
    accent = cue[0, got[0] : got[0] + 200]
    crossings = np.count_nonzero(np.diff(np.signbit(accent)))
    assert crossings == pytest.approx(2 * ACCENT_HZ * 200 / SR, abs=1)


def test_main_output_with_a_count_in_is_the_plain_render_delayed_sample_exactly(tmp_path):
    chain = [{"type": "Compressor", "threshold_db": -20, "ratio": 4}, {"type": "Reverb", "room_size": 0.5}]
    data = {"stems": [{"name": "a", "file": "a.wav", "chain": chain}], "bpm": 100.0, "time_signature": "3/4"}
    write_audio(tmp_path / "a.wav", noise(3.0, channels=2, level=0.2))
    plain = write_session(tmp_path, data, "plain.json")
    counted = write_session(tmp_path, {**data, "click": {"count_in_bars": 1}}, "counted.json")
    outs = {}
    for name, path in (("plain", plain), ("counted", counted)):
        out = tmp_path / f"{name}.wav"
        render_session(load_session(path), path, out, RenderOptions(tail_s=1.0, block_size=4096))
        outs[name], _ = read_audio(out)
    lead = lead_in_frames(load_session(counted), SR)
    assert lead == round(3 * 0.6 * SR)
    assert outs["counted"].shape[1] == outs["plain"].shape[1] + lead
    assert not np.any(outs["counted"][:, :lead])
    np.testing.assert_array_equal(outs["counted"][:, lead:], outs["plain"])


@pytest.mark.parametrize("bars", [1, 2])
@pytest.mark.parametrize("signature,per_bar", [("3/4", 3), ("4/4", 4), ("6/8", 2)])
def test_count_in_alone_has_its_bars_of_beats_the_last_one_beat_before_bar_1(tmp_path, bars, signature, per_bar):
    session, path = click_session(
        tmp_path, seconds=2.0, time_signature=signature, first_downbeat_s=0.1,
        click={"enabled": False, "count_in_bars": bars},
    )  # fmt: skip
    _, cue = render(session, path, tmp_path)
    got = onsets(cue)
    lead = lead_in_frames(session, SR)
    assert len(got) == bars * per_bar
    assert got[-1] == lead + round((0.1 - 0.5) * SR)
    assert np.all(np.diff(got) == pytest.approx(0.5 * SR, abs=1))
    downbeats = [f for f, a in expected(session, 2.0) if a]
    assert downbeats == list(got[::per_bar])


@pytest.mark.parametrize("signature,per_bar", [("3/4", 3), ("4/4", 4), ("6/8", 2)])
def test_song_clicks_accent_every_bar(tmp_path, signature, per_bar):
    session, path = click_session(tmp_path, seconds=3.0, time_signature=signature, first_downbeat_s=0.0, click={})
    _, cue = render(session, path, tmp_path)
    got = onsets(cue)
    peaks = np.array([np.max(np.abs(cue[:, f : f + 100])) for f in got])
    loud = np.flatnonzero(peaks > peaks.min() * 1.5)
    assert list(loud) == list(range(0, len(got), per_bar))


def drum_hits(seconds: float, times: list[float]) -> np.ndarray:
    """Short decaying noise bursts at the given seconds, stereo."""
    audio = np.zeros((2, round(seconds * SR)), np.float32)
    burst = noise(0.03, channels=2, level=0.5, seed=3) * np.exp(-np.arange(round(0.03 * SR)) / (0.004 * SR))
    for t in times:
        at = round(t * SR)
        audio[:, at : at + burst.shape[1]] += burst
    return audio


def test_at_tempo_0_8_clicks_land_on_the_stretched_beats_and_drum_hits(tmp_path):
    beats = [0.3 + 0.5 * k for k in range(12)]
    session, path = click_session(
        tmp_path, stem=drum_hits(6.5, beats), tempo=0.8, first_downbeat_s=0.3, click={"count_in_bars": 1}
    )
    main_mix, cue = render(session, path, tmp_path)
    lead = lead_in_frames(session, SR)
    assert lead == round((2.0 - 0.3) / 0.8 * SR)
    clicks = onsets(cue)
    want = np.array([f for f, _ in expected(session, 6.5)])
    grid_ms = 1000 * np.abs(clicks - want) / SR
    hits = onsets(main_mix, floor=0.05)
    song_clicks = clicks[clicks >= lead]
    assert len(hits) == len(beats)
    hit_ms = 1000 * np.abs(song_clicks[: len(hits)] - hits) / SR
    print(f"offline tempo 0.8: clicks worst {grid_ms.max():.3f} ms from T/0.8; "
          f"worst {hit_ms.max():.2f} ms (mean {hit_ms.mean():.2f}) from the stretched drum hits")  # fmt: skip
    assert grid_ms.max() <= 5.0
    assert hit_ms.max() <= 5.0


def test_a_click_source_is_the_same_in_any_block_size():
    session = Session.model_validate(
        {"stems": [{"name": "a", "file": "a.wav"}], "bpm": 137, "time_signature": "7/8", "click": {"count_in_bars": 1}}
    )
    whole = ClickSource(session, SR, 5.0, lead_in_frames(session, SR)).read(SR * 8)
    source = ClickSource(session, SR, 5.0, lead_in_frames(session, SR))
    blocks = [source.read(333) for _ in range(1154)]
    parts = np.concatenate([np.zeros((2, 333), np.float32) if b is None else b for b in blocks], axis=1)
    np.testing.assert_array_equal(parts[:, : whole.shape[1]], whole)


def test_a_user_cue_bus_to_the_master_puts_the_click_in_the_main_mix(tmp_path):
    session, path = click_session(tmp_path, seconds=2.0, stem=np.zeros((2, 2 * SR), np.float32), click={},
                                  buses=[{"name": "cue"}])  # fmt: skip
    main_mix, cue = render(session, path, tmp_path)
    np.testing.assert_array_equal(main_mix, cue)
    assert len(onsets(main_mix)) == 4


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"bpm": None, "click": {}}, "click: a click and count-in need the song's tempo; set 'bpm'"),
        ({"time_signature": "5/3", "click": {"count_in_bars": 1}}, "time_signature"),
    ],
)
def test_bad_click_inputs_are_one_error_line(tmp_path, capsys, fields, message):
    write_audio(tmp_path / "a.wav", noise(1.0))
    data = {"stems": [{"name": "a", "file": "a.wav"}], "bpm": 120.0, **fields}
    path = write_session(tmp_path, {k: v for k, v in data.items() if v is not None})
    assert main(["render", str(path), "-o", str(tmp_path / "out.wav")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_live_count_in_plays_before_the_song_with_clicks_on_the_computed_frames(tmp_path, jack_device):
    """On a stereo device the session's own cue bus goes to the master; on 4 outputs the implicit one to 3-4."""
    four = jack_device.channels >= 4
    audio = np.zeros((2, 3 * SR), np.float32)
    audio[:, SR + SR // 4 :] = 0.2  # the song: silence for 1.25 s, then a DC step between two beats
    fields = {"time_signature": "4/4", "first_downbeat_s": 0.0, "click": {"count_in_bars": 1}}
    if not four:
        fields["buses"] = [{"name": "cue"}]
    session, path = click_session(tmp_path, stem=audio, **fields)
    with playing(session, path, PlayOptions(device="system", capture_s=4.5)) as (player, _):
        deadline = time.monotonic() + 15
        while player.captured < 4.5 * SR and time.monotonic() < deadline:
            time.sleep(0.05)
        out = player.capture().T
        assert player.error is None
    lead = lead_in_frames(session, SR)
    assert lead == 2 * SR
    cue = out[2:4] if four else out[:2]
    steady = np.convolve(np.abs(out[0] - 0.2) < 1e-3, np.ones(5), "valid") == 5
    song = np.flatnonzero(steady)  # the DC step, where no tick rings
    ticks = onsets(cue if four else cue[:, : song[0]])  # on the main outputs, the clicks before the step
    start = ticks[0]  # the capture starts with the stream: the count-in's first tick is its first frame
    got = ticks - start
    want = [f for f, _ in expected(session, 3.0)][: len(got)]
    errors_ms = 1000 * np.abs(got - want) / SR
    print(f"live: {len(got)} clicks, worst {errors_ms.max():.3f} ms from the computed frames; "
          f"song audio at {(song[0] - start) / SR:.4f} s (expected {(lead + 1.25 * SR) / SR:.4f}); {out.shape[0]} channels")  # fmt: skip
    assert start == 0 and len(got) >= 7 and errors_ms.max() <= 1.0
    assert song[0] - start == lead + 1.25 * SR
    if four:
        assert np.max(np.abs(out[:2, : start + lead + SR])) == 0.0, "no click in the main outputs"
        assert np.max(np.abs(out[:2, song[0] :] - 0.2)) < 1e-6, "the song alone, no click, in the main outputs"
