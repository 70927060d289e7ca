"""`python -m bench.bare_read URL`: read URL's body with aiohttp, as the service's HTTP
source does, and throw it away; then, on the same body read again and kept in memory, time
the service's parser and simdjson's parse alone. Prints the three times, in seconds, as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp
import simdjson

from app.numbers.exact_sum import ExactSum
from app.numbers.json_array import NumberArrayParser
from app.numbers.numbers_api import HTTP_BUFFER_SIZE, HTTP_READ_SIZE


async def read_twice(url: str) -> tuple[float, list[bytes]]:
    """The seconds of the second of two reads, each throwing the body away; then the body
    itself, read a third time in the pieces aiohttp gives, untimed."""
    async with aiohttp.ClientSession(auto_decompress=False, read_bufsize=HTTP_BUFFER_SIZE) as session:
        for _ in range(2):  # the first opens the connection, as the service's pool holds one
            started = time.perf_counter()
            async with session.get(url) as response:
                async for _ in response.content.iter_chunked(HTTP_READ_SIZE):
                    pass
            elapsed = time.perf_counter() - started
        # Kept apart from the timed read: holding 79 MB of pieces costs memory faults that
        # a read which throws them away does not pay.
        async with session.get(url) as response:
            pieces = [piece async for piece in response.content.iter_chunked(HTTP_READ_SIZE)]
    return elapsed, pieces


def parser_seconds(pieces: list[bytes]) -> float:
    """The service's parser and exact sum over the pieces as they were read."""
    started = time.perf_counter()
    parser, total = NumberArrayParser(), ExactSum()
    for piece in pieces:
        for chunk in parser.feed(piece):
            total.add(chunk)
    parser.close()
    total.result()
    return time.perf_counter() - started


def simdjson_seconds(body: bytes) -> float:
    """simdjson's parse of the whole body, with nothing taken out of it: the second of two,
    once its buffers are allocated. No parser built on simdjson can take less."""
    parser = simdjson.Parser()
    parser.parse(body)
    started = time.perf_counter()
    parser.parse(body)
    return time.perf_counter() - started


if __name__ == "__main__":
    read, pieces = asyncio.run(read_twice(sys.argv[1]))
    seconds = {"read": read, "parser": parser_seconds(pieces), "simdjson": simdjson_seconds(b"".join(pieces))}
    print(json.dumps(seconds))
