"""Score stemhost's analysis (key, tempo, lead vocal range) against the evaluation set.

Every folder under the set that holds ``session.json`` and ``truth.json`` is one song (see
scripts/make_eval_set.py and eval/README.md). For each song the session is loaded with
``stemhost.session.files.load_session`` and analysed with ``stemhost.analysis.analyze_session``; the
estimate is compared with the truth:

* key    right only when tonic and mode both match (a relative major/minor counts as wrong);
         wrong keys are sorted into relative, parallel, fifth (same mode, a fifth away) and other
* tempo  right within 2 %; an estimate at twice or half the tempo (within 2 %) is counted as an
         octave error besides
* lead   the lowest and the highest note each right within one semitone

Prints a row per song, the totals against the issue's targets (key 90 %, the others reported) and,
as the last line, the totals as one JSON object.

Usage::

    scripts/evaluate [--set eval/songs] [--only NAME ...] [--json FILE] [--strict]
    scripts/evaluate --set eval/styles-dev     # the styles set (scripts/make_eval_styles.py), with a per-style breakdown

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SET = ROOT / "eval" / "songs"
TEMPO_TOLERANCE = 0.02
RANGE_TOLERANCE = 1.0  # semitones
KEY_TARGET = 0.9
PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
NAMES_MAJOR = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
NAMES_MINOR = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")


@dataclass
class Row:
    song: str
    key_true: str
    key_est: str | None = None
    key_verdict: str = "error"  # ok, relative, parallel, fifth, other, none, error
    key_confidence: float | None = None
    key_runner_up: str | None = None
    style: str = ""
    tempo_true: float = 0.0
    tempo_est: float | None = None
    tempo_alternative: float | None = None
    tempo_verdict: str = "error"  # ok, double, half, two_thirds, three_halves, other, none, error
    low_true: float = 0.0
    low_est: float | None = None
    high_true: float = 0.0
    high_est: float | None = None
    low_ok: bool = False
    high_ok: bool = False
    seconds: float = 0.0
    audio_seconds: float = 0.0
    error: str | None = None
    raw: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- reading the estimate


def pitch_class(value) -> int | None:
    """A tonic given as 0-11 or as a name ("F#", "Bb", "c#")."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(round(value)) % 12
    text = str(value).strip()
    if not text or text[0].upper() not in PITCH_CLASSES:
        return None
    pc = PITCH_CLASSES[text[0].upper()]
    for ch in text[1:]:
        if ch in "#♯":
            pc += 1
        elif ch in "b♭":
            pc -= 1
        else:
            break
    return pc % 12


def read_key(d: dict) -> tuple[int | None, str | None, float | None]:
    key = d.get("key")
    if not key:
        return None, None, None
    if isinstance(key, str):  # "G major"
        parts = key.split()
        return pitch_class(parts[0]), (parts[1].lower() if len(parts) > 1 else None), None
    tonic = pitch_class(key.get("tonic"))
    mode = key.get("mode")
    if (tonic is None or mode is None) and key.get("name"):
        parts = str(key["name"]).split()
        tonic = tonic if tonic is not None else pitch_class(parts[0])
        mode = mode or (parts[1] if len(parts) > 1 else None)
    confidence = key.get("confidence")
    return tonic, (str(mode).lower() if mode else None), (float(confidence) if confidence is not None else None)


def _number(value) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def read_range(d: dict) -> tuple[float | None, float | None]:
    """The lead's lowest and highest notes as MIDI numbers, whatever the field is called."""
    lead = d.get("lead_vocal")
    if not isinstance(lead, dict):
        return None, None

    def find(words: tuple[str, ...]) -> float | None:
        for name in (f"{w}{s}" for w in words for s in ("_midi", "_note_midi", "_note", "")):
            value = lead.get(name)
            if isinstance(value, dict):  # {"midi": 62.0, "name": "D4"}
                value = value.get("midi")
            if _number(value) is not None:
                return _number(value)
        return None

    return find(("lowest", "low")), find(("highest", "high"))


# --------------------------------------------------------------------------- comparing


def key_verdict(true_tonic: int, true_mode: str, tonic: int | None, mode: str | None) -> str:
    if tonic is None or mode is None:
        return "none"
    if tonic == true_tonic and mode == true_mode:
        return "ok"
    if tonic == true_tonic:
        return "parallel"
    relative = (true_tonic + 9) % 12 if true_mode == "major" else (true_tonic + 3) % 12
    if mode != true_mode and tonic == relative:
        return "relative"
    if mode == true_mode and (tonic - true_tonic) % 12 in (5, 7):
        return "fifth"
    return "other"


def tempo_verdict(true_bpm: float, bpm: float | None) -> str:
    if bpm is None or bpm <= 0:
        return "none"
    ratio = bpm / true_bpm
    if abs(ratio - 1) <= TEMPO_TOLERANCE:
        return "ok"
    if abs(ratio / 2 - 1) <= TEMPO_TOLERANCE:
        return "double"
    if abs(ratio * 2 - 1) <= TEMPO_TOLERANCE:
        return "half"
    if abs(ratio * 1.5 - 1) <= TEMPO_TOLERANCE:
        return "two_thirds"  # a pulse of three eighths (or three beats folded by an octave)
    if abs(ratio / 1.5 - 1) <= TEMPO_TOLERANCE:
        return "three_halves"
    return "other"


def evaluate_song(folder: Path) -> Row:
    truth = json.loads((folder / "truth.json").read_text())
    row = Row(
        song=folder.name,
        key_true=truth["key"],
        tempo_true=float(truth["tempo_bpm"]),
        low_true=float(truth["lead_low_midi"]),
        high_true=float(truth["lead_high_midi"]),
        audio_seconds=float(truth.get("duration_s", 0.0)),
        style=str(truth.get("style", "")),
    )
    started = time.perf_counter()
    try:
        from stemhost.analysis import analyze_session
        from stemhost.session.files import load_session

        path = folder / "session.json"
        session = load_session(path)
        result = analyze_session(session, path)
        d = result.to_dict()
    except Exception as exc:  # noqa: BLE001 - one song's failure is a row, not the end of the run
        row.seconds = time.perf_counter() - started
        row.error = f"{type(exc).__name__}: {exc}"
        row.raw = {"traceback": traceback.format_exc()}
        return row
    row.seconds = time.perf_counter() - started
    row.raw = d
    tonic, mode, confidence = read_key(d)
    if tonic is not None and mode:
        row.key_est = f"{(NAMES_MINOR if mode == 'minor' else NAMES_MAJOR)[tonic]} {mode}"
    row.key_confidence = confidence
    if isinstance(d.get("key"), dict):
        row.key_runner_up = d["key"].get("runner_up")
    row.key_verdict = key_verdict(int(truth["tonic"]), truth["mode"], tonic, mode)
    row.tempo_est = _number(d.get("tempo_bpm"))
    row.tempo_alternative = _number(d.get("tempo_alternative_bpm"))
    row.tempo_verdict = tempo_verdict(row.tempo_true, row.tempo_est)
    row.low_est, row.high_est = read_range(d)
    row.low_ok = row.low_est is not None and abs(row.low_est - row.low_true) <= RANGE_TOLERANCE
    row.high_ok = row.high_est is not None and abs(row.high_est - row.high_true) <= RANGE_TOLERANCE
    return row


# --------------------------------------------------------------------------- report


def midi_name(value: float | None) -> str:
    if value is None:
        return "-"
    n = int(round(value))
    return (
        f"{NAMES[n % 12]}{n // 12 - 1}({value:.1f})" if abs(value - n) > 0.05 else f"{NAMES[n % 12]}{n // 12 - 1}({n})"
    )


def print_table(rows: list[Row]) -> None:
    marks = {
        "ok": "ok",
        "relative": "REL",
        "parallel": "PAR",
        "fifth": "5TH",
        "other": "X",
        "none": "-",
        "error": "ERR",
    }
    tmarks = {
        "ok": "ok",
        "double": "x2",
        "half": "x1/2",
        "two_thirds": "x2/3",
        "three_halves": "x3/2",
        "other": "X",
        "none": "-",
        "error": "ERR",
    }
    header = (
        f"{'song':34} {'key truth':10} {'key est':10} {'':4} {'conf':>5} {'runner-up':10} {'bpm':>5} {'est':>6} {'alt':>6} {'':4}  "
        f"{'low truth':>9} {'est':>10} {'':2}  {'high truth':>10} {'est':>10} {'':2} {'sec':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if r.error:
            print(f"{r.song:34} ERROR {r.error}")
            continue
        conf = f"{r.key_confidence:.2f}" if r.key_confidence is not None else "-"
        tempo = f"{r.tempo_est:6.1f}" if r.tempo_est is not None else f"{'-':>6}"
        alt = f"{r.tempo_alternative:6.1f}" if r.tempo_alternative is not None else f"{'-':>6}"
        print(
            f"{r.song:34} {r.key_true:10} {r.key_est or '-':10} {marks[r.key_verdict]:4} {conf:>5} "
            f"{r.key_runner_up or '-':10} {r.tempo_true:5.0f} {tempo} {alt} {tmarks[r.tempo_verdict]:4}  "
            f"{midi_name(r.low_true):>9} {midi_name(r.low_est):>10} {'ok' if r.low_ok else 'X':2}  "
            f"{midi_name(r.high_true):>10} {midi_name(r.high_est):>10} {'ok' if r.high_ok else 'X':2} {r.seconds:5.1f}"
        )


def summarise(rows: list[Row], wall: float) -> dict:
    n = len(rows)

    def count(pred) -> int:
        return sum(1 for r in rows if pred(r))

    def share(k: int) -> float:
        return round(k / n, 4) if n else 0.0

    key_ok = count(lambda r: r.key_verdict == "ok")
    tempo_ok = count(lambda r: r.tempo_verdict == "ok")
    low_ok, high_ok = count(lambda r: r.low_ok), count(lambda r: r.high_ok)
    both_ok = count(lambda r: r.low_ok and r.high_ok)
    audio = sum(r.audio_seconds for r in rows)
    analysis = sum(r.seconds for r in rows)
    low_err = [abs(r.low_est - r.low_true) for r in rows if r.low_est is not None]
    high_err = [abs(r.high_est - r.high_true) for r in rows if r.high_est is not None]
    tempo_err = [abs(r.tempo_est / r.tempo_true - 1) * 100 for r in rows if r.tempo_verdict == "ok"]
    return {
        "songs": n,
        "errors": count(lambda r: r.error is not None),
        "key_correct": key_ok,
        "key_accuracy": share(key_ok),
        "key_relative": count(lambda r: r.key_verdict == "relative"),
        "key_parallel": count(lambda r: r.key_verdict == "parallel"),
        "key_fifth": count(lambda r: r.key_verdict == "fifth"),
        "key_other": count(lambda r: r.key_verdict in ("other", "none")),
        "key_major_correct": count(lambda r: r.key_verdict == "ok" and r.key_true.endswith("major")),
        "key_minor_correct": count(lambda r: r.key_verdict == "ok" and r.key_true.endswith("minor")),
        "tempo_within_2pct": tempo_ok,
        "tempo_accuracy": share(tempo_ok),
        "tempo_double": count(lambda r: r.tempo_verdict == "double"),
        "tempo_half": count(lambda r: r.tempo_verdict == "half"),
        "tempo_two_thirds": count(lambda r: r.tempo_verdict == "two_thirds"),
        "tempo_three_halves": count(lambda r: r.tempo_verdict == "three_halves"),
        "tempo_other": count(lambda r: r.tempo_verdict in ("other", "none")),
        "tempo_accuracy_octave_ok": share(count(lambda r: r.tempo_verdict in ("ok", "double", "half"))),
        "tempo_mean_abs_error_pct_when_ok": round(sum(tempo_err) / len(tempo_err), 3) if tempo_err else None,
        "lead_low_within_1": low_ok,
        "lead_high_within_1": high_ok,
        "lead_both_within_1": both_ok,
        "lead_low_accuracy": share(low_ok),
        "lead_high_accuracy": share(high_ok),
        "lead_both_accuracy": share(both_ok),
        "lead_low_mean_abs_error": round(sum(low_err) / len(low_err), 3) if low_err else None,
        "lead_high_mean_abs_error": round(sum(high_err) / len(high_err), 3) if high_err else None,
        "analysis_seconds": round(analysis, 2),
        "wall_seconds": round(wall, 2),
        "audio_seconds": round(audio, 1),
        "seconds_per_song": round(analysis / n, 3) if n else None,
        "median_seconds_per_song": round(statistics.median(r.seconds for r in rows), 3) if n else None,
        "first_song_seconds": round(rows[0].seconds, 3) if n else None,
        "realtime_factor": round(audio / analysis, 1) if analysis else None,
        "tempo_truth_is_alternative": count(
            lambda r: (
                r.tempo_verdict != "ok"
                and r.tempo_alternative is not None
                and abs(r.tempo_alternative / r.tempo_true - 1) <= TEMPO_TOLERANCE
            )
        ),
        "key_truth_is_runner_up": count(lambda r: r.key_verdict != "ok" and r.key_runner_up == r.key_true),
        "by_style": by_style(rows),
        **analysis_version(),
    }


def by_style(rows: list[Row]) -> dict:
    """Key and tempo right, per style (songs whose truth names one; the chorales do not)."""
    styles: dict[str, dict] = {}
    for r in rows:
        if r.style:
            entry = styles.setdefault(r.style, {"songs": 0, "key_correct": 0, "tempo_within_2pct": 0, "wrong": []})
            entry["songs"] += 1
            entry["key_correct"] += r.key_verdict == "ok"
            entry["tempo_within_2pct"] += r.tempo_verdict == "ok"
            entry["wrong"] += [f"key {r.key_verdict}"] * (r.key_verdict != "ok")
            entry["wrong"] += [f"tempo {r.tempo_verdict}"] * (r.tempo_verdict != "ok")
    return styles


def analysis_version() -> dict:
    """Which analysis code was scored: the git commit and a hash of stemhost/analysis's sources."""
    import hashlib

    import stemhost.analysis

    folder = Path(stemhost.analysis.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", str(folder)], capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, ""
    return {"commit": commit, "analysis_modified": bool(dirty), "analysis_sha256": digest.hexdigest()[:12]}


def print_summary(s: dict) -> None:
    n = s["songs"]

    def pct(k: int) -> str:
        return f"{k}/{n} ({100 * k / n:.1f} %)" if n else "0/0"

    key_target = "met" if s["key_accuracy"] >= KEY_TARGET else "MISSED"
    print()
    print(
        f"songs: {n}" + (f", {s['errors']} failed to analyse" if s["errors"] else "") + f"; analysis code: commit "
        f"{s['commit']}{' + uncommitted changes' if s['analysis_modified'] else ''}, sources sha256 {s['analysis_sha256']}"
    )
    print(
        f"key (tonic and mode exact):  {pct(s['key_correct'])}  [target >= 90 %: {key_target}]  "
        f"major {s['key_major_correct']}, minor {s['key_minor_correct']}; wrong: relative {s['key_relative']}, "
        f"parallel {s['key_parallel']}, fifth {s['key_fifth']}, other {s['key_other']}"
    )
    print(
        f"tempo within 2 %:            {pct(s['tempo_within_2pct'])}  octave errors: x2 {s['tempo_double']}, "
        f"x1/2 {s['tempo_half']}; x2/3 {s['tempo_two_thirds']}, x3/2 {s['tempo_three_halves']}; other {s['tempo_other']}; "
        f"within 2 % up to an octave: {100 * s['tempo_accuracy_octave_ok']:.1f} %"
    )
    print(
        f"lead lowest within 1 st:     {pct(s['lead_low_within_1'])}  (mean |error| {s['lead_low_mean_abs_error']} st)"
    )
    print(
        f"lead highest within 1 st:    {pct(s['lead_high_within_1'])}  (mean |error| {s['lead_high_mean_abs_error']} st)"
    )
    print(f"lead both ends within 1 st:  {pct(s['lead_both_within_1'])}")
    print(
        f"when wrong, the truth was the key's runner-up {s['key_truth_is_runner_up']} times and the tempo's "
        f"alternative {s['tempo_truth_is_alternative']} times"
    )
    for style, e in s["by_style"].items():
        wrong = ", ".join(e["wrong"]) or "none wrong"
        print(
            f"  {style:10} key {e['key_correct']}/{e['songs']}, tempo {e['tempo_within_2pct']}/{e['songs']} ({wrong})"
        )
    print(
        f"run time: {s['analysis_seconds']:.1f} s analysing {s['audio_seconds']:.0f} s of songs "
        f"({s['seconds_per_song']} s a song, median {s['median_seconds_per_song']} s, {s['realtime_factor']}x real time; "
        f"the first song, {s['first_song_seconds']} s, includes loading librosa and compiling or loading numba's kernels)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="the evaluation set (default eval/songs)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only songs whose folder name contains one of these")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every row and the totals to FILE")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when the key target (90 %%) is missed or a song fails"
    )
    args = parser.parse_args(argv)

    folders = sorted(p for p in args.set.glob("*") if (p / "truth.json").is_file() and (p / "session.json").is_file())
    if args.only:
        folders = [p for p in folders if any(name in p.name for name in args.only)]
    if not folders:
        print(f"error: {args.set} holds no songs; build them with scripts/make_eval_set.py", file=sys.stderr)
        return 2
    try:
        import stemhost.analysis  # noqa: F401
    except ImportError as exc:
        print(f"error: cannot import stemhost.analysis: {exc}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    rows = []
    for folder in folders:
        rows.append(evaluate_song(folder))
        print(f"  analysed {folder.name} in {rows[-1].seconds:.1f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - started
    print_table(rows)
    summary = summarise(rows, wall)
    print_summary(summary)
    if args.json:
        args.json.write_text(
            json.dumps({"summary": summary, "rows": [asdict(r) for r in rows]}, indent=2, default=str) + "\n"
        )
    print(json.dumps(summary))
    if args.strict and (summary["key_accuracy"] < KEY_TARGET or summary["errors"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
