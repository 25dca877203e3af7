"""``stemhost show SETLIST --check``: every song, stem, preset, key and singer checked before the show.

Every problem is listed, one line each naming the setlist, the song, the file and the field; a song whose
preparation fails is not looked at further (its stems and sections depend on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stemhost.engine.compile import compile_graph, stem_path
from stemhost.engine.sources import AudioInfo, probe
from stemhost.errors import StemhostError
from stemhost.session.model import Session
from stemhost.session.setlists import SetlistFile, load_setlist
from stemhost.show.entries import prefixed, prepared_entry

CHECK_BLOCK = 4096  # frames: the graph is only built, never run


@dataclass(frozen=True)
class SongSummary:
    """A song that passed the check, as the set will play it.

    Attributes:
        index: its place in the setlist, from 0.
        title: the session's title, else its folder's name.
        length_s: the longest stem at the song's tempo, in seconds (the count-in and tails not counted).
        key_shift: semitones; tempo: the speed; count_in_bars: bars of click before it.
        gap_s: silence after it; advance: "stop" or "auto"; singer: the singer's name or None.
    """

    index: int
    title: str
    length_s: float
    key_shift: float
    tempo: float
    count_in_bars: int
    gap_s: float
    advance: str
    singer: str | None


@dataclass
class SetlistCheck:
    """What a check found: the songs that passed and every problem, one line each."""

    setlist: SetlistFile
    songs: list[SongSummary] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_setlist(path: Path, plugin_folders: Sequence[Path] | None = None) -> SetlistCheck:
    """Check a setlist's every song; a setlist file that cannot be read raises its one error instead."""
    setlist = load_setlist(path)
    result = SetlistCheck(setlist)
    for index in range(len(setlist.setlist.songs)):
        try:
            session, session_path = prepared_entry(setlist, index)
        except StemhostError as exc:
            if str(exc) not in result.problems:  # a bad singers file is told once, not for each of its songs
                result.problems.append(str(exc))
            continue
        prefix = setlist.named(index)
        infos, problems = _probe_stems(session, session_path, prefix)
        if not problems:
            try:
                with prefixed(prefix):
                    compile_graph(
                        session, session_path, CHECK_BLOCK, 1, stretch=False, plugin_folders=plugin_folders
                    ).close()
            except StemhostError as exc:
                problems.append(str(exc))
        if infos:
            problems += _sections_past_end(session, session_path, infos, prefix)
        result.problems += problems
        if not problems:
            result.songs.append(_summary(index, setlist, session, session_path, infos))
    return result


def song_title(session: Session, session_path: Path) -> str:
    """A song's name in lists: its title, else its session folder's name."""
    return session.title or session_path.parent.name or session_path.stem


def _probe_stems(session: Session, session_path: Path, prefix: str) -> tuple[list[AudioInfo], list[str]]:
    """Every stem's header; each missing or unreadable stem is a problem of its own."""
    infos, problems = [], []
    for i, stem in enumerate(session.stems):
        where = f"{session_path.name}: stems[{i}].file"
        try:
            infos.append(probe(stem_path(session_path, stem.file, where), where))
        except StemhostError as exc:
            problems.append(f"{prefix}: {exc}")
    return infos, problems


def _sections_past_end(session: Session, session_path: Path, infos: list[AudioInfo], prefix: str) -> list[str]:
    """A section that starts at or after the end of the longest stem (seconds of the recording) is a problem."""
    end = max(info.frames / info.sample_rate for info in infos)
    return [
        f"{prefix}: {session_path.name}: sections[{k}].start_s: {section.start_s:g} s ({section.name!r}) is past "
        f"the song's end ({end:.2f} s, its longest stem); correct it or remove the section"
        for k, section in enumerate(session.sections)
        if section.start_s >= end
    ]


def _summary(index: int, setlist: SetlistFile, session: Session, path: Path, infos: list[AudioInfo]) -> SongSummary:
    song = setlist.setlist.songs[index]
    end = max(info.frames / info.sample_rate for info in infos)
    return SongSummary(
        index=index,
        title=song_title(session, path),
        length_s=end / session.tempo,
        key_shift=session.key_shift,
        tempo=session.tempo,
        count_in_bars=session.click.count_in_bars if session.click is not None else 0,
        gap_s=song.gap_s,
        advance=song.advance,
        singer=song.singer,
    )
