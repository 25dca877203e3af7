"""Capturing a sound: a plugin's own editor window, and its state when the window closes.

The editor runs in a child process (``python -m stemhost.engine.plugin_editor REQUEST.json``): a plugin's
window code is native and may crash the process that shows it (pedalboard issue #444: under some X11
set-ups ``show_editor`` ends the process with an X error; measured: on an X server without a window
manager or without an XSETTINGS daemon), and that must never take stemhost, or the
session file, with it. The child loads the plugin as a render does (trust rule, ``raw_state`` then
``parameter_values``), runs one block of silence (some plugins copy parameters into their state only when
they run), shows the editor until the user closes it, runs another block, and prints the captured state
and the current values of the entry's parameters as one JSON line.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stemhost.engine.plugin_stage import probe_channels
from stemhost.errors import SessionError

SAMPLE_RATE = 48000.0
BLOCK = 512


def needs_display(platform_name: str = sys.platform) -> str | None:
    """Why no editor window can open here (Linux without $DISPLAY or $WAYLAND_DISPLAY), or None."""
    if platform_name.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display to show the plugin's editor on ($DISPLAY is not set); run it in a desktop session"
    return None


def capture(plugin: object, keys: list[str], show: Callable[[object], None], where: str) -> dict:
    """Show a loaded plugin's editor (``show``) and return its state and the values of ``keys`` afterwards.

    Args:
        where: the chain entry's location, for the error of a plugin taking neither mono nor stereo.

    Returns:
        ``{"raw_state": base64 text, "parameter_values": {key: value}}``, the values read from the plugin
        (numbers as floats, switches as booleans, choices as their words).
    """
    channels = probe_channels(plugin, 2, SAMPLE_RATE, BLOCK, where)  # stereo, or mono for a mono plugin
    silence = np.zeros((channels, BLOCK), np.float32)
    plugin.process(silence, SAMPLE_RATE, BLOCK, reset=False)
    show(plugin)
    plugin.process(silence, SAMPLE_RATE, BLOCK, reset=False)  # the state reflects parameters only after a block ran
    values = {}
    for key in keys:
        value = getattr(plugin, key)
        values[key] = value if isinstance(value, (bool, str)) else float(value)
    return {"raw_state": base64.b64encode(plugin.raw_state).decode("ascii"), "parameter_values": values}


def edit_in_child(request: dict, timeout_s: float | None = None) -> dict:
    """Run the editor in a child process; its captured state, or a one-line error.

    Args:
        request: ``{"entry": the chain entry (JSON), "folders": [plugin folders], "where": its location}``.

    Raises:
        SessionError: the child failed (the plugin's error, a crash by signal, no state printed).
    """
    where = request["where"]
    done = subprocess.run(
        [sys.executable, "-m", "stemhost.engine.plugin_editor"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        return json.loads(lines[-1])
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    if errors:
        raise SessionError(errors[-1].removeprefix("error: "))
    if done.returncode < 0:
        import signal

        name = signal.Signals(-done.returncode).name
        reason = f"crashed ({name})"
    else:
        tail = (done.stderr.strip().splitlines() or ["no message"])[0]
        reason = f"ended with status {done.returncode} ({tail[:200]})"
    raise SessionError(
        f"{where}: the plugin's editor {reason}; nothing was written (pedalboard's editor window ends its process "
        "on an X server without a window manager or an XSETTINGS daemon: pedalboard issue #444)"
    )


def main() -> int:
    """The child: read the request from stdin, show the editor until the user closes it, print the capture."""
    from stemhost.engine.plugin_load import load_third_party
    from stemhost.engine.plugin_scan_worker import answer_channel
    from stemhost.session.effects import PLUGIN_CLASSES

    answer = answer_channel()
    request = json.loads(sys.stdin.read())
    where = request["where"]
    kinds = {cls.__name__: cls for cls in PLUGIN_CLASSES}
    try:
        entry = kinds[request["entry"]["type"]].model_validate(request["entry"])
        plugin = load_third_party(entry, [Path(f) for f in request["folders"]], where)
    except SessionError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    captured = capture(plugin, list(entry.parameter_values), lambda p: p.show_editor(), where)
    answer.write(json.dumps(captured) + "\n")
    answer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
