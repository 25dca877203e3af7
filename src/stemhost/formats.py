"""The audio formats stemhost reads and writes, by file extension (libsndfile's format names)."""

FORMATS = {".wav": "WAV", ".flac": "FLAC", ".aiff": "AIFF", ".aif": "AIFF", ".ogg": "OGG", ".mp3": "MP3"}
PCM_FORMATS = ("WAV", "FLAC", "AIFF")  # lossless: bit depths apply, stem files sum exactly
OUTPUT_CHOICES = ("wav", "flac", "aiff", "mp3", "ogg")  # what --format offers (one extension per format)
