"""A small, fast HTTP target for benchmarks, run in its own process: ``python http_target.py PORT``.

It answers every request with the same 200 page and closes the connection, with a deep listen
backlog so hundreds of concurrent probes are not throttled by the target itself.
"""

from __future__ import annotations

import asyncio
import sys

BODY = b"<html><body>TTHC portal benchmark page</body></html>\n" * 20
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(RESPONSE)
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    """Serve on 127.0.0.1:``port`` until killed."""
    server = await asyncio.start_server(_answer, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
