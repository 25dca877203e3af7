"""The key that fits a song's lead melody into a singer's range, told as lines (for ``stemhost fit`` and the web mixer)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stemhost.analysis.fit import KeyFit, fit_key, singer_range
from stemhost.errors import FitError, SessionError
from stemhost.session.model import Session
from stemhost.session.notes import note_name, transpose_key


@dataclass(frozen=True)
class FitReport:
    """A fit's choice, the song's key (or None), the lines telling it, and the problem when nothing fits.

    Attributes:
        choice: the key shift and the singer's octave (the closest one when nothing fits).
        key: the song's key as analysed (a KeyEstimate), or None.
        new_key: the key's name after the shift, or None.
        lines: what ``stemhost fit`` prints, in order.
        problem: the FitError message when no shift fits, else None.
    """

    choice: KeyFit
    key: object | None
    new_key: str | None
    lines: list[str]
    problem: str | None

    def check(self) -> None:
        """Raise the FitError when nothing fits."""
        if self.problem is not None:
            raise FitError(self.problem)


def fit_report(session: Session, session_path: Path, spec: str) -> FitReport:
    """Analyse the lead vocal (or take its cached analysis) and choose the key shift that fits it into a range
    or voice type.

    Raises:
        SessionError: no stem is the lead vocal, or it holds no sung note; the range is not one.
    """
    from stemhost.analysis.stored import cached_analysis

    low, high, described = singer_range(spec)
    if not any(stem.role == "lead_vocal" for stem in session.stems):
        raise SessionError(
            f"{session_path.name}: no stem has the role 'lead_vocal'; fit moves the lead melody into a range, "
            "so set the lead vocal stem's role"
        )
    analysis = cached_analysis(session, session_path)
    vocal = analysis.lead_vocal
    if vocal is None:
        names = ", ".join(analysis.lead_vocal_stems)
        raise SessionError(f"{session_path.name}: the lead_vocal stem ({names}) holds no sung note to fit")
    tessitura = (vocal.tessitura_low_midi, vocal.tessitura_high_midi)
    key = analysis.key
    spelled = (key.tonic, key.mode) if key else None  # notes in the song's own accidentals
    lines = [
        f"singer: {described}",
        f"melody: {note_span(vocal.low_midi, vocal.high_midi, spelled)} (tessitura {note_span(*tessitura, spelled)})",
    ]
    choice = fit_key(vocal.low_midi, vocal.high_midi, tessitura, low, high)
    moved = (key.tonic + choice.shift, key.mode) if key else None  # the new melody in the new key's
    new_name = transpose_key(key.tonic, key.mode, choice.shift) if key else None
    new_key = f", new key {new_name} (from {key.name})" if key else ""
    sung = f" (sung {choice.sung})" if choice.octave else ""
    room = f"room: {choice.room_low:+d} semitones below, {choice.room_high:+d} above"
    span = f"new melody range: {note_span(choice.low_midi, choice.high_midi, moved)}{sung}"
    if not choice.fits:
        lines += [f"closest: key shift {choice.shift:+d}{new_key}", span, f"{room} (negative: beyond the range)"]
        problem = (
            f"{session_path.name}: no key shift from -12 to +12 fits the melody "
            f"({note_span(vocal.low_midi, vocal.high_midi, spelled)}, {choice.high_midi - choice.low_midi} semitones) into "
            f"{described}, sung as recorded or an octave up or down; give a wider range, or set key_shift "
            f"{choice.shift:+d} by hand to take the closest"
        )
        return FitReport(choice, key, new_name, lines, problem)
    tight = "" if choice.comfortable else " (tight: the tessitura lies within 2 semitones of an end of the range)"
    lines += [f"fits key shift {choice.shift:+d}{new_key}{tight}", span, room]
    return FitReport(choice, key, new_name, lines, None)


def note_span(low_midi: float, high_midi: float, key: tuple[int, str] | None = None) -> str:
    """Two notes as ``'Eb3-C4'``, spelled in the key's accidentals (sharps with no key)."""
    return f"{note_name(low_midi, key)}-{note_name(high_midi, key)}"
