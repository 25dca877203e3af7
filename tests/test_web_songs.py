"""The web library: songs found under FOLDER, their ids, refusals, summaries, analysis and waveform overviews."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stemhost.analysis import KeyEstimate, SessionAnalysis
from stemhost.analysis.stored import analysis_key, stored_analysis, to_plain
from stemhost.engine.cache import StemCache
from stemhost.errors import SessionError
from stemhost.session.files import load_session
from stemhost.web.songs import Library, NotFound, overview_peaks

from conftest import tone, write_audio, write_session

SR = 48000


def make_song(folder: Path, stems: dict[str, np.ndarray], name: str = "session.json", rate: int = SR, **fields) -> Path:
    """Stems as float WAV files in folder and a session naming them; returns the session file."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, audio in stems.items():
        write_audio(folder / f"{stem}.wav", audio, rate)
    entries = [{"name": stem, "file": f"{stem}.wav", "role": "keys"} for stem in stems]
    return write_session(folder, {"stems": entries, **fields}, name)


@contextlib.contextmanager
def serving(folder: Path, analyse: bool = False) -> Iterator[str]:
    """The real app (create_app) on uvicorn in a thread, on a free loopback port; yields its base URL."""
    import uvicorn

    from stemhost.web.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(folder, analyse=analyse), port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def call(url: str, body: dict | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET (or POST a JSON body); returns status, headers and the raw body, errors included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def library_folder(tmp_path) -> Path:
    """Songs in sub-folders and as *.json, plus a preset, a non-session json and a broken session."""
    root = tmp_path / "songs"
    make_song(root / "My Song", {"a": tone(220, 1.0)})
    make_song(root, {"b": tone(330, 1.0)}, name="my-song.json")
    make_song(root, {"c": tone(440, 1.0)}, name="Ballad.json", title="A Ballad")
    write_session(root, {"description": "mine", "stems": [{"role": "lead_vocal", "mute": True}]}, "karaoke.json")
    write_session(root, {"songs": ["Ballad.json"]}, "setlist.json")
    (root / "notes.json").write_text("not json at all")
    (root / "broken").mkdir()
    write_session(root / "broken", {"stems": [{"name": "x", "file": "missing.wav"}]})
    return root


def test_songs_are_found_in_sub_folders_and_json_files_with_stable_unique_ids(library_folder):
    library = Library(library_folder, analyse=False)
    listed = {s.id: s for s in library.songs()}
    assert list(listed) == ["ballad", "my-song", "broken", "my-song-2"]  # path order: Ballad.json, My Song/, ...
    assert listed["ballad"].title == "A Ballad" and listed["ballad"].session_path == library_folder / "Ballad.json"
    assert listed["my-song"].session_path == library_folder / "My Song" / "session.json"
    assert listed["my-song-2"].session_path == library_folder / "my-song.json"
    assert "missing.wav" in listed["broken"].error and listed["broken"].session is None
    assert all(s.error is None for k, s in listed.items() if k != "broken")  # presets, setlists, notes: not songs
    make_song(library_folder / "Another", {"d": tone(550, 1.0)})
    assert [s.id for s in library.songs()] == ["another", "ballad", "my-song", "broken", "my-song-2"]
    with pytest.raises(NotFound, match=r"no song 'nope' in .*; the songs are: another, ballad, my-song, broken"):
        library.song("nope")
    with pytest.raises(SessionError, match="song 'broken' cannot be opened: .*missing.wav"):
        library.song("broken")


def test_files_leading_out_of_the_folder_are_refused_and_never_opened(tmp_path):
    root, outside = tmp_path / "songs", tmp_path / "outside"
    make_song(outside, {"secret": tone(220, 1.0)})
    make_song(outside, {"other": tone(220, 1.0)}, name="song.json")
    (root / "climb").mkdir(parents=True)
    (root / "linked").symlink_to(outside)  # a song folder that is a link out
    (root / "escape.json").symlink_to(outside / "song.json")  # a session file that is a link out
    write_session(root / "climb", {"stems": [{"name": "s", "file": "../../outside/secret.wav"}]})
    (root / "stemlink").mkdir()
    (root / "stemlink" / "s.wav").symlink_to(outside / "secret.wav")
    write_session(root / "stemlink", {"stems": [{"name": "s", "file": "s.wav"}]})
    make_song(root / "fine", {"ok": tone(220, 1.0)})
    listed = {s.id: s for s in Library(root, analyse=False).songs()}
    assert sorted(listed) == ["climb", "escape", "fine", "linked", "stemlink"]
    for name in ("climb", "escape", "linked", "stemlink"):
        assert "outside" in listed[name].error and "reads only files under" in listed[name].error, name
        assert listed[name].session is None and listed[name].stems == ()
    assert listed["fine"].error is None
    with serving(root) as base:
        status, _, body = call(f"{base}/api/songs/linked/overview")
        assert status == 400 and "outside" in json.loads(body)["error"]


def test_summaries_give_length_stems_and_the_sessions_own_key_and_tempo(tmp_path):
    root = tmp_path / "songs"
    make_song(root / "one", {"pad": tone(220, 1.5), "bass": tone(110, 2.25, 44100)}, key="f#m", bpm=96)
    write_audio(root / "one" / "bass.wav", tone(110, 2.25, 44100), 44100)  # another rate: length in its own seconds
    (summary,) = [s.summary() for s in Library(root, analyse=False).songs()]
    assert summary == {
        "id": "one", "title": "one", "key": "F# minor", "bpm": 96.0, "length_s": 2.25,
        "stems": ["pad", "bass"], "analysed": True, "error": None,
    }  # fmt: skip
    with serving(root) as base:
        status, _, body = call(f"{base}/api/songs")
        assert status == 200 and json.loads(body) == [summary]


def test_key_and_tempo_fill_in_from_the_cache_and_from_one_background_analysis(tmp_path):
    root = tmp_path / "songs"
    cached = make_song(root / "cached", {"x": tone(261.63, 2.0)})
    chord = tone(220, 4.0) + tone(277.18, 4.0) + tone(329.63, 4.0)  # A major
    fresh = make_song(root / "fresh", {"keys": chord, "bass": tone(110, 4.0)})
    session = load_session(cached)
    known = SessionAnalysis(KeyEstimate(2, "minor", 0.9, "F major", 0.5), ("x",), 123.45, ("x",), (), None, (), 2.0)
    StemCache.default().put_record(analysis_key(session, cached), to_plain(known))  # as cached_analysis keeps it
    library = Library(root)
    started = time.perf_counter()
    first = {s["id"]: s for s in (song.summary() for song in library.songs())}
    assert time.perf_counter() - started < 0.5  # listing never waits for an analysis
    assert first["fresh"]["analysed"] is False and first["fresh"]["key"] is None
    deadline = time.monotonic() + 60
    while not all(s.analysed for s in library.songs()) and time.monotonic() < deadline:
        time.sleep(0.05)
    now = {s["id"]: s for s in (song.summary() for song in library.songs())}
    library.close()
    assert (now["cached"]["key"], now["cached"]["bpm"], now["cached"]["analysed"]) == ("D minor", 123.45, True)
    assert now["fresh"]["analysed"] and now["fresh"]["key"] == "A major"
    assert stored_analysis(load_session(fresh), fresh) is not None  # kept in the cache for next time


def test_the_overview_peaks_follow_where_the_stems_are_loud_and_silent(tmp_path):
    root, rate = tmp_path / "songs", 44100
    loud = np.concatenate([np.zeros(rate), 0.5 * tone(200, 1.0, rate)[0], 0.1 * tone(200, 1.0, rate)[0]])
    late = np.concatenate([np.zeros(2 * rate), 0.2 * tone(300, 1.0, rate)[0]])
    stereo = np.stack([late, -late])  # a stereo stem whose channels cancel in a plain sum: its mono is 0
    make_song(root / "song", {"loud": loud[None], "late": late[None], "wide": stereo}, rate=rate)
    library = Library(root, analyse=False)
    points = 120
    edges = np.round(np.linspace(0, 3 * rate, points + 1)).astype(int)
    summed = np.abs(loud) + np.abs(late)  # "wide" adds nothing: its mono is silent
    expected = np.array([summed[a:b].max() for a, b in zip(edges[:-1], edges[1:], strict=True)])
    got = library.overview("song", points)
    assert got["length_s"] == 3.0 and len(got["peaks"]) == points
    np.testing.assert_allclose(got["peaks"], expected / expected.max(), atol=2e-4)
    assert (
        max(got["peaks"][:40]) == 0.0 and min(got["peaks"][40:80]) > 0.95 and 0.5 < max(got["peaks"][80:]) <= 0.6
    )  # at most (0.025 + 0.05) / 0.125: two tones' peaks rarely meet
    assert library.overview("song", points) is got  # computed once
    stems = library.song("song").stems
    assert overview_peaks(stems, points) == got["peaks"]
    with serving(root) as base:
        status, _, body = call(f"{base}/api/songs/song/overview")
        answer = json.loads(body)
        assert status == 200 and answer["length_s"] == 3.0 and len(answer["peaks"]) == 1000
        assert answer["peaks"] == overview_peaks(stems, 1000)  # 3 ms slices: each holds part of a 200 Hz cycle
        assert max(answer["peaks"][:333]) == 0.0 and max(answer["peaks"][334:666]) == 1.0


@pytest.mark.parametrize("bad", ["nope", "..%2f..%2fsession.json", "%2e%2e", "UPPER", "a" * 70])
def test_unknown_or_malformed_song_ids_are_404_json_naming_the_id(tmp_path, bad):
    root = tmp_path / "songs"
    make_song(root / "song", {"a": tone(220, 1.0)})
    with serving(root) as base:
        status, headers, body = call(f"{base}/api/songs/{bad}/overview")
    assert status == 404 and headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["field"] in ("id", None) and "stems" not in body.decode()
    if bad == "nope":
        assert answer == {"error": f"no song 'nope' in {root}; the songs are: song", "field": "id"}


def test_a_rescan_costs_little_and_sees_changes(tmp_path):
    root = tmp_path / "songs"
    for i in range(30):
        make_song(root / f"song {i:02d}", {"a": tone(220, 0.2)})
    library = Library(root, analyse=False)
    library.songs()
    started = time.perf_counter()
    for _ in range(10):
        library.songs()
    assert (time.perf_counter() - started) / 10 < 0.05  # stat calls, no session read again
    path = root / "song 03" / "session.json"
    path.write_text(json.dumps({"title": "Renamed", "stems": [{"name": "a", "file": "a.wav"}]}))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert library.song("song-03").title == "Renamed"
