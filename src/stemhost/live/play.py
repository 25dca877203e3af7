"""``stemhost play``: open the device, start the player, run the mixer or play headless, summarise the playback."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stemhost.engine.click import IMPLICIT_CHANNELS, implicit_bus
from stemhost.errors import DeviceError
from stemhost.live.devices import Device, find_device, open_stream
from stemhost.live.player import CallbackStats, Player
from stemhost.session.model import Session
from stemhost.units import format_time

log = logging.getLogger("stemhost")


@dataclass(frozen=True)
class PlayOptions:
    device: str | None = None
    blocksize: int = 256
    start_s: float = 0.0
    duration_s: float | None = None
    capture_s: float = 0.0
    held: bool = False  # silent until Player.release()
    plugin_folders: tuple[Path, ...] | None = None  # where third-party plugins may come from (None: the defaults)


def output_channels(session: Session, device: Device) -> int:
    """The device channels a session plays on: 2, or more for buses with ``device_channels`` (the click's implicit
    cue bus on 3-4 when the device has them)."""
    channels = max([2, *(max(b.device_channels) for b in session.buses if b.device_channels)])
    if implicit_bus(session) and device.channels >= max(IMPLICIT_CHANNELS):
        channels = max(channels, *IMPLICIT_CHANNELS)
    return channels


@contextlib.contextmanager
def playing(session: Session, session_path: Path, options: PlayOptions) -> Iterator[tuple[Player, Device]]:
    """A player rendering ahead and a started output stream on the device; both closed on exit."""
    device = find_device(options.device)
    channels = output_channels(session, device)
    player = Player(
        session,
        session_path,
        device.sample_rate,
        channels,
        options.start_s,
        options.duration_s,
        options.capture_s,
        held=options.held,
        device_block=options.blocksize,
        plugin_folders=options.plugin_folders,
    )
    try:
        stream = open_stream(device, device.sample_rate, options.blocksize, channels, player.callback)
        player.start()
        with stream:
            player.device_latency_s = float(stream.latency)
            player.stream = stream
            yield player, device
    finally:
        player.close()


def recorded(session: Session) -> Session:
    """The session at the recording's key and tempo: what playing starts with, at once, while the key and tempo
    asked for are rendered (Rubber Band needs seconds per stem)."""
    return session.model_copy(update={"key_shift": 0.0, "tempo": 1.0})


def ask_for(player: Player, session: Session) -> None:
    """Ask the player for a session's key and tempo, as the mixer does: heard once ready, the playing one until."""
    if session.key_shift != player.wanted.key_shift:
        player.set_key(session.key_shift)
    if session.tempo != player.wanted.tempo:
        player.set_tempo(session.tempo)
    if player.preparing:
        log.info(f"{player.preparing}; playing key {player.session.key_shift:+g} until it is ready")


def wait_until_done(player: Player) -> None:
    """Headless: wait for the end (of the song or of --duration), keeping the CPU figure current and noting when
    a key or tempo asked for starts playing."""
    stream = player.stream
    asked = time.monotonic()
    preparing = player.preparing
    while not player.ended:
        if not stream.active:
            raise DeviceError("the audio device stopped playing (was it unplugged, or did its server stop?)")
        player.cpu_load = float(stream.cpu_load)
        if preparing and not player.preparing and player.error is None:
            now = player.session
            log.info(
                f"playing key {now.key_shift:+g}, tempo {now.tempo:g} (ready after {time.monotonic() - asked:.1f} s)"
            )
        preparing = player.preparing
        time.sleep(0.05)
    deadline = time.monotonic() + 2.0
    while player.ring.fill and time.monotonic() < deadline:  # let the last frames play out
        time.sleep(0.01)
    if player.error is not None:
        raise player.error


def played_s(player: Player) -> float:
    """The time actually played: the frames the audio callback took from the ring (not silence, not pauses)."""
    return player.ring.read / player.sample_rate


def playback_summary(player: Player, device: Device, blocksize: int) -> list[str]:
    """The lines printed when playback ends: time played (:func:`played_s`, from the frames the device took),
    xruns (the device's and the program's), latency, load."""
    stats: CallbackStats = player.callback_stats(blocksize)
    return [
        f"played {format_time(played_s(player))} on {device.name!r} ({device.host_api}) at {player.sample_rate} Hz, "
        f"blocksize {blocksize}",
        f"xruns: {player.device_xruns} reported by the device, {player.render_underruns} render underruns "
        f"(the render thread fell behind; {player.render_underruns - player.program_underruns} of them in the "
        "machine's stalls)",
        f"stalls: the render thread was kept from running {player.machine_stalls} times, the whole process "
        f"{player.process_stalls} times, the longest {1000 * player.longest_stall_s:.0f} ms; "
        f"{player.program_stalls} times it needed more CPU than real time",
        f"latency: {player.latency_ms:.1f} ms ({1000 * player.device_latency_s:.1f} ms device buffer + "
        f"{1000 * player.ahead_s:.1f} ms rendered ahead{grown(player)})",
        f"audio callback: median {100 * stats.median:.2f} %, 99th percentile {100 * stats.p99:.2f} % of a block's "
        f"duration over {stats.calls} blocks; PortAudio CPU load {100 * player.cpu_load:.1f} %",
    ]


def grown(player: Player) -> str:
    """How far the render-ahead grew to ride out stalls ('' if it did not)."""
    if player.ahead_s <= player.start_ahead_s:
        return ""
    return f", grown from {1000 * player.start_ahead_s:.1f} ms after stalls"


@dataclass(frozen=True)
class Played:
    """How a playback ended: the summary lines, and the error the player met while playing, if any."""

    summary: list[str]
    error: BaseException | None = None


def play_headless(
    session: Session,
    session_path: Path,
    options: PlayOptions,
    control: Callable[[Player], contextlib.AbstractContextManager] | None = None,
) -> Played:
    """Play a session without the mixer until it ends (or Ctrl-C); notes go to the ``stemhost`` logger.

    Playing starts at once at the recording's key and tempo; the session's own are asked for as the mixer asks
    (:func:`ask_for`) and heard once rendered. ``control`` (e.g. a MIDI listener) runs while the player plays.
    """
    with (
        playing(recorded(session), session_path, options) as (player, device),
        (control or (lambda _player: contextlib.nullcontext()))(player),
    ):
        log.info(f"playing {session_path.name} on {device.name!r} at {device.sample_rate} Hz (Ctrl-C stops)")
        ask_for(player, session)
        try:
            wait_until_done(player)
        except KeyboardInterrupt:
            log.info("stopped")
    return Played(playback_summary(player, device, options.blocksize))
