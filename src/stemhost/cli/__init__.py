"""The command line: the parser and each command, progress bars and summaries. The top layer: it may
import every other package; nothing imports it.
"""
