"""A TCP proxy that delays every client-to-server byte by a fixed time, like a distant SQS.

Each chunk the client sends is forwarded `delay` after it arrived, in order and without
serialising: a pipe with constant one-way latency, so every request/response round trip costs
`delay` more, however many connections run at once. Answers pass straight back.
Usage: `python -m bench.latency_proxy LISTEN_PORT TARGET_PORT DELAY_MS` (127.0.0.1 only).
"""

from __future__ import annotations

import asyncio
import sys
import time

HOST = "127.0.0.1"


async def _delayed(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    """Copy reader to writer, each chunk `delay` seconds after it was read."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        while chunk := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, chunk))
        queue.put_nowait((0.0, b""))

    reading = asyncio.create_task(read())
    try:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(chunk)
            await writer.drain()
    finally:
        reading.cancel()
        writer.close()


async def _straight(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy reader to writer as fast as it comes."""
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        writer.close()


async def serve(listen_port: int, target_port: int, delay: float) -> None:
    """Accept connections on listen_port and proxy each to target_port."""

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(HOST, target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            _delayed(client_r, server_w, delay),
            _straight(server_r, client_w),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, HOST, listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    listen, target, delay_ms = (int(arg) for arg in sys.argv[1:4])
    asyncio.run(serve(listen, target, delay_ms / 1000))
