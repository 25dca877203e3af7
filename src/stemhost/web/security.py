"""The web server's gate, as pure ASGI middleware for HTTP and WebSocket: paths, token, Origin, body size.

- Paths: an encoded slash, dot or backslash, a ``..`` or ``.`` segment, an empty segment or a NUL → 404.
- Token (when on): ``Authorization: Bearer T``, ``?token=T`` (then kept in the ``stemhost_token`` cookie,
  HttpOnly, SameSite=Strict) or that cookie; compared in constant time. Missing or wrong → 401.
- Origin: POST, PATCH, PUT, DELETE and WebSocket with an ``Origin`` other than this server's own → 403.
- Bodies over :data:`MAX_REQUEST_BODY` bytes → 413 (by Content-Length, and by counting what arrives).
"""

from __future__ import annotations

import hmac
import json
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException

from stemhost.limits import MAX_REQUEST_BODY

TOO_LARGE = f"the request body is over {MAX_REQUEST_BODY // 1024} KiB"
COOKIE = "stemhost_token"
CHANGING = {"POST", "PATCH", "PUT", "DELETE"}
BAD_RAW = re.compile(r"%(2f|5c|2e|00)|\\|\x00", re.IGNORECASE)


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


def unsafe_path(scope) -> bool:
    """Whether a request path tries to leave its route: encoded separators or dots, dot segments, empty segments."""
    raw = scope.get("raw_path") or scope["path"].encode()
    raw = raw.decode("latin-1").split("?", 1)[0]
    if BAD_RAW.search(raw):
        return True
    segments = scope["path"].split("/")[1:]
    return any(s in ("", ".", "..") for s in segments[:-1]) or segments[-1] in (".", "..")


def headers_of(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Security:
    """ASGI middleware: see the module's docstring.

    Args:
        app: the ASGI app inside.
        token: the token every request must carry (None: none needed).
        allowed_origins: other origins allowed to change things (``scheme://host:port``).
    """

    def __init__(self, app, token: str | None = None, allowed_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.token = token
        self.allowed = set(allowed_origins)

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = headers_of(scope)
        if unsafe_path(scope):
            return await refuse(scope, receive, send, 404, "not found (a path holds no '..', encoded slashes or dots)")
        set_cookie = False
        if self.token is not None:
            given, set_cookie = self.token_given(scope, headers)
            if not same(given, self.token):
                why = "a token is needed" if given is None else "wrong token"
                return await refuse(scope, receive, send, 401, f"{why}: open the address stemhost serve printed")
        method = scope.get("method", "GET")
        if kind == "websocket" or method in CHANGING:
            origin = headers.get("origin")
            if origin is not None and origin not in self.allowed and origin != own_origin(scope, headers):
                return await refuse(scope, receive, send, 403, f"origin {origin!r} may not change this server")
        if kind == "http":
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_REQUEST_BODY):
                return await refuse(scope, receive, send, 413, TOO_LARGE)
            receive = counted(receive)
        if set_cookie:
            send = with_cookie(send, self.token)
        started = False

        async def sending(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except BodyTooLarge:
            if started:
                raise
            await refuse(scope, receive, send, 413, TOO_LARGE)

    def token_given(self, scope, headers: dict[str, str]) -> tuple[str | None, bool]:
        """The token a request carries, and whether it came in the query (then the cookie is set)."""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        if query:
            return query[0], same(query[0], self.token) and scope["type"] == "http"
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            return None, False
        return (cookie[COOKIE].value if COOKIE in cookie else None), False


def own_origin(scope, headers: dict[str, str]) -> str:
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    return f"{scheme}://{headers.get('host', '')}"


def counted(receive):
    """A receive that raises :class:`BodyTooLarge` once more than MAX_REQUEST_BODY bytes of body arrived."""
    total = 0

    async def inner():
        nonlocal total
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > MAX_REQUEST_BODY:
                raise BodyTooLarge()
        return message

    return inner


def with_cookie(send, token: str):
    cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/".encode("latin-1")

    async def inner(message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message, headers=[*message.get("headers", []), (b"set-cookie", cookie)])
        await send(message)

    return inner


async def refuse(scope, receive, send, status: int, message: str) -> None:
    """Answer with an error: JSON for the API, text for pages; a WebSocket is closed before it opens."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 4000 + status})
        return
    api = scope["path"].startswith("/api/") or status != 401
    if api:
        body = json.dumps({"error": message, "field": None}).encode()
        kind = b"application/json"
    else:
        body = f"{status}: {message}\n".encode()
        kind = b"text/plain; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="stemhost"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
