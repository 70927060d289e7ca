"""The fuzz target on every seed and every finding kept in tests/fuzz/corpus: `make test` runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.parser import one_input

CORPUS = sorted((Path(__file__).parent / "corpus").iterdir())


@pytest.mark.parametrize("seed", CORPUS, ids=[path.name[:8] for path in CORPUS])
def test_seed(seed: Path) -> None:
    one_input(seed.read_bytes())


def test_corpus_has_the_hazards() -> None:
    bodies = {path.read_bytes()[1:] for path in CORPUS}
    assert {b"[0e999999999]", b"[-0.0e999999999]", b"[1E+99999999999999999999]"} <= bodies
