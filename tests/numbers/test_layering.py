"""The numbers side knows nothing of the web side: the request path reads downwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

NUMBERS = Path(__file__).parents[2] / "app" / "numbers"
# The web side, and the telemetry libraries: the numbers side reports through app.numbers.events.
WEB_SIDE = (
    "quart",
    "werkzeug",
    "hypercorn",
    "app.web",
    "app.serve",
    "prometheus_client",
    "structlog",
    "opentelemetry",
)


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("module", sorted(NUMBERS.glob("*.py")), ids=lambda path: path.name)
def test_no_web_side_imports(module: Path) -> None:
    """A module of the numbers side imports nothing of the web side, nor a telemetry library."""
    web = {
        name
        for name in imported_modules(module)
        if name.split(".")[0] in WEB_SIDE or name.startswith(WEB_SIDE)
    }
    assert web == set()
