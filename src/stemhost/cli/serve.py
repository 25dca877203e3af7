"""``stemhost serve``: the web mixer on uvicorn, in the foreground, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import secrets
import socket
import sys
from pathlib import Path

from stemhost.errors import StemhostError

log = logging.getLogger("stemhost")


class ServeError(StemhostError, OSError):
    """The server cannot start: no such folder, the port is taken."""


def add_serve_command(commands) -> None:
    from stemhost.cli.arguments import add_command, device_arguments, int_between, plugin_path_argument

    serve = add_command(commands, "serve", "the web mixer: songs, mixer, key and tempo, renders, in a browser")
    serve.add_argument("folder", type=Path, nargs="?", default=Path("."), help="the folder of songs (default: .)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need a token)"
    )
    serve.add_argument("--port", type=int_between(1, 65535, "port"), default=8000, help="port (default 8000)")
    serve.add_argument("--token", help="the token browsers must give (default: a random one off loopback)")
    device_arguments(serve)
    plugin_path_argument(serve)
    serve.set_defaults(run=serve_command)


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shown_host(host: str) -> str:
    """The address to print: the machine's own for a wildcard address."""
    if host in ("0.0.0.0", "::", ""):
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return probe.getsockname()[0]
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = "is in use" if exc.errno == 98 else f"cannot be used ({exc.strerror})"
        raise ServeError(f"--host {host} --port {port}: that address {why}; choose another --port") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn

    from stemhost.cli.arguments import plugin_folders
    from stemhost.live.devices import find_device
    from stemhost.web.app import create_app

    folder = args.folder.expanduser()
    if not folder.is_dir():
        raise ServeError(f"{str(folder)!r} is not a folder; give the folder that holds the songs")
    device = find_device(args.device)  # an unknown device is an error now, not when a song opens
    token = args.token or (None if loopback(args.host) else secrets.token_urlsafe(16))
    sock = listening_socket(args.host, args.port)
    app = create_app(
        folder.resolve(), args.device, token, blocksize=args.blocksize, plugin_folders=plugin_folders(args)
    )
    url = f"http://{shown_host(args.host)}:{sock.getsockname()[1]}/" + (f"?token={token}" if token else "")
    print(f"stemhost serve: {folder.resolve()} on {device.name!r}; open {url}", flush=True)
    if token:
        import segno

        segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
    print("Ctrl-C stops", flush=True)
    config = uvicorn.Config(
        app, log_level="warning", ws="websockets-sansio", timeout_graceful_shutdown=2, lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stopped cleanly, then passed the signal on
        pass
    finally:
        sock.close()
    print("stopped", flush=True)
    return 0
