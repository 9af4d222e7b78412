"""Start-up reachability of remote providers: a real listening socket, a real closed port."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from bridge.ops.reach import Endpoint, from_address, from_url, unreachable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_listening_port_is_reachable_and_a_closed_one_is_not():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert unreachable(Endpoint("[x] y", "127.0.0.1", server.getsockname()[1])) is None
    assert unreachable(Endpoint("[x] y", "127.0.0.1", _closed_port())) == "Connection refused"
    assert "can't resolve" in unreachable(Endpoint("[x] y", "no-such-host.invalid", 80))


def test_settings_parse_to_endpoints_or_say_what_is_wrong():
    assert from_url("[llm] base_url", "http://127.0.0.1:8000/v1") == \
        Endpoint("[llm] base_url", "127.0.0.1", 8000)
    assert from_url("[llm] base_url", "https://api.openai.com/v1").port == 443
    assert from_address("[asr] server", "riva.example:50051").port == 50051
    assert from_url("[dialogue] memory", "postgresql://u:pw@db.example/talk").port == 5432
    with pytest.raises(ValueError, match=r"\[llm\] base_url 'localhost:8000' is not an http"):
        from_url("[llm] base_url", "localhost:8000")
    with pytest.raises(ValueError, match="is not host:port"):
        from_address("[asr] server", "riva.example")


@pytest.mark.parametrize("table, setting", [
    ('[llm]\nprovider = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:{port}/v1"\n',
     "[llm] base_url"),
    ('[asr]\nprovider = "riva"\nserver = "127.0.0.1:{port}"\n', "[asr] server"),
    ('[tts]\nvoice = "riva:English-US.Female-1"\n[tts.riva]\nserver = "127.0.0.1:{port}"\n',
     "[tts.riva] server"),
    ('[dialogue]\nmemory = "postgresql://u:secret@127.0.0.1:{port}/talk"\n', "[dialogue] memory"),
])
def test_serve_exits_in_one_line_when_a_provider_it_needs_is_unreachable(tmp_path, table, setting):
    port = _closed_port()
    config = tmp_path / "talkbridge.toml"
    config.write_text(table.format(port=port))
    run = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--port", "0",
                          "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"talkbridge serve: {setting} 127.0.0.1:{port} is unreachable (Connection refused): "
        "start that server or fix the setting"]
