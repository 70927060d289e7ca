"""The application factory."""

from __future__ import annotations

from quart import Quart

from app.config import Config
from app.numbers.breaker import CircuitBreaker
from app.numbers.freshness import Freshness
from app.numbers.numbers_api import NumbersSource, numbers_source
from app.numbers.totals import Totals
from app.web import docs, health, problems, telemetry, total
from app.web.service import Service


def create_app(config: Config | None = None, source: NumbersSource | None = None) -> Quart:
    """The service for `config` (default: from the environment).

    `source` replaces the backend the configuration names; tests use it.
    """
    config = Config.from_env() if config is None else config
    source = numbers_source(config) if source is None else source
    app = Quart(__name__, static_folder=None)  # no files of its own: no /static route
    # The request hooks run in the order registered before a request (the first to answer
    # ends it), and in the reverse order after it: telemetry first, so that a request a
    # later hook refuses is recorded and timed too.
    observer = telemetry.init_app(app, config)
    problems.init_app(app)
    totals = Totals(
        source,
        config.numbers_api_timeout,
        CircuitBreaker(config.numbers_api_breaker_failures, config.numbers_api_breaker_seconds),
        Freshness(config.total_max_age, config.total_stale_while_revalidate),
        retries=config.numbers_api_retries,
        observer=observer,
    )
    # The source's HTTP session and its connection pool live as long as the server serves.
    app.while_serving(source.serving)
    Service(totals).init_app(app)
    app.register_blueprint(total.blueprint)
    app.register_blueprint(health.blueprint)
    docs.init_app(app)
    return app
