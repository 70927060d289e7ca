from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from app.config import Config
from app.web.factory import create_app


@pytest.fixture
def config() -> Config:
    """A small, instant simulated backend: the numbers 0..999."""
    return Config(numbers_api_count=1000, numbers_api_delay=0.0)


@pytest.fixture
async def app(config: Config) -> AsyncIterator[Quart]:
    application = create_app(config)
    # test_app runs the serving hooks, as Hypercorn does.
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> QuartClient:
    return app.test_client()
