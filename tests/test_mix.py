"""The levels a session implies: one mapping for compiling the graph and for live mix changes."""

from __future__ import annotations

import pytest

from stemhost.engine.compile import compile_graph
from stemhost.engine.graph import NodeId
from stemhost.engine.mix import apply_levels, mix_levels, pan_gains
from stemhost.session.model import MASTER, Session
from stemhost.units import db_to_gain

from conftest import noise, write_audio, write_session

SR = 48000
DATA = {
    "stems": [
        {"name": "a", "file": "a.wav", "gain_db": -3.0, "pan": 0.5, "sends": [{"bus": "verb", "level_db": -6.0}]},
        {"name": "b", "file": "b.wav", "mute": True},
    ],
    "buses": [{"name": "verb", "gain_db": -2.0}],
    "master": {"gain_db": 1.0},
}


@pytest.fixture
def graph(tmp_path):
    write_audio(tmp_path / "a.wav", noise(0.5, channels=1, level=0.1))
    write_audio(tmp_path / "b.wav", noise(0.5, channels=2, level=0.1, seed=3))
    graph = compile_graph(Session.model_validate(DATA), write_session(tmp_path, DATA), 256)
    yield graph
    graph.close()


def test_compiled_graph_has_the_session_levels(graph):
    a, b = graph.stems
    assert a.gains == pan_gains(0.5, -3.0, 1) and a.audible and not b.audible
    assert graph.buses[0].gain == pytest.approx(db_to_gain(-2.0))
    assert graph.master.gain == pytest.approx(db_to_gain(1.0))
    verb = [(e.source, e.level) for e in graph.buses[0].edges]
    assert verb == [(NodeId("stem", "a"), pytest.approx(db_to_gain(-6.0)))]
    assert [e.source for e in graph.master.edges] == [NodeId("stem", "a"), NodeId("stem", "b"), NodeId("bus", "verb")]


def test_applying_the_same_levels_changes_no_input_and_a_new_send_ramps_only_that_send(graph):
    session = Session.model_validate(DATA)
    channels = {"a": 1, "b": 2}
    apply_levels(graph, mix_levels(session, channels))
    assert all(e.target is None for bus in [*graph.buses, graph.master] for e in bus.edges)
    send = session.stems[0].sends[0].model_copy(update={"level_db": 0.0})
    changed = session.model_copy(
        update={"stems": (session.stems[0].model_copy(update={"sends": (send,)}), session.stems[1])}
    )
    apply_levels(graph, mix_levels(changed, channels))
    assert [e.target for e in graph.buses[0].edges] == [1.0]
    assert all(e.target is None for e in graph.master.edges)
    assert graph.master.target_gain == pytest.approx(db_to_gain(1.0)) and graph.master.name == MASTER
