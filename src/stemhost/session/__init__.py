"""The session layer: pure data. Sessions, effect models, routing, validation, presets, session files,
variants and note names. Imports only the bottom modules (errors, limits, ownership, formats, units) and no
audio library: `import stemhost.session.model` loads neither pedalboard nor soundfile.
"""
