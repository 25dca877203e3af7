"""Build the styles evaluation set: generated songs in styles the chorale set lacks, truth by construction.

Eight styles, each composed from a chord progression typical of it and rendered like the chorale set
(scripts/eval_midi.py: mido, FluidSynth, FluidR3_GM) to four stems: ``lead_vocal`` (GM 53 Voice Oohs,
a melody), ``bass``, a comping stem (``keys`` or ``guitar``) and ``drums`` with the style's groove.

* swing       4/4, 110-190 BPM: I6-vi7-ii7-V7 turns (or a minor i6-iiø7-V7), walking bass, Charleston
              comping, ride "ding ding-a ding" with swung eighths, hi-hat on 2 and 4, feathered kick
* shuffle     12-bar blues in a major key, 90-140 BPM: dominant-seventh chords, boogie bass, hi-hat and
              melody on shuffle triplets; the melody is the blues scale (minor third, minor seventh)
* blues       12-bar blues in a major key, 100-150 BPM, straight eighths, blue notes as above
* waltz       3/4, 90-180 BPM (quarter notes): oom-pah-pah bass and chords, major or minor
* six_eight   6/8, 58-92 BPM (dotted quarters; eighths at three times that): arpeggios, kick on 1,
              snare on 4
* modal       Dorian (i7-IV7 vamp) or Mixolydian (I-bVII-IV-I), 90-130 BPM, straight eighths. Truth is
              the tonic and the mode family: Dorian counts as minor, Mixolydian as major (their thirds)
* fast        punk (170-260 BPM: power chords, root eighths in the bass, kick and snare on the beats) or
              fast swing (200-260 BPM)
* slow        4/4 ballads, 60-84 BPM: arpeggiated piano, kick and snare backbeat, hi-hat eighths

Keys, tempi, modes and endings are drawn with a seed per draw: ``--draw dev`` (seed 20261207, 3 songs a
style) was looked at while the analysis was designed; ``--draw test`` (seed 20261208, 4 songs a style)
was built and scored once, at the end. A quarter of the songs end with a fade (the progression cut
mid-way, velocities falling over the last four bars) instead of a final cadence on the tonic.

Usage::

    python scripts/make_eval_styles.py --draw dev|test [--out eval/styles-dev] [--jobs 2]

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from eval_midi import Note, check_song, log, render_stems, setup

ROOT = Path(__file__).resolve().parent.parent
DRAWS = {"dev": (20261207, 3), "test": (20261208, 4)}  # seed, songs a style
STYLES = ("swing", "shuffle", "blues", "waltz", "six_eight", "modal", "fast", "slow")
NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
NAMES_MINOR = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
GRACE_SECONDS = 0.150
KICK, STICK, SNARE, HAT, PEDAL, CRASH, RIDE = 36, 37, 38, 42, 44, 49, 51

MAJ, MIN, DOM7, MAJ6, MIN6, MIN7, HALFDIM, POWER = (
    (0, 4, 7), (0, 3, 7), (0, 4, 7, 10), (0, 4, 7, 9), (0, 3, 7, 9), (0, 3, 7, 10), (0, 3, 6, 10), (0, 7, 12)
)  # fmt: skip
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "blues": (0, 3, 4, 5, 7, 10),  # with the minor third and seventh: the blue notes
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
BLUES_12 = [(0, DOM7), (5, DOM7), (0, DOM7), (0, DOM7), (5, DOM7), (5, DOM7),
            (0, DOM7), (0, DOM7), (7, DOM7), (5, DOM7), (0, DOM7), (7, DOM7)]  # fmt: skip
PROGRESSIONS = {  # (style, mode): bars of (root above the tonic, chord), two chords in a bar as a list
    ("swing", "major"): [[(0, MAJ6), (9, MIN7)], [(2, MIN7), (7, DOM7)]] * 3 + [[(4, MIN7), (9, DOM7)], [(2, MIN7), (7, DOM7)]],
    ("swing", "minor"): [(0, MIN6), (0, MIN6), [(2, HALFDIM), (7, DOM7)], (0, MIN6), (5, MIN7), (5, MIN7), [(2, HALFDIM), (7, DOM7)], (7, DOM7)],
    ("waltz", "major"): [(0, MAJ), (0, MAJ), (5, MAJ), (0, MAJ), (9, MIN), (2, MIN), (7, DOM7), (7, DOM7)],
    ("waltz", "minor"): [(0, MIN), (0, MIN), (5, MIN), (0, MIN), (8, MAJ), (5, MIN), (7, DOM7), (7, DOM7)],
    ("six_eight", "major"): [(0, MAJ), (9, MIN), (5, MAJ), (7, MAJ)],
    ("six_eight", "minor"): [(0, MIN), (8, MAJ), (3, MAJ), (7, MAJ)],
    ("modal", "dorian"): [(0, MIN7), (0, MIN7), (5, DOM7), (5, DOM7)],
    ("modal", "mixolydian"): [(0, MAJ), (10, MAJ), (5, MAJ), (0, MAJ)],
    ("punk", "major"): [(0, POWER), (0, POWER), (5, POWER), (7, POWER)],
    ("slow", "major"): [(0, MAJ), (9, MIN), (5, MAJ), (7, MAJ)],
    ("slow", "minor"): [(0, MIN), (8, MAJ), (3, MAJ), (10, MAJ)],
}  # fmt: skip


@dataclass
class StyleSong:
    index: int
    style: str
    groove: str  # swing, shuffle, straight, waltz, compound, punk
    tonic: int
    mode: str  # the truth's mode family: major or minor
    scale: str
    tempo: float  # BPM of the beat (the dotted quarter in 6/8)
    metre: str
    beats: int  # beats a bar
    sub: int  # subdivisions a beat: 2 (eighths) or 3 (triplets, 6/8)
    bars: list = field(default_factory=list)  # [(root, chord, first beat, beats)]
    ending: str = "cadence"
    centre: int = 64  # the lead's middle MIDI note
    length: float = 0.0  # beats

    @property
    def key_name(self) -> str:
        return f"{(NAMES if self.mode == 'major' else NAMES_MINOR)[self.tonic]} {self.mode}"

    @property
    def folder_name(self) -> str:
        return f"{self.index + 1:02d}-{self.style.replace('_', '-')}-{self.key_name.lower().replace(' ', '-').replace('#', 'sharp')}"

    def seconds(self, beats: float) -> float:
        return beats * 60.0 / self.tempo


def plan(draw: str) -> list[StyleSong]:
    """Every song of a draw: style, key, tempo, progression, ending (deterministic per draw)."""
    seed, per_style = DRAWS[draw]
    rng = random.Random(seed)
    songs: list[StyleSong] = []
    for style in STYLES:
        for k in range(per_style):
            songs.append(_plan_one(rng, len(songs), style, k))
    return songs


def _plan_one(rng: random.Random, index: int, style: str, k: int) -> StyleSong:
    tonic = rng.randrange(12)
    mode = rng.choice(("major", "minor"))
    beats, sub, groove, metre, scale = 4, 2, "straight", "4/4", mode
    if style == "swing":
        tempo, groove = rng.uniform(110, 190), "swing"
    elif style in ("shuffle", "blues"):
        mode, scale = "major", "blues"
        tempo, groove = (rng.uniform(90, 140), "shuffle") if style == "shuffle" else (rng.uniform(100, 150), "straight")
    elif style == "waltz":
        tempo, beats, groove, metre = rng.uniform(90, 180), 3, "waltz", "3/4"
    elif style == "six_eight":
        tempo, beats, sub, groove, metre = rng.uniform(58, 92), 2, 3, "compound", "6/8"
    elif style == "modal":
        scale = ("dorian", "mixolydian")[k % 2]
        mode = "minor" if scale == "dorian" else "major"
        tempo = rng.uniform(90, 130)
    elif style == "fast":
        punk = k % 2 == 0
        mode = "major" if punk else mode
        scale = mode
        tempo, groove = (rng.uniform(170, 260), "punk") if punk else (rng.uniform(200, 260), "swing")
    else:
        tempo = rng.uniform(60, 84)
    song = StyleSong(index, style, groove, tonic, mode, scale, round(tempo, 1), metre, beats, sub)
    song.ending = "fade" if rng.random() < 0.25 else "cadence"
    song.centre = rng.randrange(60, 69)
    if style in ("shuffle", "blues"):
        progression = BLUES_12
    elif style == "fast":
        progression = PROGRESSIONS[("punk", "major")] if groove == "punk" else PROGRESSIONS[("swing", mode)]
    else:
        progression = PROGRESSIONS[(style, scale if style == "modal" else mode)]
    bar_s = beats * 60.0 / song.tempo
    target = max(4, round(rng.uniform(30, 42) / bar_s))  # bars
    if song.ending == "fade":  # cut inside the progression, never at its end
        target -= target % len(progression) == 0
        bars = (progression * (target // len(progression) + 1))[:target]
    else:
        final = {"blues": DOM7, "dorian": MIN7}.get(scale, MAJ if mode == "major" else MIN)
        bars = progression * max(1, round(target / len(progression))) + [(0, POWER if groove == "punk" else final)]
    for b, bar in enumerate(bars):
        chords = bar if isinstance(bar, list) else [bar]
        share = beats / len(chords)
        song.bars += [(root, chord, b * beats + i * share, share) for i, (root, chord) in enumerate(chords)]
    song.length = len(bars) * beats
    return song


def _offbeat(song: StyleSong, beat: float, k: int) -> float:
    """The time of the k-th subdivision of a beat: swung eighths and shuffles fall on the last triplet."""
    if song.sub == 3:
        return beat + k / 3
    return beat + (2 / 3 if song.groove in ("swing", "shuffle") else 0.5) * k


def _velocity(song: StyleSong, t: float, base: int) -> int:
    """The base velocity, falling to a third over the last four bars of a song that fades."""
    fade_from = song.length - 4 * song.beats
    if song.ending != "fade" or t < fade_from:
        return base
    return max(1, round(base * (1 - 0.67 * (t - fade_from) / (4 * song.beats))))


def chord_at(song: StyleSong, t: float) -> tuple[int, tuple[int, ...]]:
    for root, chord, start, span in song.bars:
        if start <= t < start + span:
            return root, chord
    return song.bars[-1][0], song.bars[-1][1]


def comping(song: StyleSong) -> list[Note]:
    notes = []
    for root, chord, start, span in song.bars:
        voicing = (
            [48 + (song.tonic + root) % 12 + n for n in chord]
            if chord == POWER
            else [54 + (song.tonic + root + n - 54) % 12 for n in chord]
        )
        if song.groove == "swing":
            hits = [(start, 0.5), (start + 1 + 2 / 3, 0.6)] if span >= 2 else [(start, 0.8)]
        elif song.groove == "waltz":
            hits = [(start + 1, 0.8), (start + 2, 0.8)]
        elif song.groove == "compound":  # arpeggio in eighths
            for i in range(int(span * 3)):
                pitch = sorted(voicing)[[0, 1, 2, 1][i % 4] % len(voicing)] + (12 if i % 3 == 1 else 0)
                t = start + i / 3
                notes.append(Note(t, t + 1 / 3, pitch, _velocity(song, t, 62)))
            continue
        elif song.groove == "punk":
            hits = [(start + i / 2, 0.45) for i in range(int(span * 2))]
        elif song.style == "slow":
            for i in range(int(span * 2)):
                t = start + i / 2
                notes.append(
                    Note(t, t + 0.5, sorted(voicing)[i % len(voicing)] + 12 * (i % 4 == 3), _velocity(song, t, 60))
                )
            continue
        else:  # straight and shuffle: on every beat, longer on 1 and 3
            hits = [(_offbeat(song, start + i, 0), 0.9) for i in range(int(span))]
        notes += [Note(t, t + d, p, _velocity(song, t, 64)) for t, d in hits for p in voicing]
    return notes


def bass_line(song: StyleSong) -> list[Note]:
    notes = []
    for b, (root, chord, start, span) in enumerate(song.bars):
        low = 36 + (song.tonic + root) % 12
        low -= 12 * (low > 45)
        nxt = 36 + (song.tonic + song.bars[min(b + 1, len(song.bars) - 1)][0]) % 12
        if b == len(song.bars) - 1 and song.ending == "cadence":
            pattern = [(0, span, low)]
        elif song.groove in ("swing", "straight") and song.style in ("swing", "blues", "fast"):  # walking
            tones = [low, low + chord[1], low + chord[2], nxt + (1 if nxt < low + chord[2] else -1)]
            pattern = [(i, 1.0, tones[i % 4]) for i in range(int(span))]
        elif song.groove == "shuffle":  # boogie: root, root, fifth, sixth, seventh, sixth
            pattern = [
                (_offbeat(song, i, k), 0.3, low + (0, 0, 7, 7, 9, 9, 10, 9)[(2 * i + k) % 8])
                for i in range(int(span))
                for k in (0, 1)
            ]
        elif song.groove == "punk" or song.style == "modal":
            pattern = [(i / 2, 0.45, low) for i in range(int(span * 2))]
        elif song.groove == "waltz":
            pattern = [(0, 1.0, low if b % 2 == 0 else low + 7)]
        else:  # compound, slow: root on each beat, the fifth on the last
            pattern = [(i, 1.0, low + (7 if i == span - 1 and span > 1 else 0)) for i in range(int(span))]
        notes += [Note(start + t, start + t + d, p, _velocity(song, start + t, 92)) for t, d, p in pattern]
    return notes


def melody(song: StyleSong, rng: random.Random) -> list[Note]:
    """A melody: chord tones on the beat, scale steps between; phrases of four bars end on a long note."""
    scale = [(song.tonic + n) % 12 for n in SCALES[song.scale]]
    notes: list[Note] = []
    pitch = song.centre
    step = 1 if song.tempo > 160 else 0.5  # fast songs are sung in quarter notes
    bar_len = song.beats
    t = 0.0
    while t < song.length - 1e-9:
        bar, pos = divmod(t, bar_len)
        if song.ending == "cadence" and t >= song.length - bar_len:
            notes.append(Note(t, song.length, _nearest(song.centre, [song.tonic]), 90))
            break
        if int(bar) % 4 == 3 and pos >= bar_len / 2:  # the phrase's end: a long chord tone, then rest
            root, chord = chord_at(song, t)
            pitch = _nearest(pitch, [(song.tonic + root + n) % 12 for n in chord])
            notes.append(Note(t, t + (bar_len - pos) * 0.75, pitch, _velocity(song, t, 90)))
            t += bar_len - pos
            continue
        length = step if song.sub == 2 else 1 / 3
        if rng.random() < 0.3:
            length *= 2
        start = _offbeat(song, math.floor(t), 1) if song.sub == 2 and t % 1 else t
        root, chord = chord_at(song, t)
        on_beat = abs(t - round(t)) < 1e-6
        pool = [(song.tonic + root + n) % 12 for n in chord] if on_beat else scale
        if song.scale == "blues" and rng.random() < 0.35:
            pool = [(song.tonic + 3) % 12, (song.tonic + 10) % 12]  # the blue third and seventh
        pitch = _nearest(pitch + rng.choice((-3, -1, 0, 1, 2, 4)), pool, song.centre)
        end = min(start + length * 0.9, t + length, song.length)  # never over the next note
        notes.append(Note(start, end, pitch, _velocity(song, t, 90)))
        t += length
    return [n for n in notes if n.end > n.start]


def _nearest(target: int, pitch_classes: list[int], centre: int | None = None) -> int:
    centre = target if centre is None else centre
    candidates = [p for p in range(centre - 8, centre + 10) if p % 12 in pitch_classes]
    return min(candidates, key=lambda p: (abs(p - target), p))


def drum_hits(song: StyleSong) -> list[tuple[float, int, int]]:
    hits = []
    for bar in range(int(song.length // song.beats)):
        b0 = bar * song.beats
        last = b0 >= song.length - song.beats and song.ending == "cadence"
        for i in range(song.beats):
            t = b0 + i
            if last and i > 0:
                break
            g = song.groove
            if g in ("swing",):
                hits += [(t, RIDE, 80), (t, KICK, 40)] + (
                    [(t, PEDAL, 70), (_offbeat(song, t, 1), RIDE, 60)] if i % 2 else []
                )
                hits += [(_offbeat(song, t, 1), SNARE, 45)] if (bar * 7 + i * 3) % 5 == 0 else []
            elif g == "waltz":
                hits += [(t, KICK, 100)] if i == 0 else [(t, STICK, 70)]
                hits += [(t, HAT, 60)]
            elif g == "compound":
                hits += [(t, KICK if i == 0 else SNARE, 100)] + [
                    (t + k / 3, HAT, 70 if k == 0 else 50) for k in range(3)
                ]
            else:  # straight, shuffle, punk: kick on 1 and 3, snare on 2 and 4, eighths on the hi-hat
                hits += [(t, KICK if i % 2 == 0 else SNARE, 105)]
                hits += [(_offbeat(song, t, k), HAT, 70 if k == 0 else 50) for k in (0, 1)]
                if g == "straight" and i == 2 and bar % 2 == 1:
                    hits += [(t + 0.5, KICK, 85)]
            if bar == 0 and i == 0 or last:
                hits.append((t, CRASH, 100))
    return [(t, n, _velocity(song, t, v)) for t, n, v in hits if t < song.length]


def stems_of(song: StyleSong) -> list[tuple[str, str, int]]:
    """(stem name, role, GM program)."""
    bass = 32 if song.groove == "swing" or song.style == "waltz" else (34 if song.groove == "punk" else 33)
    comp = ("guitar", "guitar", 29) if song.groove == "punk" else ("keys", "keys", 4 if song.style == "modal" else 0)
    return [("lead_vocal", "lead_vocal", 53), ("bass", "bass", bass), comp, ("drums", "drums", 0)]


def build_song(song: StyleSong, out: Path, draw: str) -> dict:
    folder = out / song.folder_name
    rng = random.Random(f"{draw}-{song.index}")
    stems = stems_of(song)
    parts = {"lead_vocal": melody(song, rng), "bass": bass_line(song), stems[2][0]: comping(song)}
    velocity = {"lead_vocal": 95, "bass": 92, "keys": 64, "guitar": 60}
    duration = render_stems(folder, song, stems, parts, velocity, drum_hits(song))
    lead = parts["lead_vocal"]
    counted = [n for n in lead if song.seconds(n.end - n.start) >= GRACE_SECONDS]
    truth = {
        "key": song.key_name,
        "tonic": song.tonic,
        "mode": song.mode,
        "scale": song.scale,
        "style": song.style,
        "groove": song.groove,
        "tempo_bpm": song.tempo,
        "tempo_beat": "dotted quarter" if song.sub == 3 else "quarter",
        "lead_low_midi": min(n.pitch for n in counted),
        "lead_high_midi": max(n.pitch for n in counted),
        "metre": song.metre,
        "ending": song.ending,
        "duration_s": duration,
        "source": f"generated by scripts/make_eval_styles.py, draw {draw!r}, song {song.index}",
        "licence": "GPL-3.0-or-later (generated by stemhost's script)",
    }
    (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return {
        "folder": song.folder_name,
        **truth,
        "_lead": [(song.seconds(n.start), song.seconds(n.end), n.pitch) for n in lead],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draw", choices=sorted(DRAWS), required=True, help="dev (for design) or test (held out)")
    parser.add_argument("--out", type=Path, help="where the song folders go (default eval/styles-DRAW)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="songs rendered at once")
    args = parser.parse_args(argv)
    out: Path = (args.out or ROOT / "eval" / f"styles-{args.draw}").resolve()
    started = time.monotonic()
    setup({"mido": "mido==1.3.3"})
    songs = plan(args.draw)
    out.mkdir(parents=True, exist_ok=True)
    (out / ".gitignore").write_text("# generated by scripts/make_eval_styles.py: never commit the rendered set\n*\n")
    log(f"rendering {len(songs)} songs with FluidSynth into {out} ...")
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        built = list(pool.map(lambda s: build_song(s, out, args.draw), songs))
    failed = 0
    for info in built:
        log(f"  {info['folder']}: {info['tempo_bpm']} BPM {info['metre']}, {info['ending']}, {info['duration_s']} s")
        problems = check_song(out / info["folder"], info["_lead"])
        if problems:
            failed += 1
            log(f"CHECK FAILED {info['folder']}: {'; '.join(problems)}")
    index = {
        "draw": args.draw,
        "seed": DRAWS[args.draw][0],
        "songs": [{k: v for k, v in i.items() if k[0] != "_"} for i in built],
    }
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    print(
        f"built {len(built)} songs in {out} in {time.monotonic() - started:.0f} s; {len(built) - failed} pass the checks"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
