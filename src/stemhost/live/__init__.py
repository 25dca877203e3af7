"""Live playback: the render-ahead ring, the player, key and tempo versions made while playing,
audio devices, the terminal mixer and headless play. Imports render, engine, session and below.
"""
