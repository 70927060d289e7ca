"""The application factory."""

from __future__ import annotations

from quart import Quart

from app.config import Config
from app.numbers.breaker import CircuitBreaker
from app.numbers.freshness import Freshness
from app.numbers.numbers_api import NumbersSource, numbers_source
from app.numbers.totals import Totals
from app.web import docs, health, http_metrics, problems, request_context, request_limits, total
from app.web.service import Service


def create_app(config: Config | None = None, source: NumbersSource | None = None) -> Quart:
    """The service for `config` (default: from the environment).

    `source` replaces the backend the configuration names; tests use it.
    """
    config = Config.from_env() if config is None else config
    app = Quart(__name__, static_folder=None)  # no files of its own: no /static route
    totals = Totals(
        numbers_source(config) if source is None else source,
        config.numbers_api_timeout,
        CircuitBreaker(config.numbers_api_breaker_failures, config.numbers_api_breaker_seconds),
        Freshness(config.total_max_age, config.total_stale_while_revalidate),
    )
    Service(totals).init_app(app)
    # The request hooks, in the order they run before a request (the first to answer ends
    # it); after it, they run in the reverse order.
    if config.metrics:
        http_metrics.init_app(app)  # first: a request that a later hook refuses is timed too
    request_context.init_app(app)  # the request's id and route, which a refusal carries too
    request_limits.init_app(app)  # refusals: too many headers, a body
    app.register_blueprint(total.blueprint)
    app.register_blueprint(health.blueprint)
    docs.init_app(app)
    problems.init_app(app)
    return app
