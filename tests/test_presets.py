"""Presets laid over sessions, the bundled presets, and the CLI's overrides."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stemhost.errors import SessionError, StemhostWarning
from stemhost.session.model import Session
from stemhost.session.presets import Preset, apply_preset, bundled_presets, load_preset, override_preset
from stemhost.session.validation import load_model

BAND = {
    "stems": [
        {"name": "drums", "file": "d.wav", "role": "drums"},
        {"name": "bass", "file": "b.wav", "role": "bass"},
        {"name": "piano", "file": "p.wav", "role": "piano"},
        {"name": "gtr", "file": "g.wav", "role": "guitar"},
        {"name": "lead", "file": "l.wav", "role": "lead_vocal"},
        {"name": "bv1", "file": "bv1.wav", "role": "backing_vocals"},
        {"name": "bv2", "file": "bv2.wav", "role": "backing_vocals"},
    ],
    "buses": [{"name": "verb", "chain": [{"type": "Reverb"}]}],
}


def audible(session: Session) -> set[str]:
    return {s.name for s in session.stems if session.is_audible(s)}


def band() -> Session:
    return Session.model_validate(BAND)


def apply_bundled(name: str) -> Session:
    preset, label = load_preset(name)
    return apply_preset(band(), preset, label)


def test_the_required_presets_are_bundled():
    assert {"karaoke", "instrumental", "acapella", "harmonies", "piano-only"} <= set(bundled_presets())


@pytest.mark.parametrize("name", sorted(bundled_presets()))
def test_every_bundled_preset_is_valid_and_described(name):
    preset, _ = load_preset(name)
    assert preset.description
    assert load_model(Preset, json.loads(bundled_presets()[name].read_text()), name) == preset


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("karaoke", {"drums", "bass", "piano", "gtr", "bv1", "bv2"}),
        ("instrumental", {"drums", "bass", "piano", "gtr"}),
        ("acapella", {"lead", "bv1", "bv2"}),
        ("harmonies", {"bv1", "bv2"}),
        ("piano-only", {"piano"}),
    ],
)
def test_bundled_presets_choose_the_right_stems(name, expected):
    if name == "piano-only":  # the session has no 'keys' stem: the preset says so, and still picks the piano
        with pytest.warns(StemhostWarning, match="no stem has the role 'keys'"):
            session = apply_bundled(name)
    else:
        session = apply_bundled(name)
    assert audible(session) == expected


def test_presets_apply_in_order_each_on_top_of_the_last():
    session = apply_bundled("karaoke")
    session = apply_preset(
        session, Preset.model_validate({"stems": [{"name": "lead", "mute": False, "gain_db": -6}]}), "p"
    )
    lead = next(s for s in session.stems if s.name == "lead")
    assert not lead.mute and lead.gain_db == -6


def test_a_preset_changes_buses_adds_buses_and_changes_the_master():
    preset = Preset.model_validate(
        {
            "buses": [
                {"name": "verb", "gain_db": -4},
                {"name": "slap", "chain": [{"type": "Delay", "delay_seconds": 0.1}]},
            ],
            "master": {"chain": [{"type": "Limiter", "threshold_db": -2}]},
            "stems": [{"role": "backing_vocals", "sends": [{"bus": "slap", "level_db": -10}]}],
        }
    )
    session = apply_preset(band(), preset, "p")
    buses = {b.name: b for b in session.buses}
    assert buses["verb"].gain_db == -4 and buses["verb"].chain[0].type == "Reverb"
    assert buses["slap"].chain[0].delay_seconds == 0.1
    assert session.master.chain[0].threshold_db == -2
    assert [s.sends[0].bus for s in session.stems if s.role == "backing_vocals"] == ["slap", "slap"]


def test_a_preset_cannot_set_a_stems_file():
    with pytest.raises(SessionError, match=r"stems\[0\]\.file: unknown field"):
        load_model(Preset, {"stems": [{"name": "lead", "file": "other.wav"}]}, "bad.json")


def test_a_preset_entry_needs_exactly_one_of_name_and_role():
    with pytest.raises(SessionError, match="exactly one of 'name' or 'role'"):
        load_model(Preset, {"stems": [{"name": "lead", "role": "bass", "mute": True}]}, "bad.json")


def test_a_preset_routing_to_an_unknown_bus_is_an_error():
    preset = Preset.model_validate({"stems": [{"name": "lead", "output": "nowhere"}]})
    with pytest.raises(SessionError, match=r"stems\[4\]\.output: 'nowhere' is not a bus"):
        apply_preset(band(), preset, "p")


def test_an_unmatched_preset_entry_warns():
    session = Session.model_validate({"stems": [{"name": "a", "file": "a.wav", "role": "drums"}]})
    preset, label = load_preset("karaoke")
    with pytest.warns(StemhostWarning, match="no stem has the role 'lead_vocal'"):
        assert apply_preset(session, preset, label) == session


def test_a_preset_is_found_by_path(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"stems": [{"name": "drums", "mute": True}]}))
    preset, label = load_preset(str(path))
    assert label == "mine.json"
    assert "drums" not in audible(apply_preset(band(), preset, label))


def test_unknown_preset_names_the_bundled_ones():
    with pytest.raises(SessionError, match="--preset 'karaokee'.*bundled: .*karaoke"):
        load_preset("karaokee")


def test_overrides_take_names_or_roles_and_apply_last():
    session = apply_bundled("karaoke")
    overrides = override_preset(session, mute=["drums"], solo=["backing_vocals"], gain=["bass=+3"], pan=["gtr=-0.5"])
    result = apply_preset(session, overrides, "command line", strict=True)
    stems = {s.name: s for s in result.stems}
    assert stems["drums"].mute and stems["bv1"].solo and stems["bv2"].solo
    assert stems["bass"].gain_db == 3.0 and stems["gtr"].pan == -0.5
    assert audible(result) == {"bv1", "bv2"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"mute": ["drumz"]},
            r"--mute 'drumz': no stem has that name or role; did you mean 'drums'\? stems: drums, bass",
        ),
        ({"solo": ["click"]}, "--solo 'click': no stem has that name or role"),
        ({"gain": ["bass"]}, r"--gain 'bass': write NAME=DB"),
        ({"gain": ["bass=loud"]}, r"--gain 'bass=loud': write NAME=DB"),
        (
            {"pan": ["bass=2"]},
            r"^--pan 'bass=2': pan: 2\.0 is out of range \(input should be less than or equal to 1\)$",
        ),
    ],
)
def test_bad_overrides_are_clear_errors(kwargs, message):
    with pytest.raises(SessionError, match=message):
        override_preset(band(), **kwargs)


def test_karaoke_render_silences_exactly_the_lead(tmp_path):
    from stemhost.render.driver import RenderOptions, render_session

    from conftest import read_audio, tone, write_audio, write_session

    write_audio(tmp_path / "band.wav", tone(220, 0.5, channels=2))
    write_audio(tmp_path / "lead.wav", tone(660, 0.5, channels=2))
    data = {"stems": [{"name": "band", "file": "band.wav"}, {"name": "lead", "file": "lead.wav", "role": "lead_vocal"}]}
    path = write_session(tmp_path, data)
    preset, label = load_preset("karaoke")
    session = apply_preset(Session.model_validate(data), preset, label)
    render_session(session, path, tmp_path / "k.wav", RenderOptions(bit_depth="32f", tail_s=0))
    out, _ = read_audio(tmp_path / "k.wav")
    np.testing.assert_array_equal(out, read_audio(tmp_path / "band.wav")[0])
