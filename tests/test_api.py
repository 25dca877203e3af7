"""The public API: what ``import stemhost`` offers, as the README's example uses it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import stemhost

from conftest import read_audio, tone, write_audio, write_session


def test_every_public_name_resolves_and_the_list_is_sorted():
    assert stemhost.__all__ == sorted(stemhost.__all__)
    for name in stemhost.__all__:
        assert getattr(stemhost, name) is not None, name
    assert set(dir(stemhost)) == set(stemhost.__all__)


def test_import_stemhost_loads_no_audio_library():
    code = "import sys, stemhost; print(sorted(m for m in ('pedalboard', 'soundfile', 'numpy') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_the_readme_example_renders_a_karaoke_mix_in_another_key(tmp_path):
    write_audio(tmp_path / "drums.wav", tone(100, 1.0))
    write_audio(tmp_path / "vox.wav", tone(440, 1.0))
    song = write_session(tmp_path, {"stems": [
        {"name": "drums", "file": "drums.wav", "role": "drums"},
        {"name": "vox", "file": "vox.wav", "role": "lead_vocal"},
    ]})  # fmt: skip
    session = stemhost.load_session(song)
    session = stemhost.apply_preset(session, *stemhost.load_preset("karaoke"))
    session = session.model_copy(update={"key_shift": -2.0})
    options = stemhost.RenderOptions(bit_depth="32f", tail_s=0.0)
    result = stemhost.render_session(session, song, tmp_path / "karaoke.wav", options)
    assert isinstance(result, stemhost.RenderResult) and result.duration_s == 1.0
    mix, _ = read_audio(tmp_path / "karaoke.wav")
    drums, _ = read_audio(tmp_path / "drums.wav")
    gain = np.float32(np.sqrt(0.5))  # a mono stem panned centre
    np.testing.assert_array_equal(mix, np.vstack([drums[0] * gain] * 2))  # the vocal muted, the drums untouched
