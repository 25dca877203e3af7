"""What a file name says about a stem: its role, or that it is no stem at all (a full mix, a backing track).

The words are those multitrack sellers put in their track lists: MultiTracks.com ("Click", "Guide", "Cues",
"BGVs", "Keys 1", "EG 1", "AG", "Loop", "Perc", "Pad", "Drums L", "OH"), Karaoke-Version's custom backing
tracks ("Lead Vocal", "Backing Vocals", "Drum Kit", "Rhythm Electric Guitar", "Click Track", "Intro count",
each file named "Song(Part Custom Backing Track)"), and the names studios give multitrack sessions
("Kick In", "Snr Top", "Bass DI", "Ld Vox").
"""

from __future__ import annotations

import re
from pathlib import Path

# Words in a file name that give away a stem's role; the first rule that matches wins, so
# instruments come before lead_vocal ("lead guitar" is a guitar, "lead.wav" a vocal).
# (the words stay packed by hand, a line per group)
# fmt: off
ROLE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "backing_vocals",
        (
            "backing", "bvox", "bgv", "bgvs", "bv", "bvs", "bkg", "harmony", "harmonies", "choir", "backvocals",
            "backs", "bgvox", "ooh", "oohs", "aah", "aahs",
        ),
    ),
    ("click", ("click", "metronome", "clicktrack", "clic")),
    ("guide", ("guide", "cue", "cues", "count", "countin", "guides")),
    (
        "percussion",
        (
            "perc", "percussion", "shaker", "tambourine", "tambo", "tamb", "conga", "congas", "bongo", "bongos",
            "cajon", "loop", "loops", "clap", "claps", "cowbell",
        ),
    ),
    (
        "drums",
        (
            "drum", "drums", "kit", "kick", "kik", "snare", "snr", "hats", "hat", "hh", "hihat", "overheads", "oh",
            "tom", "toms", "beat", "cymbals", "ride", "room", "rooms",
        ),
    ),
    ("bass", ("bass", "sub", "808", "bassdi")),
    ("piano", ("piano", "pno", "grand", "rhodes")),
    ("keys", ("keys", "keyboard", "keyboards", "keyb", "organ", "epiano", "wurli", "chords", "b3")),
    ("guitar", ("guitar", "guitars", "gtr", "gtrs", "acoustic", "electric", "strat", "eg", "ag", "egtr", "agtr")),
    ("synth", ("synth", "synths", "lead_synth", "arp", "arps", "pluck", "moog", "seq", "sequence")),
    ("strings", ("strings", "string", "violin", "violins", "viola", "cello", "orchestra", "orch")),
    ("brass", ("brass", "horn", "horns", "trumpet", "trumpets", "trombone", "sax", "saxophone", "tpt")),
    ("pad", ("pad", "pads", "atmos", "ambience", "texture", "swell", "swells")),
    (
        "lead_vocal",
        ("lead", "vocal", "vocals", "vox", "voice", "leadvocal", "singer", "melody", "vocalist", "ld", "alt"),
    ),
    ("fx", ("fx", "sfx", "riser", "risers", "impact", "noise", "effects", "sweep", "sweeps")),
)
# fmt: on

# A whole song rather than one part: the words that name it. A file whose name holds one of these and no
# part's word is a full mix (a stem named "Drum Mix" or "Backing Vocals Custom Backing Track" stays a stem).
MIX_WORDS: tuple[str, ...] = ("mix", "mixdown", "fullmix", "master", "mastered", "premaster", "instrumental",
                              "karaoke", "minusone", "playback", "demo", "reference", "stereomix")  # fmt: skip
MIX_PHRASES: tuple[tuple[str, ...], ...] = (
    ("custom", "backing", "track"),
    ("backing", "track"),
    ("backing", "tracks"),
    ("full", "song"),
    ("minus", "one"),
)


def name_words(file_name: str) -> list[str]:
    """A file name's words, lower case, digits apart (``"BV1.wav"`` → ``["bv", "1"]``), with the seller's
    "custom backing track" and the like taken out (they name the product, not the part)."""
    words = re.findall(r"[a-z]+|[0-9]+", Path(file_name).stem.lower())
    for phrase in MIX_PHRASES:
        n = len(phrase)
        i = 0
        while i + n <= len(words):
            if tuple(words[i : i + n]) == phrase:
                words[i : i + n] = ["_mix_"]
            else:
                i += 1
    return words


def guess_role(file_name: str) -> str:
    """A stem's role from words in its file name (``"03 Lead Vox.wav"`` → ``lead_vocal``)."""
    words = [w for w in name_words(file_name) if w != "_mix_"]
    joined = "".join(words)
    for role, keys in ROLE_WORDS:
        if any(k in words for k in keys) or any(len(k) > 3 and k in joined for k in keys):
            return role
    return "other"


def is_full_mix(file_name: str) -> bool:
    """Whether a file is a whole song (``mix.wav``, ``Full Mix.wav``, ``Song(Custom Backing Track).mp3``,
    ``instrumental.flac``, ``karaoke.wav``) rather than one part of it."""
    words = name_words(file_name)
    joined = "".join(w for w in words if w != "_mix_")
    named = "_mix_" in words or any(w in MIX_WORDS for w in words) or "fullmix" in joined or "mixdown" in joined
    return named and guess_role(file_name) == "other"


def part_labels(file_names: list[str]) -> list[str]:
    """What each file's name says about its part, for stem names: the words every file shares at the front
    (a seller's ``Artist_Song``) and the seller's "custom backing track" taken out
    (``Band_Song(Drum Kit Custom Backing Track).wav`` → ``drum kit``); a name with nothing left is kept whole."""
    split = [[w for w in re.split(r"[^a-z0-9]+", Path(n).stem.lower()) if w] for n in file_names]
    shared = 0
    if len(split) > 1:
        while all(len(words) > shared + 1 and words[shared] == split[0][shared] for words in split):
            shared += 1
    labels = []
    for words in split:
        rest = words[shared:]
        for phrase in MIX_PHRASES:
            rest = _without(rest, phrase)
        labels.append(" ".join(rest or words))
    return labels


def _without(words: list[str], phrase: tuple[str, ...]) -> list[str]:
    """The words with every run equal to the phrase taken out."""
    out, i, n = [], 0, len(phrase)
    while i < len(words):
        if tuple(words[i : i + n]) == phrase:
            i += n
        else:
            out.append(words[i])
            i += 1
    return out
