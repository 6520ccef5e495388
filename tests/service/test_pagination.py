"""Page tokens are opaque, bound to their listing, and rejected with a field violation
when tampered with."""

from __future__ import annotations

import base64
import json

import pytest

from cib_detect.errors import InvalidInput
from cib_detect.service import pagination


def test_round_trip_and_binding() -> None:
    listing = {"run": "r-1", "min_score": 0.25}
    token = pagination.encode("clusters", listing, [40])
    assert pagination.decode(token, "clusters", listing) == [40]
    assert pagination.decode("", "clusters", listing) is None
    with pytest.raises(InvalidInput) as exc:
        pagination.decode(token, "clusters", {"run": "r-1", "min_score": 0.5})
    assert [v.field for v in exc.value.violations] == ["page_token"]
    with pytest.raises(InvalidInput):
        pagination.decode(token, "runs", listing)


@pytest.mark.parametrize(
    "token",
    [
        "%%%",
        "x" * 2000,
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"v": 2, "k": "clusters"}).encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_garbage_is_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        pagination.decode(token, "clusters", {})
    assert exc.value.violations[0].field == "page_token"
