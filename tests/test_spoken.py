"""The spoken count-in: flite says the beats' numbers, each word's onset on its beat, on the cue bus only."""

from __future__ import annotations

import numpy as np
import pytest

from stemhost.cli.main import main
from stemhost.engine import spoken
from stemhost.engine.spoken import ONSET_DB, WORDS, spoken_count
from stemhost.session.grid import count_in_beats, lead_in_frames
from test_click import click_session, render

SR = 48000


def word_onset(word: np.ndarray) -> int:
    """The word's first frame within ONSET_DB of its peak: where it is heard to start."""
    return int(np.flatnonzero(np.abs(word) >= np.max(np.abs(word)) * 10 ** (ONSET_DB / 20))[0])


def placed(session, frames: int) -> np.ndarray:
    """The cue bus as the spoken count-in should be: each word with its onset on its beat's frame."""
    beats = count_in_beats(session)
    per_bar = {"4/4": 4, "6/8": 2, "3/4": 3}[session.time_signature]
    words = spoken_count(per_bar, SR, 60.0 / session.bpm / session.tempo, 10 ** (-6 / 20))
    zero, out = lead_in_frames(session, SR), np.zeros(frames, np.float32)
    for k, (t, _) in enumerate(beats):
        word, pre = words[k % per_bar]
        start = zero + round(t / session.tempo * SR) - pre  # the first word's pre-roll may fall before the output
        out[max(0, start) : start + len(word)] += word[max(0, -start) :]
    return out


@pytest.mark.parametrize("signature,bpm,per_bar", [("4/4", 120.0, 4), ("6/8", 60.0, 2), ("3/4", 200.0, 3)])
def test_a_spoken_count_in_says_each_beats_number_with_its_onset_on_the_beat(tmp_path, signature, bpm, per_bar):
    session, path = click_session(
        tmp_path, seconds=2.0, time_signature=signature, first_downbeat_s=0.0, bpm=bpm,
        click={"enabled": False, "count_in_bars": 2, "spoken": True},
    )  # fmt: skip
    main_mix, cue = render(session, path, tmp_path)
    lead = lead_in_frames(session, SR)
    assert not np.any(main_mix[:, :lead]), "the main mix is silent while the count-in speaks"
    want = placed(session, cue.shape[1])
    np.testing.assert_allclose(cue[0], want, atol=2e-4)  # 24-bit WAV
    np.testing.assert_array_equal(cue[0], cue[1])
    beat = round(60.0 / bpm * SR)
    words = spoken_count(per_bar, SR, 60.0 / bpm, 10 ** (-6 / 20))
    errors = []
    for k, (t, _) in enumerate(count_in_beats(session)):
        frame = lead + round(t * SR)
        begin = max(0, frame - words[k % per_bar][1])
        heard = begin + word_onset(cue[0, begin : frame + beat])
        errors.append(1000 * (heard - frame) / SR)
    lengths = [len(w) / SR for w, _ in words]
    print(f"spoken count-in {signature} at {bpm:g} bpm: onsets {max(map(abs, errors)):.3f} ms from the beats at most; "
          f"words {min(lengths):.3f}-{max(lengths):.3f} s in beats of {60 / bpm:.3f} s")  # fmt: skip
    assert max(map(abs, errors)) <= 1.0
    assert max(lengths) <= 0.9 * 60.0 / bpm + 1 / SR, "a word ends before the next beat"
    assert min(lengths) >= 0.1, "each number is said, not clipped to a click"


def test_the_numbers_are_different_words():
    words = [w for w, _ in spoken_count(4, SR, 0.5, 0.5)]
    for i in range(4):
        for j in range(i + 1, 4):
            a, b = words[i], words[j]
            n = min(len(a), len(b))
            similarity = abs(np.dot(a[:n], b[:n])) / np.sqrt(np.dot(a[:n], a[:n]) * np.dot(b[:n], b[:n]))
            assert similarity < 0.5, (WORDS[i], WORDS[j], similarity)


def test_at_a_faster_tempo_flite_speaks_faster_so_each_word_fits_its_beat():
    slow = spoken_count(4, SR, 0.5, 0.5)
    fast = spoken_count(4, SR, 0.25, 0.5)
    assert all(len(f) < len(s) for (f, _), (s, _) in zip(fast, slow, strict=True))
    assert all(len(f) <= 0.9 * 0.25 * SR + 1 for f, _ in fast)


def test_without_flite_a_spoken_count_in_is_one_error_line(tmp_path, capsys, monkeypatch):
    session, path = click_session(
        tmp_path, seconds=1.0, time_signature="4/4", click={"count_in_bars": 1, "spoken": True}
    )
    spoken._word.cache_clear()
    monkeypatch.setattr(spoken.shutil, "which", lambda _name: None)
    assert main(["render", str(path), "-o", str(tmp_path / "out.wav")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: session.json: click.spoken: ") and "flite" in err[0], err
    assert not (tmp_path / "out.wav").exists()
    spoken._word.cache_clear()


def test_show_check_names_a_spoken_count_in_without_flite(tmp_path, monkeypatch):
    from stemhost.show.check import check_setlist

    click_session(tmp_path, seconds=1.0, time_signature="4/4", click={"count_in_bars": 1, "spoken": True})
    (tmp_path / "setlist.json").write_text('{"songs": [{"session": "session.json"}]}')
    monkeypatch.setattr(spoken.shutil, "which", lambda _name: None)
    problems = check_setlist(tmp_path / "setlist.json").problems
    assert len(problems) == 1 and "click.spoken" in problems[0] and "flite" in problems[0], problems
