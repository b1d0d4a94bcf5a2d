"""The share server over real sockets (aiohttp's client): pairing, revoking, slow screens."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time

import aiohttp
import pytest

from emgfeedback.errors import ConfigError
from emgfeedback.share.server import ShareServer, lan_address

DEADLINE_S = 60.0


def _ws_url(url: str, **query) -> str:
    base = url.split("?")[0].replace("http", "ws", 1).rstrip("/")
    return base + "/ws?" + "&".join(f"{k}={v}" for k, v in query.items())


def _code(url: str) -> str:
    return url.rsplit("=", 1)[1]


async def _next(ws, kind: str, deadline_s: float = DEADLINE_S) -> dict:
    """The next message of ``kind`` (others skipped); fails after a generous deadline."""
    async def wait() -> dict:
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket ended ({msg.type}, {ws.close_code}) before "
                                     f"a {kind!r} message")
            data = json.loads(msg.data)
            if data["t"] == kind:
                return data

    return await asyncio.wait_for(wait(), deadline_s)


async def _closed(ws, deadline_s: float = DEADLINE_S) -> int:
    async def wait() -> int:
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.CLOSE:  # the code the server sent
                return int(msg.data)
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return ws.close_code

    return await asyncio.wait_for(wait(), deadline_s)


def test_a_valid_code_pairs_and_the_screen_receives_the_live_state(make_server, feeder):
    server, url = make_server()
    assert url.startswith("http://127.0.0.1:")
    feed = feeder(server).start()

    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(_ws_url(url, code=_code(url))) as ws:
                hello = await _next(ws, "hello")
                first = (await _next(ws, "state"))["s"]
                later = (await _next(ws, "state"))["s"]
                return hello, first, later

    hello, first, later = asyncio.run(go())
    assert len(hello["token"]) >= 20
    assert later["seq"] > first["seq"]
    assert first["instruction"] == "Squeeze the ball"
    assert first["bars"][0]["label"] == "L biceps" and first["bars"][0]["goal_uv"] == 40.0
    assert first["subject"] is None
    feed.stop()


@pytest.mark.parametrize("how", ["wrong", "expired", "revoked", "none"])
def test_a_wrong_expired_or_revoked_code_is_refused(make_server, clock, how):
    server, url = make_server(ttl_s=60.0)
    code = _code(url)
    query = {"code": ("C" if code[0] != "C" else "D") + code[1:]}
    if how == "expired":
        clock.advance(61.0)
        query = {"code": code}
    elif how == "revoked":
        server.revoke(code)
        query = {"code": code}
    elif how == "none":
        query = {"token": "made-up"}

    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(_ws_url(url, **query)) as ws:
                refused = await _next(ws, "refused")
                return refused, await _closed(ws)

    refused, close_code = asyncio.run(go())
    assert "wrong, expired or was revoked" in refused["reason"]
    assert close_code == 4403
    assert server.stats()["refused"] == 1 and server.viewers == {}


def test_a_token_reconnects_after_the_code_expired_until_revoked(make_server, clock, feeder):
    server, url = make_server(ttl_s=60.0)
    feed = feeder(server).start()

    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(_ws_url(url, code=_code(url))) as ws:
                token = (await _next(ws, "hello"))["token"]
                seq = (await _next(ws, "state"))["s"]["seq"]
            clock.advance(3600.0)  # the code has expired; the screen's token has not
            async with s.ws_connect(_ws_url(url, token=token)) as ws:
                await _next(ws, "hello")
                resumed = (await _next(ws, "state"))["s"]["seq"]
                while resumed <= seq:  # the view goes on: newer states arrive
                    resumed = (await _next(ws, "state"))["s"]["seq"]
                assert server.revoke(_code(url)) == 1
                await _next(ws, "revoked")
                revoked_code = await _closed(ws)
            async with s.ws_connect(_ws_url(url, token=token)) as ws:
                await _next(ws, "refused")
            return seq, resumed, revoked_code

    seq, resumed, revoked_code = asyncio.run(go())
    assert resumed > seq
    assert revoked_code == 4401
    feed.stop()


def test_a_stalled_screen_loses_only_its_own_frames(make_server, feeder):
    """A screen that never reads: publishing goes on, a healthy screen keeps up, the
    stalled one's skipped frames are counted (counters, no timing)."""
    server, url = make_server(send_timeout_s=3600.0)
    feed = feeder(server)
    port = int(url.split(":")[2].split("/")[0])
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
    stalled.connect(("127.0.0.1", port))
    stalled.sendall((f"GET /ws?code={_code(url)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    # ... and never reads again.
    big = "x" * 20000  # 1000 states: 20 MB, more than any socket buffer
    N = 1000

    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(_ws_url(url, code=_code(url))) as ws:
                await _next(ws, "hello")
                loop = asyncio.get_running_loop()
                # wait (condition, generous deadline) until both screens are connected
                for _ in range(6000):
                    if len(server.viewers) == 2:
                        break
                    await asyncio.sleep(0.01)
                assert len(server.viewers) == 2
                published = threading.Event()

                def publish_many() -> None:
                    for i in range(N):
                        feed.model.instruction = f"{big}{i}"
                        feed.step()
                        time.sleep(0.002)  # paces the producer like frames; asserts no time
                    published.set()

                await loop.run_in_executor(None, publish_many)
                last = server.published
                while True:  # the healthy screen gets the newest state
                    state = (await _next(ws, "state"))["s"]
                    if state["seq"] == last:
                        return state, server.stats()

    try:
        state, stats = asyncio.run(go())
    finally:
        stalled.close()
    assert state["instruction"].endswith(str(N - 1))
    assert stats["published"] == N
    healthy, stuck = sorted(stats["viewers"], key=lambda v: -v["sent"])
    assert stuck["dropped"] > 0 and stuck["sent"] < N  # only the stalled screen lost frames
    assert healthy["sent"] + healthy["dropped"] >= stuck["sent"] + stuck["dropped"]


def test_cross_origin_websockets_are_refused(make_server):
    server, url = make_server()

    async def go():
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(_ws_url(url, code=_code(url)),
                                   headers={"Origin": "http://evil.example"})
            return err.value.status

    assert asyncio.run(go()) == 403
    assert server.viewers == {}


def test_the_page_is_self_contained_with_a_strict_policy(make_server):
    server, url = make_server()

    async def go():
        async with aiohttp.ClientSession() as s:
            out = {}
            for path in ("/", "/view.js", "/view.css"):
                async with s.get(url.split("?")[0].rstrip("/") + path) as r:
                    out[path] = (r.status, dict(r.headers), await r.text())
            return out

    pages = asyncio.run(go())
    for path, (status, headers, body) in pages.items():
        assert status == 200, path
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-store"
        # no CDN, no third-party: nothing in the page points off this server
        assert "http://" not in body and "https://" not in body and "//cdn" not in body


def test_localhost_only_unless_lan_is_asked(make_server):
    server, url = make_server()
    assert server.bind_host == "127.0.0.1"
    lan = lan_address()
    if lan != "127.0.0.1":  # this machine has a network address: it must not answer there
        with pytest.raises(OSError):
            socket.create_connection((lan, server.port), timeout=5.0).close()
    lan_server, lan_url = make_server(lan=True)
    assert lan_server.bind_host == "0.0.0.0"
    assert lan_url.startswith(f"http://{lan}:")


def test_half_a_tls_pair_or_an_unreadable_certificate_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="go together"):
        ShareServer(tls_cert=str(tmp_path / "c.pem"))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="cannot load the TLS certificate"):
        ShareServer(tls_cert=str(bad), tls_key=str(bad)).start()


def test_with_a_certificate_the_view_is_served_over_tls(make_server, tmp_path, feeder):
    assert shutil.which("openssl"), "the TLS test makes its certificate with openssl: " \
        "sudo apt-get install -y openssl"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server, url = make_server(tls_cert=str(cert), tls_key=str(key))
    assert url.startswith("https://127.0.0.1:")
    feed = feeder(server).start()

    async def go():
        async with aiohttp.ClientSession() as s:
            wss = _ws_url(url, code=_code(url))
            assert wss.startswith("wss://")
            async with s.ws_connect(wss, ssl=False) as ws:
                await _next(ws, "hello")
                return (await _next(ws, "state"))["s"]

    assert asyncio.run(go())["bars"]
    feed.stop()


def test_a_state_replaced_before_it_was_painted_is_charged_to_the_next_paint(make_server):
    """Share latency = paint time - the state's newest sample arrival, for every state,
    including those a screen never painted (they waited until the next paint)."""
    server, url = make_server()
    states = [{"t_ms": 1000.0}, {"t_ms": 1020.0}, {"t_ms": 1030.0}]

    async def until(condition) -> None:
        for _ in range(int(DEADLINE_S / 0.01)):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("condition not met before the deadline")

    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(_ws_url(url, code=_code(url))) as ws:
                viewer = (await _next(ws, "hello"))["viewer"]
                server.publish(states[0])
                assert (await _next(ws, "state"))["s"]["seq"] == states[0]["seq"]
                await ws.send_str(json.dumps({"t": "paint", "seq": states[0]["seq"],
                                              "at_ms": 1010.0}))
                await until(lambda: len(server.latencies_ms()[viewer]) == 1)
                server.publish(states[1])
                server.publish(states[2])
                while (await _next(ws, "state"))["s"]["seq"] != states[2]["seq"]:
                    pass
                await ws.send_str(json.dumps({"t": "paint", "seq": states[2]["seq"],
                                              "at_ms": 1050.0}))
                await ws.send_str(json.dumps({"t": "paint", "seq": states[1]["seq"],
                                              "at_ms": 1060.0}))  # stale: ignored
                # messages are handled in order: once the pong is back, both paints were
                await ws.send_str(json.dumps({"t": "ping", "id": 1, "c": 0.0}))
                await _next(ws, "pong")
                return server.latencies_ms()[viewer]

    assert sorted(asyncio.run(go())) == [10.0, 20.0, 30.0]


def test_stopping_with_a_stalled_screen_ends_the_server_thread(make_server, feeder):
    """Closing the window must not hang on a screen that stopped reading."""
    server, url = make_server(send_timeout_s=3600.0)
    feed = feeder(server)
    port = server.port
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", port))
    stalled.sendall((f"GET /ws?code={_code(url)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    try:
        for _ in range(6000):  # condition with a generous deadline: the screen is paired
            if server.viewers:
                break
            time.sleep(0.01)
        assert len(server.viewers) == 1
        feed.model.instruction = "x" * 20000
        for _ in range(400):  # fill its socket buffers (8 MB)
            feed.step()
            time.sleep(0.002)
        thread = server._thread
        server.stop()
        assert not thread.is_alive()
    finally:
        stalled.close()
