"""A TCP proxy on loopback that injects the network's faults between a client and the server.

It forwards bytes both ways, delaying each read by ``delay`` seconds (latency, with the
kernel's buffering kept: the server sees a slow network, not a slow client), and can
``stall`` one direction (a frozen link: nothing moves, nothing is closed), ``cut`` every
connection with a TCP reset (a cable pulled mid-utterance), or reset new connections while
``refusing`` (the server is down).
"""

from __future__ import annotations

import asyncio
import socket
import struct


class FaultyProxy:
    def __init__(self, target_port: int, delay: float = 0.0) -> None:
        self.target_port, self.delay = target_port, delay
        self.port = 0
        self.bytes_down = 0  # server → client, forwarded
        self.downstream_open = asyncio.Event()
        self.downstream_open.set()
        self.refusing = False  # new connections are reset at once (the server is down)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> "FaultyProxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stall(self) -> None:
        """Stop forwarding server → client (reads from the server stop too)."""
        self.downstream_open.clear()

    def resume(self) -> None:
        self.downstream_open.set()

    def cut(self) -> None:
        """Reset every proxied connection on both sides (SO_LINGER 0: RST, no FIN)."""
        for writer in self._writers:
            self._reset(writer)
        self._writers.clear()

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        writer.transport.abort()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refusing:
            self._reset(client_w)
            return
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [client_w, server_w]
        up = asyncio.create_task(self._pipe(client_r, server_w, downstream=False))
        down = asyncio.create_task(self._pipe(server_r, client_w, downstream=True))
        self._tasks |= {up, down}
        await asyncio.gather(up, down, return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    downstream: bool) -> None:
        """Every chunk leaves ``delay`` after it arrived: latency, not a throughput cap."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            try:
                while data := await reader.read(65536):
                    if downstream:
                        await self.downstream_open.wait()
                    queue.put_nowait((loop.time() + self.delay, data))
            finally:  # end of stream or a reset: the writer side closes too
                queue.put_nowait((0.0, b""))

        feeder = asyncio.create_task(read())
        try:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - loop.time()))
                if downstream:
                    self.bytes_down += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
            writer.transport.abort()
