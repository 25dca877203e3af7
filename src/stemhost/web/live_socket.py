"""WS /api/ws: the state on connect, then every message published (state, ticks, render progress).

Each client has its own bounded mailbox and sender task: a slow client loses ticks (never state or render
messages: only the newest state is kept, since each holds everything), and never holds up others or the audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import deque

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

log = logging.getLogger("stemhost")
router = APIRouter()

MAX_TICKS = 8  # ticks waiting for a slow client; more are dropped
MAX_OTHERS = 64  # render messages waiting; the oldest go first


class Mailbox:
    """One client's messages waiting to be sent (event-loop thread only)."""

    def __init__(self) -> None:
        self.ticks: deque[dict] = deque(maxlen=MAX_TICKS)
        self.others: deque[dict] = deque(maxlen=MAX_OTHERS)
        self.state: dict | None = None
        self.ready = asyncio.Event()
        self.dropped = 0

    def put(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "state":
            self.state = message  # the newest state holds everything the older ones did
        elif kind == "tick":
            if len(self.ticks) == MAX_TICKS:
                self.dropped += 1
            self.ticks.append(message)
        else:
            self.others.append(message)
        self.ready.set()

    def take(self) -> list[dict]:
        """Everything waiting, state first."""
        out = [] if self.state is None else [self.state]
        out += list(self.others) + list(self.ticks)
        self.state = None
        self.others.clear()
        self.ticks.clear()
        self.ready.clear()
        return out


class Hub:
    """The broadcaster: :meth:`publish` from any thread; every WebSocket client gets the message."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[Mailbox] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._loop_thread = threading.get_ident()

    def publish(self, message: dict) -> None:
        """Send a message to every client (thread-safe; dropped before the server runs)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == getattr(self, "_loop_thread", None):
            self._deliver(message)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._deliver, message)

    def _deliver(self, message: dict) -> None:
        for box in self.clients:
            box.put(message)


@router.websocket("/api/ws")
async def live(websocket: WebSocket) -> None:
    """Live state: ``{"type": "state"}`` on connect and after every change, ``tick`` 25 a second, ``render``."""
    hub: Hub = websocket.app.state.hub
    stage = websocket.app.state.stage
    await websocket.accept()
    box = Mailbox()
    box.put({"type": "state", "state": stage.snapshot()})
    hub.clients.add(box)
    sender = asyncio.create_task(send_all(websocket, box))
    try:
        while True:  # clients send nothing but pings; this notices them going away
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    except Exception as exc:  # a broken connection: the client went away
        log.debug(f"web: websocket closed ({exc})")
    finally:
        hub.clients.discard(box)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def send_all(websocket: WebSocket, box: Mailbox) -> None:
    while True:
        await box.ready.wait()
        for message in box.take():
            await websocket.send_text(json.dumps(message, separators=(",", ":")))
