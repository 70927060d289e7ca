"""A reference numbers backend: `make backend` serves it on 127.0.0.1:5001.

It serves what total-service expects from a real backend, for trying the two together,
for the end-to-end tests and for the benchmark:

- `GET /numbers`: the JSON array of the numbers 0..count-1, streamed with chunked
  encoding after `delay` seconds (query parameters `count` and `delay` override the
  command line's for one request; `kind` serves another body of `count` items, see KINDS;
  `cut=BYTES` sends it in pieces of BYTES wherever they end, numbers cut in two included);
- `GET /json?body=TEXT&piece=BYTES`: TEXT as the body, sent in pieces of BYTES (with
  `chunked=off`: in one piece, with Content-Length);
- both take `encoding`: `gzip` or `deflate` compresses the body; any other value is sent as
  the Content-Encoding of a body left as it is (a coding the client cannot decode);
- `GET /faults/<name>`: a misbehaving backend, one fault per name (see FAULTS), among them
  `gzip-bomb?size=BYTES`: a 2 MB gzip body that expands to `[` and 2 GiB of spaces;
- /numbers names its list with a strong ETag (`etag=off`: none) and answers 304 to an
  If-None-Match that names it; `POST /count?value=N` makes it serve N numbers from then on;
- `GET /stats`: the requests /numbers has had, the most it served at once, the latest
  Accept-Encoding and the answers with a body and without (304), by the value of their
  `client` query parameter (so that several services sharing this backend can each name
  themselves in their URL).

`--numbers-fault NAME` makes /numbers answer as /faults/NAME does (`status/500`, `garbage`,
`slow`, ...), `--token` asks every request for that bearer token (401 without it), and
`--certificate`/`--key` serve HTTPS. A client that hangs up mid-answer is one line in its log.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gzip
import hmac
import logging
import ssl
import zlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field

from aiohttp import web
from aiohttp.typedefs import Middleware

# Numbers per rendered piece of the body: about 500 KiB of JSON.
PIECE_NUMBERS = 65_536

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger(__name__)


def _sprinkled_wide(n: int) -> str:
    # One integer beyond int64 every 8,000 items, in pieces of int64s: each such item
    # must cost only its own slow path.
    return str(2**70 + n) if n % 8000 == 7999 else str(n)


# The bodies /numbers can serve (`kind`): item n of the array, as JSON text.
KINDS: dict[str, Callable[[int], str]] = {
    "integers": str,  # 0..count-1, the service's default list
    "floats": lambda n: f"{n}.5",
    "decimals": lambda n: repr(n / 7),  # up to 17 significant digits, as Python writes floats
    "exponents": lambda n: repr((n + 1) * 1e-9) if n % 2 else f"{n + 1}e-9",
    "sprinkled-wide": _sprinkled_wide,
    "signed-wide": lambda n: str((-1) ** n * (10**30 + n)),  # 31 digits, both signs
    # Every 5,000th item an integer of 65,000 digits, past Python's limit on int(text).
    "huge-wide": lambda n: "9" * 64_990 + f"{n:010d}" if n % 5000 == 4999 else str(n),
    "spaced": lambda n: f"\n    {n}",  # pretty-printed: a newline and indent before each item
    "zeros": lambda n: "0",  # compresses a thousandfold
}
# zlib's window bits for each coding the backend can compress with (RFC 1952 and 1950).
ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
# The gzip bomb is made of members of this many spaces each (gzip allows several in a row).
BOMB_MEMBER_BYTES = 2**24


@functools.lru_cache(maxsize=len(KINDS) + 1)
def rendered(count: int, kind: str = "integers") -> tuple[bytes, ...]:
    """The JSON array of `count` items of `kind` as pieces; kept, so that serving it costs no CPU."""
    if count == 0:
        return (b"[]",)
    item = KINDS[kind]
    pieces = [
        ",".join(item(n) for n in range(start, min(start + PIECE_NUMBERS, count))).encode()
        for start in range(0, count, PIECE_NUMBERS)
    ]
    pieces[0] = b"[" + pieces[0]
    for index in range(1, len(pieces)):
        pieces[index] = b"," + pieces[index]
    pieces[-1] += b"]"
    return tuple(pieces)


@functools.lru_cache(maxsize=len(KINDS) * len(ENCODINGS))
def compressed(count: int, kind: str, encoding: str) -> tuple[bytes, ...]:
    """`rendered(count, kind)` compressed with `encoding`, in pieces; kept, as it is."""
    return encode(rendered(count, kind), encoding)


def encode(pieces: Iterable[bytes], encoding: str) -> tuple[bytes, ...]:
    compressor = zlib.compressobj(wbits=ENCODINGS[encoding])
    return (*(compressor.compress(piece) for piece in pieces), compressor.flush())


@functools.lru_cache(maxsize=2)
def cut(pieces: tuple[bytes, ...], size: int) -> tuple[bytes, ...]:
    """`pieces` joined and cut again every `size` bytes; kept, as it is."""
    body = b"".join(pieces)
    return tuple(body[start : start + size] for start in range(0, len(body), max(1, size)))


@functools.lru_cache(maxsize=2)
def gzip_bomb(size: int) -> tuple[bytes, ...]:
    """A gzip body of `[` and `size` spaces (rounded down to whole members), ~1,000 times smaller."""
    member = gzip.compress(b" " * BOMB_MEMBER_BYTES, compresslevel=9)
    return (gzip.compress(b"["), *(member,) * (size // BOMB_MEMBER_BYTES))


async def stream(
    request: web.Request,
    pieces: tuple[bytes, ...] | list[bytes],
    content_encoding: str = "",
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """`pieces` as a chunked body, sent with `content_encoding` if one is given."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    if content_encoding:
        headers["Content-Encoding"] = content_encoding
    response = web.StreamResponse(headers=headers)
    response.enable_chunked_encoding()
    await response.prepare(request)
    for piece in pieces:
        await response.write(piece)
    await response.write_eof()
    return response


@dataclass
class ClientStats:
    requests: int = 0
    now: int = 0
    most_at_once: int = 0
    # The Accept-Encoding of the latest request.
    accept_encoding: str = ""
    # Answers with a body (200), and without one (304: the client's version is current).
    bodies: int = 0
    not_modified: int = 0


@dataclass
class State:
    """What the handlers share, set up before serving and changed in place while serving: aiohttp
    deprecates setting an application's items once it runs."""

    count: int
    delay: float
    # The flaky fault's requests by key, and /stats by client.
    failures: Counter[str] = field(default_factory=Counter)
    clients: defaultdict[str, ClientStats] = field(default_factory=lambda: defaultdict(ClientStats))


STATE = web.AppKey("state", State)


async def numbers(request: web.Request) -> web.StreamResponse:
    stats = request.app[STATE].clients[request.query.get("client", "")]
    stats.requests += 1
    stats.accept_encoding = request.headers.get("Accept-Encoding", "")
    stats.now += 1
    stats.most_at_once = max(stats.most_at_once, stats.now)
    try:
        response = await numbers_answer(request)
    finally:
        stats.now -= 1
    stats.bodies += response.status == 200
    stats.not_modified += response.status == 304
    return response


async def stats(request: web.Request) -> web.StreamResponse:
    clients = request.app[STATE].clients
    return web.json_response({client: asdict(stats) for client, stats in clients.items()})


async def numbers_answer(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    count = int(request.query.get("count", state.count))
    kind = request.query.get("kind", "integers")
    if kind not in KINDS:
        return web.json_response({"error": f"no kind {kind!r}; kinds: {', '.join(KINDS)}"}, status=400)
    encoding = request.query.get("encoding", "")
    await asyncio.sleep(float(request.query.get("delay", state.delay)))
    # A strong ETag names this list in this coding; `etag=off` serves the list without one.
    etag = "" if request.query.get("etag") == "off" else f'"{count}-{kind}-{encoding or "identity"}"'
    if etag and request.headers.get("If-None-Match") in (etag, "*"):
        return web.Response(status=304, headers={"ETag": etag})
    pieces = compressed(count, kind, encoding) if encoding in ENCODINGS else rendered(count, kind)
    if "cut" in request.query:
        pieces = cut(pieces, int(request.query["cut"]))
    return await stream(request, pieces, encoding, {"ETag": etag} if etag else {})


async def set_count(request: web.Request) -> web.StreamResponse:
    """A new list: /numbers serves `value` numbers from now on (and a new ETag)."""
    state = request.app[STATE]
    state.count = int(request.query["value"])
    return web.json_response({"count": state.count})


async def echo(request: web.Request) -> web.StreamResponse:
    body = request.query["body"].encode()
    size = max(1, int(request.query.get("piece", len(body) or 1)))
    pieces: tuple[bytes, ...] | list[bytes] = [body[i : i + size] for i in range(0, len(body), size)]
    encoding = request.query.get("encoding", "")
    if encoding in ENCODINGS:
        pieces = encode(pieces, encoding)
    if request.query.get("chunked") == "off":  # one piece, its length in Content-Length
        return web.Response(body=b"".join(pieces), content_type="application/json")
    return await stream(request, pieces, encoding)


async def bomb(request: web.Request) -> web.StreamResponse:
    return await stream(request, gzip_bomb(int(request.query.get("size", 2**31))), "gzip")


async def status(request: web.Request) -> web.StreamResponse:
    return status_answer(int(request.match_info["code"]))


def status_answer(code: int) -> web.Response:
    return web.json_response({"error": f"status {code} on purpose"}, status=code)


async def flaky(request: web.Request) -> web.StreamResponse:
    """The first `fail` requests with this `key` get `status` (default 503), later ones the numbers."""
    failures = request.app[STATE].failures
    key = request.query["key"]
    failures[key] += 1
    if failures[key] <= int(request.query["fail"]):
        return web.json_response({"error": "try again"}, status=int(request.query.get("status", 503)))
    return await stream(request, rendered(int(request.query.get("count", 10))))


async def slow(request: web.Request) -> web.StreamResponse:
    """Starts the array, then stalls for `seconds` before finishing it."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(b"[1, 2, ")
    await asyncio.sleep(float(request.query.get("seconds", 60)))
    await response.write(b"3]")
    await response.write_eof()
    return response


async def huge_length(request: web.Request) -> web.StreamResponse:
    """Announces a body of a terabyte (Content-Length), starts it, then stalls."""
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": str(10**12)})
    await response.prepare(request)
    await response.write(b"[1, ")
    await asyncio.sleep(float(request.query.get("seconds", 60)))
    return response


async def drop(request: web.Request) -> web.StreamResponse:
    """Starts the array, then closes the connection mid-body."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"[1, 2, 3, ")
    if request.transport is not None:
        request.transport.close()
    return response


def fixed(body: bytes) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream(request, [body])

    return handler


FAULTS: dict[str, Handler] = {
    "garbage": fixed(b"<html>this is not JSON</html>"),
    "truncated": fixed(b"[1, 2, 3"),
    "not-a-number": fixed(b'[1, 2, "three", 4]'),
    "not-an-array": fixed(b'{"numbers": [1, 2, 3]}'),
    "drop": drop,
    "huge-length": huge_length,
    "slow": slow,
    "flaky": flaky,
    "gzip-bomb": bomb,
}


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


@web.middleware
async def hang_ups_logged(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A client that hangs up before its answer is complete is one line in the log, not a traceback."""
    try:
        return await handler(request)
    except ConnectionError:
        log.info("%s hung up during %s %s", request.remote, request.method, request.path_qs)
        # Nothing reaches this client any more: aiohttp fails to send this stand-in answer on the
        # closed connection, and drops the connection without logging.
        if request.transport is not None:
            request.transport.close()
        return web.Response()


def requiring_token(token: str) -> Middleware:
    """A middleware that answers 401 to requests without `Authorization: Bearer <token>`.

    /healthz stays open, as a load balancer's health check would find it.
    """
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if request.path != "/healthz" and not hmac.compare_digest(given, expected):
            return web.json_response({"error": "a bearer token is required"}, status=401)
        return await handler(request)

    return check_token


def numbers_fault(name: str) -> Handler:
    """The handler of /faults/`name`, for /numbers: `status/<code>` or a name in FAULTS."""
    kind, _, code = name.partition("/")
    if kind == "status":

        async def fixed_status(request: web.Request) -> web.StreamResponse:
            return status_answer(int(code))

        return fixed_status
    return FAULTS[name]


def create_backend(
    count: int, delay: float, token: str | None = None, fault: str | None = None
) -> web.Application:
    backend = web.Application(middlewares=[hang_ups_logged, *([requiring_token(token)] if token else [])])
    backend[STATE] = State(count, delay)
    backend.router.add_get("/numbers", numbers_fault(fault) if fault else numbers)
    backend.router.add_get("/json", echo)
    backend.router.add_get("/healthz", healthz)
    backend.router.add_get("/stats", stats)
    backend.router.add_post("/count", set_count)
    backend.router.add_get("/faults/status/{code}", status)
    for name, handler in FAULTS.items():
        backend.router.add_get(f"/faults/{name}", handler)
    return backend


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tools.reference_backend", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--count", type=int, default=10_000_001, help="how many numbers /numbers serves")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before /numbers answers")
    parser.add_argument("--numbers-fault", metavar="NAME", help="/numbers answers as /faults/NAME")
    parser.add_argument("--token", help="the bearer token every request must carry")
    parser.add_argument("--certificate", help="a PEM certificate chain: serve HTTPS (with --key)")
    parser.add_argument("--key", help="the PEM private key of --certificate")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    rendered(args.count)  # before serving, so that the first request is as fast as the rest
    backend = create_backend(args.count, args.delay, args.token, args.numbers_fault)
    tls = None
    if args.certificate:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.certificate, args.key)
    # A short shutdown: a stalled /faults/slow answer must not hold up the exit.
    web.run_app(backend, host=args.host, port=args.port, access_log=None, shutdown_timeout=1, ssl_context=tls)


if __name__ == "__main__":
    main()
