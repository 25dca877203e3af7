"""The song's own key and tempo for ``--key NAME`` and ``--bpm``: from the session's ``key`` and ``bpm`` fields,
else from a cached analysis, else from analysing the song now; each command says on stderr which it used."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stemhost.errors import SessionError
from stemhost.session.model import Session

MIN_TEMPO, MAX_TEMPO = 0.5, 2.0


def key_or_semitones(text: str) -> float | str:
    """An argparse type for ``--key``: semitones (``-3``, ``+1.5``) or a key name (``C``, ``'A minor'``, ``Eb``)."""
    from stemhost.cli.arguments import number
    from stemhost.session.notes import parse_key

    try:
        return number(text)  # remembers how it was typed, for messages
    except argparse.ArgumentTypeError:
        try:
            parse_key(text)
        except SessionError as exc:
            raise argparse.ArgumentTypeError(
                f"{text!r} is neither semitones (-3, +1.5) nor a key (C, 'A minor', Eb, F#m)"
            ) from exc
        return text.strip()


def transport(args: argparse.Namespace, session: Session, session_path: Path) -> tuple[float | None, float | None]:
    """The key shift and tempo the command line asks for (None: the session's own), with key names and BPM
    turned into semitones and a speed against the song's own key and tempo."""
    from stemhost.session.notes import shift_to_key

    key, tempo = getattr(args, "key", None), getattr(args, "tempo", None)
    direction = getattr(args, "direction", None)
    if direction is not None and not isinstance(key, str):
        raise SessionError(f"--{direction} picks the way to a key by name; give one, e.g. --key C --{direction}")
    bpm = getattr(args, "bpm", None)
    if not isinstance(key, str) and bpm is None:
        return key, tempo
    facts = SongFacts(session, session_path)
    if isinstance(key, str):
        song_key = facts.key()
        key = float(shift_to_key(song_key, key, direction))
        print(f"key: {song_key} ({facts.key_source}) to {args.key}: key shift {key:+g}", file=sys.stderr)
    if bpm is not None:
        song_bpm = facts.bpm()
        tempo = bpm / song_bpm
        if not MIN_TEMPO <= tempo <= MAX_TEMPO:
            raise SessionError(
                f"--bpm {bpm:g}: the song is {song_bpm:g} BPM, so that is tempo {tempo:.3g}; give a BPM from "
                f"{song_bpm * MIN_TEMPO:g} to {song_bpm * MAX_TEMPO:g} (tempo 0.5 to 2.0)"
            )
        print(f"tempo: {song_bpm:g} BPM ({facts.bpm_source}) to {bpm:g} BPM: tempo {tempo:.4g}", file=sys.stderr)
    return key, tempo


class SongFacts:
    """The song's key and BPM, looked up once: the session's fields first, then the cache, then an analysis."""

    def __init__(self, session: Session, session_path: Path) -> None:
        self.session, self.path = session, session_path
        self._analysis = None
        self.key_source = self.bpm_source = ""

    def key(self) -> str:
        from stemhost.session.notes import key_name, parse_key

        if self.session.key is not None:
            self.key_source = f"the key in {self.path.name}"
            return key_name(*parse_key(self.session.key))
        found, source = self._analysed()
        if found.key is None:
            raise SessionError(
                f'{self.path.name}: key: no key was found in the stems; set "key" (e.g. "A major") in the '
                "session, or give --key in semitones"
            )
        self.key_source = source
        return found.key.name

    def bpm(self) -> float:
        if self.session.bpm is not None:
            self.bpm_source = f"the bpm in {self.path.name}"
            return self.session.bpm
        found, source = self._analysed()
        if found.tempo_bpm is None:
            raise SessionError(
                f'{self.path.name}: bpm: no tempo was found in the stems; set "bpm" in the session, '
                "or give --tempo as a speed (0.8)"
            )
        self.bpm_source = source
        return found.tempo_bpm

    def _analysed(self):
        from stemhost.analysis.stored import cached_analysis, stored_analysis

        if self._analysis is None:
            found = stored_analysis(self.session, self.path)
            if found is not None:
                self._analysis = found, "a cached analysis; `stemhost analyze --apply` writes it into the session"
            else:
                print("analysing the song for its key and tempo (once; then it is cached)", file=sys.stderr)
                found = cached_analysis(self.session, self.path)
                self._analysis = found, "analysed now; `stemhost analyze --apply` writes it into the session"
        return self._analysis
