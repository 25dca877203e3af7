"""MIDI control with real MIDI messages: a virtual JACK MIDI output port (the foot switch) on the dummy server."""

from __future__ import annotations

import json
import time

import pytest

from stemhost.cli.main import main
from stemhost.errors import DeviceError, SessionError
from stemhost.live.play import PlayOptions, playing
from stemhost.show.midi import ACTIONS, MidiListener, PlayerControl, load_mapping
from test_sections import SR, landing, song, song_frames, wait_heard

STEMS = ["band"]


@pytest.fixture
def pedal(jack_device):
    """A virtual MIDI output port on JACK, as a foot switch's would be: (mido port, its name as inputs list it)."""
    import mido

    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
    port = backend.open_output("stemhost-pedal", virtual=True)
    try:
        deadline = time.monotonic() + 5
        while not [n for n in backend.get_input_names() if "stemhost-pedal" in n] and time.monotonic() < deadline:
            time.sleep(0.02)
        yield port, next(n for n in backend.get_input_names() if "stemhost-pedal" in n)
    finally:
        port.close()


def mapping(tmp_path, rules) -> object:
    path = tmp_path / "midi.json"
    path.write_text(json.dumps(rules))
    return path


def test_a_note_from_a_virtual_port_jumps_a_playing_player_to_the_next_section_on_its_downbeat(tmp_path, pedal):
    import mido

    out, name = pedal
    session, path, offline = song(tmp_path)
    rules = load_mapping(mapping(tmp_path, [{"note": 60, "channel": 1, "action": "next_section"}]), STEMS)
    with playing(session, path, PlayOptions(device="system", capture_s=3.0)) as (player, _):
        listener = MidiListener("stemhost-pedal", rules, PlayerControl(player))
        try:
            assert listener.name == name
            wait_heard(player, 0.6)
            out.send(mido.Message("note_on", note=61, velocity=100))  # not mapped
            out.send(mido.Message("note_on", note=60, velocity=100, channel=1))  # channel 2: not mapped
            time.sleep(0.1)
            assert listener.handled == []
            sent = time.perf_counter()
            out.send(mido.Message("note_on", note=60, velocity=100, channel=0))
            deadline = time.monotonic() + 2
            while not listener.handled and time.monotonic() < deadline:
                time.sleep(0.0005)
            assert [a for _, a in listener.handled] == ["next_section"]
            latency_ms = 1000 * (listener.handled[0][0] - sent)
            while player.captured < len(player._capture) and player.error is None:
                time.sleep(0.05)
            played = player.capture()
        finally:
            listener.close()
    print(f"MIDI note to next_section done in {latency_ms:.2f} ms")
    assert latency_ms < 50
    before, after, _ = landing(song_frames(played, offline), round(2.25 * SR))
    landed = round(2.25 * SR) + after - (round(1.25 * SR) + before)  # the Verse's first frame against the downbeat
    assert abs(landed) <= SR // 1000, f"landed {landed} frames from the downbeat"


def test_cc_program_and_mute_rules_run_their_actions(tmp_path, pedal):
    import mido

    out, _ = pedal
    session, path, _ = song(tmp_path)
    rules = load_mapping(
        mapping(tmp_path, [
            {"cc": 64, "value": ">=64", "action": "mute:band"},
            {"program": 3, "action": "loop_section"},
        ]),
        STEMS,
    )  # fmt: skip
    with playing(session, path, PlayOptions(device="system")) as (player, _):
        listener = MidiListener("stemhost-pedal", rules, PlayerControl(player))
        try:
            wait_heard(player, 0.5)
            out.send(mido.Message("control_change", control=64, value=127))  # pressed
            out.send(mido.Message("control_change", control=64, value=0))  # released: nothing
            out.send(mido.Message("program_change", program=3))
            deadline = time.monotonic() + 2
            while len(listener.handled) < 2 and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(0.1)
            assert [a for _, a in listener.handled] == ["mute:band", "loop_section"]
            assert player.strips[("stem", "band")].mute is True
            assert player.sections.looping == "Intro"
        finally:
            listener.close()


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ([{"note": 60, "action": "jump"}], f"[0].action: 'jump' is not an action; actions: {', '.join(ACTIONS)}"),
        ([{"note": 60, "action": "next_song"}], "[0].action: 'next_song' is for a setlist's show"),
        ([{"cc": 64, "action": "mute:drums"}], "[0].action: 'mute:drums': no stem named 'drums'; stems: band"),
        ([{"note": 128, "action": "play_pause"}], "[0].note: 128 is not a MIDI number (0 to 127)"),
        ([{"note": 1, "cc": 2, "action": "play_pause"}], "give one trigger: note, cc or program (it has note, cc)"),
        ([{"note": 1, "channel": 17, "action": "key_up"}], "[0].channel: 17 is not a MIDI channel (1 to 16)"),
        ([{"cc": 1, "value": "lots", "action": "tempo_up"}], "[0].value: 'lots': a cc's value test is like '>=64'"),
        ({"note": 60}, "a MIDI mapping is a list of rules"),
    ],
)
def test_a_bad_mapping_is_one_line_naming_the_rule(tmp_path, rules, words):
    with pytest.raises(SessionError) as caught:
        load_mapping(mapping(tmp_path, rules), STEMS)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_songs_actions_are_for_a_controller_with_songs(tmp_path):
    rules = load_mapping(mapping(tmp_path, [{"program": 0, "action": "next_song"}]), STEMS, songs=True)
    assert rules[0].action == "next_song"


def test_an_unknown_port_is_one_error_listing_the_ports(pedal):
    _, name = pedal
    with pytest.raises(DeviceError) as caught:
        MidiListener("no-such-pedal", [], object())
    assert str(caught.value).startswith("--midi 'no-such-pedal' is no MIDI input; ports: ") and name in str(
        caught.value
    )


def test_play_with_an_unknown_port_or_action_prints_one_error_line(tmp_path, pedal, capsys):
    _, name = pedal
    _, path, _ = song(tmp_path)
    assert main(["play", str(path), "--no-ui", "--device", "system", "--midi", "no-such-pedal"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --midi 'no-such-pedal' is no MIDI input; ports: ")
    assert name in err
    bad = mapping(tmp_path, [{"note": 60, "action": "explode"}])
    assert main(["play", str(path), "--no-ui", "--midi", "stemhost-pedal", "--midi-map", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: midi.json: [0].action: 'explode' is not an action; actions: " in err


def test_play_no_ui_takes_midi_control(tmp_path, pedal, capsys):
    """Headless play with the default mapping: the sustain pedal (cc 64) steps to the next section."""
    import threading

    import mido

    out, _ = pedal
    _, path, _ = song(tmp_path)

    def press() -> None:
        time.sleep(1.5)
        out.send(mido.Message("control_change", control=64, value=127))

    threading.Thread(target=press, daemon=True).start()
    assert main(["play", str(path), "--no-ui", "--device", "system", "--midi", "pedal", "--duration", "3"]) == 0
    err = capsys.readouterr().err
    assert "MIDI from" in err and "stemhost-pedal" in err
