"""stemhost export: packs of variants, their manifest, shared decoding and shifting, and refusals."""

from __future__ import annotations

import json

import numpy as np
import pyloudnorm
import pytest
import soundfile

import stemhost.engine.stretch
import stemhost.packs.export
from stemhost.cli.main import main
from stemhost.errors import SessionError
from stemhost.packs.export import export_pack, file_sha256
from stemhost.render.driver import RenderOptions
from stemhost.session.files import load_session
from stemhost.session.model import Session
from stemhost.session.variants import parse_variants

from conftest import noise, read_audio, tone, write_audio, write_session

SR = 48000
STEMS = [  # name, role, audio
    ("drums", "drums", lambda: noise(2.0, channels=2, level=0.1)),
    ("bass", "bass", lambda: tone(110, 2.0, level=0.3)),
    ("keys", "keys", lambda: tone(330, 2.0, channels=2, level=0.1)),
    ("vox", "lead_vocal", lambda: tone(440, 2.0, level=0.2)),
    ("bvs", "backing_vocals", lambda: tone(660, 2.0, level=0.1)),
    ("click", "click", lambda: noise(2.0, level=0.01, seed=7)),
]


@pytest.fixture
def song(tmp_path):
    """A six-stem song whose master is the plain sum of its stems; returns the session path."""
    stems = []
    for name, role, audio in STEMS:
        ext = ".mp3" if name == "keys" else ".wav"  # one compressed stem: decoded once per pack
        write_audio(tmp_path / f"{name}{ext}", audio())
        stems.append({"name": name, "file": f"{name}{ext}", "role": role})
    return write_session(tmp_path, {"title": "Test Song", "stems": stems})


def names(spec: str, session_path) -> list[str]:
    return [v.name for v in parse_variants(spec, load_session(session_path))]


def test_variant_specifications_expand_in_order_without_repeats(song):
    assert names("full,karaoke,minus-one,solo:bass", song) == [
        "full", "karaoke", "minus-drums", "minus-bass", "minus-keys", "solo-bass"
    ]  # fmt: skip
    assert names("keys=-2..+1", song) == ["key-2", "key-1", "key+0", "key+1"]
    assert names("karaoke*keys=-1..0,full,full*keys=0..0", song) == ["karaoke-key-1", "karaoke-key+0", "full", "key+0"]
    assert names("instrumental*minus-one", song)[0] == "instrumental-minus-drums"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "bogus",
            "unknown variant 'bogus'; use full, minus-one, solo:NAME, solo:ROLE, keys=A..B, tempo=F,G or a bundled",
        ),
        ("keys=-13..0", "'keys=-13..0' reaches beyond -12..+12 semitones"),
        ("keys=0..+13", "'keys=0..+13' reaches beyond -12..+12 semitones"),
        ("keys=2..-2", "the range runs from low to high, e.g. keys=-2..2"),
        ("keys=-1.5..2", "write keys=A..B with whole semitones"),
        ("keys=-1..1*keys=0..2", "sets the key twice"),
        (
            "solo:strings",
            "no stem has the name or role 'strings'; stems: drums, bass, keys, vox, bvs, click; roles: back",
        ),
        ("full,,karaoke", "give a comma-separated list"),
    ],
)
def test_bad_variants_are_one_clear_error_and_nothing_is_written(song, capsys, spec, message):
    with pytest.raises(SessionError, match=message.replace("(", r"\(").replace(".", r"\.").replace("+", r"\+")):
        parse_variants(spec, load_session(song))
    out = song.parent / "pack"
    assert main(["export", str(song), "--variants", spec, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --variants") and err.count("\n") == 1
    assert not out.exists()


def export(song, spec: str, **kwargs) -> tuple[list, dict]:
    session = load_session(song)
    options = RenderOptions(tail_s=0.0, bit_depth="32f")
    entries = export_pack(session, song, parse_variants(spec, session), song.parent / "pack", ".wav", options, **kwargs)
    return entries, json.loads((song.parent / "pack" / "manifest.json").read_text())


def stem_sum(song, exclude: set[str] = frozenset()) -> np.ndarray:
    """The plain sum of the stems as the renderer reads them (mono stems at -3 dB each side)."""
    total = np.zeros((2, 2 * SR), np.float32)
    for name, _, _ in STEMS:
        if name in exclude:
            continue
        path = next(song.parent.glob(f"{name}.*"))
        audio, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
        audio = audio.T[:, : 2 * SR]
        total[:, : audio.shape[1]] += audio if audio.shape[0] == 2 else np.sqrt(0.5, dtype=np.float32) * audio
    return total


def test_each_variant_is_the_mix_it_names(song):
    export(song, "full,karaoke,minus-one,solo:bass")
    pack = song.parent / "pack"
    expect = {
        "full": stem_sum(song),
        "karaoke": stem_sum(song, {"vox"}),
        "minus-bass": stem_sum(song, {"bass"}),
        "minus-keys": stem_sum(song, {"keys"}),
        "solo-bass": stem_sum(song, {n for n, _, _ in STEMS} - {"bass"}),
    }
    for variant, mix in expect.items():
        audio, _ = read_audio(pack / f"test-song-{variant}.wav")
        np.testing.assert_allclose(audio[:, : mix.shape[1]], mix, atol=1e-5, err_msg=variant)


def test_key_variants_move_the_pitched_stems_only(song):
    export(song, "solo:bass*keys=-3..+2,solo:drums*keys=-1..0")
    pack = song.parent / "pack"
    for k in range(-3, 3):
        audio, _ = read_audio(pack / f"test-song-solo-bass-key{k:+d}.wav")
        spectrum = np.abs(np.fft.rfft(audio[0, SR // 4 : SR // 4 + SR]))
        cents = 1200 * np.log2(np.argmax(spectrum) / (110 * 2 ** (k / 12)))
        assert abs(cents) < 10, f"key {k:+d}: {cents:.1f} cents off"
    drums = [read_audio(pack / f"test-song-solo-drums-key{k:+d}.wav")[0] for k in (-1, 0)]
    np.testing.assert_array_equal(drums[0], drums[1])  # unpitched: not touched


def test_manifest_matches_the_files(song):
    entries, manifest = export(song, "full,karaoke,keys=-1..+1")
    assert manifest["song"] == "test-song" and manifest["variants"] == ["full", "karaoke", "key-1", "key+0", "key+1"]
    assert [f["file"] for f in manifest["files"]] == [e.file for e in entries]
    meter = pyloudnorm.Meter(SR)
    for entry in manifest["files"]:
        path = song.parent / "pack" / entry["file"]
        audio, rate = read_audio(path)
        assert entry["sha256"] == file_sha256(path)
        assert entry["duration_s"] == pytest.approx(audio.shape[1] / rate, abs=1e-6)
        assert entry["loudness_lufs"] == pytest.approx(meter.integrated_loudness(audio.T.astype(np.float64)), abs=0.1)
        assert entry["peak_dbfs"] == pytest.approx(20 * np.log10(np.max(np.abs(audio))), abs=0.01)
        assert entry["tempo"] == 1.0
        assert entry["key"] == {"key-1": -1, "key+1": 1}.get(entry["variant"], 0)
    assert sorted(p.name for p in (song.parent / "pack").iterdir()) == sorted(
        [f["file"] for f in manifest["files"]] + ["manifest.json"]
    )


def test_a_stem_shared_by_variants_is_decoded_and_shifted_once(song, monkeypatch, tmp_path):
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "empty-cache"))
    reads, shifts = [], []
    read_stem, stretch = stemhost.engine.stretch.read_stem, stemhost.engine.stretch.stretch
    monkeypatch.setattr(
        stemhost.engine.stretch, "read_stem", lambda path, where: reads.append(path.name) or read_stem(path, where)
    )
    monkeypatch.setattr(
        stemhost.engine.stretch, "stretch", lambda a, r, s: shifts.append(s.semitones) or stretch(a, r, s)
    )
    export(song, "full,karaoke,minus-one,karaoke*keys=-2..+2,instrumental*keys=-2..-1")
    pitched = ["bass", "keys", "vox", "bvs"]  # drums and click are not pitched
    assert sorted(shifts) == sorted(k for k in (-2, -1, 1, 2) for _ in pitched)
    assert reads.count("keys.mp3") == 1 + 4  # decoded once into the cache, and once for each key
    assert all(reads.count(f"{name}.wav") == 4 for name in pitched if name != "keys")


def test_a_second_export_skips_what_is_up_to_date(song, capsys):
    argv = ["export", str(song), "--variants", "full,karaoke,keys=0..1", "-o", str(song.parent / "pack")]
    assert main(argv) == 0
    first = {p.name: p.stat().st_mtime_ns for p in (song.parent / "pack").glob("*.wav")}
    assert "wrote 4 files" in capsys.readouterr().out
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "wrote 0 files into" in out and "(4 up to date)" in out
    assert {p.name: p.stat().st_mtime_ns for p in (song.parent / "pack").glob("*.wav")} == first
    # a changed stem makes every file that uses it out of date
    write_audio(song.parent / "bass.wav", tone(110, 2.0, level=0.2))
    assert main([*argv, "--format", "wav"]) == 0
    assert "wrote 4 files" in capsys.readouterr().out


def test_full_and_key_zero_are_rendered_once(song, monkeypatch):
    calls = []
    render = stemhost.packs.export.render_session
    monkeypatch.setattr(stemhost.packs.export, "render_session", lambda *a, **k: calls.append(1) or render(*a, **k))
    entries, _ = export(song, "full,keys=0..0")
    assert len(calls) == 1 and entries[0].sha256 == entries[1].sha256


def test_a_folder_with_another_pack_is_refused_unless_forced(song, tmp_path, capsys):
    export(song, "full,karaoke")
    other = write_session(tmp_path, json.loads(song.read_text()), name="other.json")
    argv = ["export", str(other), "--variants", "full", "-o", str(tmp_path / "pack")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: -o ") and "holds another pack" in err and "--force" in err
    assert main([*argv, "--force"]) == 0
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == ["manifest.json", "test-song-full.wav"]


def test_files_no_pack_made_are_not_overwritten(song, capsys):
    (song.parent / "pack").mkdir()
    (song.parent / "pack" / "test-song-full.wav").write_bytes(b"mine")
    assert main(["export", str(song), "--variants", "full", "-o", str(song.parent / "pack")]) == 1
    assert "'test-song-full.wav' is already there and no pack made it" in capsys.readouterr().err
    assert (song.parent / "pack" / "test-song-full.wav").read_bytes() == b"mine"


def test_an_interrupted_pack_lists_what_it_finished_and_leaves_no_part_file(song, monkeypatch):
    render = stemhost.packs.export.render_session
    done = []

    def render_then_fail(*args, **kwargs):
        if done:
            raise KeyboardInterrupt
        done.append(1)
        return render(*args, **kwargs)

    monkeypatch.setattr(stemhost.packs.export, "render_session", render_then_fail)
    with pytest.raises(KeyboardInterrupt):
        export(song, "full,karaoke,instrumental")
    pack = song.parent / "pack"
    manifest = json.loads((pack / "manifest.json").read_text())
    assert [f["file"] for f in manifest["files"]] == ["test-song-full.wav"]
    assert sorted(p.name for p in pack.iterdir()) == ["manifest.json", "test-song-full.wav"]


def test_bad_pack_format_is_one_clear_error(song, capsys):
    with pytest.raises(SystemExit):
        main(["export", str(song), "--variants", "full", "-o", str(song.parent / "p"), "--format", "wma"])
    assert "invalid choice: 'wma'" in capsys.readouterr().err
    assert (
        main(
            [
                "export",
                str(song),
                "--variants",
                "full",
                "-o",
                str(song.parent / "p"),
                "--format",
                "mp3",
                "--bit-depth",
                "16",
            ]
        )
        == 1
    )
    assert "error: --bit-depth 16: MP3 has no bit depth" in capsys.readouterr().err
    assert not (song.parent / "p").exists()


def test_session_without_title_is_named_after_its_folder(tmp_path):
    write_audio(tmp_path / "a.wav", tone(220, 1.0))
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})
    session = Session.model_validate(json.loads(path.read_text()))
    assert stemhost.packs.export.song_name(session, path) == tmp_path.name.lower().replace("_", "-")


def with_stems(song, changes: dict[str, dict]):
    """The song's session with some stems changed (by name), in a file beside it."""
    data = json.loads(song.read_text())
    data["stems"] = [{**stem, **changes.get(stem["name"], {})} for stem in data["stems"]]
    return write_session(song.parent, data, "changed.json")


@pytest.mark.parametrize(
    ("variant", "changes", "message"),
    [
        ("karaoke", {"vox": {"role": "synth"}}, "no stem has the role 'lead_vocal'; set it on the stem"),
        ("harmonies*keys=-1..0", {"bvs": {"role": "pad"}}, "no stem has the role 'backing_vocals'; set it on the stem"),
        ("karaoke", {"vox": {"mute": True}}, "the stems it changes are already that way in the session"),
    ],
)
def test_a_variant_that_removes_nothing_is_an_error_before_anything_is_written(song, capsys, variant, changes, message):
    session = with_stems(song, changes)
    out = song.parent / "pack"

    assert main(["export", str(session), "--variants", f"full,{variant}", "-o", str(out)]) == 1

    err = capsys.readouterr().err
    name = parse_variants(variant, None)[0].name
    assert err.startswith(f"error: {session}: --variants {name!r}: it would be the full mix, removing nothing: ")
    assert message in err and err.rstrip().endswith(f"or leave {name!r} out") and err.count("\n") == 1
    assert not out.exists()


def test_strict_export_refuses_a_loudness_target_it_cannot_reach(song, capsys):
    out = song.parent / "pack"
    argv = ["export", str(song), "--variants", "full", "-o", str(out), "--loudness", "-5", "--true-peak", "-20"]

    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "test-song-full.wav': master.loudness: the true-peak ceiling of -20 dBTP holds the mix at" in err
    assert "(--strict makes this an error)" in err
    assert main([*argv, "--strict"]) == 1  # the file is up to date: its listed loudness is checked, not rendered again
    assert "under the -5 LUFS target" in capsys.readouterr().err
    (out / "test-song-full.wav").unlink()
    assert main([*argv, "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: -o ") and "holds the mix at" in err and err.count("\n") == 1
    assert not (out / "test-song-full.wav").exists()
