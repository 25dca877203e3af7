"""A real ``stemhost serve`` for the web tests: a subprocess on a free port, HTTP and WebSocket helpers, and a
recorder of the server's JACK output (the server is another process, so its sound is recorded through JACK).

    with serving(folder) as server:          # a Server: url, token, folder, process
        status, body = server.call("GET", "/api/state")
        server.open_song("song")             # notes server.ports, its JACK outputs
        with recording(server.ports) as take: # records them
            ...
        audio = take.audio                   # (frames, 2) float32 at 48 kHz
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from conftest import tone, write_audio, write_session

SR = 48000
SRC = Path(__file__).resolve().parents[1] / "src"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def make_song(folder: Path, name: str = "song", seconds: float = 8.0, freqs=(440.0, 110.0, 660.0), **fields) -> Path:
    """FOLDER/name/session.json with sine stems 'vocals', 'bass', 'keys' at distinct frequencies (level 0.2);
    bass and keys go through the bus 'band'; ``fields`` are more of the session's fields (key, bpm...)."""
    song = folder / name
    song.mkdir(parents=True, exist_ok=True)
    names, roles = ("vocals", "bass", "keys"), ("lead_vocal", "bass", "keys")
    for stem, freq in zip(names, freqs, strict=False):
        write_audio(song / f"{stem}.wav", tone(freq, seconds, level=0.2))
    stems = [{"name": n, "file": f"{n}.wav", "role": r} for n, r, _ in zip(names, roles, freqs, strict=False)]
    for stem in stems[1:]:
        stem["output"] = "band"
    return write_session(song, {"stems": stems, "buses": [{"name": "band"}], **fields})


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT
    token: str | None
    folder: Path
    process: subprocess.Popen
    log: Path
    headers: dict = field(default_factory=dict)  # sent with every call (e.g. the token)
    ports: tuple[str, str] | None = None  # its JACK output ports, once open_song found them
    client: str | None = None  # its JACK client's name (PortAudio-NN), once known

    def open_song(self, song_id: str) -> dict:
        """Open a song and note the JACK ports its new stream feeds system:playback_1/2 from: the ports that
        appear, of this server's JACK client once known (other processes may play on the same JACK server;
        while it is ambiguous which new client is this server's, the song is opened again)."""
        return self.open_stream(f"/api/songs/{song_id}/open")

    def open_setlist(self, setlist_id: str) -> dict:
        """Open a setlist's show (one stream for the whole show) and note its JACK ports, as open_song does."""
        return self.open_stream(f"/api/setlists/{setlist_id}/open")

    def open_stream(self, path: str) -> dict:
        for _ in range(6):
            before = {side: set(playing_into(side)) for side in (1, 2)}
            state = self.ok("POST", path)
            new = [new_ports(side, before[side], self.client) for side in (1, 2)]
            clients = [{p.split(":")[0] for p in ports} for ports in new]
            if len(new[0]) == len(new[1]) == 1 and clients[0] == clients[1]:
                self.ports = (new[0][0], new[1][0])
                self.client = next(iter(clients[0]))
                return state
            time.sleep(0.2)
        raise AssertionError(f"cannot tell this server's JACK ports from others': {new}")

    def call(self, method: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None):
        """An HTTP request; returns (status, parsed JSON or text, response headers)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        sent = {**self.headers, **(headers or {})}
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, text, got = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as exc:
            status, text, got = exc.code, exc.read(), exc.headers
        try:
            return status, json.loads(text), got
        except ValueError:
            return status, text.decode("utf-8", "replace"), got

    def ok(self, method: str, path: str, body=None):
        status, answer, _ = self.call(method, path, body)
        assert status == 200, f"{method} {path}: {status} {answer}"
        return answer

    def ws(self, **kwargs):
        """A WebSocket client (websockets.sync) on /api/ws."""
        from websockets.sync.client import connect

        headers = dict(self.headers)
        headers.update(kwargs.pop("headers", {}))
        return connect(self.url.replace("http", "ws", 1) + "/api/ws", additional_headers=headers, **kwargs)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def serving(folder: Path, *args: str, host: str = "127.0.0.1", token: str | None = None) -> Iterator[Server]:
    """``stemhost serve FOLDER --device system`` on a free port; stopped with SIGTERM at the end, which must exit 0
    with no traceback."""
    port = free_port(host if host != "0.0.0.0" else "127.0.0.1")
    log = folder.parent / f"serve-{port}.log"
    command = [sys.executable, "-m", "stemhost.cli.main", "serve", str(folder), "--port", str(port)]
    command += ["--host", host, "--device", "system", *args, *(["--token", token] if token else [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(f"http://127.0.0.1:{port}", token, folder, process, log)
    if token:
        server.headers["Authorization"] = f"Bearer {token}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"stemhost serve exited {process.returncode}:\n{server.output()}"
            with contextlib.suppress(OSError):
                if server.call("GET", "/api/state")[0] == 200:
                    break
            assert time.monotonic() < deadline, f"stemhost serve did not answer:\n{server.output()}"
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(f"stemhost serve did not stop on SIGTERM:\n{server.output()}") from None
    text = server.output()
    assert process.returncode == 0, f"stemhost serve exited {process.returncode}:\n{text}"
    assert "Traceback" not in text, text


# ---------------------------------------------------------------- recording the server's sound through JACK


def jack_ports(port: str) -> list[str]:
    return subprocess.run(["jack_lsp", "-c", port], capture_output=True, text=True).stdout.split()[1:]


def playing_into(side: int) -> list[str]:
    """PortAudio output ports connected to system:playback_<side>."""
    return [p for p in jack_ports(f"system:playback_{side}") if ":out_" in p]


def new_ports(side: int, before: set[str], client: str | None) -> list[str]:
    """PortAudio output ports feeding system:playback_<side> that were not there before (of ``client`` if given);
    waits up to 5 s for one."""
    deadline = time.monotonic() + 5
    while True:
        found = [p for p in playing_into(side) if p not in before and (client is None or p.startswith(client + ":"))]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


@dataclass
class Take:
    """What :func:`recording` recorded: ``audio`` (frames, 2) float32 at 48 kHz. A moment is marked by
    :attr:`frames`, the frames recorded so far (a JACK period late at most): JACK's dummy clock drifts from the
    wall clock, so wall times are never turned into frames."""

    blocks: list = field(default_factory=list)

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.zeros((0, 2), np.float32)

    @property
    def frames(self) -> int:
        return sum(len(b) for b in list(self.blocks))


@contextlib.contextmanager
def recording(ports: tuple[str, str]) -> Iterator[Take]:
    """Record a server's JACK output (``Server.ports``, connected to a new input stream of this process)."""
    import stemhost.live.devices

    sd = stemhost.live.devices.sounddevice()
    device = stemhost.live.devices.find_device("system")
    take = Take()

    def got(data, frames, time_info, status) -> None:
        take.blocks.append(data.copy())

    played = list(ports)
    with sd.InputStream(device=device.index, samplerate=SR, channels=2, dtype="float32", blocksize=256, callback=got):
        for side, source in zip((1, 2), played, strict=True):
            recorder = next(p for p in jack_ports(f"system:capture_{side}") if ":in_" in p)
            subprocess.run(["jack_disconnect", f"system:capture_{side}", recorder], check=True)
            subprocess.run(["jack_connect", source, recorder], check=True)
        yield take


def wait_for(condition, timeout: float = 10.0, every: float = 0.02):
    """The condition's first true value, checked every ``every`` seconds; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def level(x: np.ndarray, freq: float) -> float:
    """The amplitude of the sine at freq in 1-D audio (a Hann-windowed single-bin DFT)."""
    window = np.hanning(x.size)
    phasor = np.exp(-2j * np.pi * freq * np.arange(x.size) / SR)
    return float(2 * abs(np.sum(x * window * phasor)) / np.sum(window))


def steady(x: np.ndarray, freq: float) -> float:
    """The median amplitude of the sine at freq over 100 ms windows: one glitch of a busy machine does not count."""
    return float(np.median([level(x[i : i + SR // 10], freq) for i in range(0, x.size - SR // 10 + 1, SR // 10)]))


def db(amplitude: float) -> float:
    return float(20 * np.log10(max(amplitude, 1e-9)))


__all__ = [
    "SR",
    "Server",
    "Take",
    "db",
    "free_port",
    "level",
    "make_song",
    "recording",
    "serving",
    "steady",
    "tone",
    "write_audio",
]
