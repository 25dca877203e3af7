"""Offline rendering: the block loop's driver, clipping, mastering and the limiter, output files,
stem files, meters and the mix report. Imports the engine and below; never live playback.
"""
