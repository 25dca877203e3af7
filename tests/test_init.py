"""``stemhost init`` on folders laid out as multitrack sellers ship them: roles from their track names, full
mixes left out, a missing lead vocal named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stemhost.cli.main import main
from stemhost.session.stem_names import guess_role, is_full_mix

from conftest import read_audio, tone, write_audio

# MultiTracks.com's track names (a worship song's multitrack download).
MULTITRACKS = {
    "Click.wav": "click",
    "Guide.wav": "guide",
    "Cues.wav": "guide",
    "Drums L.wav": "drums",
    "Drums R.wav": "drums",
    "Kick.wav": "drums",
    "Snare.wav": "drums",
    "OH.wav": "drums",
    "Perc.wav": "percussion",
    "Loop.wav": "percussion",
    "Bass.wav": "bass",
    "Keys 1.wav": "keys",
    "Keys 2.wav": "keys",
    "Pad.wav": "pad",
    "EG 1.wav": "guitar",
    "AG.wav": "guitar",
    "BGVs.wav": "backing_vocals",
    "Lead Vox.wav": "lead_vocal",
}
# Karaoke-Version's custom backing track: one file per part, "Artist_Song(Part Custom Backing Track)".
KARAOKE_VERSION = {
    "Band_Song(Drum Kit Custom Backing Track).wav": "drums",
    "Band_Song(Bass Custom Backing Track).wav": "bass",
    "Band_Song(Rhythm Electric Guitar Custom Backing Track).wav": "guitar",
    "Band_Song(Piano Custom Backing Track).wav": "piano",
    "Band_Song(Backing Vocals Custom Backing Track).wav": "backing_vocals",
    "Band_Song(Lead Vocal Custom Backing Track).wav": "lead_vocal",
    "Band_Song(Click Track Custom Backing Track).wav": "click",
    "Band_Song(Melody Custom Backing Track).wav": "lead_vocal",
}
GAIN = 0.5**0.5  # a centred mono stem in each channel (-3 dB pan law)
FULL_MIXES = (
    "mix.wav",
    "Full Mix.wav",
    "Master.wav",
    "instrumental.wav",
    "Backing Track.wav",
    "karaoke.wav",
    "Band_Song(Custom Backing Track).wav",
)


def write_tiny(path: Path, audio: np.ndarray | None = None) -> None:
    write_audio(path, tone(440, 0.05) if audio is None else audio)


@pytest.mark.parametrize("layout", [MULTITRACKS, KARAOKE_VERSION], ids=["multitracks", "karaoke-version"])
def test_init_reads_seller_track_names(tmp_path: Path, capsys, layout: dict[str, str]) -> None:
    for name in layout:
        write_tiny(tmp_path / name)
    assert main(["init", str(tmp_path)]) == 0
    session = json.loads((tmp_path / "session.json").read_text())
    assert {s["file"]: s["role"] for s in session["stems"]} == layout
    out = capsys.readouterr().out
    assert "lead vocal" not in out and "left out" not in out
    names = {s["file"]: s["name"] for s in session["stems"]}
    assert names["Band_Song(Drum Kit Custom Backing Track).wav" if layout is KARAOKE_VERSION else "Keys 1.wav"] == (
        "drum_kit" if layout is KARAOKE_VERSION else "keys_1"
    )
    assert out.splitlines()[-1] == f"wrote {tmp_path / 'session.json'} ({len(layout)} stems)"


@pytest.mark.parametrize("file", FULL_MIXES)
def test_a_full_mix_is_no_stem(file: str) -> None:
    assert is_full_mix(file)


@pytest.mark.parametrize("file", ["Drum Mix.wav", "BGV mix.wav", "Master Click.wav", *MULTITRACKS, *KARAOKE_VERSION])
def test_a_part_named_like_a_mix_is_a_stem(file: str) -> None:
    assert not is_full_mix(file)
    assert guess_role(file) != "other"


def test_init_leaves_the_full_mix_out_so_the_render_does_not_double(tmp_path: Path, capsys) -> None:
    band, vocal = tone(220, 0.5, level=0.4), tone(330, 0.5, level=0.4)
    write_tiny(tmp_path / "Bass.wav", band)
    write_tiny(tmp_path / "Lead Vocal.wav", vocal)
    write_tiny(tmp_path / "mix.wav", band + vocal)
    write_tiny(tmp_path / "instrumental.wav", band)

    assert main(["init", str(tmp_path)]) == 0

    out = capsys.readouterr().out.splitlines()
    session = json.loads((tmp_path / "session.json").read_text())
    assert [s["file"] for s in session["stems"]] == ["Bass.wav", "Lead Vocal.wav"]
    left = [line for line in out if line.startswith("left out ")]
    assert [line.split(":")[0] for line in left] == ["left out instrumental.wav", "left out mix.wav"]
    assert all('add {"name": ..., "file": ' in line and "by hand" in line for line in left)
    assert out[-1].endswith("(2 stems)")

    rendered = tmp_path / "out.wav"
    assert (
        main(["render", str(tmp_path / "session.json"), "-o", str(rendered), "--bit-depth", "32f", "--tail", "0"]) == 0
    )
    audio, _ = read_audio(rendered)
    song = (band + vocal)[0]
    gain = float(audio[0] @ song / (song @ song))
    np.testing.assert_allclose(audio[0], gain * song, atol=1e-5)
    assert gain == pytest.approx(GAIN, abs=1e-4)  # with the mix in as a stem it was twice that: +6 dB, clipping
    assert float(np.max(np.abs(audio))) < 1.0


def test_init_says_which_stem_to_mark_as_lead_vocal(tmp_path: Path, capsys) -> None:
    for name in ("BGVs.wav", "Keys 1.wav", "Bass.wav", "Thing.wav"):
        write_tiny(tmp_path / name)
    assert main(["init", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == (
        'no stem is a lead vocal: karaoke, acapella and fit need one; set "role": "lead_vocal" on the stem that '
        "holds the melody, probably bgvs (or thing)"
    )


def test_init_of_only_a_full_mix_is_an_error(tmp_path: Path, capsys) -> None:
    write_tiny(tmp_path / "Full Mix.wav")
    assert main(["init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "Full Mix.wav" in err and "by hand" in err
    assert not (tmp_path / "session.json").exists()
