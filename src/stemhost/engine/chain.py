"""A strip's or bus's chain: runs of built-in effects and third-party plugins, each late by its own latency.

:class:`AlignedChain` streams blocks through its stages (pedalboard's streaming mode, ``reset=False``);
each stage returns full blocks late by its latency (built-in effects' measured by streaming silence,
:func:`measure_latency`; a plugin's as it reports it), and the chain's latency is their sum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pedalboard

from stemhost.engine.buffers import SampleFifo


def measure_latency(board: pedalboard.Pedalboard, sample_rate: float, channels: int, block_size: int) -> int:
    """Frames a chain withholds when streamed: pedalboard reports no latency, so count them.

    Latent plugins return fewer frames than they are given at the start of a stream, and their
    output is aligned with its input. Silence is fed until two blocks in a row come back whole
    (at most half a second or 4 blocks); the largest shortfall seen is the latency. The chain is
    reset afterwards.
    """
    if len(board) == 0:
        return 0
    silence = np.zeros((channels, block_size), dtype=np.float32)
    fed = returned = shortfall = whole_in_a_row = 0
    for _ in range(max(4, math.ceil(0.5 * sample_rate / block_size))):
        got = board.process(silence, sample_rate, reset=False).shape[1]
        fed, returned = fed + block_size, returned + got
        shortfall = max(shortfall, fed - returned)
        whole_in_a_row = whole_in_a_row + 1 if got == block_size else 0
        if whole_in_a_row == 2:
            break
    board.reset()
    return shortfall


class BoardStage:
    """Built-in pedalboard effects streamed together: full blocks out, late by their measured latency."""

    def __init__(self, board: pedalboard.Pedalboard, sample_rate: float, channels: int, block_size: int) -> None:
        self.board = board
        self.sample_rate = sample_rate
        self.channels = channels
        self.block_size = block_size
        self.latency = measure_latency(board, sample_rate, channels, block_size)
        self._fifo = SampleFifo(channels, prefill=self.latency) if self.latency else None

    def process(self, block: np.ndarray) -> np.ndarray:
        out = self.board.process(block, self.sample_rate, reset=False)
        if self._fifo is None:
            if out.shape[1] != block.shape[1]:
                raise RuntimeError("a chain measured without latency returned a short block")
            return out
        self._fifo.push(out)
        return self._fifo.pop(block.shape[1])

    def reset(self) -> None:
        """Back to where a long silence leaves the stream: the board cleared, then fed its latency in silence
        (and that output kept), so what a lookahead plays ahead of the next sound is not lost."""
        self.board.reset()
        if self._fifo is not None:  # board frame i answers input frame i; this stage hands out i − latency
            silence = np.zeros((self.channels, self.block_size), np.float32)
            fed = self.block_size * math.ceil(self.latency / self.block_size)
            out = [self.board.process(silence, self.sample_rate, reset=False) for _ in range(fed // self.block_size)]
            ahead = np.concatenate(out, axis=1)[:, fed - self.latency :]
            if fed - sum(o.shape[1] for o in out) > self.latency:
                raise RuntimeError("a chain withheld more than its measured latency after a reset")
            self._fifo = SampleFifo(self.channels)
            self._fifo.push(ahead)


class Stage(Protocol):
    """A part of a chain: a :class:`BoardStage` or a third-party plugin (:class:`~stemhost.engine.plugin_stage.PluginStage`).

    Each returns full ``(channels, n)`` blocks, late by its ``latency``."""

    latency: int
    channels: int

    def process(self, block: np.ndarray) -> np.ndarray: ...


class AlignedChain:
    """A chain streamed in fixed blocks that returns full blocks, late by its latency (the sum of its stages').

    Args:
        parts: the effects, in order: a Pedalboard of built-in effects, or a list of Pedalboards and
            prepared stages (third-party plugins).
        sample_rate: Hz.
        channels: channel count of the audio it is given (a stage may turn mono into stereo).
        block_size: frames per call to :meth:`process`.
    """

    def __init__(
        self,
        parts: pedalboard.Pedalboard | Sequence[pedalboard.Pedalboard | Stage],
        sample_rate: float,
        channels: int,
        block_size: int,
    ) -> None:
        self.sample_rate = sample_rate
        self.stages: list[Stage] = []
        for part in [parts] if isinstance(parts, pedalboard.Pedalboard) else parts:
            if isinstance(part, pedalboard.Pedalboard):
                if len(part) == 0:
                    continue
                part = BoardStage(part, sample_rate, channels, block_size)
            self.stages.append(part)
            channels = part.channels
        self.channels = channels
        self.latency = sum(stage.latency for stage in self.stages)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Process ``(channels, n)`` audio; returns ``(self.channels, n)``."""
        for stage in self.stages:
            block = stage.process(block)
        return block

    def reset(self) -> None:
        """Back to the state of a fresh stream (only chains of built-in effects: see :mod:`silence`)."""
        for stage in self.stages:
            stage.reset()  # type: ignore[attr-defined]
