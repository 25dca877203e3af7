"""The web app: FastAPI assembled from the routers, the gate (:mod:`~stemhost.web.security`), one-line JSON errors,
the pages and their static files (from the package's ``web/static``, never from elsewhere)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException

from stemhost.errors import StemhostError
from stemhost.web import api, api_renders, api_show, api_songs, live_socket
from stemhost.web.live_socket import Hub
from stemhost.web.renders import RenderJobs
from stemhost.web.security import Security
from stemhost.web.setlists import Setlists
from stemhost.web.songs import Library, NotFound
from stemhost.web.stage import Conflict, Stage

log = logging.getLogger("stemhost")
STATIC = Path(__file__).resolve().parent / "static"
STATIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9]+)+$")
PAGES = {
    "/": "index.html",
    "/show": "show.html",
    "/mixer": "mixer.html",
    "/renders": "renders.html",
    "/api/docs": "docs.html",
}


def create_app(
    folder: Path,
    device: str | None = None,
    token: str | None = None,
    allowed_origins: Sequence[str] = (),
    *,
    blocksize: int = 256,
    plugin_folders: Sequence[Path] | None = None,
    analyse: bool = True,
) -> FastAPI:
    """The ``stemhost serve`` app for the songs under ``folder``, playing on ``device``.

    Args:
        folder: the folder of songs (sub-folders with a session.json, or ``*.json`` sessions).
        device: the output device's name or number (None: the default).
        token: the token every request must carry (None: none).
        allowed_origins: other origins (``scheme://host:port``) allowed to change things.
        blocksize: frames per audio callback.
        plugin_folders: where third-party plugins may come from (None: the defaults).
        analyse: analyse the songs in the background (key, tempo).
    """
    hub = Hub()
    library = Library(folder, analyse=analyse)
    stage = Stage(library, device, blocksize, plugin_folders, hub.publish)
    renders = RenderJobs(folder, library, hub.publish)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        hub.bind(asyncio.get_running_loop())
        watcher = asyncio.create_task(stage.watch())
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await asyncio.to_thread(stage.close)
            renders.close()
            library.close()
            log.info("stopped: the player and the stream are closed")

    app = FastAPI(
        title="stemhost",
        description="stemhost's web mixer: songs, setlists and shows, mixer, key and tempo, renders. Errors are "
        '`{"error": "<one line>", "field": <name or null>}`.',
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.library = library
    app.state.stage = stage
    app.state.folder = folder
    app.state.renders = renders
    app.state.setlists = Setlists(folder, plugin_folders)
    for routes in (api, api_songs, api_show, api_renders, live_socket):
        app.include_router(routes.router)
    add_error_handlers(app)
    add_pages(app)
    app.add_middleware(Security, token=token, allowed_origins=tuple(allowed_origins))
    return app


def error(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


def validation_line(exc: RequestValidationError) -> tuple[str, str | None]:
    """The first problem of a request as one line naming its field, and the field."""
    problem = exc.errors()[0]
    loc = [str(p) for p in problem.get("loc", ()) if p not in ("body", "query", "path")]
    kind, ctx = problem.get("type", ""), problem.get("ctx") or {}
    message = str(problem.get("msg", "is not valid"))
    if kind == "json_invalid":
        return "the body is not valid JSON", None
    if kind.startswith("value_error") and message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
        if not loc and ": " in message:
            field, message = message.split(": ", 1)
            return f"{field}: {message}", field
    words = {
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "extra_forbidden": "is not a field of this request",
        "missing": "is required",
        "finite_number": "must be a finite number",
        "bool_type": "must be true or false",
        "float_type": "must be a number",
        "string_type": "must be a string",
        "model_type": "the body must be a JSON object",
        "model_attributes_type": "the body must be a JSON object",
        "dict_type": "the body must be a JSON object",
    }
    message = words.get(kind, message[:1].lower() + message[1:])
    field = ".".join(loc) or None
    return (f"{field}: {message}" if field else message), field


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, *validation_line(exc))

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error(404, f"not found: {request.url.path[:200]}")
        if exc.status_code == 405:
            return error(405, f"{request.method} is not allowed on {request.url.path[:200]}")
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(StemhostError)
    async def stemhost_error(_request: Request, exc: StemhostError) -> JSONResponse:
        if isinstance(exc, Conflict):
            return error(409, str(exc))
        if isinstance(exc, LookupError | NotFound):
            return error(404, str(exc), getattr(exc, "field", None))
        return error(400, str(exc), getattr(exc, "field", None))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error(f"web: {request.method} {request.url.path}: internal error", exc_info=exc)
        return error(500, f"internal error ({type(exc).__name__}); the server's log has the details")


def add_pages(app: FastAPI) -> None:
    """The pages and ``/static/<file>``: only files that are in the package's static folder."""

    def page(name: str):
        async def show() -> FileResponse:
            return static_file(name)

        return show

    for path, name in PAGES.items():
        app.add_api_route(path, page(name), methods=["GET"], include_in_schema=False)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        return static_file(name)


def static_file(name: str) -> FileResponse:
    """A file of the static folder by its plain name; anything else is 404."""
    path = STATIC / name
    if not STATIC_NAME.match(name) or not path.is_file() or path.resolve().parent != STATIC:
        raise HTTPException(404)
    return FileResponse(path, headers={"Cache-Control": "no-cache"})
