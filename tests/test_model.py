"""The session format: defaults, ranges, error messages with JSON paths, routing checks and the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stemhost.engine.plugins import build_plugin
from stemhost.errors import SessionError
from stemhost.session.effects import BUILTIN_CLASSES
from stemhost.session.files import guess_role, load_session
from stemhost.session.model import Session, session_schema
from stemhost.session.routing import bus_order, check_routing, render_tree
from stemhost.session.validation import load_model, read_json

ROOT = Path(__file__).resolve().parents[1]


def test_names_and_files_alone_make_a_session_with_unity_defaults():
    session = Session.model_validate({"stems": [{"name": "a", "file": "a.wav"}]})
    stem = session.stems[0]
    assert (stem.role, stem.gain_db, stem.pan, stem.mute, stem.solo) == ("other", 0.0, 0.0, False, False)
    assert (stem.chain, stem.output, stem.sends) == ((), "master", ())
    assert session.buses == () and session.master.chain == () and session.sample_rate is None


def test_the_issue_example_session_is_valid():
    example = {
        "stems": [
            {
                "name": "drums",
                "file": "drums.wav",
                "role": "drums",
                "gain_db": 0.0,
                "pan": 0.0,
                "mute": False,
                "solo": False,
                "chain": [{"type": "HighpassFilter", "cutoff_frequency_hz": 30}],
                "output": "band",
                "sends": [{"bus": "room", "level_db": -18}],
            }
        ],
        "buses": [
            {"name": "band", "gain_db": 0.0, "chain": [], "output": "master"},
            {"name": "room", "chain": [{"type": "Reverb", "room_size": 0.6, "wet_level": 1.0, "dry_level": 0.0}]},
        ],
        "master": {"gain_db": 0.0, "chain": [{"type": "Limiter", "threshold_db": -1}]},
        "sample_rate": 48000,
    }
    check_routing(Session.model_validate(example), "session.json")


@pytest.mark.parametrize("effect", BUILTIN_CLASSES, ids=lambda c: c.__name__)
def test_every_effect_builds_at_the_edges_of_its_ranges(tmp_path, effect):
    import numpy as np

    from conftest import write_audio

    write_audio(tmp_path / "ir.wav", np.ones((1, 64), np.float32))
    for edge in ("ge", "le", "gt", "lt"):
        values = {}
        for name, field in effect.model_fields.items():
            bound = next(
                (getattr(m, edge) for m in field.metadata if hasattr(m, edge) and getattr(m, edge) is not None), None
            )
            if bound is not None and not (name == "cutoff_frequency_hz" and edge in ("le", "lt")):
                values[name] = bound + (1e-3 if edge == "gt" else -1e-3 if edge == "lt" else 0)
        if effect.__name__ == "Convolution":
            values["impulse_response_filename"] = "ir.wav"
        model = effect.model_validate({"type": effect.__name__, **values})
        build_plugin(model, base_dir=tmp_path, sample_rate=48000, where="t")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"stems": [{"name": "a", "file": "a", "chain": [{"type": "Compressor", "ratio": 0.5}]}]},
            r"^s\.json: stems\[0\]\.chain\[0\]\.ratio: 0\.5 is out of range \(input should be greater than or equal to 1",
        ),
        (
            {"stems": [{"name": "a", "file": "a", "chian": []}]},
            r"stems\[0\]\.chian: unknown field; did you mean 'chain'\?",
        ),
        (
            {"stems": [{"name": "a", "file": "a", "chain": [{"type": "Reverb", "roomsize": 1}]}]},
            r"stems\[0\]\.chain\[0\]\.roomsize: unknown field; did you mean 'room_size'\?",
        ),
        (
            {"stems": [{"name": "a", "file": "a", "chain": [{"type": "VST2Plugin", "path_to_plugin_file": "x"}]}]},
            r"stems\[0\]\.chain\[0\]\.type: unknown effect type 'VST2Plugin'; did you mean 'VST3Plugin'\?.*Convolution",
        ),
        (
            {
                "stems": [
                    {
                        "name": "a",
                        "file": "a",
                        "chain": [{"type": "VST3Plugin", "path_to_plugin_file": "x", "path": "x.vst3"}],
                    }
                ]
            },
            r"stems\[0\]\.chain\[0\]\.path: unknown field; valid fields: bypass, parameter_values, path_to_plugin_file",
        ),
        ({"stems": [{"name": "a", "file": "a", "role": "singer"}]}, r"stems\[0\]\.role: input should be 'drums'"),
        ({"stems": [{"name": "a"}]}, r"stems\[0\]\.file: this field is required"),
        ({"stems": []}, r"stems: .*at least 1 item"),
        ({"stems": [{"name": "a", "file": "a", "pan": 1.5}]}, r"stems\[0\]\.pan: 1\.5 is out of range"),
        ({"stems": [{"name": "a", "file": "a"}], "sample_rate": 100}, r"sample_rate: 100 is out of range"),
    ],
)
def test_bad_values_name_the_json_path_and_the_fix(data, message):
    with pytest.raises(SessionError, match=message):
        load_model(Session, data, "s.json")


def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{\n  "stems": [\n    {"name": "a",, "file": "a.wav"}\n  ]\n}\n')
    with pytest.raises(SessionError, match=r"s\.json: line 3, column 18: malformed JSON"):
        read_json(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"stems": [{"name": "a", "file": "a"}, {"name": "a", "file": "b"}]},
            r"stems\[1\]\.name: 'a' is already the name of stems\[0\]",
        ),
        (
            {"stems": [{"name": "a", "file": "a"}], "buses": [{"name": "x"}, {"name": "x"}]},
            r"buses\[1\]\.name: 'x' is already the name of buses\[0\]",
        ),
        (
            {"stems": [{"name": "a", "file": "a", "output": "vox"}], "buses": [{"name": "verb"}]},
            r"stems\[0\]\.output: 'vox' is not a bus; valid: 'verb', 'master'",
        ),
        (
            {"stems": [{"name": "a", "file": "a", "sends": [{"bus": "master"}]}]},
            r"stems\[0\]\.sends\[0\]\.bus: 'master' is not a bus; valid: none",
        ),
        (
            {
                "stems": [{"name": "a", "file": "a"}],
                "buses": [{"name": "x", "output": "y"}, {"name": "y", "output": "x"}],
            },
            r"buses form a cycle: x → y → x|buses form a cycle: y → x → y",
        ),
        (
            {"stems": [{"name": "a", "file": "a"}], "buses": [{"name": "x", "output": "x"}]},
            r"buses form a cycle: x → x",
        ),
        ({"stems": [{"name": "a", "file": "a"}], "buses": [{"name": "master"}]}, r"'master' is reserved"),
    ],
)
def test_routing_errors_are_found_before_any_audio_is_read(data, message):
    with pytest.raises(SessionError, match=message):
        check_routing(Session.model_validate(data), "s.json")


def test_buses_are_ordered_after_the_buses_feeding_them():
    data = {
        "stems": [{"name": "a", "file": "a", "output": "c"}],
        "buses": [
            {"name": "a_bus", "output": "master"},
            {"name": "b", "output": "a_bus"},
            {"name": "c", "output": "b"},
        ],
    }
    assert bus_order(Session.model_validate(data)) == ["c", "b", "a_bus"]


def test_routing_tree_shows_buses_stems_and_sends():
    data = {
        "stems": [
            {
                "name": "kick",
                "file": "k.wav",
                "role": "drums",
                "output": "band",
                "sends": [{"bus": "room", "level_db": -18}],
            },
            {"name": "vox", "file": "v.wav", "role": "lead_vocal", "mute": True},
        ],
        "buses": [{"name": "band"}, {"name": "room", "chain": [{"type": "Reverb"}]}],
    }
    tree = render_tree(Session.model_validate(data))
    lines = tree.splitlines()
    assert lines[0].startswith("master")
    assert any(line.startswith("├── bus band") for line in lines)
    assert any("│   └── stem kick [drums] k.wav" in line for line in lines)
    assert any("send from kick at -18.0 dB" in line for line in lines)
    assert any("stem vox" in line and "MUTE" in line for line in lines)
    assert any("bus room" in line and "Reverb" in line for line in lines)


def test_committed_schema_is_current():
    committed = json.loads((ROOT / "presets" / "session.schema.json").read_text())
    assert committed == session_schema(), "run: stemhost schema > presets/session.schema.json"


def test_demo_session_is_valid():
    session = load_session(ROOT / "demo" / "silver-sand" / "session.json")
    assert {"drums", "bass", "lead_vocal", "backing_vocals"} <= {s.role for s in session.stems}
    assert len(session.stems) >= 6


@pytest.mark.parametrize(
    ("file", "role"),
    [
        ("Lead Vox.wav", "lead_vocal"),
        ("03_vocals.flac", "lead_vocal"),
        ("BGV harmony.wav", "backing_vocals"),
        ("Kick.wav", "drums"),
        ("drum-bus.wav", "drums"),
        ("bass gtr.wav", "bass"),
        ("lead guitar.wav", "guitar"),
        ("click.wav", "click"),
        ("Piano.aiff", "piano"),
        ("organ.wav", "keys"),
        ("shaker.wav", "percussion"),
        ("Strings.wav", "strings"),
        ("horns.mp3", "brass"),
        ("pad.ogg", "pad"),
        ("riser_fx.wav", "fx"),
        ("guide.wav", "guide"),
        ("synth lead.wav", "synth"),
        ("whatever.wav", "other"),
    ],
)
def test_init_guesses_roles_from_file_names(file, role):
    assert guess_role(file) == role
