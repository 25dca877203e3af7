"""Packs of variants: one render per variant into a folder, with a manifest of what each file is.

A render of one variant is a job that depends only on its inputs: the stems' content, the session
as the variant plays it (presets applied), the output settings and stemhost's version. Their
digest is kept in the manifest, so a file whose entry still matches is not rendered again.
Stems shifted to a key are made once per key and cached; compressed stems are decoded once.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from stemhost import __version__
from stemhost.engine.cache import file_sha256, source_hash
from stemhost.engine.compile import input_paths
from stemhost.errors import OutputError, warn
from stemhost.ownership import check_outputs, is_plain_name, replaced_atomically, write_json_atomic
from stemhost.render.driver import RenderOptions, render_session
from stemhost.render.outputs import make_output_folder, output_format
from stemhost.render.target import check_target
from stemhost.session.model import Session
from stemhost.session.variants import Variant, check_variants_change_mix

MANIFEST = "manifest.json"
UNSHARED_OPTIONS = ("block_size", "workers", "decode_once", "strict")  # settings that do not change the output


@dataclass(frozen=True)
class PackEntry:
    """One file of a pack, as the manifest lists it."""

    file: str
    variant: str
    key: float
    tempo: float
    loudness_lufs: float | None
    peak_dbfs: float | None
    duration_s: float
    sha256: str
    inputs: str  # digest of everything the file was rendered from


def song_name(session: Session, session_path: Path) -> str:
    """A file-name-safe name for the song: its title, else its session folder's name."""
    raw = session.title or session_path.resolve().parent.name or "song"
    return re.sub(r"[^A-Za-z0-9]+", "-", raw).strip("-").lower() or "song"


def inputs_digest(session: Session, session_path: Path, options: RenderOptions, extension: str) -> str:
    """What a render depends on: input files by content, the session as played, output settings, version."""
    own = session_path.resolve()  # the session counts as played, below, not as written
    files = sorted(source_hash(path) for path in input_paths(session, session_path) if path != own)
    settings = {f.name: getattr(options, f.name) for f in fields(options) if f.name not in UNSHARED_OPTIONS}
    recipe = {
        "files": files,
        "session": session.model_dump(mode="json"),
        "output": {"extension": extension, **settings},
        "stemhost": __version__,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()  # paths as text


def is_up_to_date(entry: PackEntry | None, digest: str, output: Path) -> bool:
    """True when the file is the one the entry lists and was rendered from these inputs."""
    return entry is not None and entry.inputs == digest and output.is_file() and file_sha256(output) == entry.sha256


def render_variant(
    played: Session,
    session_path: Path,
    variant: str,
    digest: str,
    output: Path,
    options: RenderOptions,
    progress: Callable[[float, float], None] | None = None,
) -> PackEntry:
    """Render a session as a variant plays it (see :meth:`Variant.apply`) and describe the file."""
    result = render_session(played, session_path, output, options, progress)
    return PackEntry(
        file=output.name,
        variant=variant,
        key=played.key_shift,
        tempo=played.tempo,
        loudness_lufs=None if math.isinf(result.loudness_lufs) else round(result.loudness_lufs, 2),
        peak_dbfs=None if math.isinf(result.peak_dbfs) else round(result.peak_dbfs, 2),
        duration_s=round(result.duration_s, 6),
        sha256=file_sha256(output),
        inputs=digest,
    )


def check_kept_target(played: Session, entry: PackEntry, options: RenderOptions, output: Path) -> None:
    """A file kept as up to date is not mastered again: its listed loudness is checked against the target instead."""
    target = played.master.loudness
    if target is not None:
        lufs = -math.inf if entry.loudness_lufs is None else entry.loudness_lufs
        check_target(target, lufs, None, options.strict, f"-o {str(output)!r}: master.loudness")


def read_manifest(folder: Path) -> dict | None:
    """A pack folder's manifest, or None when there is none."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["files"] = [PackEntry(**entry) for entry in data["files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"{path}: not a stemhost pack manifest; move it away or choose another folder") from exc
    for i, entry in enumerate(data["files"]):
        if not is_plain_name(entry.file) or not isinstance(entry.sha256, str):
            raise OutputError(
                f"{path}: files[{i}].file: {entry.file!r} is not a plain file name inside the pack folder, "
                "so stemhost did not write this manifest; move it away or choose another folder"
            )
    return data


def export_pack(
    session: Session,
    session_path: Path,
    variants: list[Variant],
    folder: Path,
    extension: str,
    options: RenderOptions,
    force: bool = False,
    progress: Callable[[float, float], None] | None = None,
    on_entry: Callable[[PackEntry, bool], None] | None = None,
) -> list[PackEntry]:
    """Render every variant into folder as ``SONG-VARIANT.EXT`` and write ``manifest.json``.

    Args:
        session: the session with presets and overrides applied.
        session_path: its file.
        variants: what to render.
        folder: the pack's folder; made if missing. One that holds another song's pack, or files
            of the same names that no pack made, is refused unless force.
        extension: the files' format, e.g. ".flac".
        options: output settings, as for a render.
        force: replace another pack; render every file again; delete files of earlier variants this pack drops.
        progress: called with (variants done, variants) as fractions progress.
        on_entry: called with each entry and whether it was rendered (False: up to date, skipped).
    """
    output_format(Path(f"x{extension}"), options.bit_depth, options.mp3_mode)
    check_variants_change_mix(variants, session, session_path)  # before anything is written
    song = song_name(session, session_path)
    pack = {"song": song, "session": str(session_path.resolve())}
    names = [f"{song}-{v.name}{extension}" for v in variants]
    old = _check_folder(folder, pack, names, force)
    outputs = [(folder / name, f"-o {str(folder)!r}: {name!r}") for name in [*names, MANIFEST]]
    check_outputs(outputs, input_paths(session, session_path))
    old_files = [] if old is None else old["files"]
    listing = {e.file: e for e in old_files if e.file in names and not force}  # what the folder holds now
    options = replace(options, decode_once=True)
    made: dict[str, PackEntry] = {}  # inputs digest → the file made from them in this run
    for i, (variant, name) in enumerate(zip(variants, names, strict=True)):

        def step(done_s: float, expected_s: float, i: int = i) -> None:
            if progress is not None:
                progress(i + min(1.0, done_s / max(expected_s, 1e-9)), len(variants))

        played = variant.apply(session)
        digest = inputs_digest(played, session_path, options, extension)
        output = folder / name
        if is_up_to_date(listing.get(name), digest, output):
            entry, rendered = replace(listing[name], variant=variant.name), False
            check_kept_target(played, entry, options, output)
        elif digest in made:  # the same audio as a file made already (full and key+0): copy it
            with replaced_atomically(output) as tmp:
                shutil.copyfile(folder / made[digest].file, tmp)
            entry, rendered = replace(made[digest], file=name, variant=variant.name), True
        else:
            entry, rendered = render_variant(played, session_path, variant.name, digest, output, options, step), True
        made[digest] = entry
        listing[name] = entry
        if on_entry is not None:
            on_entry(entry, rendered)
        write_json_atomic(folder / MANIFEST, _manifest(pack, variants, listing))  # an interrupted pack stays listed
    kept = [stale.file for stale in old_files if stale.file not in names and _keep_earlier(folder, stale, force)]
    listing |= {stale.file: stale for stale in old_files if stale.file in kept}
    if kept:
        warn(f"kept {len(kept)} file{'s' if len(kept) > 1 else ''} of earlier variants in {str(folder)!r} "
             f"({', '.join(kept)}), still listed in the manifest; --force removes them")  # fmt: skip
    entries = [listing[name] for name in names]
    write_json_atomic(folder / MANIFEST, _manifest(pack, variants, listing))
    return entries


def _keep_earlier(folder: Path, entry: PackEntry, force: bool) -> bool:
    """A file of an earlier pack in the folder that this one does not make: True to keep it listed.

    stemhost never deletes it unasked: with force, it is deleted while it still is the file the manifest
    describes; a file changed since it was written is no longer the pack's and is left alone, unlisted.
    """
    path = folder / entry.file
    if not path.is_file() or path.is_symlink():
        return False
    if file_sha256(path) != entry.sha256:
        warn(f"kept {str(path)!r}: it changed since stemhost wrote it, so it is no longer the pack's")
        return False
    if force:
        path.unlink()
        return False
    return True


def _manifest(pack: dict, variants: list[Variant], listing: dict[str, PackEntry]) -> dict:
    files = [asdict(e) for e in listing.values()]
    return {**pack, "stemhost": __version__, "variants": [v.name for v in variants], "files": files}


def _check_folder(folder: Path, pack: dict, names: list[str], force: bool) -> dict | None:
    """Make the folder; refuse another song's pack or foreign files in the way; return the old manifest."""
    make_output_folder(folder, "-o")
    old = read_manifest(folder)
    if old is not None and old.get("session") != pack["session"] and not force:
        raise OutputError(
            f"-o {str(folder)!r}: the folder holds another pack (of {old.get('session')!r}); "
            "choose another folder, or add --force to replace it"
        )
    listed = {e.file for e in old["files"]} if old is not None else set()
    foreign = [n for n in names if (folder / n).exists() and n not in listed]
    if foreign and not force:
        raise OutputError(
            f"-o {str(folder)!r}: {foreign[0]!r} is already there and no pack made it; "
            "choose another folder, or add --force to overwrite it"
        )
    return old
