"""The audio formats stemhost reads and writes, by file extension (libsndfile's format names)."""

FORMATS = {".wav": "WAV", ".flac": "FLAC", ".aiff": "AIFF", ".aif": "AIFF", ".ogg": "OGG", ".mp3": "MP3"}
PCM_FORMATS = ("WAV", "FLAC", "AIFF")  # lossless: bit depths apply, stem files sum exactly
EXTENSIONS = {fmt: ext for ext, fmt in reversed(FORMATS.items())}  # the usual extension of each format
OUTPUT_CHOICES = ("wav", "flac", "aiff", "mp3", "ogg")  # what --format offers (one extension per format)
