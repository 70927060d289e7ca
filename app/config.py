"""The service's settings: each declared once, read from the environment once, validated at start-up.

A setting is a field of `Config` made by `setting(...)`: its environment variable, its default
as the variable would say it, the parser that reads and checks a value, what a value must be,
and what it means (the README's table holds these lines; tests/test_readme.py keeps them equal).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# OpenTelemetry's samplers that the SDK builds in; the two ratio samplers read OTEL_TRACES_SAMPLER_ARG.
SAMPLERS = (
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
    "always_on",
    "always_off",
    "traceidratio",
)
RATIO_SAMPLERS = ("parentbased_traceidratio", "traceidratio")
# OTLP/HTTP's path for spans, below OTEL_EXPORTER_OTLP_ENDPOINT (the specification's).
OTLP_TRACES_PATH = "/v1/traces"
# Retries beyond this wait longer than any sensible deadline: the backoff is capped at 2 s.
MAX_RETRIES = 10
# Far more processes than any machine this runs on has cores: a typo, not a plan.
MAX_WORKERS = 64
# A bearer token as RFC 6750 writes it (b64token): it goes into a header as it is.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
# A DNS name (RFC 1123): dot-separated labels of letters, digits and inner hyphens.
# An HTTP header's name (RFC 9110's token).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot run with."""


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable: how it is read, its default, and what it means."""

    name: str
    default: str  # as the variable would say it: the README shows it, `parse` reads it
    parse: Callable[[str], T]
    expected: str  # what a value must be, for the error that refuses one
    meaning: str
    secret: bool = False  # never quoted, in an error or a repr

    def read(self, raw: str) -> T:
        try:
            return self.parse(raw.strip())
        except ValueError:
            got = f"a value of {len(raw)} characters" if self.secret else repr(raw)
            raise ConfigError(f"{self.name} must be {self.expected}, got {got}") from None


def setting(
    name: str, default: str, parse: Callable[[str], T], expected: str, meaning: str, secret: bool = False
) -> T:
    """A field of Config read from the variable `name`."""
    declared = Setting(name, default, parse, expected, meaning, secret)
    value: T = dataclasses.field(default=parse(default), repr=not secret, metadata={"setting": declared})
    return value


def _host(raw: str) -> str:
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        if len(raw) > 253 or not _HOST_NAME.fullmatch(raw):
            raise
    return raw


def _integer(low: int, high: float = float("inf")) -> Callable[[str], int]:
    """A parser of integers from `low` to `high`."""

    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(raw)
        return value

    return parse


_port = _integer(1, 65535)
_count = _integer(0)
_size = _integer(1)
_workers = _integer(1, MAX_WORKERS)
_retries = _integer(0, MAX_RETRIES)


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


def _boolean(raw: str) -> bool:
    # OpenTelemetry's booleans: true or false, in any case.
    if raw.lower() not in ("true", "false"):
        raise ValueError(raw)
    return raw.lower() == "true"


def _service_name(raw: str) -> str:
    if not raw or len(raw) > 255 or not raw.isprintable():
        raise ValueError(raw)
    return raw


def _otlp_headers(raw: str) -> tuple[tuple[str, str], ...]:
    """`key=value` pairs separated by commas, values percent-encoded (the OTLP exporter's format)."""
    if not raw:
        return ()
    pairs = []
    for item in raw.split(","):
        key, equals, value = item.partition("=")
        if not equals or not _HEADER_NAME.fullmatch(key.strip()):
            raise ValueError("not key=value pairs")
        pairs.append((key.strip(), unquote(value.strip())))
    return tuple(pairs)


def _sampler(raw: str) -> str:
    if raw not in SAMPLERS:
        raise ValueError(raw)
    return raw


def _ratio(raw: str) -> float | None:
    if not raw:
        return None
    ratio = float(raw)
    if not 0 <= ratio <= 1:  # NaN too
        raise ValueError(raw)
    return ratio


def _switch(raw: str) -> bool:
    if raw not in ("on", "off"):
        raise ValueError(raw)
    return raw == "on"


_SECONDS = "a number of seconds >= 0"
_POSITIVE_SECONDS = "a number of seconds > 0"


@dataclass(frozen=True)
class Config:
    port: int = setting("PORT", "5000", _port, "an integer from 1 to 65535", "TCP port to listen on")
    host: str = setting(
        "HOST",
        "127.0.0.1",
        _host,
        "a host name or IP address",
        "address to listen on, IPv4, IPv6 or a name; the Docker image sets `0.0.0.0`",
    )
    workers: int = setting(
        "WORKERS",
        "1",
        _workers,
        f"an integer from 1 to {MAX_WORKERS}",
        "processes serving the port, each with its own fetches: raise it to the cores of a VM or "
        "container (not in Kubernetes: scale replicas)",
    )
    numbers_api_url: str | None = setting(
        "NUMBERS_API_URL",
        "",
        _http_url,
        "an http:// or https:// URL",
        "URL of a real backend, `http(s)://` (unset: the simulated one); its password shows as `***`",
    )
    numbers_api_token: str | None = setting(
        "NUMBERS_API_TOKEN",
        "",
        _token,
        "a bearer token (letters, digits, -._~+/, then any =)",
        "sent as `Authorization: Bearer <token>` to the HTTP backend; never logged or shown",
        secret=True,
    )
    numbers_api_delay: float = setting(
        "NUMBERS_API_DELAY", "1.0", _seconds, _SECONDS, "simulated backend: seconds before it answers"
    )
    numbers_api_count: int = setting(
        "NUMBERS_API_COUNT", "10000001", _count, "an integer >= 0", "simulated backend: it answers 0..COUNT-1"
    )
    # Below the grace period, so that a fetch under way at SIGTERM ends in time to be answered.
    numbers_api_timeout: float = setting(
        "NUMBERS_API_TIMEOUT",
        "7",
        _positive_seconds,
        _POSITIVE_SECONDS,
        "deadline for one whole fetch, retries and body included; past it: 504",
    )
    numbers_api_retries: int = setting(
        "NUMBERS_API_RETRIES",
        "2",
        _retries,
        f"an integer from 0 to {MAX_RETRIES}",
        "HTTP backend: retries after a connection failure or a 502, 503 or 504",
    )
    # 3.4 times the 10M list's 79 MB; the body is streamed, never held whole in memory.
    numbers_api_max_bytes: int = setting(
        "NUMBERS_API_MAX_BYTES",
        "268435456",
        _size,
        "an integer >= 1",
        "HTTP backend: a body larger than this, decompressed, is refused (502) as it crosses it",
    )
    numbers_api_breaker_failures: int = setting(
        "NUMBERS_API_BREAKER_FAILURES",
        "3",
        _count,
        "an integer >= 0",
        "after this many failed fetches in a row (0: never), `/total` answers 503 at once ...",
    )
    numbers_api_breaker_seconds: float = setting(
        "NUMBERS_API_BREAKER_SECONDS",
        "5",
        _positive_seconds,
        _POSITIVE_SECONDS,
        "... for this long, without asking the backend",
    )
    # Cloud Foundry kills an instance 10 s after SIGTERM: the drain and this must fit.
    graceful_timeout: float = setting(
        "GRACEFUL_TIMEOUT",
        "8",
        _positive_seconds,
        _POSITIVE_SECONDS,
        "seconds that requests in flight get after SIGTERM or SIGINT (after the drain)",
    )
    drain_seconds: float = setting(
        "DRAIN_SECONDS",
        "0",
        _seconds,
        _SECONDS,
        "seconds after SIGTERM during which `/readyz` answers 503 while every request is still served",
    )
    total_max_age: float = setting(
        "TOTAL_MAX_AGE",
        "0",
        _seconds,
        _SECONDS,
        "a total is answered again without a fetch for this long after its fetch (0: never)",
    )
    total_stale_while_revalidate: float = setting(
        "TOTAL_STALE_WHILE_REVALIDATE",
        "0",
        _seconds,
        _SECONDS,
        "after that, the previous total is answered at once for this long while one refresh runs",
    )
    log_level: str = setting(
        "LOG_LEVEL", "INFO", _log_level, "one of " + ", ".join(LOG_LEVELS), "of the service's own log"
    )
    log_format: str = setting(
        "LOG_FORMAT",
        "text",
        _log_format,
        "text or json",
        "`text`: readable lines; `json`: one JSON object per line on stdout (the Docker image's)",
    )
    access_log: bool = setting("ACCESS_LOG", "on", _switch, "on or off", "`off`: no access log")
    metrics: bool = setting(
        "METRICS",
        "on",
        _switch,
        "on or off",
        "`off`: no request timing or loop sampling, and `/metrics` is 404",
    )
    # Traces are on when a collector is named and the SDK is not disabled (app.web.traces).
    otel_exporter_otlp_endpoint: str | None = setting(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "",
        _http_url,
        "an http:// or https:// URL",
        "an OTLP/HTTP collector: spans go to `<URL>/v1/traces` (unset, with the next one: no traces, "
        "and OpenTelemetry is not even loaded)",
    )
    otel_exporter_otlp_traces_endpoint: str | None = setting(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "",
        _http_url,
        "an http:// or https:// URL",
        "the whole URL spans go to, in place of the one above",
    )
    otel_exporter_otlp_headers: tuple[tuple[str, str], ...] = setting(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "",
        _otlp_headers,
        "key=value pairs separated by commas",
        "headers sent with every export, such as a vendor's API key; never logged or shown",
        secret=True,
    )
    otel_sdk_disabled: bool = setting(
        "OTEL_SDK_DISABLED",
        "false",
        _boolean,
        "true or false",
        "`true`: no traces, whatever the other `OTEL_` variables say",
    )
    otel_service_name: str = setting(
        "OTEL_SERVICE_NAME",
        "total-service",
        _service_name,
        "1 to 255 printable characters",
        "the `service.name` of the spans",
    )
    otel_traces_sampler: str = setting(
        "OTEL_TRACES_SAMPLER",
        "parentbased_always_on",
        _sampler,
        "one of " + ", ".join(SAMPLERS),
        "which requests are traced: `parentbased_` follows a caller's `traceparent`, else the rest "
        "of the name decides",
    )
    otel_traces_sampler_arg: float | None = setting(
        "OTEL_TRACES_SAMPLER_ARG",
        "",
        _ratio,
        "a number from 0 to 1",
        "the share of traces the `traceidratio` samplers keep (unset: all)",
    )

    def __post_init__(self) -> None:
        # Settings that are each valid but cannot work together are refused like a bad value.
        # aiohttp refuses an Authorization header beside credentials in the URL: every fetch
        # would fail, while the service looked ready.
        if self.numbers_api_token and self.numbers_api_url and "@" in urlsplit(self.numbers_api_url).netloc:
            raise ConfigError(
                "NUMBERS_API_URL holds credentials and NUMBERS_API_TOKEN is set: "
                "the backend takes one of the two, so set only one"
            )
        # An argument the sampler ignores would sample all while the operator meant a share.
        if self.otel_traces_sampler_arg is not None and self.otel_traces_sampler not in RATIO_SAMPLERS:
            raise ConfigError(
                f"OTEL_TRACES_SAMPLER_ARG is set but OTEL_TRACES_SAMPLER ({self.otel_traces_sampler}) "
                "takes no argument: set it to parentbased_traceidratio or traceidratio"
            )

    @property
    def otel_traces_url(self) -> str | None:
        """Where spans are exported to; None when tracing is off."""
        if self.otel_sdk_disabled:
            return None
        if self.otel_exporter_otlp_traces_endpoint:
            return self.otel_exporter_otlp_traces_endpoint
        if self.otel_exporter_otlp_endpoint:
            return self.otel_exporter_otlp_endpoint.rstrip("/") + OTLP_TRACES_PATH
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Build the configuration from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            declared: Setting[Any] = field.metadata["setting"]
            if declared.name in env:
                values[field.name] = declared.read(env[declared.name])
        return cls(**values)


def settings() -> list[Setting[Any]]:
    """Every setting, in the order Config declares them."""
    return [field.metadata["setting"] for field in dataclasses.fields(Config)]


def masked_url(url: str) -> str:
    """`url` with its password, if it has one, shown as ***: the form logs and messages show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
