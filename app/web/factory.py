"""The application factory."""

from __future__ import annotations

from quart import Quart

from app.config import Config
from app.numbers.breaker import CircuitBreaker
from app.numbers.freshness import Freshness
from app.numbers.numbers_api import NumbersSource, numbers_source
from app.numbers.totals import Totals
from app.web import docs, health, problems, request_ids, request_limits, telemetry, total


def create_app(config: Config | None = None, source: NumbersSource | None = None) -> Quart:
    """The service for `config` (default: from the environment).

    `source` replaces the backend the configuration names; tests use it.
    """
    config = Config.from_env() if config is None else config
    app = Quart(__name__, static_folder=None)  # no files of its own: no /static route
    breaker = CircuitBreaker(config.numbers_api_breaker_failures, config.numbers_api_breaker_seconds)
    source = numbers_source(config) if source is None else source
    freshness = Freshness(config.total_max_age, config.total_stale_while_revalidate)
    total.install(app, Totals(source, config.numbers_api_timeout, breaker, freshness))
    app.register_blueprint(total.blueprint)
    app.register_blueprint(health.blueprint)
    if config.metrics:
        telemetry.install(app)
    request_ids.install(app)
    request_limits.register(app)
    docs.install(app)
    problems.register(app)
    return app
