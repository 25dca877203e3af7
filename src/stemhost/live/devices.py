"""Audio output devices through sounddevice (PortAudio), imported only by ``play`` and ``devices``.

Rendering never needs PortAudio; this module is the one place that imports sounddevice.
"""

from __future__ import annotations

from dataclasses import dataclass

from stemhost.errors import DeviceError

NO_DEVICE_HELP = (
    "connect a sound card, or start a JACK server (without one: jackd -d dummy -r 48000 -p 256) "
    "and name it with --device system"
)


def sounddevice():
    """The sounddevice module, or a DeviceError saying which system package PortAudio comes in."""
    try:
        import sounddevice as sd
    except OSError as exc:
        raise DeviceError(
            "PortAudio is missing, so no audio device can be opened; install it "
            "(Debian/Ubuntu: apt-get install libportaudio2; Fedora: dnf install portaudio; macOS: brew install portaudio)"
        ) from exc
    return sd


@dataclass(frozen=True)
class Device:
    """An output device as PortAudio lists it."""

    index: int
    name: str
    host_api: str
    channels: int
    sample_rate: int
    default: bool


def output_devices() -> list[Device]:
    """Every device that can play, the default marked."""
    sd = sounddevice()
    apis = sd.query_hostapis()
    try:
        default = sd.default.device[1]
    except (TypeError, IndexError):
        default = -1
    return [
        Device(
            i,
            d["name"],
            apis[d["hostapi"]]["name"],
            d["max_output_channels"],
            int(d["default_samplerate"]),
            i == default,
        )
        for i, d in enumerate(sd.query_devices())
        if d["max_output_channels"] > 0
    ]


def find_device(name: str | None) -> Device:
    """The device named (exactly, else the only one whose name contains it; an index works too), or the default."""
    devices = output_devices()
    if not devices:
        raise DeviceError(f"no audio output device is available; {NO_DEVICE_HELP}")
    if name is None:
        return next((d for d in devices if d.default), devices[0])
    if name.isdigit():
        found = [d for d in devices if d.index == int(name)]
    else:
        found = [d for d in devices if d.name == name] or [d for d in devices if name.lower() in d.name.lower()]
    if len(found) == 1:
        return found[0]
    listing = "; ".join(f"{d.index}: {d.name!r}" for d in devices)
    why = "no output device matches" if not found else "several output devices match"
    raise DeviceError(f"--device {name!r}: {why} it; give a name or number from `stemhost devices` ({listing})")


def open_stream(device: Device, sample_rate: int, blocksize: int, channels: int, callback):
    """An output stream (not started) on a device, float32 frames of ``channels``."""
    sd = sounddevice()
    if channels > device.channels:
        raise DeviceError(
            f"--device {device.name!r} has {device.channels} output channels; the session routes a bus to channel "
            f"{channels} (device_channels): choose a device with more outputs or change the bus"
        )
    try:
        return sd.OutputStream(
            device=device.index,
            samplerate=sample_rate,
            blocksize=blocksize,
            channels=channels,
            dtype="float32",
            callback=callback,
        )
    except sd.PortAudioError as exc:
        raise DeviceError(
            f"--device {device.name!r} cannot play at {sample_rate} Hz with --blocksize {blocksize} ({exc}); "
            f"its own rate is {device.sample_rate} Hz: try another --blocksize (e.g. 256, 512, 1024)"
        ) from exc
