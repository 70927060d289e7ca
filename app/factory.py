"""The application factory."""

from __future__ import annotations

from quart import Quart

from app import api_docs, health, problems, request_ids, request_limits, telemetry, total, totals
from app.config import Config
from app.numbers_api import NumbersSource, numbers_source


def create_app(config: Config | None = None, source: NumbersSource | None = None) -> Quart:
    """The service for `config` (default: from the environment).

    `source` replaces the backend the configuration names; tests use it.
    """
    config = Config.from_env() if config is None else config
    app = Quart(__name__, static_folder=None)  # no files of its own: no /static route
    totals.install(app, numbers_source(config) if source is None else source, config)
    app.register_blueprint(total.blueprint)
    app.register_blueprint(health.blueprint)
    if config.metrics:
        telemetry.install(app)
    request_ids.install(app)
    request_limits.register(app)
    api_docs.install(app)
    problems.register(app)
    return app
