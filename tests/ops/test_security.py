"""Who gets in: tokens, TLS, browser origins, sessions per address, files that stay put.

The rules are pure functions in ``bridge.ops.security`` and are tested as such first; then a
real server on 127.0.0.1 shows each one at the edge a client sees (HTTP status, ``error``
code, close code), and that a refused connection never starts a session.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import ssl
import subprocess
import sys

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bridge.ops import security
from bridge.server.host import Server, ServerConfig
from bridge.session.config import SessionConfig
from bridge.session.session import Session
from bridge.transports import http_routes
from tests.support.tls import self_signed as _self_signed
from tests.support.wsclient import Client, pack

TOKENS = ("alpha-7f3c9e1d", "bravo-2b8a4d6e")


# ---- the rules, directly ----------------------------------------------------------------


def test_token_matches_any_of_the_set_and_compares_every_one(monkeypatch):
    calls = []
    real = security.hmac.compare_digest

    def counting(a, b):
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", counting)
    tokens = frozenset(TOKENS + ("charlie-0000",))
    for given, ok in [(TOKENS[0], True), (TOKENS[1], True), ("alpha", False), ("", False),
                      (None, False), (TOKENS[0] + "x", False)]:
        calls.clear()
        assert security.token_matches(given, tokens) is ok
        assert len(calls) == 3  # no early exit on a match or a miss
    assert security.token_matches("s3cret", "s3cret") and not security.token_matches("s3", "s3cret")


def test_tokens_file_has_one_per_line_with_comments(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"# the game clients\n{TOKENS[0]}\n\n  {TOKENS[1]}  # ops\n#{'disabled'}\n")
    assert security.read_tokens_file(path) == frozenset(TOKENS)
    assert security.collect_tokens("extra", path) == frozenset(TOKENS + ("extra",))
    assert security.collect_tokens(None, None) is None
    (tmp_path / "empty").write_text("# nobody yet\n")
    with pytest.raises(ValueError, match="holds no token"):
        security.read_tokens_file(tmp_path / "empty")
    with pytest.raises(ValueError, match="cannot read tokens file"):
        security.read_tokens_file(tmp_path / "missing")


def test_request_token_from_bearer_header_or_query():
    assert security.request_token({"Authorization": "Bearer abc"}, "/v1/stream") == "abc"
    assert security.request_token({"Authorization": "bearer  abc "}, "/") == "abc"
    assert security.request_token({}, "/v1/stream?x=1&token=q%2By") == "q+y"
    assert security.request_token({"Authorization": "Basic Zm9v"}, "/metrics") is None
    assert security.request_token({}, "/metrics") is None


def test_loopback_and_the_exposure_warning():
    for host in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"):
        assert security.is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.4", "example.com"):
        assert not security.is_loopback(host), host
    assert security.exposure_warning("127.0.0.1", None) is None
    assert security.exposure_warning("0.0.0.0", frozenset({"t"})) is None
    assert "without a token" in security.exposure_warning("0.0.0.0", None)


def test_origin_policy():
    policy = security.OriginPolicy(("https://game.example", "http://localhost:3000/"))
    assert policy.allows(None, "127.0.0.1:8765")                      # not a browser
    assert policy.allows("https://game.example", "127.0.0.1:8765")
    assert policy.allows("HTTP://LOCALHOST:3000", "127.0.0.1:8765")
    assert policy.allows("http://127.0.0.1:8765", "127.0.0.1:8765")  # our own viewer
    assert policy.allows("http://localhost:8765", "localhost:8765")
    assert not policy.allows("https://evil.example", "127.0.0.1:8765")
    assert not policy.allows("http://127.0.0.1:9999", "127.0.0.1:8765")
    assert not policy.allows("null", "127.0.0.1:8765")
    # DNS rebinding: evil.example now resolves to us, and the Host header agrees with it.
    assert not policy.allows("http://evil.example:8765", "evil.example:8765")
    assert security.OriginPolicy(("*",)).allows("https://anything.example", None)


def test_address_limiter():
    limiter = security.AddressLimiter(2)
    assert limiter.acquire("a") and limiter.acquire("a") and not limiter.acquire("a")
    assert limiter.acquire("b")
    limiter.release("a")
    assert limiter.acquire("a") and limiter.count("a") == 2
    unlimited = security.AddressLimiter(0)
    assert all(unlimited.acquire("a") for _ in range(100))


@pytest.fixture
def web_root(tmp_path):
    root = tmp_path / "web"
    (root / "sub").mkdir(parents=True)
    (root / "app.js").write_text("ok")
    (root / "sub" / "x.css").write_text("ok")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "out").symlink_to(tmp_path / "secret.txt")
    (root / "outdir").symlink_to(tmp_path)
    (root / "inside").symlink_to(root / "app.js")
    (root / "loop").symlink_to(root / "loop")
    return root


@pytest.mark.parametrize("path", [
    "../secret.txt", "sub/../../secret.txt", "%2e%2e/secret.txt", "%2E%2E%2Fsecret.txt",
    "sub/%2e%2e/%2e%2e/secret.txt", "..%2fsecret.txt", "/etc/passwd", "%2fetc%2fpasswd",
    "//etc/passwd", "..\\secret.txt", "out", "outdir/secret.txt", "loop", "app.js%00.png",
    "", "sub", "sub/", ".", "%ff%fe", "sub/..", "nope.js",
])
def test_static_target_never_leaves_its_folder(web_root, path):
    assert security.static_target(web_root, path) is None


def test_static_target_finds_real_files(web_root):
    assert security.static_target(web_root, "app.js") == (web_root / "app.js").resolve()
    assert security.static_target(web_root, "sub/x.css?v=2") == (web_root / "sub/x.css").resolve()
    assert security.static_target(web_root, "sub/./x.css") == (web_root / "sub/x.css").resolve()
    assert security.static_target(web_root, "inside") == (web_root / "app.js").resolve()


# ---- a real server ----------------------------------------------------------------------


@pytest.fixture
async def guarded(registry):
    """Two tokens, one listed browser origin, two sessions per address."""
    server = Server(ServerConfig(port=0, warm_up=False, max_sessions_per_ip=2,
                                 allowed_origins=("https://game.example",),
                                 session=SessionConfig(token=frozenset(TOKENS), lead=30.0)),
                    tts=registry)
    await server.start()
    yield server
    await server.stop()


def _http(port: int, path: str, headers: dict[str, str] | None = None,
          context: ssl.SSLContext | None = None) -> tuple[int, str]:
    """A raw GET: http.client sends the path as written (urllib would normalize ``..``)."""
    conn = (http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
            if context else http.client.HTTPConnection("127.0.0.1", port, timeout=10))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


async def _get(port, path, headers=None, context=None):
    return await asyncio.to_thread(_http, port, path, headers, context)


async def _refused(ws, code: str, close_code: int = 1008) -> dict:
    msg = msgpack.unpackb(await ws.recv(), raw=False)
    assert msg["type"] == "error" and msg["code"] == code and msg["fatal"] is True, msg
    with pytest.raises(ConnectionClosed) as info:
        await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == close_code
    return msg


async def test_any_token_of_the_set_in_hello_is_accepted(guarded):
    for token in TOKENS:
        client, welcome = await Client.open(guarded.port, token=token)
        assert welcome["type"] == "welcome"
        await client.close()


async def test_wrong_hello_token_is_refused_before_any_session_task(guarded, monkeypatch, caplog):
    started = []
    monkeypatch.setattr(Session, "_start", lambda self, job, name: started.append(name))
    caplog.set_level(logging.DEBUG)
    for token in ("wrong-token-9d1e", None):
        async with connect(f"ws://127.0.0.1:{guarded.port}/v1/stream", compression=None) as ws:
            hello = {"type": "hello", "protocol": 1, "client": "x"}
            await ws.send(pack(hello if token is None else {**hello, "token": token}))
            msg = await _refused(ws, "unauthorized")
            assert "wrong-token" not in msg["message"]
    assert started == []
    assert "wrong-token-9d1e" not in caplog.text and TOKENS[0] not in caplog.text


async def test_handshake_token_spares_hello_its_token(guarded):
    url = f"ws://127.0.0.1:{guarded.port}/v1/stream"
    for kwargs in ({"additional_headers": {"Authorization": f"Bearer {TOKENS[1]}"}},
                   {"uri": f"{url}?token={TOKENS[0]}"}):
        ws = await connect(kwargs.pop("uri", url), compression=None, **kwargs)
        client = Client(ws)
        await client.send({"type": "hello", "protocol": 1, "client": "browser"})
        assert (await client.recv())["type"] == "welcome"
        await client.close()


async def test_wrong_handshake_token_gets_no_session(guarded):
    before = guarded.metrics.value("talkbridge_sessions_total")
    for kwargs in ({"additional_headers": {"Authorization": "Bearer nope-4c2a"}},
                   {"uri": f"ws://127.0.0.1:{guarded.port}/v1/stream?token=nope-4c2a"}):
        uri = kwargs.pop("uri", f"ws://127.0.0.1:{guarded.port}/v1/stream")
        async with connect(uri, compression=None, **kwargs) as ws:
            await _refused(ws, "unauthorized")
    assert guarded.metrics.value("talkbridge_sessions_total") == before
    assert guarded.session_count == 0


async def test_info_and_metrics_need_the_token_healthz_does_not(guarded):
    port = guarded.port
    assert (await _get(port, "/healthz"))[0] == 200
    for path in ("/api/info", "/metrics"):
        assert (await _get(port, path))[0] == 401
        assert (await _get(port, path, {"Authorization": "Bearer wrong"}))[0] == 401
        assert (await _get(port, f"{path}?token=wrong"))[0] == 401
        assert (await _get(port, path, {"Authorization": f"Bearer {TOKENS[0]}"}))[0] == 200
        assert (await _get(port, f"{path}?token={TOKENS[1]}"))[0] == 200
    status, body = await _get(port, "/api/info", {"Authorization": f"Bearer {TOKENS[0]}"})
    info = json.loads(body)
    assert "voices" in info
    # One name a pose for the viewer's list: no synonyms side by side (joy beside happy).
    assert {"happy", "angry", "sad", "surprised"} <= set(info["emotions"])
    assert not {"joy", "anger", "sadness", "surprise"} & set(info["emotions"])


async def test_browser_origins(guarded):
    url = f"ws://127.0.0.1:{guarded.port}/v1/stream"
    for origin in ("https://game.example", f"http://127.0.0.1:{guarded.port}"):
        ws = await connect(url, origin=origin, compression=None)
        client = Client(ws)
        await client.send({"type": "hello", "protocol": 1, "client": "page", "token": TOKENS[0]})
        assert (await client.recv())["type"] == "welcome"
        await client.close()
    with pytest.raises(InvalidStatus) as info:
        await connect(url, origin="https://evil.example", compression=None)
    assert info.value.response.status_code == 403


async def test_sessions_per_address_are_limited(guarded):
    first, _ = await Client.open(guarded.port, token=TOKENS[0])
    second, _ = await Client.open(guarded.port, token=TOKENS[1])
    async with connect(f"ws://127.0.0.1:{guarded.port}/v1/stream", compression=None) as ws:
        msg = await _refused(ws, "too_many_sessions")
    assert "2 sessions" in msg["message"]
    await first.close()
    for _ in range(100):
        if guarded.addresses.count("127.0.0.1") < 2:
            break
        await asyncio.sleep(0.02)
    third, welcome = await Client.open(guarded.port, token=TOKENS[0])
    assert welcome["type"] == "welcome"
    await third.close()
    await second.close()


async def test_a_connection_without_hello_is_closed_and_frees_its_slot(registry):
    server = Server(ServerConfig(port=0, warm_up=False, max_sessions_per_ip=1,
                                 hello_seconds=0.3), tts=registry)
    await server.start()
    try:
        async with connect(f"ws://127.0.0.1:{server.port}/v1/stream", compression=None) as ws:
            msg = await _refused(ws, "hello_required")  # silent for 0.3 s: closed
        assert "within 0.3 s" in msg["message"]
        for _ in range(100):
            if server.addresses.count("127.0.0.1") == 0:
                break
            await asyncio.sleep(0.02)
        client, welcome = await Client.open(server.port)  # the slot is free again
        await asyncio.sleep(0.5)  # a session that said hello is not timed out
        await client.send({"type": "ping", "t": 2.0})
        assert (await client.until(lambda m: m["type"] == "pong"))[-1]["t"] == 2.0
        await client.close()
    finally:
        await server.stop()


@pytest.mark.parametrize("path", [
    "/web/../server.py", "/web/%2e%2e/server.py", "/web/%2E%2E%2Fserver.py",
    "/web/..%2f..%2fbridge/server.py", "/web//etc/passwd", "/web/%2fetc%2fpasswd",
    "/web/vendor/../../server.py", "/web/", "/web/%00",
])
async def test_static_files_cannot_be_walked_out_of(guarded, path):
    status, body = await _get(guarded.port, path)
    assert status == 404, (path, body[:80])


async def test_static_files_follow_no_symlink_out(guarded, web_root, monkeypatch):
    monkeypatch.setattr(http_routes, "WEB_ROOT", web_root)
    assert await _get(guarded.port, "/web/app.js") == (200, "ok")
    assert (await _get(guarded.port, "/web/out"))[0] == 404
    assert (await _get(guarded.port, "/web/outdir/secret.txt"))[0] == 404


async def test_loopback_is_the_default_and_a_wildcard_without_token_warns(registry, caplog):
    assert ServerConfig().host == "127.0.0.1"
    caplog.set_level(logging.WARNING, logger="bridge.server.host")
    server = Server(ServerConfig(host="0.0.0.0", port=0, warm_up=False), tts=registry)
    await server.start()
    await server.stop()
    assert "without a token" in caplog.text


# ---- TLS --------------------------------------------------------------------------------


async def test_tls_serves_wss_and_https_on_one_port(registry, tmp_path):
    cert, key = _self_signed(tmp_path)
    server = Server(ServerConfig(port=0, warm_up=False, tls_cert=str(cert), tls_key=str(key)),
                    tts=registry)
    await server.start()
    try:
        assert server.scheme == "wss"
        trust = ssl.create_default_context(cafile=str(cert))
        async with connect(f"wss://127.0.0.1:{server.port}/v1/stream", ssl=trust,
                           compression=None) as ws:
            await ws.send(pack({"type": "hello", "protocol": 1, "client": "tls"}))
            assert msgpack.unpackb(await ws.recv(), raw=False)["type"] == "welcome"
        status, body = await _get(server.port, "/healthz", context=trust)
        assert status == 200 and json.loads(body)["status"] == "ok"
        with pytest.raises(Exception):  # plain ws:// to a TLS port is no handshake at all
            await asyncio.wait_for(connect(f"ws://127.0.0.1:{server.port}/v1/stream",
                                           open_timeout=3), 5)
    finally:
        await server.stop()


def test_bad_tls_files_fail_at_start_with_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="TLS certificate file not found"):
        Server(ServerConfig(tls_cert=str(tmp_path / "none.pem")))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ValueError, match="cannot load TLS certificate"):
        security.tls_context(garbage)
    with pytest.raises(ValueError, match="needs its certificate"):
        Server(ServerConfig(tls_key=str(garbage)))
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--port", "0",
                           "--tls-cert", str(tmp_path / "none.pem")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "TLS certificate file not found" in proc.stderr


def test_serve_flags_override_config_keys(tmp_path):
    from bridge.cli.app import build_parser
    from bridge.cli.serve import _security_options

    conf = {"tls_cert": "certs/c.pem", "allowed_origins": ["https://a.example"],
            "max_sessions_per_ip": 3, "drain_seconds": 9, "hello_seconds": 4}
    args = build_parser().parse_args(["serve", "--config", str(tmp_path / "tb.toml")])
    assert _security_options(args, conf) == {
        "tls_cert": str(tmp_path / "certs/c.pem"), "tls_key": None,
        "allowed_origins": ("https://a.example",), "max_sessions_per_ip": 3, "drain_seconds": 9,
        "hello_seconds": 4}
    args = build_parser().parse_args([
        "serve", "--tls-cert", "x.pem", "--tls-key", "k.pem", "--allow-origin", "https://b.example",
        "--allow-origin", "*", "--max-sessions-per-ip", "0", "--drain-seconds", "1.5", "--log-json",
        "--hello-seconds", "0"])
    assert _security_options(args, conf) == {
        "tls_cert": "x.pem", "tls_key": "k.pem", "allowed_origins": ("https://b.example", "*"),
        "max_sessions_per_ip": 0, "drain_seconds": 1.5, "hello_seconds": 0}
    assert args.log_json and ServerConfig(**_security_options(args, {})).max_sessions_per_ip == 0


def test_pem_key_and_chain_split_for_grpc(tmp_path):
    """gRPC takes the key and the chain apart; a key inside the certificate file works too."""
    cert, key = _self_signed(tmp_path)
    private, chain = security.pem_key_and_chain(cert, key)
    assert private.startswith(b"-----BEGIN PRIVATE KEY-----") and b"CERTIFICATE" not in private
    assert chain.startswith(b"-----BEGIN CERTIFICATE-----") and b"PRIVATE" not in chain
    both = tmp_path / "both.pem"
    both.write_bytes(key.read_bytes() + cert.read_bytes())
    assert security.pem_key_and_chain(both) == (private, chain)
    with pytest.raises(ValueError, match=r"no PEM private key in .*cert\.pem"):
        security.pem_key_and_chain(cert)
    with pytest.raises(ValueError, match="cannot read TLS file"):
        security.pem_key_and_chain(tmp_path / "none.pem")
