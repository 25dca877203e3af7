"""Many renders at once: packs of variants (export), catalogs of songs and running them on Dask (batch).
Imports render, engine, session and below.
"""
