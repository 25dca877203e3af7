"""Render jobs of the web app: the CLI's export byte for byte, progress, downloads, the report, refusals, failures."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from stemhost.cli.main import main
from stemhost.web.renders import RenderJobs, RequestError
from stemhost.web.songs import Library, NotFound
from test_web_songs import call, serving

from conftest import noise, tone, write_audio, write_session

STEMS = [("drums", "drums", lambda: noise(1.5, channels=2)), ("bass", "bass", lambda: tone(110, 1.5)),
         ("vox", "lead_vocal", lambda: tone(440, 1.5, level=0.2)),
         ("bvs", "backing_vocals", lambda: tone(660, 1.5, level=0.1))]  # fmt: skip


@pytest.fixture
def folder(tmp_path) -> Path:
    """FOLDER with one three-stem song, 'Song One' (id song-one)."""
    song = tmp_path / "songs" / "Song One"
    song.mkdir(parents=True)
    for name, _, audio in STEMS:
        write_audio(song / f"{name}.wav", audio())
    write_session(
        song, {"title": "Song One", "stems": [{"name": n, "file": f"{n}.wav", "role": r} for n, r, _ in STEMS]}
    )
    return tmp_path / "songs"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def busy(job: dict) -> bool:
    """Rendering, or making its report."""
    return job["state"] in ("queued", "running") or job["report_state"] == "making"


def wait(jobs: RenderJobs, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while busy(job := jobs.job(job_id)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return job


def wait_http(base: str, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = call(f"{base}/api/renders/{job_id}")
        job = json.loads(body)
        assert status == 200
        if not busy(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("variants", "fmt", "loudness", "master"),
    [(["full", "karaoke"], "flac", -16.0, None), (["instrumental"], "wav", None, "streaming")],
)
def test_a_web_render_equals_the_clis_export_byte_for_byte(folder, tmp_path, variants, fmt, loudness, master):
    argv = ["export", str(folder / "Song One" / "session.json"), "--variants", ",".join(variants)]
    argv += ["-o", str(tmp_path / "cli"), "--format", fmt]
    argv += ["--loudness", f"{loudness:g}"] if loudness is not None else []
    argv += ["--master", master] if master is not None else []
    assert main(argv) == 0
    with serving(folder) as base:
        body = {"song": "song-one", "variants": variants, "format": fmt, "loudness": loudness, "master": master}
        status, _, answer = call(f"{base}/api/renders", body)
        assert status == 202
        job = wait_http(base, json.loads(answer)["id"])
        assert (job["state"], job["progress"], job["error"], job["report_state"]) == ("done", 1.0, None, "ready")
        cli = sorted(p.name for p in (tmp_path / "cli").iterdir() if p.name != "manifest.json")
        assert sorted(f["name"] for f in job["files"]) == cli
        pack = folder / "renders" / "song-one" / "_".join([fmt, *([master] if master else []),
                                                           *([f"{loudness:g}LUFS"] if loudness else [])])  # fmt: skip
        for entry in job["files"]:
            status, headers, content = call(base + entry["url"])
            assert status == 200 and headers["content-disposition"] == f'attachment; filename="{entry["name"]}"'
            digest = hashlib.sha256(content).hexdigest()
            assert digest == sha256(tmp_path / "cli" / entry["name"]) == sha256(pack / entry["name"])
            if loudness is not None:
                assert entry["loudness_lufs"] == pytest.approx(loudness, abs=0.5)
            assert entry["duration_s"] == pytest.approx(1.5, abs=0.01)
        status, headers, page = call(base + job["report_url"])
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert b"Song One" in page and b"data:image/png;base64," in page and b"<script src" not in page
        for stem, _, _ in STEMS:
            assert stem.encode() in page  # the stems' table, measured while rendering


def test_progress_climbs_to_one_and_jobs_run_one_at_a_time(folder):
    messages: list[dict] = []
    jobs = RenderJobs(folder, Library(folder, analyse=False), messages.append)
    first = jobs.start("song-one", ["full", "karaoke", "instrumental"], "wav")
    second = jobs.start("song-one", ["full"], "flac", loudness=-18.0)
    assert wait(jobs, first)["state"] == "done" and wait(jobs, second)["state"] == "done"
    running: set[str] = set()
    for message in messages:
        assert message["type"] == "render"
        job = message["job"]
        running.discard(job["id"]) if job["state"] != "running" else running.add(job["id"])
        assert len(running) <= 1, "two jobs ran at once"
    for job_id in (first, second):
        seen = [m["job"] for m in messages if m["job"]["id"] == job_id]
        progress = [j["progress"] for j in seen]
        assert progress == sorted(progress) and progress[-1] == 1.0 and seen[-1]["state"] == "done"
        assert [j["report_state"] for j in seen if j["state"] == "done"] == ["making", "ready"]
        assert [s for s in dict.fromkeys(j["state"] for j in seen)] == ["queued", "running", "done"]
    earlier = {f["name"]: sha256(jobs.file(first, f["name"])) for f in jobs.job(first)["files"]}
    assert len(earlier) == 3 and jobs.file(second, "song-one-full.flac").parent.name == "flac_-18LUFS"
    assert {name: sha256(jobs.file(first, name)) for name in earlier} == earlier  # other settings: another pack


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"song": "nope", "variants": ["full"]}, 400, "song", "no song 'nope'"),
        ({"song": "song-one", "variants": ["bogus"]}, 400, "variants", "unknown variant 'bogus'"),
        ({"song": "song-one", "variants": ["solo:strings"]}, 400, "variants", "no stem has the name or role 'strings'"),
        ({"song": "song-one", "variants": ["keys=-13..0"]}, 400, "variants", "beyond -12..+12"),
        ({"song": "song-one", "variants": ["full"], "format": "exe"}, 422, "format", ""),
        ({"song": "song-one", "variants": ["full"], "loudness": -60}, 422, "loudness", "at least -40"),
        ({"song": "song-one", "variants": ["full"], "true_peak": -1}, 400, "true_peak", "needs a loudness target"),
        ({"song": "song-one", "variants": ["full"], "master": "../../etc/passwd"}, 400, "master", "no bundled preset"),
        ({"song": "song-one", "variants": ["full"], "colour": "red"}, 422, "colour", "not a field"),
        ({"song": "../song-one", "variants": ["full"]}, 422, "song", ""),
        ({"variants": ["full"]}, 400, "song", "no song is open"),
        ({"song": "song-one", "variants": ["full"], "use_mix": True}, 400, "use_mix", "no song open"),
    ],
)
def test_bad_render_requests_are_refused_at_once_naming_the_field(folder, body, status, field, words):
    with serving(folder) as base:
        got, headers, answer = call(f"{base}/api/renders", body)
        assert got == status and headers["content-type"] == "application/json"
        error = json.loads(answer)
        assert error["field"] == field and words in error["error"], error
        assert json.loads(call(f"{base}/api/renders")[2]) == []  # no job was made
    assert not (folder / "renders").exists()


def test_files_are_served_only_by_the_names_a_job_lists(folder):
    with serving(folder) as base:
        job_id = json.loads(call(f"{base}/api/renders", {"song": "song-one", "variants": ["full"]})[2])["id"]
        assert wait_http(base, job_id)["state"] == "done"
        session = (folder / "Song One" / "session.json").read_bytes()
        for name in ["..%2f..%2fSong%20One%2fsession.json", "../../Song One/session.json", "manifest.json",
                     "%2e%2e", "song-one-full.wav%00", "..%252fmanifest.json"]:  # fmt: skip
            status, headers, answer = call(f"{base}/api/renders/{job_id}/files/{name.replace(' ', '%20')}")
            assert status == 404 and headers["content-type"] == "application/json", name
            assert session not in answer and b"RIFF" not in answer and b"stemhost" not in answer.lower()[:1]
        for bad in ["nope", "0123456789abcdef", "../" + job_id]:
            status, _, answer = call(f"{base}/api/renders/{bad}")
            assert status == 404 and "error" in json.loads(answer)
        status, _, answer = call(f"{base}/api/renders/{job_id}/files/song-one-full.wav")
        assert status == 200 and answer[:4] == b"RIFF"


def test_a_failing_job_says_why_and_a_users_file_is_left_alone(folder):
    pack = folder / "renders" / "song-one" / "wav"
    pack.mkdir(parents=True)
    (pack / "song-one-full.wav").write_bytes(b"my own recording")
    jobs = RenderJobs(folder, Library(folder, analyse=False))
    job = wait(jobs, jobs.start("song-one", ["full"], "wav"))
    assert job["state"] == "failed" and job["files"] == [] and (job["report_url"], job["report_state"]) == (None, None)
    assert "'song-one-full.wav' is already there and no pack made it" in job["error"] and "\n" not in job["error"]
    assert (pack / "song-one-full.wav").read_bytes() == b"my own recording"
    with pytest.raises(NotFound):
        jobs.file(job["id"], "song-one-full.wav")
    with pytest.raises(NotFound, match="has no report"):
        jobs.report(job["id"])


def test_a_link_in_the_renders_folder_is_refused(folder, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (folder / "renders").symlink_to(tmp_path / "elsewhere")
    jobs = RenderJobs(folder, Library(folder, analyse=False))
    job = wait(jobs, jobs.start("song-one", ["full"], "wav"))
    assert job["state"] == "failed" and "is a symbolic link" in job["error"]
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_the_mixers_mix_renders_as_the_session_would_with_it(folder, tmp_path):
    mix = {"stems": [{"name": "vox", "gain_db": -6.0, "pan": 0.5, "mute": False, "solo": False},
                     {"name": "drums", "gain_db": 0.0, "pan": 0.0, "mute": True, "solo": False}],
           "buses": [], "master": {"gain_db": -1.0, "mute": False}, "key_shift_wanted": 0.0, "tempo_wanted": 1.0}  # fmt: skip
    saved = json.loads((folder / "Song One" / "session.json").read_text())
    for stem in saved["stems"]:
        stem.update({"vox": {"gain_db": -6.0, "pan": 0.5}, "drums": {"mute": True}}.get(stem["name"], {}))
    saved["master"] = {"gain_db": -1.0}
    (tmp_path / "Song One").mkdir()
    for name, _, _ in STEMS:
        (tmp_path / "Song One" / f"{name}.wav").symlink_to(folder / "Song One" / f"{name}.wav")
    write_session(tmp_path / "Song One", saved)
    assert (
        main(["export", str(tmp_path / "Song One" / "session.json"), "--variants", "full", "-o", str(tmp_path / "cli")])
        == 0
    )
    jobs = RenderJobs(folder, Library(folder, analyse=False))
    job = wait(jobs, jobs.start("song-one", ["full"], "wav", mix=mix))
    assert job["state"] == "done" and job["use_mix"] is True
    assert sha256(jobs.file(job["id"], "song-one-full.wav")) == sha256(tmp_path / "cli" / "song-one-full.wav")
    with pytest.raises(RequestError, match="pan") as refused:
        jobs.start("song-one", ["full"], "wav", mix={"stems": [{"name": "vox", "pan": 3}]})
    assert refused.value.field == "use_mix"


def test_the_openapi_page_documents_the_library_and_render_routes(folder):
    with serving(folder) as base:
        status, _, body = call(f"{base}/api/openapi.json")
    spec = json.loads(body)
    assert status == 200
    for path in ["/api/songs", "/api/songs/{song_id}/overview", "/api/renders", "/api/renders/{job_id}",
                 "/api/renders/{job_id}/files/{name}", "/api/renders/{job_id}/report"]:  # fmt: skip
        assert path in spec["paths"], path
    request = spec["components"]["schemas"]["RenderRequest"]
    assert request["additionalProperties"] is False
    assert set(request["properties"]) == {"song", "variants", "format", "loudness", "true_peak", "master", "use_mix"}
    assert all(field.get("description") for field in request["properties"].values())
