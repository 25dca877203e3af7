"""Third-party plugins: stemhost against a plain pedalboard script loading the same VST3 plugins.

The 16 stems of the benchmark's short session, each through Debian's ZamEQ2 (an EQ, mono: dual mono on
these stereo stems) and ZamCompX2 (a stereo compressor), summed to the master: rendered by
``stemhost render --tail 0`` and by ``scripts/bench_baseline.py`` (whole buffers, one thread, the
parameters set as a script sets them). Wall time, CPU time (user + system) and peak memory of each, as
ratios from the same run. Skipped when zam-plugins is not installed (``apt-get install zam-plugins``).

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import json
from pathlib import Path

EQ = {"type": "VST3Plugin", "path_to_plugin_file": "ZamEQ2.vst3",
      "parameter_values": {"boost_cut_1_db": 3.0, "frequency_1_hz": 200.0, "boost_cut_2_db": -2.0}}  # fmt: skip
COMPRESSOR = {"type": "VST3Plugin", "path_to_plugin_file": "ZamCompX2.vst3",
              "parameter_values": {"threshold_db": -18.0, "ratio": 4.0}}  # fmt: skip
REQUIRED = ("ZamEQ2.vst3", "ZamCompX2.vst3")


def run(session: Path, repeat: int, measure_logged, stemhost_command, baseline_command, max_difference) -> dict:
    """Print and return the plugin section's figures (empty when the plugins are not installed).

    Args:
        session: the benchmark's short session (its stems are reused; a plugin session is written beside it).
        repeat: runs of each render; the best wall and CPU time count, the highest memory.
        measure_logged, stemhost_command, baseline_command, max_difference: bench.py's.
    """
    from bench_baseline import VST3_FOLDER

    missing = [name for name in REQUIRED if not (VST3_FOLDER / name).exists()]
    if missing:
        print(f"  skipped: {', '.join(missing)} not in {VST3_FOLDER} (apt-get install zam-plugins)")
        return {}
    data = json.loads(session.read_text())
    stems = [
        {"name": s["name"], "file": s["file"], "role": s.get("role", "other"), "chain": [EQ, COMPRESSOR]}
        for s in data["stems"]
    ]
    plugin_session = session.with_name("session-plugins.json")
    plugin_session.write_text(json.dumps({"stems": stems}, indent=2) + "\n")
    ours, theirs = [], []
    for k in range(repeat):
        command = baseline_command(plugin_session, session.parent / "out_plugins_baseline.wav")
        theirs.append(measure_logged(f"{k + 1}: baseline plugins", command, session.parent / "plugins_baseline.log"))
        command = stemhost_command(plugin_session, session.parent / "out_plugins_stemhost.wav")
        ours.append(measure_logged(f"{k + 1}: stemhost plugins", command, session.parent / "plugins_stemhost.log"))
    wall = min(r.wall_s for r in ours) / min(r.wall_s for r in theirs)
    cpu = min(r.cpu_s for r in ours) / min(r.cpu_s for r in theirs)
    memory = max(r.peak_mib for r in ours) / max(r.peak_mib for r in theirs)
    difference, _, _ = max_difference(
        session.parent / "out_plugins_stemhost.wav", session.parent / "out_plugins_baseline.wav"
    )
    print(
        f"  16 stems x (ZamEQ2 dual mono + ZamCompX2), stemhost / baseline: wall {wall:.3f}x, CPU {cpu:.3f}x, "
        f"peak memory {memory:.3f}x; max |difference| {difference:.3g} (the baseline's parameters snap to "
        "1,001 steps and it reads PCM on pedalboard's scale)"
    )
    return {"plugins": {"wall_ratio": round(wall, 3), "cpu_ratio": round(cpu, 3), "memory_ratio": round(memory, 3),
                        "max_abs_difference": float(f"{difference:.3g}")}}  # fmt: skip
