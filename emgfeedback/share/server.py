"""The share server: serves the client view's page and streams its state to browsers.

It runs its own asyncio loop (aiohttp) on a daemon thread. The window (or any producer)
calls :meth:`ShareServer.publish` with a state from :func:`emgfeedback.share.state.build_state`;
publishing never blocks: the state goes into a one-place slot that the loop empties (a state
not yet taken when the next arrives is replaced and counted in ``publish_dropped``). Each
viewer has its own one-place slot too, so a slow or vanished screen only loses its own
frames (counted per viewer) and is closed after :attr:`send_timeout_s` without progress.

Security: off unless started; binds to 127.0.0.1 unless ``lan`` is true; every viewer pairs
with a short-lived random code (:class:`~emgfeedback.share.pairing.PairingBook`) and can be
revoked; only the live state travels (no samples, no stored sessions, no subject id unless
allowed). Without ``tls_cert``/``tls_key`` the traffic is plain HTTP/WebSocket.

Latency: the page echoes, for each frame it paints, the state's ``seq`` and the paint time on
the host's monotonic clock (it estimates the offset with ping/pong). The *share latency*
of a state is that paint time minus the state's ``t_ms`` (host arrival of its newest
sample); a state replaced before it was painted is charged to the paint that replaced it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from importlib import resources

from emgfeedback.errors import ConfigError, require
from emgfeedback.share.pairing import CODE_TTL_S, PairingBook

log = logging.getLogger(__name__)

#: Screens connected at once, at most.
MAX_VIEWERS = 16
#: A viewer whose send makes no progress for this long is closed, s.
SEND_TIMEOUT_S = 5.0
#: Delay before answering a refused pairing (slows guessing), s.
REFUSE_DELAY_S = 0.3
#: How long stopping waits for screens to take the close frame, s.
STOP_TIMEOUT_S = 2.0
#: Published states remembered for the latency accounting.
SEQ_MEMORY = 2048
#: Paint latencies kept per viewer.
LATENCY_MEMORY = 20000
STATIC_FILES = {"index.html": "text/html", "view.js": "text/javascript",
                "view.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def now_ms() -> float:
    """Host monotonic time in ms (the clock of ``Chunk.arrival_s``, times 1000)."""
    return time.monotonic() * 1000.0


def lan_address() -> str:
    """This host's address on the local network (no packet is sent); 127.0.0.1 if none."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, only picks the interface
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


@dataclass
class Viewer:
    """One connected screen."""

    id: int
    code: str
    peer: str
    ws: object = None
    pending: str | None = None
    pending_seq: int = -1
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0
    dropped: int = 0
    painted: int = 0
    last_painted_seq: int = -1
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_MEMORY))
    connected_s: float = field(default_factory=time.monotonic)

    def offer(self, message: str, seq: int) -> None:
        """Put the newest state in the viewer's slot (replacing an unsent one)."""
        if self.pending is not None:
            self.dropped += 1
        self.pending, self.pending_seq = message, seq
        self.wake.set()


class ShareServer:
    """Serve the client view on ``http(s)://host:port/?code=...``.

    Parameters
    ----------
    lan : bool
        Listen on every interface (the room's network) instead of 127.0.0.1 only.
    port : int
        TCP port; 0 picks a free one.
    ttl_s : float
        Seconds a pairing code can be used to pair a new screen.
    allow_names : bool
        Send the subject id to the screens (``--share-names``).
    tls_cert, tls_key : path, optional
        PEM certificate and key: serve HTTPS/WSS instead of plain HTTP/WS.
    clock : callable
        Monotonic seconds for code expiry (tests inject one).
    send_timeout_s : float
        Close a viewer whose socket accepts nothing for this long.
    """

    def __init__(self, *, lan: bool = False, port: int = 0, ttl_s: float = CODE_TTL_S,
                 allow_names: bool = False, tls_cert=None, tls_key=None,
                 clock=time.monotonic, send_timeout_s: float = SEND_TIMEOUT_S,
                 max_viewers: int = MAX_VIEWERS) -> None:
        require("aiohttp", "share")
        if (tls_cert is None) != (tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together: give both PEM files "
                              "(certificate and private key) or neither")
        self.lan = lan
        self.bind_host = "0.0.0.0" if lan else "127.0.0.1"
        self.port = int(port)
        self.allow_names = allow_names
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.send_timeout_s = float(send_timeout_s)
        self.max_viewers = int(max_viewers)
        self.pairing = PairingBook(ttl_s, clock)
        self.viewers: dict[int, Viewer] = {}
        self.published = 0
        self.publish_dropped = 0
        self.closed_slow = 0
        self._next_viewer = 0
        self._lock = threading.Lock()
        self._slot: dict | None = None
        self._wake_pending = False
        self._seq = 0
        self._seq_t_ms: deque = deque(maxlen=SEQ_MEMORY)  # (seq, t_ms)
        self._last_message: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._static = {name: resources.files("emgfeedback.share").joinpath(
            "static", name).read_bytes() for name in STATIC_FILES}

    # ------------------------------------------------------------------ life cycle
    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._ready.is_set()

    def start(self, timeout_s: float = 30.0) -> str:
        """Start serving; returns the URL with a fresh pairing code.

        Raises
        ------
        ConfigError
            The port is taken or the certificate cannot be loaded (the message says which).
        """
        if self._thread is not None:
            return self.url_for(self.new_code())
        ssl_context = None
        if self.tls_cert:
            import ssl

            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            try:
                ssl_context.load_cert_chain(str(self.tls_cert), str(self.tls_key))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load the TLS certificate {self.tls_cert} / key "
                                  f"{self.tls_key}: {exc}; give PEM files") from exc
        self._thread = threading.Thread(target=self._run, args=(ssl_context,),
                                        name="emgfeedback-share", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            self._thread.join(timeout_s)
            self._thread = None
            raise ConfigError(f"cannot serve the shared view on {self.bind_host}:"
                              f"{self.port}: {self._error}; choose another port with "
                              "--share-port") from self._error
        return self.url_for(self.new_code())

    def _run(self, ssl_context) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ssl_context))
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _serve(self, ssl_context) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/ws", self._websocket)
        for name in STATIC_FILES:
            if name != "index.html":
                app.router.add_get(f"/{name}", self._static_handler(name))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=STOP_TIMEOUT_S)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind_host, self.port, ssl_context=ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        # A screen that stopped reading cannot take even the close frame: bounded waits,
        # then the runner drops whatever is left.
        closing = [v.ws.close(code=1001, message=b"server stopped")
                   for v in list(self.viewers.values()) if v.ws is not None]
        if closing:
            try:
                await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True),
                                       STOP_TIMEOUT_S)
            except asyncio.TimeoutError:
                pass
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Close every viewer and stop serving (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout_s)
        self._thread = None

    # ------------------------------------------------------------------ pairing
    def host_for_url(self) -> str:
        """The host name the screens should use."""
        return lan_address() if self.lan else "127.0.0.1"

    def url_for(self, code: str) -> str:
        """The page's URL with ``code``."""
        return f"{self.scheme}://{self.host_for_url()}:{self.port}/?code={code}"

    def new_code(self) -> str:
        """A fresh pairing code (valid for the server's TTL)."""
        return self.pairing.new_code()

    def revoke(self, code: str) -> int:
        """Revoke ``code``: it pairs no new screen and its screens are closed.

        Returns
        -------
        int
            Screens closed.
        """
        self.pairing.revoke(code)
        return self._close_where(lambda v: v.code == code)

    def revoke_all(self) -> int:
        """Revoke every code and close every screen; returns the screens closed."""
        self.pairing.revoke_all()
        return self._close_where(lambda v: True)

    def disconnect_all(self) -> int:
        """Close every screen's connection without revoking anything (as a network drop
        does): the pages reconnect with their viewer tokens. Returns the screens closed."""
        return self._close_where(lambda v: True, notice=None, code=1012)

    def _close_where(self, predicate, notice: str | None = "revoked",
                     code: int = 4401) -> int:
        """Close the matching screens on the loop; returns at once (never blocks Qt)."""
        victims = [v for v in list(self.viewers.values()) if predicate(v)]
        loop = self._loop
        if loop is None or not loop.is_running() or not victims:
            return 0

        async def close_one(v: Viewer) -> None:
            if v.ws is None or v.ws.closed:
                return
            if notice is not None:
                try:
                    await asyncio.wait_for(v.ws.send_str(json.dumps({"t": notice})), 1.0)
                except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                    pass
            await v.ws.close(code=code, message=(notice or "closed").encode())

        def schedule() -> None:
            for v in victims:
                loop.create_task(close_one(v))

        loop.call_soon_threadsafe(schedule)
        return len(victims)

    # ------------------------------------------------------------------ publishing
    def publish(self, state: dict) -> None:
        """Hand the newest state to the screens; never blocks (thread-safe).

        ``state["seq"]`` is set here (one sequence per server).
        """
        loop = self._loop
        with self._lock:
            self._seq += 1
            state["seq"] = self._seq
            if self._slot is not None:  # replaced before the loop took it
                self.publish_dropped += 1
                old = self._slot
                # its sample still waits for the next paint: keep it for the accounting
                state["_replaced"] = old.pop("_replaced", []) + [(old["seq"], old.get("t_ms"))]
            self._slot = state
            self.published += 1
            wake = not self._wake_pending
            self._wake_pending = True
        if wake and loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._take)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _take(self) -> None:
        with self._lock:
            state, self._slot = self._slot, None
            self._wake_pending = False
        if state is None:
            return
        for seq, t_ms in state.pop("_replaced", ()):
            if t_ms is not None:
                self._seq_t_ms.append((seq, t_ms))
        message = json.dumps({"t": "state", "s": state}, separators=(",", ":"))
        self._last_message = message
        seq = state["seq"]
        if state.get("t_ms") is not None:
            self._seq_t_ms.append((seq, state["t_ms"]))
        for viewer in self.viewers.values():
            viewer.offer(message, seq)

    # ------------------------------------------------------------------ statistics
    def stats(self) -> dict:
        """Counters: published and dropped states, screens and their own counters."""
        viewers = []
        for v in list(self.viewers.values()):
            viewers.append({"id": v.id, "peer": v.peer, "sent": v.sent, "dropped": v.dropped,
                            "painted": v.painted,
                            "latency_p95_ms": _percentile(v.latencies_ms, 95)})
        return {"published": self.published, "publish_dropped": self.publish_dropped,
                "viewers": viewers, "closed_slow": self.closed_slow,
                "refused": self.pairing.refused}

    def latencies_ms(self) -> dict[int, list[float]]:
        """Share latency (state's newest sample arrival to paint), ms, per viewer id."""
        return {v.id: list(v.latencies_ms) for v in list(self.viewers.values())}

    def reset_latencies(self) -> None:
        """Forget the latencies measured so far (e.g. after warm-up)."""
        for v in list(self.viewers.values()):
            v.latencies_ms.clear()

    # ------------------------------------------------------------------ HTTP handlers
    def _static_handler(self, name: str):
        from aiohttp import web

        async def handler(request):
            return web.Response(body=self._static[name], content_type=STATIC_FILES[name],
                                headers=SECURITY_HEADERS)

        return handler

    async def _page(self, request):
        from aiohttp import web

        # The page holds no data; pairing happens on the WebSocket.
        return web.Response(body=self._static["index.html"], content_type="text/html",
                            charset="utf-8", headers=SECURITY_HEADERS)

    async def _websocket(self, request):
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=4096, timeout=STOP_TIMEOUT_S)
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            return web.Response(status=403, text="cross-origin WebSocket refused")
        await ws.prepare(request)
        token = request.query.get("token", "")
        code = None
        if token:  # a paired screen coming back
            code = self.pairing.code_of(token) if self.pairing.resume(token) else None
        else:
            token = self.pairing.pair(request.query.get("code", ""))
            code = self.pairing.code_of(token) if token else None
        if code is None or len(self.viewers) >= self.max_viewers:
            await asyncio.sleep(REFUSE_DELAY_S)
            reason = ("too many screens are connected" if code is not None else
                      "this pairing code is wrong, expired or was revoked")
            await ws.send_str(json.dumps({"t": "refused", "reason": reason}))
            await ws.close(code=4403, message=b"refused")
            return ws
        self._next_viewer += 1
        viewer = Viewer(self._next_viewer, code, request.remote or "", ws)
        self.viewers[viewer.id] = viewer
        await ws.send_str(json.dumps({"t": "hello", "token": token, "now_ms": now_ms(),
                                      "viewer": viewer.id}))
        if self._last_message is not None:
            viewer.offer(self._last_message, self._seq)
        writer = asyncio.get_running_loop().create_task(self._writer(viewer))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_message(viewer, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            writer.cancel()
            self.viewers.pop(viewer.id, None)
        return ws

    async def _writer(self, viewer: Viewer) -> None:
        ws = viewer.ws
        while not ws.closed:
            await viewer.wake.wait()
            viewer.wake.clear()
            message, viewer.pending = viewer.pending, None
            if message is None:
                continue
            try:
                await asyncio.wait_for(ws.send_str(message), self.send_timeout_s)
            except asyncio.TimeoutError:
                self.closed_slow += 1
                await ws.close(code=4408, message=b"too slow")
                return
            except (ConnectionError, RuntimeError):
                return
            viewer.sent += 1

    def _on_message(self, viewer: Viewer, data: str) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        kind = msg.get("t")
        if kind == "ping":
            reply = {"t": "pong", "id": msg.get("id"), "c": msg.get("c"), "s": now_ms()}
            asyncio.get_running_loop().create_task(viewer.ws.send_str(json.dumps(reply)))
        elif kind == "paint":
            self._account_paint(viewer, msg)

    def _account_paint(self, viewer: Viewer, msg: dict) -> None:
        try:
            seq, at_ms = int(msg["seq"]), float(msg["at_ms"])
        except (KeyError, TypeError, ValueError):
            return
        if seq <= viewer.last_painted_seq:
            return
        first = viewer.last_painted_seq < 0
        for s, t_ms in reversed(self._seq_t_ms):  # newest first: only the few unpainted
            if s > seq:
                continue
            if s <= viewer.last_painted_seq or (first and s < seq):
                break
            viewer.latencies_ms.append(at_ms - t_ms)
        viewer.last_painted_seq = seq
        viewer.painted += 1


def _percentile(values, q: float):
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q / 100.0 * (len(ordered) - 1)))))
    return round(ordered[k], 2)
