"""Reader tests run the two-thread column checks (``validate.PARALLEL_ROWS``) on their
tiny files; ``test_readers.py`` compares them with the one-thread path."""

from __future__ import annotations

import pytest

from cib_detect.io import validate


@pytest.fixture(autouse=True)
def _columns_checked_on_two_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "PARALLEL_ROWS", 1)
