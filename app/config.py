"""The service's configuration: read from the environment once, validated at start-up."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Retries beyond this wait longer than any sensible deadline: the backoff is capped at 2 s.
MAX_RETRIES = 10
# A DNS name (RFC 1123): dot-separated labels of letters, digits and inner hyphens.
# A bearer token as RFC 6750 writes it (b64token): it goes into a header as it is.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot run with."""


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 5000
    numbers_api_url: str | None = None
    # Sent as `Authorization: Bearer <token>`; kept out of repr, so out of any log.
    numbers_api_token: str | None = field(default=None, repr=False)
    numbers_api_delay: float = 1.0
    numbers_api_count: int = 10_000_001
    # Below the grace period, so that a fetch under way at SIGTERM ends in time to be answered.
    numbers_api_timeout: float = 7.0
    numbers_api_retries: int = 2
    # A backend body larger than this, decoded, is refused as soon as it crosses the limit:
    # 3.4 times the 10M list's 79 MB, and never held in memory (the body is streamed).
    numbers_api_max_bytes: int = 256 * 1024 * 1024
    # After this many failed fetches in a row (0: never), /total answers 503 at once for
    # numbers_api_breaker_seconds without asking the backend.
    numbers_api_breaker_failures: int = 3
    numbers_api_breaker_seconds: float = 5.0
    log_level: str = "INFO"
    # text: readable lines; json: one JSON object per line on stdout (the Docker image's).
    log_format: str = "text"
    # Off: no request timing or loop sampling, and /metrics is 404; no access log at all.
    metrics: bool = True
    access_log: bool = True
    # Cloud Foundry kills an instance 10 s after SIGTERM; in-flight requests get 8 of them.
    graceful_timeout: float = 8.0
    # After SIGTERM, /readyz answers 503 for this long while every request is still served,
    # so that a load balancer takes the instance out of rotation; then the grace period.
    drain_seconds: float = 0.0
    # A total whose fetch ended at most this long ago is answered without a fetch (0: never),
    # and for this long after that while one refresh runs.
    total_max_age: float = 0.0
    total_stale_while_revalidate: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Build the configuration from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            host=_read(env, "HOST", defaults.host, _host, "a host name or IP address"),
            port=_read(env, "PORT", defaults.port, _port, "an integer from 1 to 65535"),
            numbers_api_url=_read(
                env, "NUMBERS_API_URL", defaults.numbers_api_url, _http_url, "an http:// or https:// URL"
            ),
            numbers_api_token=_read(
                env,
                "NUMBERS_API_TOKEN",
                defaults.numbers_api_token,
                _token,
                "a bearer token (letters, digits, -._~+/, then any =)",
                secret=True,
            ),
            numbers_api_delay=_read(
                env, "NUMBERS_API_DELAY", defaults.numbers_api_delay, _seconds, "a number of seconds >= 0"
            ),
            numbers_api_count=_read(
                env, "NUMBERS_API_COUNT", defaults.numbers_api_count, _count, "an integer >= 0"
            ),
            numbers_api_timeout=_read(
                env,
                "NUMBERS_API_TIMEOUT",
                defaults.numbers_api_timeout,
                _positive_seconds,
                "a number of seconds > 0",
            ),
            numbers_api_retries=_read(
                env,
                "NUMBERS_API_RETRIES",
                defaults.numbers_api_retries,
                _retries,
                f"an integer from 0 to {MAX_RETRIES}",
            ),
            numbers_api_max_bytes=_read(
                env, "NUMBERS_API_MAX_BYTES", defaults.numbers_api_max_bytes, _size, "an integer >= 1"
            ),
            numbers_api_breaker_failures=_read(
                env,
                "NUMBERS_API_BREAKER_FAILURES",
                defaults.numbers_api_breaker_failures,
                _count,
                "an integer >= 0",
            ),
            numbers_api_breaker_seconds=_read(
                env,
                "NUMBERS_API_BREAKER_SECONDS",
                defaults.numbers_api_breaker_seconds,
                _positive_seconds,
                "a number of seconds > 0",
            ),
            log_level=_read(
                env, "LOG_LEVEL", defaults.log_level, _log_level, "one of " + ", ".join(LOG_LEVELS)
            ),
            log_format=_read(env, "LOG_FORMAT", defaults.log_format, _log_format, "text or json"),
            metrics=_read(env, "METRICS", defaults.metrics, _switch, "on or off"),
            access_log=_read(env, "ACCESS_LOG", defaults.access_log, _switch, "on or off"),
            graceful_timeout=_read(
                env,
                "GRACEFUL_TIMEOUT",
                defaults.graceful_timeout,
                _positive_seconds,
                "a number of seconds > 0",
            ),
            drain_seconds=_read(
                env, "DRAIN_SECONDS", defaults.drain_seconds, _seconds, "a number of seconds >= 0"
            ),
            total_max_age=_read(
                env, "TOTAL_MAX_AGE", defaults.total_max_age, _seconds, "a number of seconds >= 0"
            ),
            total_stale_while_revalidate=_read(
                env,
                "TOTAL_STALE_WHILE_REVALIDATE",
                defaults.total_stale_while_revalidate,
                _seconds,
                "a number of seconds >= 0",
            ),
        )


def _read(
    env: Mapping[str, str],
    name: str,
    default: T,
    parse: Callable[[str], T],
    expected: str,
    secret: bool = False,
) -> T:
    """Parse variable `name` if it is set; a value `parse` rejects becomes a ConfigError.

    The error quotes the value, unless it is `secret`.
    """
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return parse(raw.strip())
    except ValueError:
        got = f"a value of {len(raw)} characters" if secret else repr(raw)
        raise ConfigError(f"{name} must be {expected}, got {got}") from None


def _host(raw: str) -> str:
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        if len(raw) > 253 or not _HOST_NAME.fullmatch(raw):
            raise
    return raw


def _port(raw: str) -> int:
    port = int(raw)
    if not 1 <= port <= 65535:
        raise ValueError(raw)
    return port


def _count(raw: str) -> int:
    count = int(raw)
    if count < 0:
        raise ValueError(raw)
    return count


def _size(raw: str) -> int:
    size = _count(raw)
    if size == 0:
        raise ValueError(raw)
    return size


def _retries(raw: str) -> int:
    retries = _count(raw)
    if retries > MAX_RETRIES:
        raise ValueError(raw)
    return retries


def _seconds(raw: str) -> float:
    seconds = float(raw)
    # `not >= 0` also rejects NaN; infinity would make the service never answer.
    if not 0 <= seconds < float("inf"):
        raise ValueError(raw)
    return seconds


def _positive_seconds(raw: str) -> float:
    seconds = _seconds(raw)
    if seconds == 0:
        raise ValueError(raw)
    return seconds


def _http_url(raw: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    # .port raises ValueError for a port that is not a number from 0 to 65535.
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port == 0:
        raise ValueError(raw)
    return raw


def _token(raw: str) -> str | None:
    if not raw:
        return None
    if not _TOKEN.fullmatch(raw):
        raise ValueError("not a bearer token")
    return raw


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(raw)
    return level


def _log_format(raw: str) -> str:
    if raw not in ("text", "json"):
        raise ValueError(raw)
    return raw


def _switch(raw: str) -> bool:
    if raw not in ("on", "off"):
        raise ValueError(raw)
    return raw == "on"


def masked_url(url: str) -> str:
    """`url` with its password, if it has one, shown as ***: the form logs and messages show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
