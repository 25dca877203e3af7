"""Build stemhost's evaluation set for key, tempo and lead-vocal-range estimation.

32 four-part chorales by J. S. Bach (public domain; the encodings ship in the music21 package's
corpus) are rendered to five stems each with FluidSynth and the FluidR3 General MIDI soundfont:

* ``lead_vocal.wav``     the soprano (the chorale melody), GM 53 "Voice Oohs"; on every other song
                         an octave lower, as a male lead would sing it
* ``backing_vocals.wav`` alto and tenor, GM 52 "Choir Aahs"
* ``bass.wav``           the bass voice, GM 33 "Electric Bass (finger)"
* ``keys.wav``           alto, tenor and bass doubled on GM 0 "Acoustic Grand Piano"
* ``drums.wav``          a generated kick/snare/hi-hat groove on MIDI channel 10 at the song's
                         tempo (chorales have no percussion)

Each song folder also gets ``session.json`` (stemhost's format) and ``truth.json`` (key, tempo and
the lead's lowest and highest MIDI notes). See eval/README.md for the sources, licences and how the
ground truth is derived.

Ground truth
    key    the key signature gives the major key M and its relative minor m; a chorale is kept only
           when its bass's first and last notes both sit on M (major) or both on m (minor).
           Chorales in modal keys, with "Dorian" signatures or ending away from the tonic fail that
           test and are refused. Songs are then transposed (every part by the same interval) so the
           set covers all 24 major and minor keys; the last eight keep their original key.
    tempo  the quarter-note tempo the song is rendered at (a fixed tempo: fermatas are not held).
    lead   the lowest and highest MIDI note of the rendered lead, ignoring notes shorter than 150 ms.

Usage::

    python scripts/make_eval_set.py [--out eval/songs] [--jobs 2] [--only NAME ...] [--check-only]

The set-up step installs what is missing: Debian's ``fluidsynth`` and ``fluid-soundfont-gm`` with
apt-get (as root), and ``music21`` and ``mido`` with pip into the running interpreter.
The output is deterministic apart from FluidSynth's own rendering.

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import importlib
import json
import math
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from eval_midi import (
    SOUNDFONT,
    Note,
    check_song,
    log,
    render_stems,
    setup,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "eval" / "songs"
PIP_PACKAGES = {"music21": "music21==10.5.1", "mido": "mido==1.3.3"}  # the corpus is version-bound
MIN_SECONDS = 40.0  # a chorale is played again until the song lasts at least this long ...
MAX_SECONDS = 60.0  # ... and cut at the last bar line before this
GRACE_SECONDS = 0.150  # lead notes shorter than this do not count for the range
SEED = 20241125

NAMES_MAJOR = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
NAMES_MINOR = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")

# (corpus name, mode by the bass test, metre); picked at random (seed 20241125) from the 4-part
# chorales of music21 10.5.1 that pass the key test, 16 major and 16 minor, two in 3/4 each.
CHORALES: tuple[tuple[str, str, str], ...] = (
    ("bwv282", "major", "3/4"),
    ("bwv326", "major", "3/4"),
    ("bwv180.7", "major", "4/4"),
    ("bwv248.12-2", "major", "4/4"),
    ("bwv355", "major", "4/4"),
    ("bwv401", "major", "4/4"),
    ("bwv281", "major", "4/4"),
    ("bwv436", "major", "4/4"),
    ("bwv116.6", "major", "4/4"),
    ("bwv169.7", "major", "4/4"),
    ("bwv380", "major", "4/4"),
    ("bwv426", "major", "4/4"),
    ("bwv115.6", "major", "4/4"),
    ("bwv140.7", "major", "4/4"),
    ("bwv429", "major", "4/4"),
    ("bwv379", "major", "4/4"),
    ("bwv295", "minor", "3/4"),
    ("bwv122.6", "minor", "3/4"),
    ("bwv36.8-2", "minor", "4/4"),
    ("bwv279", "minor", "4/4"),
    ("bwv113.8", "minor", "4/4"),
    ("bwv89.6", "minor", "4/4"),
    ("bwv227.11", "minor", "4/4"),
    ("bwv48.7", "minor", "4/4"),
    ("bwv28.6", "minor", "4/4"),
    ("bwv369", "minor", "4/4"),
    ("bwv26.6", "minor", "4/4"),
    ("bwv126.6", "minor", "4/4"),
    ("bwv358", "minor", "4/4"),
    ("bwv78.7", "minor", "4/4"),
    ("bwv331", "minor", "4/4"),
    ("bwv178.7", "minor", "4/4"),
)
N_TRANSPOSED_PER_MODE = 12  # the first 12 of each mode are moved to cover all 12 tonics

STEMS: tuple[tuple[str, str, int], ...] = (  # (stem name = file stem, role, GM program)
    ("lead_vocal", "lead_vocal", 53),
    ("backing_vocals", "backing_vocals", 52),
    ("bass", "bass", 33),
    ("keys", "keys", 0),
    ("drums", "drums", 0),
)
VELOCITY = {"lead_vocal": 100, "backing_vocals": 72, "bass": 92, "keys": 64}
KICK, SNARE, HAT, CRASH = 36, 38, 42, 49

LICENCE = (
    "composition public domain (J. S. Bach, 1685-1750); encoding from the music21 corpus "
    "(music21 10.5.1, BSD-3-Clause software; corpus/license.txt: distributed with the encoders' permission)"
)


# --------------------------------------------------------------------------- score → notes


@dataclass
class Song:
    index: int
    corpus_name: str
    mode: str
    metre: str
    tonic_original: int = 0
    shift: int = 0
    lead_octave: int = 0
    tempo: float = 100.0
    title: str = ""
    parts: dict[str, list[Note]] = field(default_factory=dict)  # soprano, alto, tenor, bass
    length: float = 0.0  # quarter notes, the whole rendered song before the tail
    phase: float = 0.0  # offset of the first downbeat, quarter notes
    bar: float = 4.0

    @property
    def tonic(self) -> int:
        return (self.tonic_original + self.shift) % 12

    @property
    def key_name(self) -> str:
        names = NAMES_MAJOR if self.mode == "major" else NAMES_MINOR
        return f"{names[self.tonic]} {self.mode}"

    @property
    def folder_name(self) -> str:
        name = (NAMES_MAJOR if self.mode == "major" else NAMES_MINOR)[self.tonic]
        slug = name[0].lower() + {"#": "-sharp", "b": "-flat"}.get(name[1:], "")
        return f"{self.index + 1:02d}-{self.corpus_name}-{slug}-{self.mode}"

    def seconds(self, quarters: float) -> float:
        return quarters * 60.0 / self.tempo


def chorale_title(corpus_name: str) -> str:
    from music21.corpus import chorales

    bwv = corpus_name.removeprefix("bwv")
    try:
        table = chorales.ChoraleListRKBWV().byBWV
    except Exception:  # noqa: BLE001 - the title is only a label
        return ""
    entry = table.get(bwv) or table.get(bwv.split("-")[0]) or {}
    return str(entry.get("title", ""))


def load_chorale(song: Song) -> None:
    """Parse the chorale, check the key test, and lay out the looped notes of its four voices."""
    import music21 as m21
    from music21 import corpus

    paths = [p for p in corpus.getComposer("bach") if p.name == f"{song.corpus_name}.mxl"]
    if len(paths) != 1:  # "bach/bwv190.7" alone would find bwv190.7-inst.mxl as well
        raise ValueError(f"{song.corpus_name}: {len(paths)} files of that name in the corpus")
    score = corpus.parse(paths[0])
    with contextlib.suppress(Exception):  # a score whose repeats music21 cannot expand plays as written
        score = score.expandRepeats()
    score = score.stripTies()
    parts = list(score.parts)
    if len(parts) != 4:
        raise ValueError(f"{song.corpus_name}: {len(parts)} parts, want 4")
    signatures = {k.sharps for k in score.recurse().getElementsByClass(m21.key.KeySignature)}
    metres = {t.ratioString for t in score.recurse().getElementsByClass(m21.meter.TimeSignature)}
    if len(signatures) != 1 or metres != {song.metre}:
        raise ValueError(f"{song.corpus_name}: key signatures {signatures}, metres {metres}")
    major_tonic = (7 * signatures.pop()) % 12
    want = major_tonic if song.mode == "major" else (major_tonic + 9) % 12
    bass = [n for n in parts[3].flatten().notes if n.duration.quarterLength > 0]
    first, last = bass[0].pitches[0].pitchClass, bass[-1].pitches[0].pitchClass
    if first != want or last != want:
        raise ValueError(f"{song.corpus_name}: bass starts on {first} and ends on {last}, not on the tonic {want}")
    song.tonic_original = want

    song.bar = float(m21.meter.TimeSignature(song.metre).barDuration.quarterLength)
    measures = list(parts[0].getElementsByClass(m21.stream.Measure))
    song.phase = float(measures[1].offset) % song.bar if len(measures) > 1 else 0.0
    end = float(score.highestTime)
    # one pass lasts a whole number of bars from the first downbeat, so the bar grid never slips
    pass_length = song.phase + math.ceil((end - song.phase) / song.bar - 1e-9) * song.bar
    quarter_seconds = 60.0 / song.tempo
    passes = max(1, math.ceil(MIN_SECONDS / (pass_length * quarter_seconds) - 1e-9))
    total = passes * pass_length
    limit = MAX_SECONDS / quarter_seconds
    if total > limit:  # cut at the last bar line before MAX_SECONDS
        total = song.phase + math.floor((limit - song.phase) / song.bar) * song.bar
    song.length = total

    names = ("soprano", "alto", "tenor", "bass")
    for name, part in zip(names, parts, strict=True):
        notes: list[Note] = []
        flat = part.flatten()
        for element in flat.notes:
            ql = float(element.duration.quarterLength)
            if ql <= 0:  # grace notes
                continue
            start = float(element.getOffsetBySite(flat))
            pitches = [p.midi for p in element.pitches]
            if name == "soprano":
                pitches = [max(pitches)]  # the melody is the top note of a divisi
            for k in range(passes):
                s = start + k * pass_length
                if s >= total - 1e-9:
                    continue
                e = min(s + ql, total)
                notes.extend(Note(s, e, p) for p in pitches)
        song.parts[name] = notes


def key_test(score) -> tuple[str, str] | None:
    """(mode, metre) of a 4-part SATB chorale whose key the score makes certain, else None."""
    import music21 as m21

    parts = list(score.parts)
    if [p.partName for p in parts] != ["Soprano", "Alto", "Tenor", "Bass"]:
        return None
    signatures = {k.sharps for k in score.recurse().getElementsByClass(m21.key.KeySignature)}
    metres = {t.ratioString for t in score.recurse().getElementsByClass(m21.meter.TimeSignature)}
    if len(signatures) != 1 or len(metres) != 1 or not metres <= {"4/4", "3/4"} or score.highestTime < 32:
        return None
    major = (7 * signatures.pop()) % 12
    bass = [n for n in parts[3].flatten().notes if n.duration.quarterLength > 0]
    if not bass:
        return None
    first, last = bass[0].pitches[0].pitchClass, bass[-1].pitches[0].pitchClass
    if first == last == major:
        return "major", metres.pop()
    if first == last == (major + 9) % 12:
        return "minor", metres.pop()
    return None


def draw_chorales(seed: int) -> tuple[tuple[str, str, str], ...]:
    """A fresh held-out draw: 16 major and 16 minor chorales passing the key test, two of each in 3/4.

    Parses every Bach chorale of the corpus (under a minute). Chorales sharing a BWV number are
    drawn at most once, and none shares one with the standard set (CHORALES), so the two are disjoint.
    """
    from music21 import corpus

    passing: list[tuple[str, str, str]] = []
    for path in sorted(corpus.getComposer("bach"), key=lambda p: p.name):
        name = path.name.removesuffix(".mxl")
        if not name.startswith("bwv") or path.suffix != ".mxl":
            continue
        try:
            found = key_test(corpus.parse(path))
        except Exception:  # noqa: BLE001 - an unreadable score is simply not drawn
            continue
        if found:
            passing.append((name, *found))
    log(f"{len(passing)} chorales pass the key test")
    rng = random.Random(seed)
    chosen: list[tuple[str, str, str]] = []
    standard = {_bwv_base(name) for name, _, _ in CHORALES}
    for mode in ("major", "minor"):
        pool = [c for c in passing if c[1] == mode]
        rng.shuffle(pool)
        seen: set[str] = set(standard)
        for metre, count in (("3/4", 2), ("4/4", 14)):
            picked = 0
            for c in pool:
                base = _bwv_base(c[0])
                if c[2] == metre and base not in seen and picked < count:
                    chosen.append(c)
                    seen.add(base)
                    picked += 1
    return tuple(chosen)


def _bwv_base(name: str) -> str:
    """The cantata or chorale number: bwv248.12-2 → bwv248."""
    return name.split(".")[0].split("-")[0]


def plan_songs(chorales: tuple[tuple[str, str, str], ...] = CHORALES, seed: int = SEED) -> list[Song]:
    """Tempi, transpositions and lead octaves for the 32 chorales (deterministic)."""
    rng = random.Random(seed)
    songs = [Song(i, name, mode, metre) for i, (name, mode, metre) in enumerate(chorales)]
    tempi = rng.sample(range(72, 145), len(songs))
    for song, tempo in zip(songs, tempi, strict=True):
        song.tempo = float(tempo)
        song.lead_octave = -12 if song.index % 2 else 0
        song.title = chorale_title(song.corpus_name)
    return songs


def assign_transpositions(songs: list[Song]) -> None:
    """Move the first 12 songs of each mode onto the 12 tonics, each by the smallest interval."""
    for mode in ("major", "minor"):
        pool = [s for s in songs if s.mode == mode][:N_TRANSPOSED_PER_MODE]
        free = list(range(12))
        for song in pool:
            best = min(free, key=lambda t: (abs(((t - song.tonic_original + 6) % 12) - 6), t))
            free.remove(best)
            song.shift = ((best - song.tonic_original + 6) % 12) - 6


def lead_notes(song: Song) -> list[Note]:
    lead = [Note(n.start, n.end, n.pitch + song.shift + song.lead_octave) for n in song.parts["soprano"]]
    if max(n.pitch for n in lead) > 81:  # above A5: take it down an octave, like a singer would
        song.lead_octave -= 12
        lead = [Note(n.start, n.end, n.pitch - 12) for n in lead]
    return lead


def stem_notes(song: Song) -> dict[str, list[Note]]:
    def moved(names: tuple[str, ...]) -> list[Note]:
        return [Note(n.start, n.end, n.pitch + song.shift) for name in names for n in song.parts[name]]

    return {
        "lead_vocal": lead_notes(song),
        "backing_vocals": moved(("alto", "tenor")),
        "bass": moved(("bass",)),
        "keys": moved(("alto", "tenor", "bass")),
    }


def drum_hits(song: Song) -> list[tuple[float, int, int]]:
    """(quarter-note time, GM drum note, velocity): a plain groove on a continuous beat grid."""
    hits: list[tuple[float, int, int]] = []
    beats_per_bar = int(round(song.bar))
    step = 0.5
    t = song.phase - math.floor(song.phase / step) * step  # eighth notes from the first one ≥ 0
    first_downbeat = True
    while t < song.length - 1e-9:
        pos = (t - song.phase) % song.bar
        beat = int(math.floor(pos + 1e-9))
        on_beat = abs(pos - beat) < 1e-6
        hits.append((t, HAT, 70 if on_beat else 50))
        if on_beat:
            if beats_per_bar == 4:
                if beat in (0, 2):
                    hits.append((t, KICK, 110 if beat == 0 else 100))
                else:
                    hits.append((t, SNARE, 100))
            else:  # 3/4: kick on one, snare on two and three
                hits.append((t, KICK, 110) if beat == 0 else (t, SNARE, 85))
            if beat == 0 and first_downbeat and t >= song.phase - 1e-9:
                hits.append((t, CRASH, 100))
                first_downbeat = False
        elif beats_per_bar == 4 and abs(pos - 2.5) < 1e-6 and int((t - song.phase) // song.bar) % 2 == 1:
            hits.append((t, KICK, 90))  # an extra kick on "three-and" every other bar
        t += step
    return hits


# --------------------------------------------------------------------------- MIDI and audio


def build_song(song: Song, out: Path) -> dict:
    notes = stem_notes(song)
    duration = render_stems(out / song.folder_name, song, list(STEMS), notes, VELOCITY, drum_hits(song))
    lead = notes["lead_vocal"]
    counted = [n for n in lead if song.seconds(n.end - n.start) >= GRACE_SECONDS]
    bwv = song.corpus_name.removeprefix("bwv")
    truth = {
        "key": song.key_name,
        "tonic": song.tonic,
        "mode": song.mode,
        "tempo_bpm": song.tempo,
        "lead_low_midi": min(n.pitch for n in counted),
        "lead_high_midi": max(n.pitch for n in counted),
        "metre": song.metre,
        "duration_s": duration,
        "source": f"J. S. Bach, chorale BWV {bwv}"
        + (f" \u201c{song.title}\u201d" if song.title else "")
        + f"; music21 corpus 'bach/{song.corpus_name}'",
        "licence": LICENCE,
        "original_key": f"{(NAMES_MAJOR if song.mode == 'major' else NAMES_MINOR)[song.tonic_original]} {song.mode}",
        "transposed_semitones": song.shift,
        "lead_octave_shift": song.lead_octave,
        "lead_notes_ignored_under_150ms": len(lead) - len(counted),
    }
    (out / song.folder_name / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n")
    return {
        "folder": song.folder_name,
        **truth,
        "_lead": [(song.seconds(n.start), song.seconds(n.end), n.pitch) for n in lead],
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the song folders go (default eval/songs)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="songs rendered at once")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="build only these chorales (e.g. bwv26.6)")
    parser.add_argument(
        "--draw",
        type=int,
        metavar="SEED",
        help="draw a different 32 chorales and tempi with this seed (a fresh held-out set; parses the whole corpus)",
    )
    parser.add_argument("--check-only", action="store_true", help="check an existing set without building it")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()

    if args.check_only:
        folders = sorted(p for p in out.iterdir() if (p / "truth.json").is_file())
        failed = 0
        for folder in folders:
            problems = check_song(folder)
            failed += bool(problems)
            print(f"{folder.name}: {'; '.join(problems) or 'ok'}")
        print(f"{len(folders) - failed} of {len(folders)} songs pass the checks")
        return 1 if failed or not folders else 0

    started = time.monotonic()
    setup(PIP_PACKAGES)
    if args.draw is not None:
        log(f"drawing a held-out set with seed {args.draw} from every chorale of the corpus ...")
        songs = plan_songs(draw_chorales(args.draw), args.draw)
    else:
        songs = plan_songs()
    log(f"parsing {len(songs)} chorales from the music21 corpus ...")
    for song in songs:
        load_chorale(song)
    assign_transpositions(songs)
    if args.only:
        songs = [s for s in songs if s.corpus_name in set(args.only)]
    out.mkdir(parents=True, exist_ok=True)
    (out / ".gitignore").write_text("# generated by scripts/make_eval_set.py: never commit the rendered set\n*\n")
    log(f"rendering {len(songs)} songs with FluidSynth into {out} ...")
    built: list[dict] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for info in pool.map(lambda s: build_song(s, out), songs):
            built.append(info)
            log(
                f"  {info['folder']}: {info['tempo_bpm']:.0f} BPM, lead {info['lead_low_midi']}-{info['lead_high_midi']}, {info['duration_s']:.1f} s"
            )
    failed = 0
    for info in built:
        problems = check_song(out / info["folder"], info["_lead"])
        if problems:
            failed += 1
            log(f"CHECK FAILED {info['folder']}: {'; '.join(problems)}")
    index = {
        "songs": [{k: v for k, v in info.items() if not k.startswith("_")} for info in built],
        "soundfont": str(SOUNDFONT),
        "fluidsynth": subprocess.run(["fluidsynth", "--version"], capture_output=True, text=True).stdout.splitlines()[
            0
        ],
        "music21": importlib.import_module("music21").__version__,
    }
    if not args.only:
        (out / "index.json").write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n")
    elapsed = time.monotonic() - started
    modes = {m: sum(1 for i in built if i["mode"] == m) for m in ("major", "minor")}
    print(
        f"built {len(built)} songs ({modes['major']} major, {modes['minor']} minor) in {out} in {elapsed:.0f} s; "
        f"{len(built) - failed} pass the checks"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
