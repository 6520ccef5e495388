"""Ingest parameters are sent unchanged but not formatted for the driver's debug log."""

from __future__ import annotations

import io

import numpy as np
import pytest
from neo4j._codec.packstream.v1 import Packer, _rust_pack

from cib_detect.model import EventTable
from cib_detect.store.columns import copy_properties
from cib_detect.store.graph_store import QuietList, QuietStr
from cib_detect.store.ingest import batch_params, event_ids


def _params() -> dict[str, object]:
    n = 3000
    rng = np.random.default_rng(0)
    ev = EventTable(
        account=rng.integers(0, 40, n).astype(np.int32),
        action=rng.integers(0, 2, n).astype(np.int32),
        target=rng.integers(0, 70, n).astype(np.int32),
        ts=rng.integers(0, 10**12, n).astype(np.int64),
        accounts=[f"a{i}" for i in range(40)],
        actions=["like", "stream"],
        targets=[f"t{i}" for i in range(70)],
    )
    return batch_params(ev, event_ids(ev), None, np.arange(n, dtype=np.int64))


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def test_batch_parameters_have_a_short_repr() -> None:
    params = _params()
    params["columns"] = copy_properties(params)
    assert isinstance(params["ids"], QuietList)
    assert isinstance(params["columns"]["colTs"], QuietStr)  # type: ignore[index]
    assert len(repr(params)) < 1_000  # the plain values' repr runs to ~100 kB
    assert repr(params["ids"]) == "<list of 3000>"


@pytest.mark.parametrize("rust", [True, False])
def test_quiet_values_pack_as_plain_ones(rust: bool) -> None:
    if rust and _rust_pack is None:
        pytest.skip("neo4j-rust-ext not installed")
    params = _params()
    params["columns"] = copy_properties(params)
    plain = _plain(params)
    assert type(plain["ids"]) is list  # type: ignore[index]

    def pack(value: object) -> bytes:
        if rust:
            return bytes(_rust_pack(value, None))
        out = io.BytesIO()
        Packer(out)._py_pack(value)
        return out.getvalue()

    assert pack(params) == pack(plain)
