"""Live playback: the player (player.py) and its parts, each with one job: the render thread (render_ahead.py)
filling the render-ahead ring (ring.py), the transport (transport.py), key and tempo versions made while playing
(keytempo.py, versions.py), the mixer's strips and meters (strips.py) and timings (stats.py); audio devices, the
terminal mixer and headless play. Imports render, engine, session and below.
"""
