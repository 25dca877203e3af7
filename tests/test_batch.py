"""stemhost batch: catalogs on a local Dask cluster and on a real scheduler with two worker processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stemhost.cli.main import main
from stemhost.packs.export import file_sha256

from conftest import noise, tone, write_audio

VARIANTS = "full,karaoke,keys=-1..+1"
DASK = str(Path(sys.executable).parent / "dask")


def make_catalog(folder: Path, songs: int = 3, seconds: float = 4.0) -> Path:
    """Songs of three stems each (drums, bass, lead vocal) in catalog/artist/songN/."""
    for i in range(songs):
        song = folder / "catalog" / "artist" / f"song{i}"
        song.mkdir(parents=True)
        write_audio(song / "drums.wav", noise(seconds, channels=2, level=0.1, seed=i))
        write_audio(song / "bass.wav", tone(55.0 * (i + 1), seconds, level=0.3))
        write_audio(song / "vox.wav", tone(440.0, seconds, level=0.2))
        stems = [
            {"name": "drums", "file": "drums.wav", "role": "drums"},
            {"name": "bass", "file": "bass.wav", "role": "bass", "chain": [{"type": "Compressor"}]},
            {"name": "vox", "file": "vox.wav", "role": "lead_vocal", "chain": [{"type": "Reverb"}]},
        ]
        (song / "session.json").write_text(json.dumps({"title": f"Song {i}", "stems": stems}))
    return folder / "catalog"


def manifest(out: Path) -> dict[str, dict]:
    return {o["file"]: o for o in json.loads((out / "catalog.json").read_text())["outputs"]}


def checksums(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): file_sha256(p) for p in sorted(out.rglob("*.flac"))}


def batch(catalog: Path, out: Path, *args: str) -> int:
    return main(["batch", str(catalog), "--variants", VARIANTS, "-o", str(out), "--format", "flac", *args])


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A catalog rendered once on a local cluster of two worker processes: the reference for other runs."""
    folder = tmp_path_factory.mktemp("catalog")
    catalog = make_catalog(folder)
    assert batch(catalog, folder / "renders", "--workers", "2") == 0
    return catalog, checksums(folder / "renders")


def test_local_cluster_renders_every_song_in_every_variant(undisturbed):
    catalog, sums = undisturbed
    out = catalog.parent / "renders"
    listed = manifest(out)
    assert len(sums) == 3 * 5 and set(listed) == set(sums)
    for file, entry in listed.items():
        assert entry["status"] == "done" and entry["sha256"] == sums[file]
        assert entry["song"] == str(Path(file).parent) and 4.0 <= entry["duration_s"] < 8.0  # with the reverb tail
        assert entry["key"] == {"key-1": -1.0, "key+1": 1.0}.get(entry["variant"], 0.0)
        assert entry["loudness_lufs"] < -5


def test_a_rerun_skips_everything_and_touches_nothing(undisturbed, capsys):
    catalog, sums = undisturbed
    out = catalog.parent / "renders"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")}
    assert batch(catalog, out, "--workers", "1") == 0
    assert "done 0, skipped 15, failed 0" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")} == before
    assert checksums(out) == sums


def test_force_renders_again_to_the_same_files(undisturbed, capsys):
    catalog, sums = undisturbed
    out = catalog.parent / "forced"
    assert batch(catalog, out, "--workers", "1") == 0
    assert batch(catalog, out, "--workers", "1", "--force") == 0
    assert "done 15, skipped 0, failed 0" in capsys.readouterr().out.splitlines()[-1]
    assert checksums(out) == sums


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster():
    """A Dask scheduler and two workers, each its own process on 127.0.0.1; yields (address, workers by name)."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--no-dashboard"], **quiet)  # fmt: skip
    workers = {
        name: subprocess.Popen(
            [DASK, "worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard"], **quiet
        )
        for name in ("w1", "w2")
    }
    try:
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for proc in [*workers.values(), scheduler]:
            proc.terminate()
        for proc in [*workers.values(), scheduler]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_corrupt_stem_fails_its_own_jobs_only(tmp_path, cluster, capsys):
    address, workers = cluster
    catalog = make_catalog(tmp_path)
    (catalog / "artist" / "song1" / "bass.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert batch(catalog, tmp_path / "renders", "--scheduler", address) == 1
    captured = capsys.readouterr()
    assert "done 10, skipped 0, failed 5" in captured.out
    assert captured.err.count("failed: artist/song1/") == 5 and "bass.wav" in captured.err
    listed = manifest(tmp_path / "renders")
    for file, entry in listed.items():
        assert entry["status"] == ("failed" if file.startswith("artist/song1/") else "done")
    assert not (tmp_path / "renders" / "artist" / "song1").exists() or not any(
        (tmp_path / "renders" / "artist" / "song1").iterdir()
    )
    assert all(proc.poll() is None for proc in workers.values()), "the given cluster is never shut down"


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path, cluster, undisturbed):
    from distributed import Client

    address, workers = cluster
    catalog = make_catalog(tmp_path)
    status: list[int] = []
    runner = threading.Thread(
        target=lambda: status.append(batch(catalog, tmp_path / "renders", "--scheduler", address))
    )
    with Client(address, timeout="30s") as client:
        runner.start()
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            busy = {a for a, keys in client.processing().items() if any("stemhost-" in str(k) for k in keys)}
            names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
            victim = next((names[a] for a in busy if names.get(a) in workers), None)
            time.sleep(0.02)
        assert victim is not None, "no job ever ran"
        os.kill(workers[victim].pid, signal.SIGKILL)
        assert runner.is_alive(), "the kill came after the batch had finished"
        runner.join(timeout=300)
    assert status == [0]
    assert checksums(tmp_path / "renders") == undisturbed[1]
    assert not list((tmp_path / "renders").rglob(".*.part"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scheduler", "tcp://127.0.0.1:9"], "error: --scheduler 'tcp://127.0.0.1:9': cannot reach a Dask scheduler"),
        (["--variants", "keys=0..20"], "error: --variants 'keys=0..20': 'keys=0..20' reaches beyond -12..+12"),
    ],
)
def test_bad_batch_requests_are_one_clear_error(tmp_path, capsys, args, message):
    catalog = make_catalog(tmp_path, songs=1, seconds=1.0)
    assert main(["batch", str(catalog), "-o", str(tmp_path / "renders"), *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_folder_without_sessions_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["batch", str(tmp_path / "empty"), "-o", str(tmp_path / "renders")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no session.json in it or below it" in err and err.count("\n") == 1


def test_an_interrupted_batch_carries_on_when_run_again(tmp_path):
    catalog = make_catalog(tmp_path, songs=4, seconds=6.0)
    out = tmp_path / "renders"
    command = [str(Path(sys.executable).parent / "stemhost"), "batch", str(catalog), "--variants", VARIANTS,
               "-o", str(out), "--format", "flac", "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # background jobs ignore SIGINT
    )
    deadline = time.monotonic() + 120
    while len(list(out.rglob("*.flac"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "error: interrupted; finished renders are in catalog.json" in err
    finished = {f for f, o in manifest(out).items() if o["status"] == "done"}
    assert 1 <= len(finished) < 20, "interrupted in the middle"
    assert all((out / f).is_file() for f in finished)  # a job may also finish after the client stopped listening
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    assert f"done {20 - len(finished)}, skipped {len(finished)}, failed 0" in done.stdout


def test_a_variant_that_removes_nothing_fails_its_song_and_workers_warnings_come_back(tmp_path, capsys):
    catalog = make_catalog(tmp_path, songs=2, seconds=1.0)
    song0, song1 = catalog / "artist" / "song0", catalog / "artist" / "song1"
    write_audio(song0 / "bass.wav", tone(55.0, 0.5, level=0.3))  # padded to the song's 1 s
    data = json.loads((song1 / "session.json").read_text())
    data["stems"][2]["role"] = "synth"  # no lead vocal: its karaoke would be the full mix
    (song1 / "session.json").write_text(json.dumps(data))
    out = tmp_path / "renders"

    status = main(["batch", str(catalog), "--variants", "full,karaoke", "-o", str(out), "--format", "wav",
                   "--workers", "1"])  # fmt: skip

    err = capsys.readouterr().err
    assert status == 1
    assert (
        f"failed: artist/song1/session.json: {song1 / 'session.json'}: --variants 'karaoke': it would be the full "
        "mix, removing nothing: no stem has the role 'lead_vocal'"
    ) in err
    assert not (out / "artist" / "song1").exists()  # nothing of that song rendered
    padded = "stems shorter than the song (0:01.000) are padded with silence: bass 0:00.500 (0.5 s short)"
    for variant in ("full", "karaoke"):
        assert f"warning: artist/song0/song-0-{variant}.wav: {padded}" in err
        assert manifest(out)[f"artist/song0/song-0-{variant}.wav"]["warnings"] == [padded]
