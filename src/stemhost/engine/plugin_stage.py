"""A third-party plugin as a stage of a chain: streamed in fixed buffers, full blocks out, late by its latency.

- **Fixed buffer size.** A plugin is prepared for the largest block it is handed; a later, bigger block
  re-prepares it and loses its state. Every call (the probe included) therefore passes the same
  ``buffer_size`` and the same block length, so no block is ever bigger than the first.
- **Latency.** A plugin reports it (``reported_latency_samples``, e.g. 480 frames for ZaMaximX2). Streamed,
  its output comes back full length and late by that much; should pedalboard instead withhold the first
  frames (short blocks), they are given back as the silence they stand for, so either way the stage
  is late by exactly its latency.
- **Channels.** A mono plugin on a stereo strip runs as dual mono (two instances, same state and
  values); a stereo plugin on mono material gets the mono signal on both sides, and the strip is
  stereo from there on; a plugin that takes neither one nor two channels is refused.
- **Bypass.** Its input passes through delayed by the plugin's latency, so bypassing moves nothing in
  time. A plugin bypassed in the session is loaded and checked but not run. One that can be toggled while
  playing (:meth:`PluginStage.set_bypass`) keeps running while bypassed, as a DAW's plugin does, so its
  state is current when it comes back; the switch crossfades over one block, so it never clicks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pedalboard

from stemhost.engine.buffers import SampleFifo
from stemhost.engine.plugin_load import load_third_party
from stemhost.errors import SessionError
from stemhost.session.effects import ThirdPartyPlugin

MAX_STREAM_BUFFER = 8192  # frames per call into a plugin (pedalboard's default); bigger blocks are cut into these


def stream_buffer(block_size: int) -> int:
    """The fixed ``buffer_size`` a plugin is streamed with in a graph of this block size."""
    return min(block_size, MAX_STREAM_BUFFER)


class _Instance:
    """One plugin instance streamed with a fixed buffer size, returning full blocks late by its latency."""

    def __init__(self, plugin: pedalboard.Plugin, sample_rate: float, buffer_size: int, latency: int) -> None:
        self.plugin = plugin
        self.sample_rate = sample_rate
        self.buffer_size = buffer_size
        self._withheld = latency  # frames pedalboard may still withhold at the start of the stream

    def process(self, block: np.ndarray) -> np.ndarray:
        out = self.plugin.process(block, self.sample_rate, buffer_size=self.buffer_size, reset=False)
        short = block.shape[1] - out.shape[1]
        if short:
            if short > self._withheld:
                raise RuntimeError(f"plugin {self.plugin.name!r} returned {short} frames fewer than its latency")
            self._withheld -= short
            out = np.concatenate([np.zeros((out.shape[0], short), np.float32), out], axis=1)
        return out


def probe_channels(plugin: pedalboard.Plugin, wanted: int, sample_rate: float, buffer_size: int, where: str) -> int:
    """The channel count to run the plugin with on material of ``wanted`` channels: that count if the plugin
    takes it, else the other of one and two. Processes one buffer of silence per try, then resets the plugin."""
    reasons = []
    for channels in (wanted, 3 - wanted):
        try:
            plugin.process(np.zeros((channels, buffer_size), np.float32), sample_rate, buffer_size, reset=False)
        except ValueError as exc:
            reasons.append(str(exc).split(". ")[0])
            continue
        plugin.reset()
        return channels
    raise SessionError(
        f"{where}: {plugin.name!r} takes neither mono nor stereo audio ({'; '.join(reasons)}); "
        f"stemhost runs plugins with one or two channels in and out"
    )


class PluginStage:
    """One chain entry's plugin, ready to stream (see the module's notes).

    Attributes:
        name: the plugin's name.
        latency: frames its output is late by (bypassed or not).
        channels: the channel count it hands on (2 once a stereo plugin has run on mono material).
        mode: ``'mono'``, ``'stereo'``, ``'dual mono'`` or ``'mono to stereo'``.
        bypass: whether it passes its input through (delayed).
        index: its place in the session's chain (set by ``build_chain``).
    """

    index: int = -1

    def __init__(
        self,
        load: Callable[[], pedalboard.Plugin],
        sample_rate: float,
        channels: int,
        block_size: int,
        bypass: bool,
        where: str,
    ) -> None:
        buffer_size = stream_buffer(block_size)
        first = load()
        runs = probe_channels(first, channels, sample_rate, buffer_size, where)
        plugins = [first]
        if runs == 1 and channels == 2:  # dual mono: a second instance with the same state and values
            plugins.append(load())
            probe_channels(plugins[1], 1, sample_rate, buffer_size, where)
        self.name = str(first.name)
        self.latency = int(first.reported_latency_samples)
        self.channels = max(runs, channels)
        self.mode = {(1, 1): "mono", (2, 2): "stereo", (1, 2): "dual mono", (2, 1): "mono to stereo"}[runs, channels]
        self.bypass = bypass
        self.toggled = False  # set_bypass was called: the plugin runs even while bypassed
        self._fade: np.ndarray | None = None  # gains of the wet signal over the next block, while switching
        self._instances = [_Instance(p, sample_rate, buffer_size, self.latency) for p in plugins]
        self._delay = SampleFifo(self.channels, prefill=self.latency) if self.latency else None

    def set_bypass(self, bypass: bool, frames: int) -> None:
        """Switch bypass while streaming: the next ``frames``-frame block crossfades to the new path.

        Call it from the thread that runs :meth:`process` (the render thread), between blocks.
        """
        if bypass != self.bypass:
            self.toggled = True
            ramp = np.linspace(0.0, 1.0, frames + 1, dtype=np.float32)[1:]
            self._fade = 1.0 - ramp if bypass else ramp
            self.bypass = bypass

    def process(self, block: np.ndarray) -> np.ndarray:
        """Process ``(channels, n)`` audio; returns ``(self.channels, n)``, late by :attr:`latency`."""
        if block.shape[0] < self.channels:
            block = np.repeat(block, self.channels, axis=0)
        dry = self._delayed(block)
        if self.bypass and not self.toggled:
            return dry
        wet = self._run(block)
        fade, self._fade = self._fade, None
        if fade is not None and fade.size == block.shape[1]:
            return dry + fade * (wet - dry)
        return dry if self.bypass else wet

    def _delayed(self, block: np.ndarray) -> np.ndarray:
        """The input, late by the plugin's latency (the bypassed path)."""
        if self._delay is None:
            return block
        self._delay.push(block)
        return self._delay.pop(block.shape[1])

    def _run(self, block: np.ndarray) -> np.ndarray:
        if len(self._instances) == 2:
            return np.concatenate([inst.process(block[i : i + 1]) for i, inst in enumerate(self._instances)])
        return self._instances[0].process(block)


def plugin_stage(
    entry: ThirdPartyPlugin,
    folders: Sequence[Path],
    sample_rate: float,
    channels: int,
    block_size: int,
    where: str,
) -> PluginStage:
    """Load a chain entry's plugin (once, or twice for dual mono) and prepare it to stream."""
    return PluginStage(
        lambda: load_third_party(entry, folders, where), sample_rate, channels, block_size, entry.bypass, where
    )
