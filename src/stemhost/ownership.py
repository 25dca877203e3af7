"""What stemhost may write, replace and delete: one rule, kept in one place.

stemhost replaces or deletes only what it can prove it made:

- **outputs** the user named (``-o``, ``--json``, ``--report``, ``--save-as``, a pack or stems folder), checked
  before anything is written (:func:`check_outputs`): never one of the run's inputs (the session, its stems,
  impulse responses, preset files; compared by file identity, so links and other spellings count), never two
  outputs on one path, never a symbolic link, a folder or a read-only file;
- **temporary files and folders**, named ``.NAME.stemhost-TOKEN-N.part`` and ``.stemhost-TOKEN-N`` where TOKEN is
  this process's random run token. Each is listed in the run's journal (``runs/TOKEN.journal`` in stemhost's
  state folder) before it is made, and the journal is locked while the process lives. The next run of any
  command removes what a killed run left (:func:`remove_leftovers`): only the paths its journal lists, and only
  those whose names carry its token;
- **listings** stemhost wrote (``manifest.json``, ``catalog.json``, ``stems.json``) and the files they list by
  plain name inside their own folder (the pack and catalog modules check their entries).

Everything else is refused with an :class:`~stemhost.errors.OutputError`.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
import json
import os
import secrets
import shutil
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from stemhost.errors import OutputError, warn

JOURNAL_SUFFIX = ".journal"
MAX_NAME = 255  # bytes in a file name on common file systems


def state_dir() -> Path:
    """stemhost's state folder: $STEMHOST_STATE_DIR, else the user's (~/.local/state/stemhost on Linux)."""
    override = os.environ.get("STEMHOST_STATE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_state_dir("stemhost"))


class _Run:
    """This process's token, journal and the outputs it has written (a forked child starts a run of its own)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.token = secrets.token_hex(8)
        self.counter = itertools.count(1)
        self.lock = threading.Lock()
        self.journal = None  # the open, locked journal file, once a temporary is made
        self.journal_path: Path | None = None
        self.warned = False
        self.written: list[Path] = []

    def note(self, path: Path) -> None:
        """List a temporary path in the journal before it is made."""
        with self.lock:
            if self.journal is None and not self.warned:
                self._open_journal()
            if self.journal is not None:
                self.journal.write(f"{path}\n")
                self.journal.flush()

    def _open_journal(self) -> None:
        folder = state_dir() / "runs"
        path = folder / f"{self.token}{JOURNAL_SUFFIX}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            journal = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the life of the process
            fcntl.flock(journal, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self.warned = True
            warn(
                f"cannot keep a journal of temporary files in {str(folder)!r} ({exc.strerror}); "
                "if this run is killed, remove its .stemhost-* files by hand (set STEMHOST_STATE_DIR to fix)"
            )
            return
        self.journal, self.journal_path = journal, path

    def close(self) -> None:
        """At a normal exit: remove any temporary still listed (they are this run's), then the journal."""
        if self.journal is None or os.getpid() != self.pid:
            return
        _remove_listed(self.journal_path, self.token)
        with contextlib.suppress(OSError):
            self.journal_path.unlink()
            self.journal.close()
        self.journal = None


_run = _Run()
atexit.register(lambda: _run.close())


def _current() -> _Run:
    global _run
    if _run.pid != os.getpid():  # forked: the parent's journal and lock are not ours
        _run = _Run()
    return _run


def _temporary_name(folder: Path, name: str | None) -> Path:
    """``.NAME.stemhost-TOKEN-N.part`` for a file beside NAME, ``.stemhost-TOKEN-N`` for a folder; journaled."""
    run = _current()
    mark = f".stemhost-{run.token}-{next(run.counter)}"
    if name is None:
        path = folder / mark
    else:
        room = MAX_NAME - len(mark) - len(".part") - 1
        path = folder / f".{name.encode()[:room].decode(errors='ignore')}{mark}.part"
    run.note(path.absolute())
    return path


def temporary_beside(path: Path) -> Path:
    """Create an empty temporary file in path's folder, journaled, with the permissions a new file gets there."""
    tmp = _temporary_name(path.parent, path.name)
    umask = os.umask(0)
    os.umask(umask)
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~umask)
    os.close(handle)
    return tmp


@contextlib.contextmanager
def temporary_folder(parent: Path) -> Iterator[Path]:
    """A journaled temporary folder in parent, removed with what it holds when the block ends."""
    folder = _temporary_name(parent, None)
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_replaceable(path: Path, what: str) -> None:
    """Refuse to replace a symbolic link, something that is not a regular file, or a read-only file.

    Args:
        path: the target.
        what: how the user named it, for messages (``-o 'mix.wav'``).
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{what}: cannot be checked ({exc.strerror})") from exc
    if stat.S_ISLNK(info.st_mode):
        raise OutputError(
            f"{what}: is a symbolic link; stemhost does not replace links (name the file it points to, or another)"
        )
    if stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{what}: that is a folder; give a file name")
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(f"{what}: is not a regular file; choose another name")
    if not info.st_mode & 0o222:
        raise OutputError(f"{what}: is read-only; make it writable (chmod u+w) or choose another name")


def commit_replace(tmp: Path, path: Path) -> None:
    """Give a finished temporary file its final name, keeping the mode of the file it replaces."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(tmp, stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode))
    os.replace(tmp, path)
    run = _current()
    if f".stemhost-{run.token}-" not in str(path):  # a file inside a temporary folder is not an output
        run.written.append(path)


@contextlib.contextmanager
def replaced_atomically(path: Path, what: str | None = None, follow_symlinks: bool = False) -> Iterator[Path]:
    """Yield a temporary file beside path to write; it takes path's name only if the block ends without error.

    Whatever goes wrong (an error, Ctrl-C, SIGTERM, a full disk), the temporary file is removed and path is
    left as it was. The replaced file's mode is kept. A symbolic link is refused, or with follow_symlinks
    (files the user edits in place, such as a session) the file it points to is replaced.
    """
    if follow_symlinks:
        path = Path(os.path.realpath(path))
    check_replaceable(path, what or repr(str(path)))
    tmp = temporary_beside(path)
    try:
        yield tmp
        commit_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: object, what: str | None = None, follow_symlinks: bool = False) -> None:
    """Write JSON to a temporary file beside the target, then rename it into place (see :func:`replaced_atomically`)."""
    with replaced_atomically(path, what, follow_symlinks) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def written() -> list[Path]:
    """The files this process has written or replaced so far (for an honest message when it is interrupted)."""
    return list(_current().written)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def check_outputs(outputs: Iterable[tuple[Path, str]], inputs: dict[Path, str]) -> None:
    """Refuse outputs that are inputs, that collide with each other, or that cannot be replaced.

    Args:
        outputs: every file the command is about to write, with how the user named it (``-o 'mix.wav'``).
        inputs: every file the command reads, with what it is (``one of the session's stems (stems[0].file)``).
    """
    by_path = {Path(os.path.realpath(p)): what for p, what in inputs.items()}
    by_identity = {_identity(p): what for p, what in inputs.items()}
    by_identity.pop(None, None)  # inputs that do not exist
    seen: dict[Path, str] = {}
    for path, what in outputs:
        real = Path(os.path.realpath(path))
        same = by_path.get(real) or by_identity.get(_identity(path))
        if same is not None:
            raise OutputError(f"{what}: that is {same}; stemhost never writes over its inputs: choose another name")
        if real in seen:
            raise OutputError(f"{what}: {seen[real]} writes the same file; give them different names")
        seen[real] = what
        check_replaceable(path, what)


def is_plain_name(name: object) -> bool:
    """True for a plain file name: no folder part, not hidden (so not . or ..), no NUL: it stays in its folder."""
    return (
        isinstance(name, str) and bool(name) and Path(name).name == name
        and not name.startswith(".") and "\\" not in name and "\0" not in name
    )  # fmt: skip


def remove_leftovers() -> int:
    """Remove the temporaries of runs that were killed (their journals are no longer locked); returns how many."""
    folder = state_dir() / "runs"
    try:
        journals = [p for p in folder.iterdir() if p.name.endswith(JOURNAL_SUFFIX)]
    except OSError:
        return 0
    own = _current().journal_path
    removed = 0
    for journal in journals:
        if journal == own:
            continue
        try:
            with open(journal, encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a live run: leave it alone
                removed += _remove_listed(journal, journal.name[: -len(JOURNAL_SUFFIX)])
                journal.unlink(missing_ok=True)
        except OSError:
            continue
    return removed


def _remove_listed(journal: Path, token: str) -> int:
    """Delete the paths a journal lists whose names carry its token; returns how many existed."""
    try:
        listed = journal.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 0
    mark = f".stemhost-{token}-"
    removed = 0
    for line in listed:
        path = Path(line)
        if not path.is_absolute() or mark not in path.name or not path.name.startswith("."):
            continue  # not a name this run could have made
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed
