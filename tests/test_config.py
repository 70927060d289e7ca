from __future__ import annotations

import resource

import pytest

from app.config import Config, ConfigError, masked_url
from app.serve import WANTED_FILE_DESCRIPTORS, hypercorn_config, raise_file_limit


def test_defaults_when_nothing_is_set() -> None:
    config = Config.from_env({})
    assert config == Config()
    assert (config.host, config.port) == ("127.0.0.1", 5000)
    assert (config.numbers_api_delay, config.numbers_api_count) == (1.0, 10_000_001)
    assert config.numbers_api_url is None
    assert config.log_level == "INFO"


def test_every_variable_is_read() -> None:
    config = Config.from_env(
        {
            "HOST": "0.0.0.0",
            "PORT": "8080",
            "NUMBERS_API_URL": "http://127.0.0.1:9000/numbers",
            "NUMBERS_API_DELAY": "0.25",
            "NUMBERS_API_COUNT": "42",
            "NUMBERS_API_TIMEOUT": "3",
            "NUMBERS_API_RETRIES": "0",
            "NUMBERS_API_MAX_BYTES": "1000",
            "LOG_LEVEL": "debug",
            "GRACEFUL_TIMEOUT": "25",
            "NUMBERS_API_BREAKER_FAILURES": "0",
            "NUMBERS_API_BREAKER_SECONDS": "2.5",
            "LOG_FORMAT": "json",
            "METRICS": "off",
            "ACCESS_LOG": "off",
            "DRAIN_SECONDS": "3",
            "TOTAL_MAX_AGE": "5",
            "TOTAL_STALE_WHILE_REVALIDATE": "10.5",
        }
    )
    assert config == Config(
        host="0.0.0.0",
        port=8080,
        numbers_api_url="http://127.0.0.1:9000/numbers",
        numbers_api_delay=0.25,
        numbers_api_count=42,
        numbers_api_timeout=3.0,
        numbers_api_retries=0,
        numbers_api_max_bytes=1000,
        log_level="DEBUG",
        graceful_timeout=25.0,
        numbers_api_breaker_failures=0,
        numbers_api_breaker_seconds=2.5,
        log_format="json",
        metrics=False,
        access_log=False,
        drain_seconds=3.0,
        total_max_age=5.0,
        total_stale_while_revalidate=10.5,
    )


def test_token_kept_out_of_repr() -> None:
    """A bearer token is read and kept out of the repr."""
    config = Config.from_env({"NUMBERS_API_TOKEN": "abc.DEF-123_~+/=="})
    assert config.numbers_api_token == "abc.DEF-123_~+/=="
    assert "abc.DEF" not in repr(config)
    assert Config.from_env({"NUMBERS_API_TOKEN": ""}).numbers_api_token is None


@pytest.mark.parametrize("token", ["two words", "a\nb", "=first", 'quote"d'])
def test_malformed_token_not_quoted(token: str) -> None:
    """A malformed token is refused without being quoted."""
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"NUMBERS_API_TOKEN": token})
    assert str(raised.value) == (
        "NUMBERS_API_TOKEN must be a bearer token (letters, digits, -._~+/, then any =), "
        f"got a value of {len(token)} characters"
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "::1", "localhost", "total-service.internal"])
def test_a_host_is_a_name_or_an_address(host: str) -> None:
    assert Config.from_env({"HOST": host}).host == host


@pytest.mark.parametrize(
    ("host", "bind"),
    [("127.0.0.1", "127.0.0.1:5000"), ("::1", "[::1]:5000"), ("localhost", "localhost:5000")],
)
def test_ipv6_bind_in_brackets(host: str, bind: str) -> None:
    """Hypercorn binds the host with IPv6 addresses in brackets."""
    assert hypercorn_config(Config(host=host)).bind == [bind]


def test_default_fetch_within_grace() -> None:
    """By default a fetch ends within the grace period."""
    # A fetch under way at SIGTERM then ends, with a total or a 504, before the server stops.
    config = Config()
    assert config.numbers_api_timeout < config.graceful_timeout


def test_empty_url_means_simulated() -> None:
    """An empty URL means the simulated backend."""
    assert Config.from_env({"NUMBERS_API_URL": ""}).numbers_api_url is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "http", "an integer from 1 to 65535"),
        ("PORT", "0", "an integer from 1 to 65535"),
        ("PORT", "70000", "an integer from 1 to 65535"),
        ("HOST", "", "a host name or IP address"),
        ("NUMBERS_API_COUNT", "-1", "an integer >= 0"),
        ("NUMBERS_API_COUNT", "1e6", "an integer >= 0"),
        ("NUMBERS_API_DELAY", "-0.5", "a number of seconds >= 0"),
        ("NUMBERS_API_DELAY", "nan", "a number of seconds >= 0"),
        ("NUMBERS_API_DELAY", "inf", "a number of seconds >= 0"),
        ("NUMBERS_API_TIMEOUT", "0", "a number of seconds > 0"),
        ("NUMBERS_API_RETRIES", "two", "an integer from 0 to 10"),
        ("NUMBERS_API_RETRIES", "1100", "an integer from 0 to 10"),
        ("NUMBERS_API_MAX_BYTES", "0", "an integer >= 1"),
        ("NUMBERS_API_MAX_BYTES", "1e9", "an integer >= 1"),
        ("HOST", "foo:bar", "a host name or IP address"),
        ("HOST", "-host", "a host name or IP address"),
        ("HOST", "a..b", "a host name or IP address"),
        ("HOST", "a" * 63 + ("." + "b" * 63) * 3, "a host name or IP address"),  # 255 characters
        ("NUMBERS_API_URL", "http://127.0.0.1:99999/numbers", "an http:// or https:// URL"),
        ("NUMBERS_API_URL", "http://127.0.0.1:0/numbers", "an http:// or https:// URL"),
        ("GRACEFUL_TIMEOUT", "0", "a number of seconds > 0"),
        ("NUMBERS_API_BREAKER_FAILURES", "-1", "an integer >= 0"),
        ("NUMBERS_API_BREAKER_SECONDS", "0", "a number of seconds > 0"),
        ("NUMBERS_API_URL", "ftp://127.0.0.1/numbers", "an http:// or https:// URL"),
        ("NUMBERS_API_URL", "127.0.0.1:9000", "an http:// or https:// URL"),
        ("DRAIN_SECONDS", "-1", "a number of seconds >= 0"),
        ("TOTAL_MAX_AGE", "soon", "a number of seconds >= 0"),
        ("TOTAL_STALE_WHILE_REVALIDATE", "inf", "a number of seconds >= 0"),
        ("LOG_LEVEL", "chatty", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("PORT", "65536", "an integer from 1 to 65535"),
        ("HOST", "a" * 62 + ("." + "b" * 63) * 3, "a host name or IP address"),  # 254 characters
        ("LOG_FORMAT", "yaml", "text or json"),
        ("METRICS", "yes", "on or off"),
        ("ACCESS_LOG", "1", "on or off"),
        ("WORKERS", "0", "an integer from 1 to 64"),
        ("WORKERS", "65", "an integer from 1 to 64"),
        ("WORKERS", "two", "an integer from 1 to 64"),
    ],
)
def test_bad_value_names_variable(name: str, value: str, expected: str) -> None:
    """A bad value names the variable and what it expects."""
    with pytest.raises(ConfigError) as raised:
        Config.from_env({name: value})
    assert str(raised.value) == f"{name} must be {expected}, got {value!r}"


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("PORT", "1", "port", 1),
        ("PORT", "65535", "port", 65535),
        ("NUMBERS_API_DELAY", "0", "numbers_api_delay", 0.0),
        ("NUMBERS_API_COUNT", "0", "numbers_api_count", 0),
        ("NUMBERS_API_RETRIES", "0", "numbers_api_retries", 0),
        ("NUMBERS_API_RETRIES", "10", "numbers_api_retries", 10),
        ("NUMBERS_API_TIMEOUT", "0.001", "numbers_api_timeout", 0.001),
        (
            "NUMBERS_API_URL",
            "https://numbers.example.com/all",
            "numbers_api_url",
            "https://numbers.example.com/all",
        ),
        ("NUMBERS_API_URL", "http://127.0.0.1:65535/n", "numbers_api_url", "http://127.0.0.1:65535/n"),
        (
            "HOST",
            ("a" * 49 + ".") * 4 + "a" * 53,
            "host",
            ("a" * 49 + ".") * 4 + "a" * 53,
        ),  # 253: the longest
        ("LOG_LEVEL", " critical ", "log_level", "CRITICAL"),
        ("LOG_FORMAT", "text", "log_format", "text"),
        ("LOG_FORMAT", "json", "log_format", "json"),
        ("METRICS", "on", "metrics", True),
        ("METRICS", "off", "metrics", False),
        ("ACCESS_LOG", "on", "access_log", True),
        ("ACCESS_LOG", "off", "access_log", False),
        ("WORKERS", "1", "workers", 1),
        ("WORKERS", "64", "workers", 64),
    ],
)
def test_values_at_the_edges(name: str, value: str, field: str, expected: object) -> None:
    """Values at the edges of what is accepted."""
    assert getattr(Config.from_env({name: value}), field) == expected


@pytest.mark.parametrize(
    "url",
    ["http://user:secret@127.0.0.1/numbers", "http://user@127.0.0.1/numbers", "http://:secret@127.0.0.1/n"],
)
def test_credentials_in_url_and_a_token_refused_together(url: str) -> None:
    with pytest.raises(ConfigError, match="NUMBERS_API_URL holds credentials and NUMBERS_API_TOKEN is set"):
        Config.from_env({"NUMBERS_API_URL": url, "NUMBERS_API_TOKEN": "abc"})


def test_credentials_in_url_or_a_token_alone_accepted() -> None:
    with_password = Config.from_env({"NUMBERS_API_URL": "http://user:secret@127.0.0.1/numbers"})
    with_token = Config.from_env({"NUMBERS_API_URL": "http://127.0.0.1/numbers", "NUMBERS_API_TOKEN": "abc"})
    assert with_password.numbers_api_token is None
    assert with_token.numbers_api_token == "abc"


def test_reads_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process environment is read by default."""
    monkeypatch.setenv("PORT", "8123")
    assert Config.from_env().port == 8123


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:5001/numbers", "http://127.0.0.1:5001/numbers"),
        (
            "https://reader:pa%3Ass@numbers.example.com/all?x=1",
            "https://reader:***@numbers.example.com/all?x=1",
        ),
        ("http://reader@numbers.example.com/", "http://reader@numbers.example.com/"),
        ("http://:token@[::1]:8080/n", "http://:***@[::1]:8080/n"),
        # An unescaped @ in the password: the host is what follows the last one.
        ("http://reader:p@ss@numbers.example.com/", "http://reader:***@numbers.example.com/"),
    ],
)
def test_a_password_in_a_url_is_shown_masked(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_low_open_files_limit_raised() -> None:
    """A low soft limit on open files is raised, within the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        raise_file_limit()
        wanted = (
            WANTED_FILE_DESCRIPTORS if hard == resource.RLIM_INFINITY else min(hard, WANTED_FILE_DESCRIPTORS)
        )
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (wanted, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
