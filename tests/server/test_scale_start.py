"""Serve's start on the cluster, and what stops it, each a clear line.

- Serve runs without its HTTP proxy: talkbridge calls its deployments through handles only.
  Serve's default proxy bound 127.0.0.1:8000, and where anything else held that port (a web
  app on the head, a second Serve) Serve's start failed half a minute later with a dead
  proxy actor, and the front never opened.
- A replica that cannot start (a voice missing on its node) is one line naming its error,
  in seconds, where Serve said only "Deploying application … failed" after a minute.

The first test restarts Serve on the test cluster, so these run in a module of their own.
"""

from __future__ import annotations

import errno
import socket

import pytest


@pytest.fixture
def port_8000_taken():
    """127.0.0.1:8000 held by a listening socket for the test (or by someone else already)."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 8000))
        sock.listen()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
    yield
    sock.close()


def test_serve_starts_and_speaks_with_port_8000_taken_and_opens_no_http_port(ray_address,
                                                                           port_8000_taken,
                                                                           registry):
    import ray
    from ray import serve

    from bridge.server import scale

    serve.shutdown()  # Serve starts afresh here, as on a new cluster
    try:
        handle = scale.deploy(None, replicas=1)
        provider, voice = scale.remote_registry(registry, handle).resolve(None)
        (chunk,) = list(provider.synthesize("Port eight thousand is not ours.", voice))
        assert chunk.duration > 1.0
        actors = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
        assert any("SERVE_CONTROLLER" in name for name in actors)
        assert not any("PROXY" in name for name in actors), actors
    finally:
        serve.delete(scale.APP)


def test_a_replica_that_cannot_start_is_one_line_naming_its_own_error(ray_address):
    """As a worker node without the front's voice: the replica's registry can't resolve it."""
    from bridge.server import scale

    with pytest.raises(scale.RayUnavailable) as caught:
        scale.deploy({"voice": "piper:no-such-voice"}, replicas=1)
    message = str(caught.value)
    assert message.startswith("[scale] the cluster could not start talkbridge-tts: VoiceNotFound: "
                              "unknown voice 'piper:no-such-voice'")
    assert "no-such-voice" in message and "\n" not in message
    assert "where the replicas run" in message
