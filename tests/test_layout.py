"""The image ships the service alone: the tools and the benchmark stay outside `app/`, and the
tests' helpers stay in `tests/`, which the benchmark may use but no test depends on."""

from __future__ import annotations

import pytest

from tests.numbers.test_layering import imported_modules
from tests.processes import PROJECT


def top_level_imports(package: str) -> dict[str, set[str]]:
    """Each module of `package` (by path in the project) and the top-level packages it imports."""
    return {
        str(path.relative_to(PROJECT)): {name.split(".")[0] for name in imported_modules(path)}
        for path in sorted((PROJECT / package).rglob("*.py"))
    }


def test_image_copies_only_the_service() -> None:
    """The build context excludes everything, then admits the Pipfiles and app/ alone."""
    patterns = [
        line.strip()
        for line in (PROJECT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    assert {pattern[1:] for pattern in patterns if pattern.startswith("!")} == {
        "Pipfile",
        "Pipfile.lock",
        "app/",
    }


@pytest.mark.parametrize(("package", "outside"), [("app", {"tools", "bench", "tests"}), ("tests", {"bench"})])
def test_imports_point_one_way(package: str, outside: set[str]) -> None:
    """The service imports none of the project's other packages; the tests import nothing of bench/."""
    found = {module: imported & outside for module, imported in top_level_imports(package).items()}
    assert {module: names for module, names in found.items() if names} == {}
