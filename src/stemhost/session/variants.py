"""Variants of a song: full, karaoke, minus-one, solo:ROLE, keys=A..B, and their combinations.

A variant specification is a comma-separated list; each item is one variant or a product of
factors joined by ``*``: ``karaoke*keys=-2..+2`` is the karaoke mix in five keys. A factor is
``full``, a bundled preset (``karaoke``, ``instrumental``, ``acapella``, ``harmonies``, ...),
``minus-one`` (one variant per non-vocal stem, that stem muted), ``solo:NAME`` or ``solo:ROLE``, ``keys=A..B``
(every whole semitone from A to B, as the session's key shift from the recording), or ``tempo=F,G``
(each speed listed, 0.5 to 2.0: ``karaoke*tempo=0.8,0.9`` is two slow karaoke mixes).
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from stemhost.errors import SessionError, StemhostWarning, did_you_mean
from stemhost.session.model import MAX_KEY_SHIFT, ROLES, VOCAL_ROLES, Session
from stemhost.session.presets import Preset, StemPatch, apply_preset, bundled_presets, load_preset

NOT_A_PLAYER = ("click",)  # minus-one leaves the click in: nobody plays it
KEYS = re.compile(r"^keys=([+-]?\d+)\.\.([+-]?\d+)$")
TEMPO_ITEM = re.compile(r",(?!\s*[+-]?\.?\d)")  # a comma between items; "tempo=0.8,0.9" keeps its own
MIN_TEMPO, MAX_TEMPO = 0.5, 2.0


@dataclass(frozen=True)
class Variant:
    """One render of a song: a name for its file, the presets that make its mix, and its key.

    Attributes:
        name: e.g. ``karaoke-key-2``, ``minus-bass``, ``solo-drums``, ``full``.
        presets: (label, preset) laid over the session in order.
        key_shift: semitones from the recording, or None to keep the session's.
        tempo: the speed (1.0 the recording's), or None to keep the session's.
    """

    name: str
    presets: tuple[tuple[str, Preset], ...] = ()
    key_shift: int | None = None
    tempo: float | None = None

    def apply(self, session: Session) -> Session:
        """The session as this variant plays it."""
        for label, preset in self.presets:
            session = apply_preset(session, preset, f"variant {self.name!r} ({label})")
        if self.key_shift is not None:
            session = session.model_copy(update={"key_shift": float(self.key_shift)})
        if self.tempo is not None:
            session = session.model_copy(update={"tempo": self.tempo})
        return session


def parse_variants(spec: str, session: Session | None) -> list[Variant]:
    """Expand a ``--variants`` specification for a session, in the order given, without repeats.

    With no session, only the specification itself is checked (minus-one and solo:ROLE depend on the stems).
    """
    items = [item.strip() for item in TEMPO_ITEM.split(spec)]
    if not spec.strip() or not all(items):
        raise SessionError(f"--variants {spec!r}: give a comma-separated list, e.g. full,karaoke,keys=-2..+2")
    variants: dict[str, Variant] = {}
    for item in items:
        factors = [_factor(part.strip(), session, spec) for part in item.split("*")]
        if sum(any(v.key_shift is not None for v in f) for f in factors) > 1:
            raise SessionError(f"--variants {spec!r}: {item!r} sets the key twice; use one keys= factor")
        if sum(any(v.tempo is not None for v in f) for f in factors) > 1:
            raise SessionError(f"--variants {spec!r}: {item!r} sets the tempo twice; use one tempo= factor")
        for combo in itertools.product(*factors):
            variant = _combine(combo)
            variants.setdefault(variant.name, variant)
    return list(variants.values())


def check_variants_change_mix(variants: list[Variant], session: Session, session_path: Path) -> None:
    """Refuse a variant that changes stems (karaoke, harmonies, minus-one, solo) yet plays the full mix.

    A karaoke pack of a song with no ``lead_vocal`` stem would hold the full mix under the karaoke
    name: that is an error naming the role to set, found before anything renders.

    Raises:
        SessionError: a variant's stem changes match no stem, or change nothing that is heard.
    """
    for variant in variants:
        patches = [patch for _, preset in variant.presets for patch in preset.stems]
        if not patches:
            continue
        with warnings.catch_warnings():  # an entry matching no stem is the error below, not a warning
            warnings.simplefilter("ignore", StemhostWarning)
            played = variant.apply(session)
        if _heard(played) != _heard(
            Variant(variant.name, key_shift=variant.key_shift, tempo=variant.tempo).apply(session)
        ):
            continue
        roles = ", ".join(sorted({s.role for s in session.stems}))
        missing = [p for p in patches if not any(s.name == p.name or s.role == p.role for s in session.stems)]
        if missing:
            wanted = " or ".join(sorted({f"role {p.role!r}" if p.role else f"name {p.name!r}" for p in missing}))
            why = f"no stem has the {wanted}; set it on the stem that holds that part (roles now: {roles})"
        else:
            why = "the stems it changes are already that way in the session (muted, soloed or set alike)"
        raise SessionError(
            f"{session_path}: --variants {variant.name!r}: it would be the full mix, removing nothing: "
            f"{why}, or leave {variant.name!r} out"
        )


def _heard(session: Session) -> tuple:
    """What a session's mix is made of: every setting but which stems are heard, and each heard stem's strip."""
    stems = [s.model_dump(exclude={"mute", "solo"}) if session.is_audible(s) else s.name for s in session.stems]
    return session.model_dump(exclude={"stems"}), stems


def _combine(parts: tuple[Variant, ...]) -> Variant:
    names = [p.name for p in parts if p.name != "full"] or ["full"]
    key = next((p.key_shift for p in parts if p.key_shift is not None), None)
    tempo = next((p.tempo for p in parts if p.tempo is not None), None)
    return Variant("-".join(names), tuple(pr for p in parts for pr in p.presets), key, tempo)


def _factor(text: str, session: Session | None, spec: str) -> list[Variant]:
    """The variants one factor stands for."""
    if text == "full":
        return [Variant("full")]
    if text == "minus-one" and session is None:
        return [Variant("minus-one")]
    if text == "minus-one":
        players = [s for s in session.stems if s.role not in VOCAL_ROLES and s.role not in NOT_A_PLAYER]
        if not players:
            raise SessionError(f"--variants {spec!r}: minus-one needs a non-vocal stem; this session has none")
        return [
            Variant(f"minus-{s.name}", ((f"minus {s.name}", Preset(stems=(StemPatch(name=s.name, mute=True),))),))
            for s in players
        ]
    if text.startswith("solo:"):
        return [_solo(text, session, spec)]
    if text.startswith("keys="):
        return [Variant(f"key{k:+d}", key_shift=k) for k in _key_range(text, spec)]
    if text.startswith("tempo="):
        return [Variant(f"tempo{t:g}", tempo=t) for t in _tempos(text, spec)]
    if text in bundled_presets():
        preset, label = load_preset(text)
        return [Variant(text, ((label, preset),))]
    presets = ", ".join(p for p in bundled_presets())
    raise SessionError(
        f"--variants {spec!r}: unknown variant {text!r}; use full, minus-one, solo:NAME, solo:ROLE, keys=A..B, tempo=F,G "
        f"or a bundled preset ({presets}), joined by * to combine"
    )


def _solo(text: str, session: Session | None, spec: str) -> Variant:
    """solo:NAME or solo:ROLE, a stem's name first, as ``render --solo`` takes them."""
    target = text[5:]
    if session is None:
        by_name = target not in ROLES
    elif any(s.name == target for s in session.stems):
        by_name = True
    elif any(s.role == target for s in session.stems):
        by_name = False
    else:
        names, roles = [s.name for s in session.stems], sorted({s.role for s in session.stems})
        hint = did_you_mean(target, names + roles)
        raise SessionError(
            f"--variants {spec!r}: {text!r}: no stem has the name or role {target!r}; {hint + ' ' if hint else ''}"
            f"stems: {', '.join(names)}; roles: {', '.join(roles)}"
        )
    patch = StemPatch(name=target, solo=True) if by_name else StemPatch(role=target, solo=True)
    return Variant(f"solo-{target}", ((text, Preset(stems=(patch,))),))


def _key_range(text: str, spec: str) -> list[int]:
    match = KEYS.match(text)
    if match is None:
        raise SessionError(f"--variants {spec!r}: {text!r}: write keys=A..B with whole semitones, e.g. keys=-3..+3")
    low, high = int(match[1]), int(match[2])
    if low > high:
        raise SessionError(f"--variants {spec!r}: {text!r}: the range runs from low to high, e.g. keys={high}..{low}")
    if low < -MAX_KEY_SHIFT or high > MAX_KEY_SHIFT:
        raise SessionError(
            f"--variants {spec!r}: {text!r} reaches beyond -{MAX_KEY_SHIFT:g}..+{MAX_KEY_SHIFT:g} semitones; "
            "narrow the range"
        )
    return list(range(low, high + 1))


def _tempos(text: str, spec: str) -> list[float]:
    values = []
    for part in text[len("tempo=") :].split(","):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not MIN_TEMPO <= value <= MAX_TEMPO:
            raise SessionError(
                f"--variants {spec!r}: {text!r}: {part.strip()!r} is not a speed from {MIN_TEMPO:g} to {MAX_TEMPO:g}; "
                "write e.g. tempo=0.8,0.9"
            )
        values.append(value)
    return list(dict.fromkeys(values))
