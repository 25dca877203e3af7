"""Scan one plugin bundle and print what it holds as JSON: run only as a subprocess of the scanner.

``python -m stemhost.engine.plugin_scan_worker BUNDLE [KIND]`` loads each plugin in the bundle with
pedalboard and prints one JSON list on stdout: per plugin its name, vendor, version, category, the channel
counts it processes, its reported latency and its parameters (:mod:`stemhost.engine.plugin_params`). A
plugin that raises while loading is listed with its ``error``. Loading runs the plugin's own code, which may
crash or never return: that is why this runs in a process of its own (:mod:`stemhost.engine.plugin_scan`).
Anything the plugin prints goes to stderr, so stdout carries only the JSON.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TextIO

PROBE_FRAMES = 64
PROBE_RATE = 48000
CHANNELS = re.compile(r"expects (\d+) input channels and (\d+) output channels")


def scan(bundle: str, kind: str = "VST3Plugin") -> list[dict]:
    """The plugins of one bundle, each as a JSON-ready dict (see the module's docstring)."""
    import pedalboard

    plugin_class = getattr(pedalboard, kind)
    try:
        names = list(plugin_class.get_plugin_names_for_file(bundle))
    except (ImportError, RuntimeError, ValueError) as exc:
        return [{"name": os.path.splitext(os.path.basename(bundle))[0], "error": _first_line(exc)}]
    found = []
    for name in names:
        try:
            plugin = plugin_class(bundle, plugin_name=name) if len(names) > 1 else plugin_class(bundle)
            found.append(describe(plugin, name))
        except (ImportError, RuntimeError, ValueError) as exc:
            found.append({"name": name, "error": _first_line(exc)})
    return found


def describe(plugin: object, name: str) -> dict:
    """What a loaded plugin says about itself, and the channel counts it accepts (measured by processing)."""
    from stemhost.engine.plugin_params import describe_parameters

    accepted, expected = [], None
    for channels in (2, 1):
        try:
            plugin.process(_silence(channels), PROBE_RATE)
            accepted.append(channels)
        except ValueError as exc:
            match = CHANNELS.search(str(exc))
            expected = (int(match[1]), int(match[2])) if match else expected
    if accepted:
        inputs = outputs = max(accepted)
    else:
        inputs, outputs = expected or (0, 0)
    return {
        "name": str(getattr(plugin, "name", "") or name),
        "vendor": str(getattr(plugin, "manufacturer_name", "") or ""),
        "version": str(getattr(plugin, "version", "") or ""),
        "category": str(getattr(plugin, "category", "") or ""),
        "is_instrument": bool(getattr(plugin, "is_instrument", False)),
        "channels_in": inputs,
        "channels_out": outputs,
        "channel_counts": sorted(accepted),
        "latency_samples": int(getattr(plugin, "reported_latency_samples", 0) or 0),
        "parameters": [info.to_dict() for info in describe_parameters(plugin)],
    }


def _silence(channels: int):
    import numpy as np

    return np.zeros((channels, PROBE_FRAMES), dtype=np.float32)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def answer_channel() -> TextIO:
    """The child's own stdout for its one JSON answer; everything else printed (the plugin's messages, native
    or Python) goes to stderr from here on, so it cannot corrupt the answer."""
    answer = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return answer


def main(argv: list[str]) -> int:
    answer = answer_channel()
    result = scan(argv[0], *argv[1:2])
    answer.write(json.dumps(result) + "\n")
    answer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
