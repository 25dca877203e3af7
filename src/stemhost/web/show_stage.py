"""The show on the web stage: a setlist played by a :class:`~stemhost.show.runner.ShowRunner` on the stage's device,
in a thread of its own (``run(start=False)``: song 1 is prepared and waits for Next song).

While a show is open the mixer's routes act on the song playing (``runner.current``): :meth:`ShowStage.opened` gives an
:class:`~stemhost.web.snapshot.Opened` for it (playing, never held), so /mixer works unchanged for the current song.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from stemhost.errors import DeviceError, StemhostError
from stemhost.web.snapshot import Opened

log = logging.getLogger("stemhost")

OPEN_WAIT_S = 10.0  # opening waits this long at most for the show's stream (a device error is the open's error)
CLOSE_WAIT_S = 10.0  # closing waits this long at most for run() to close the stream and the players


@dataclass
class ShowSong:
    """A show's song that is not in the library (its session lies deeper than the library looks)."""

    title: str
    session_path: Path
    session_key: str | None
    id: str | None = None  # no overview, no render by id

    def key(self) -> str | None:
        from stemhost.session.notes import key_name, parse_key

        return None if self.session_key is None else key_name(*parse_key(self.session_key))


class ShowStage:
    """A setlist playing: its runner, the thread that runs it, and the songs as the mixer names them.

    Args:
        setlist_id: the setlist's id in the library of setlists.
        runner: the show, not started yet.
        songs: per song of the setlist, the library's Song (or a :class:`ShowSong`) the mixer shows.
    """

    def __init__(self, setlist_id: str, runner, songs: list) -> None:
        self.id, self.runner, self.songs = setlist_id, runner, songs
        self.error: str | None = None
        self.over = False  # run() returned: the last song ended, the device stopped, or the show was closed
        self._current: Opened | None = None
        self._thread = threading.Thread(target=self._run, name="stemhost-show", daemon=True)

    def start(self) -> None:
        """Start the show's thread; wait until its stream is open (a device error raises DeviceError)."""
        self._thread.start()
        deadline = time.monotonic() + OPEN_WAIT_S
        while self.runner.stream is None and not self.over and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.error is not None:
            self.close()
            raise DeviceError(self.error)

    def _run(self) -> None:
        try:
            self.runner.run(start=False)
        except StemhostError as exc:
            self.error = str(exc)
            log.error(f"show {self.id!r}: {exc}")
        except Exception as exc:  # a bug: logged in full, one line in the state
            self.error = f"the show stopped ({type(exc).__name__}); the server's log has the details"
            log.exception(f"show {self.id!r} stopped")
        finally:
            self.over = True
            for line in self.runner.summary():
                log.info(f"show {self.id!r}: {line}")

    def close(self) -> None:
        """End the show and wait for its stream and players to close (blocking: a worker thread)."""
        self.runner.stop()
        if self._thread.is_alive():
            self._thread.join(timeout=CLOSE_WAIT_S)

    def opened(self) -> Opened | None:
        """The song playing as the mixer's routes see it (None before the first song and once the show is over)."""
        index, player = self.runner.current
        if player is None or self.over:
            return None
        o = self._current
        if o is None or o.player is not player:
            o = self._current = Opened(self.songs[index], player, self.runner.stream, held=False, want_playing=True)
        return o

    def why_no_song(self) -> str:
        if self.over:
            return f"the show is over{': ' + self.error if self.error else ''}; open a song or a setlist"
        return 'the show has not started: Next song starts it (POST /api/show {"action": "next_song"})'

    def state(self) -> dict:
        """The show as the state has it: its songs (SongState's fields), the one playing (-1 before the first),
        whether it waits for Next song, the seconds until the next song starts on its own (-1: not on its own)."""
        status = self.runner.status()
        return {
            "id": self.id,
            "title": status.title,
            "songs": [asdict(song) for song in status.songs],
            "index": status.index,
            "waiting": status.waiting,
            "starts_in_s": round(status.starts_in_s, 2),
            "over": self.over,
            "error": self.error,
        }

    def seen(self) -> tuple[tuple, float]:
        """What pushes the state to every client when it changes (the countdown only as it starts or stops), and
        the countdown (seconds until the next song starts on its own, -1: not on its own) for the ticks."""
        status = self.runner.status()
        songs = tuple(song.state for song in status.songs)
        key = songs, status.index, status.waiting, status.starts_in_s >= 0, self.over, self.error
        return key, round(status.starts_in_s, 2)


def start_show(entry, library, device_name: str | None, blocksize: int, plugin_folders) -> tuple[ShowStage, str]:
    """Load a setlist, build its runner on the device and start it (blocking: a worker thread); returns the show and
    the device's name."""
    from stemhost.live.devices import find_device
    from stemhost.session.setlists import load_setlist
    from stemhost.show.runner import ShowRunner
    from stemhost.web.setlists import refuse_outside

    refuse_outside(library.folder, entry.path)
    setlist = load_setlist(entry.path)
    device = find_device(device_name)
    folders = None if plugin_folders is None else tuple(plugin_folders)
    runner = ShowRunner(setlist, device, blocksize, plugin_folders=folders)
    by_path = {song.session_path: song for song in library.songs() if song.error is None}
    songs = []
    for index, title in enumerate(runner.titles):
        session, path = runner.sessions.get(index, (None, None))
        known = by_path.get(path.resolve()) if path is not None else None
        key = session.key if session is not None else None
        songs.append(known or ShowSong(title, path or Path(), key))
    show = ShowStage(entry.id, runner, songs)
    show.start()
    log.info(f"opened the show {entry.id!r} ({entry.path.name}, {len(songs)} songs)")
    return show, device.name
