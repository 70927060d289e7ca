"""`python -m bench.bare_read URL`: read URL's body with aiohttp, as the service's HTTP
source does, and throw it away; print the seconds the second of two reads took."""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp

from app.numbers.numbers_api import HTTP_READ_SIZE


async def read_twice(url: str) -> float:
    async with aiohttp.ClientSession(auto_decompress=False, read_bufsize=HTTP_READ_SIZE) as session:
        for _ in range(2):  # the first opens the connection, as the service's pool holds one
            started = time.perf_counter()
            async with session.get(url) as response:
                async for _ in response.content.iter_chunked(HTTP_READ_SIZE):
                    pass
            elapsed = time.perf_counter() - started
    return elapsed


if __name__ == "__main__":
    print(asyncio.run(read_twice(sys.argv[1])))
