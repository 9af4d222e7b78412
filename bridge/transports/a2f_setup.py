"""What ``talkbridge serve --a2f-grpc`` checks before any model loads: the address, and that
gRPC and NVIDIA's stubs import.

Kept apart from :mod:`bridge.transports.a2f_grpc` (which imports gRPC at its top) so a server
without the ``a2f`` extra can still say, in one line, what to install.
"""

from __future__ import annotations

#: NVIDIA's Audio2Face-3D NIM listens on 52000; clients' examples use it.
DEFAULT_PORT = 52000
INSTALL_HINT = "pip install 'talkbridge[a2f]'"


class A2FUnavailable(RuntimeError):
    """gRPC or NVIDIA's stubs are missing, or refuse this grpcio/protobuf: says what to install."""


class A2FBindError(OSError):
    """The service's address can't be listened on: taken, or not this machine's."""


def listen_address(text: str, default_host: str) -> tuple[str, int]:
    """``PORT``, ``:PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` → (host, port).

    A bare port listens on the server's own ``--host``, so ``--host 0.0.0.0 --a2f-grpc 52000``
    exposes both services alike. Port 0 picks a free one (tests). Raises ValueError.
    """
    spec = text.strip()
    host, sep, port = spec.rpartition(":")
    if not sep:
        host, port = "", spec
    host = host.strip("[]") or default_host
    if not port.isdigit():
        raise ValueError(f"--a2f-grpc {text!r}: give [HOST:]PORT, e.g. {DEFAULT_PORT} or "
                         f"0.0.0.0:{DEFAULT_PORT}")
    number = int(port)
    if number > 65535:
        raise ValueError(f"--a2f-grpc {text!r}: a port is 0-65535 (0 picks a free one)")
    return host, number


def grpc_target(host: str, port: int) -> str:
    """The address gRPC binds: an IPv6 literal in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def require() -> None:
    """Import gRPC and the stubs now, so a missing extra is one line before models load.

    NVIDIA's generated modules raise at import when grpcio or protobuf is older than the
    code they were generated with; that is reported the same way, with the cause.
    """
    try:
        import grpc  # noqa: F401
        from nvidia_audio2face_3d import audio2face_pb2_grpc, messages_pb2  # noqa: F401
    except ImportError as exc:
        raise A2FUnavailable(f"--a2f-grpc needs gRPC and NVIDIA's Audio2Face-3D stubs "
                             f"({exc.name or exc} is missing): {INSTALL_HINT}") from None
    except Exception as exc:  # noqa: BLE001 - the stubs' own version checks (RuntimeError, …)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise A2FUnavailable(f"--a2f-grpc: NVIDIA's stubs won't load ({reason}): "
                             f"{INSTALL_HINT}") from None
