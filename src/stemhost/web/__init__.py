"""``stemhost serve``: the web mixer (FastAPI on uvicorn) beside the same Player ``stemhost play`` uses.

``app.create_app`` assembles it; ``stage`` holds the song open, ``api`` and ``live_socket`` its routes,
``security`` the gate; ``songs``/``api_songs`` the library, ``renders``/``api_renders`` the render jobs.
"""
