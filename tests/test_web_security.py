"""The web server's gate: token off loopback, Origin, path traversal, body size, errors without tracebacks."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys

import pytest
from websockets.exceptions import InvalidStatus

from web_server import SRC, make_song, serving

SECRET = "top-secret-file-content"


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """A songs folder with one song, a secret file beside it (outside FOLDER) and a symlink leading to it."""
    root = tmp_path_factory.mktemp("web")
    folder = root / "songs"
    make_song(folder, "song", seconds=2.0)
    outside = root / "outside"
    make_song(outside.parent, "outside", seconds=2.0)
    (root / "secret.txt").write_text(SECRET)
    (folder / "escape").symlink_to(outside, target_is_directory=True)
    (folder / "secret.txt").symlink_to(root / "secret.txt")
    return folder


@pytest.fixture(scope="module")
def local(songs, jack_device):
    with serving(songs) as server:
        yield server


@pytest.fixture(scope="module")
def public(songs, jack_device):
    with serving(songs, host="0.0.0.0", token="s3cret-token") as server:
        yield server


def raw_get(server, target: str, method: str = "GET", headers: dict | None = None) -> tuple[int, bytes]:
    """A request with the target sent exactly as written (no client-side normalisation)."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest(method, target, skip_accept_encoding=True)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.endheaders()
    answer = connection.getresponse()
    return answer.status, answer.read()


TRAVERSALS = [
    "/api/songs/../../secret.txt/open", "/api/songs/%2e%2e/open", "/api/songs/%2E%2E%2Fsecret.txt/open",
    "/api/songs/..%2f..%2fsecret.txt/open", "/api/songs//etc/passwd/open", "/api/songs/%2Fetc%2Fpasswd/open",
    "/api/stems/..%2F..%2Fsecret.txt", "/api/stems/%2e%2e", "/api/buses/..%5c..%5csecret.txt",
    "/api/songs/escape/open", "/api/songs/secret-txt/open", "/api/songs/outside/open",
    "/api/songs/escape/overview", "/api/songs/%2e%2e/overview", "/api/renders/..%2f..%2fsecret.txt",
    "/api/renders/x/files/..%2F..%2Fsecret.txt", "/api/renders/x/files/%2Fetc%2Fpasswd",
    "/static/../../secret.txt", "/static/%2e%2e/%2e%2e/secret.txt", "/static/..%2f..%2fsecret.txt",
    "/static/%2Fetc%2Fpasswd", "/static//etc/passwd", "/static/secret.txt", "/../secret.txt", "/%2e%2e/secret.txt",
    "/static/app.css%00.txt", "/mixer/../../../etc/passwd",
]  # fmt: skip


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_is_404_or_400_and_never_a_file(local, target):
    method = (
        "POST" if target.endswith("/open") else "PATCH" if target.startswith(("/api/stems", "/api/buses")) else "GET"
    )
    status, body = raw_get(local, target, method, {"Content-Length": "0"} if method != "GET" else None)
    assert status in (400, 404), (target, status, body[:200])
    assert SECRET.encode() not in body and b"root:" not in body
    assert json.loads(body)["error"]


def test_a_symlinked_song_leading_out_of_the_folder_is_never_opened(local):
    status, answer, _ = local.call("POST", "/api/songs/escape/open")
    assert status in (400, 404) and local.ok("GET", "/api/state")["song"] is None, answer


def test_static_files_are_served_only_from_the_package(local):
    status, _, headers = local.call("GET", "/static/app.css")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    assert local.call("GET", "/static/nothing.js")[0] == 404


def test_origin_mismatch_is_403_for_changes_and_websockets(local):
    evil = {"Origin": "http://evil.example"}
    status, answer, _ = local.call("POST", "/api/songs/song/open", headers=evil)
    assert status == 403 and "evil.example" in answer["error"]
    assert local.call("GET", "/api/state", headers=evil)[0] == 200, "reading needs no Origin check"
    own = {"Origin": local.url}
    assert local.call("POST", "/api/transport", {"action": "play"}, headers=own)[0] == 409, "own Origin passes"
    with pytest.raises(InvalidStatus) as refused:
        local.ws(headers=evil).close()
    assert refused.value.response.status_code == 403
    with local.ws(headers=own) as client:
        assert json.loads(client.recv(timeout=5))["type"] == "state"


def test_chunked_bodies_over_64_kib_are_413(local):
    host, port = local.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    chunks = (b'{"mute": true, "x": "', *([b"a" * 8192] * 10), b'"}')
    connection.request("PATCH", "/api/stems/vocals", body=iter(chunks), encode_chunked=True,
                       headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})  # fmt: skip
    answer = connection.getresponse()
    assert answer.status == 413 and "64 KiB" in json.loads(answer.read())["error"]


def test_unknown_routes_and_methods_are_json_errors(local):
    status, answer, _ = local.call("GET", "/api/nothing")
    assert status == 404 and answer == {"error": "not found: /api/nothing", "field": None}
    status, answer, _ = local.call("DELETE", "/api/state")
    assert status in (403, 405) and set(answer) == {"error", "field"}


def test_off_loopback_a_token_is_needed(public):
    bare = {"Authorization": ""}
    status, answer, _ = public.call("GET", "/api/state", headers=bare)
    assert status == 401 and "token" in answer["error"]
    assert public.call("GET", "/api/state", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert public.call("GET", "/api/state")[0] == 200  # Bearer s3cret-token
    status, page, _ = public.call("GET", "/mixer", headers=bare)
    assert status == 401 and "printed" in page
    status, _, headers = public.call("GET", "/?token=s3cret-token", headers=bare)
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("stemhost_token=s3cret-token") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert public.call("GET", "/api/state", headers={"Authorization": "", "Cookie": cookie.split(";")[0]})[0] == 200
    assert public.call("GET", "/api/state", headers={"Authorization": "", "Cookie": "stemhost_token=nope"})[0] == 401
    assert public.call("GET", "/api/state?token=nope", headers=bare)[0] == 401
    with pytest.raises(InvalidStatus):
        public.ws(headers=bare).close()
    with public.ws() as client:
        assert json.loads(client.recv(timeout=5))["type"] == "state"


def test_serve_prints_the_address_with_the_token_and_a_qr_code(public):
    out = public.output()
    assert f"?token={public.token}" in out and "open http://" in out
    assert "█" in out or "▀" in out or "▄" in out, "a QR code in the terminal"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["/no/such/folder"], "is not a folder"),
        (["{folder}", "--device", "no-such-device-xyz"], "--device 'no-such-device-xyz'"),
        (["{folder}", "--port", "{port}"], "is in use"),
    ],
)
def test_bad_serve_arguments_are_one_error_line(local, args, words):
    port = local.url.rsplit(":", 1)[1]
    args = [a.format(folder=local.folder, port=port) for a in args]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-m", "stemhost.cli.main", "serve", *args], capture_output=True, text=True, env=env, timeout=60
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and len(lines) == 1 and words in lines[0], done.stderr
    assert "Traceback" not in done.stderr
