"""Note and key names: scientific pitch notation to MIDI numbers and back, voice ranges, key spellings.

MIDI numbers follow the usual convention: middle C (C4) is 60, A4 (440 Hz) is 69, C-1 is 0.
"""

from __future__ import annotations

import math
import re

from stemhost.errors import SessionError

SHARP_NAMES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES: tuple[str, ...] = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# The major keys written with flats (F, Bb, Eb, Ab, Db); a minor key is spelled as its relative major.
FLAT_MAJOR_TONICS: frozenset[int] = frozenset({5, 10, 3, 8, 1})
LETTER_PITCH: dict[str, int] = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
ACCIDENTALS: dict[str, int] = {"": 0, "#": 1, "##": 2, "x": 2, "b": -1, "bb": -2, "♯": 1, "♭": -1}
MODES: tuple[str, ...] = ("major", "minor")

# One note in scientific pitch notation: a letter, an optional accidental, an octave from -1 to 9.
_NOTE = r"[A-Ga-g](?:##|bb|#|b|x|♯|♭)?-?\d+"
_NOTE_RE = re.compile(r"([A-Ga-g])(##|bb|#|b|x|♯|♭)?(-?\d+)")
_RANGE_RE = re.compile(rf"\s*({_NOTE})\s*(?:-|–|—|\.\.|to)\s*({_NOTE})\s*")
_EXAMPLES = "write scientific pitch notation such as 'A2', 'C#4' or 'Eb3' (letters A-G, octaves -1 to 9)"

# Usual choral ranges of the six voice types, as given in Wikipedia's "Vocal range" article (the ranges
# choral writing assumes; soloists often reach further).
VOICE_RANGES: dict[str, tuple[str, str]] = {
    "soprano": ("C4", "A5"),
    "mezzo": ("A3", "F5"),
    "alto": ("F3", "D5"),
    "tenor": ("C3", "A4"),
    "baritone": ("A2", "F4"),
    "bass": ("E2", "E4"),
}

# Conventional key spellings by tonic pitch class: flats for F, Bb, Eb, Ab, Db major and for
# D, G, C, F, Bb minor, sharps otherwise (F# major, C# minor, G# minor, D# minor).
KEY_NAMES: dict[str, tuple[str, ...]] = {
    "major": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
    "minor": ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "Bb", "B"),
}


def parse_note(text: str) -> float:
    """A note in scientific pitch notation as a MIDI number.

    Args:
        text: ``'A2'``, ``'C#4'``, ``'Eb3'``, ``'Bb-1'``; ``#``/``b`` (or ``##``/``bb``) after the letter.

    Returns:
        The MIDI note number as a float (``'A4'`` → 69.0, ``'C4'`` → 60.0).

    Raises:
        SessionError: the text is not such a note, or lies outside C-1 to G9 (MIDI 0–127).
    """
    match = _NOTE_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise SessionError(f"{text!r} is not a note; {_EXAMPLES}")
    letter, accidental, octave = match.groups()
    midi = 12 * (int(octave) + 1) + LETTER_PITCH[letter.upper()] + ACCIDENTALS[accidental or ""]
    if not 0 <= midi <= 127:
        raise SessionError(f"{text!r} is outside the MIDI range C-1 to G9; {_EXAMPLES}")
    return float(midi)


def note_name(midi: float, key: tuple[int, str] | None = None) -> str:
    """The name of the nearest note, spelled in the key's accidentals (57 → ``'A3'``, 60.4 → ``'C4'``,
    61 → ``'C#4'``, 63 in Eb major → ``'Eb4'``).

    Args:
        midi: a MIDI note number; fractions round to the nearest semitone (a half rounds up).
        key: (tonic pitch class, mode): flats in a flat key (F, Bb, Eb, Ab, Db major; D, G, C, F, Bb minor),
            sharps otherwise and with no key.

    Raises:
        SessionError: the number is not finite.
    """
    if not math.isfinite(midi):
        raise SessionError(f"{midi!r} is not a note number")
    n = math.floor(midi + 0.5)
    names = FLAT_NAMES if key is not None and uses_flats(*key) else SHARP_NAMES
    return f"{names[n % 12]}{n // 12 - 1}"


def uses_flats(tonic_pc: int, mode: str) -> bool:
    """Whether a key is written with flats (``(3, 'major')``, Eb major, → True; ``(4, 'minor')`` → False)."""
    major = int(tonic_pc) + (3 if mode == "minor" else 0)
    return major % 12 in FLAT_MAJOR_TONICS


def short_key_name(name: str) -> str:
    """A key as ID3's TKEY frame writes it, at most three characters: ``'Eb minor'`` → ``'Ebm'``,
    ``'A major'`` → ``'A'``, ``'F# minor'`` → ``'F#m'``."""
    tonic, mode = parse_key(name)
    spelled = key_name(tonic, mode).split()[0] if not re.match(r"\s*[A-Ga-g][#b]", name) else name.strip()[:2]
    return spelled[0].upper() + spelled[1:] + ("m" if mode == "minor" else "")


def parse_range(text: str) -> tuple[float, float]:
    """A note range as MIDI numbers, low first.

    Args:
        text: two notes joined by ``-`` (``'A2-E4'``, also ``'A2 to E4'``), or a voice type from
            ``VOICE_RANGES`` (``'tenor'`` → C3–A4).

    Raises:
        SessionError: the text is neither, or the first note is above the second.
    """
    if isinstance(text, str) and text.strip().lower() in VOICE_RANGES:
        low, high = VOICE_RANGES[text.strip().lower()]
        return parse_note(low), parse_note(high)
    match = _RANGE_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        voices = ", ".join(VOICE_RANGES)
        raise SessionError(f"{text!r} is not a note range; write two notes such as 'A2-E4', or one of {voices}")
    low, high = parse_note(match.group(1)), parse_note(match.group(2))
    if low > high:
        raise SessionError(f"{text!r}: {match.group(1)} is above {match.group(2)}; write the lower note first")
    return low, high


def key_name(tonic_pitch_class: int, mode: str) -> str:
    """A key's conventional name (``key_name(9, 'major')`` → ``'A major'``, ``(6, 'minor')`` → ``'F# minor'``).

    Args:
        tonic_pitch_class: 0 for C … 11 for B; other integers wrap around.
        mode: ``'major'`` or ``'minor'``.

    Raises:
        SessionError: the mode is neither.
    """
    if mode not in KEY_NAMES:
        raise SessionError(f"{mode!r} is not a mode; use 'major' or 'minor'")
    return f"{KEY_NAMES[mode][int(tonic_pitch_class) % 12]} {mode}"


def transpose_key(tonic_pc: int, mode: str, semitones: float) -> str:
    """The name of a key moved by some semitones (``transpose_key(9, 'major', 2)`` → ``'B major'``).

    Args:
        tonic_pc: the tonic's pitch class, 0 (C) to 11 (B).
        mode: ``'major'`` or ``'minor'``.
        semitones: the shift; fractions round to the nearest semitone (a half rounds up).
    """
    return key_name(int(tonic_pc) + math.floor(semitones + 0.5), mode)


def spell_key(text: str, semitones: float = 0.0) -> str:
    """A key name moved by some semitones, spelled as written when it does not move (``'Eb minor'`` stays
    ``'Eb minor'``, not ``'D# minor'``; ``'ebm'`` → ``'Eb minor'``) and conventionally when it does."""
    tonic, mode = parse_key(text)
    if math.floor(semitones + 0.5) % 12:
        return transpose_key(tonic, mode, semitones)
    match = re.match(r"\s*([A-Ga-g])(#|b)?", text)
    return f"{match.group(1).upper()}{match.group(2) or ''} {mode}"


def parse_key(text: str) -> tuple[int, str]:
    """A key name as (tonic pitch class, mode): ``'F# minor'`` → ``(6, 'minor')``, ``'Bbm'`` → ``(10, 'minor')``.

    Accepts ``'<tonic> major'``, ``'<tonic> minor'``, ``'<tonic>'`` (major) and ``'<tonic>m'`` (minor).

    Raises:
        SessionError: the text is not a key name.
    """
    match = re.fullmatch(r"\s*([A-Ga-g])(##|bb|#|b|♯|♭)?\s*(major|maj|minor|min|m)?\s*", text or "")
    if match is None:
        raise SessionError(f"{text!r} is not a key; write e.g. 'A major', 'F# minor' or 'Ebm'")
    letter, accidental, mode = match.groups()
    pc = (LETTER_PITCH[letter.upper()] + ACCIDENTALS[accidental or ""]) % 12
    return pc, "minor" if mode in ("minor", "min", "m") else "major"


def relative_key(tonic_pc: int, mode: str) -> str:
    """The relative key's name: same notes, other mode (``(0, 'major')`` → ``'A minor'``)."""
    return key_name(tonic_pc + 9, "minor") if mode == "major" else key_name(tonic_pc + 3, "major")


def shift_to_key(song_key: str, wanted: str, direction: str | None = None, option: str = "--key") -> int:
    """The key shift, in semitones, that moves a song from its key into the key wanted.

    Args:
        song_key: the song's own key, e.g. ``'Eb major'``.
        wanted: the key to play in: ``'C'``, ``'A minor'``, ``'Ebm'``; a bare tonic takes the song's mode.
        direction: None for the nearest way (-5 to +6 semitones), ``'up'`` (0 to +11) or ``'down'`` (-11 to 0).
        option: the option named in messages.

    Raises:
        SessionError: the wanted key is not a key name, or its mode is not the song's (the message names
            the relative key that has the song's mode).
    """
    tonic, mode = parse_key(song_key)
    match = re.fullmatch(r"\s*([A-Ga-g](?:##|bb|#|b|♯|♭)?)\s*(major|maj|minor|min|m)?\s*", wanted or "")
    if match is None:
        raise SessionError(f"{option} {wanted!r} is not a key; write e.g. C, 'A minor', Eb or F#m, or semitones (-3)")
    target, target_mode = parse_key(wanted)
    if match.group(2) is None:
        target_mode = mode
    if target_mode != mode:
        fix = relative_key(target, target_mode)
        raise SessionError(
            f"{option} {wanted!r}: the song is in {key_name(tonic, mode)}, a {mode} key, so it cannot play in "
            f"{key_name(target, target_mode)}; its relative {mode} key is {fix}: use {option} {fix.split()[0]!r}"
        )
    up = (target - tonic) % 12
    if direction == "up":
        return up
    if direction == "down":
        return up - 12 if up else 0
    return up if up <= 6 else up - 12
