"""The toolkit CSV reader against CPython's ``csv`` module, which the toolkit uses.

The toolkit reads ``csv.reader(open(path, "r", encoding="utf-8"))`` (universal
newlines), skips the first record and unpacks every other record into 8 fields; a
record of another length (a blank line is ``[]``) makes it fail. Our reader parses with
Arrow; these tests hold it to the reference on generated and adversarial inputs.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cib_detect.compat.io import CNT_COLUMNS, python_floats, read_cnt_table
from cib_detect.errors import InvalidInput

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FIELD_CHARS = ["a", "é", ",", '"', "\n", "\r", " ", "\x00", "1", "."]


def reference(path: Path) -> list[list[str]] | None:
    """What the toolkit's ``preprocess`` gets, or None where it fails."""
    try:
        with open(path, encoding="utf-8") as fh:
            reader = csv.reader(fh)
            next(reader)
            rows = list(reader)
    except (csv.Error, StopIteration, UnicodeDecodeError):
        return None
    if any(len(r) != 8 or all(v == "" for v in r) for r in rows):
        return None  # a blank line fails the unpacking, an all-empty row float("")
    return rows


def ours(path: Path) -> list[list[str]] | None:
    try:
        table = read_cnt_table(path)
    except InvalidInput:
        return None
    rows = [list(r.values()) for r in table.to_pylist()]
    if any(all(v == "" for v in r) for r in rows):
        return None  # a blank line: the toolkit fails on it; we fail on its timestamp
    return rows


def check(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    assert ours(path) == reference(path)


@st.composite
def written(draw: Any) -> bytes:
    """Files a CSV writer produces: any quoting, any line end, awkward field contents."""
    fields = st.text(alphabet=st.sampled_from(FIELD_CHARS), max_size=6)
    rows = draw(st.lists(st.lists(fields, min_size=8, max_size=8), max_size=5))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    header = draw(st.sampled_from(["h\n", '"multi\nline header",x\r\n', "a,b,c\r"]))
    import io

    buf = io.StringIO()
    csv.writer(buf, quoting=quoting, lineterminator=end).writerows(rows)
    text: str = header + buf.getvalue()
    return text.encode("utf-8")


@SETTINGS
@given(data=written())
def test_written_files_read_like_python_csv(tmp_path: Path, data: bytes) -> None:
    check(tmp_path / "w.csv", data)


@SETTINGS
@given(
    body=st.lists(st.sampled_from([*FIELD_CHARS, ",", ",", "\r\n"]), max_size=40),
    prefix=st.sampled_from(["", "m,u,n,,,t,1,x\n", 'm,u,n,,,"t\r\nx",1,x\n']),
)
def test_arbitrary_bytes_read_like_python_csv(tmp_path: Path, body: list[str], prefix: str) -> None:
    check(tmp_path / "a.csv", ("header\n" + prefix + "".join(body)).encode("utf-8"))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"header only",
        b"h\n\n",
        b"h\nm,u,n,,,t,1,x\n\nm2,u,n,,,t,1,x\n",
        b'h\nm,u,n,,,"unterminated,1,x\n',
        b'h\nm,u,n,,,"a"b,1,x\n',
        b'h\nm,u,n,,,a"b"c,1,x\n',
        b"h\nm,u,n,,,\xff,1,x\n",
        b'\xef\xbb\xbfh\r\nm,u,n,,,"a\r\nb",1,x\r\n',
        b"h\rm,u,n,,,t,1,x\rm2,u,n,,,t,2,y",
        b"h\nm,u,n,,,t,1,x,extra\n",
    ],
)
def test_awkward_files(tmp_path: Path, data: bytes) -> None:
    check(tmp_path / "k.csv", data)


def test_field_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("h\nm,u,n,,," + "x" * 131_073 + ",1,\n", encoding="utf-8")
    assert reference(path) is None
    with pytest.raises(InvalidInput, match="131072"):
        read_cnt_table(path)
    path.write_text("h\nm,u,n,,," + "é" * 131_072 + ",1,\n", encoding="utf-8")
    assert ours(path) == reference(path)


def test_columns_are_positional(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("whatever,the,header,says\n1,2,3,4,5,6,7,8\n", encoding="utf-8")
    table = read_cnt_table(path)
    assert table.column_names == list(CNT_COLUMNS)
    assert table.to_pylist() == [dict(zip(CNT_COLUMNS, "12345678", strict=True))]


TIMES = [
    "1767225600", "0", "-12", "007", "1.5", ".5", "5.", "+5", " 12 ", "\t3\n", "1e3", "1E-2",
    "1_000", "inf", "-Infinity", "nan", "NaN", "1234567890123456789", "0.1", "1e400", "٣",
]  # fmt: skip


def test_timestamps_parse_like_python_float() -> None:
    got = python_floats(pa.array(TIMES, pa.string()))
    for s, value in zip(TIMES, got.tolist(), strict=True):
        expected = float(s)
        assert (math.isnan(expected) and math.isnan(value)) or value == expected, s
        assert math.copysign(1, value) == math.copysign(1, expected), s


@pytest.mark.parametrize("bad", ["", "abc", "1,5", "0x10", "1e", "--1"])
def test_timestamps_python_rejects_are_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        float(bad)
    with pytest.raises(InvalidInput, match="data row 2"):
        python_floats(pa.array(["1", bad], pa.string()))


@pytest.mark.parametrize(
    "values",
    [
        ["0", "007", "1767225600", "999999999999999"],  # all plain digits: Arrow alone
        ["1", "１２", "٣"],  # non-ASCII digits: Python's float() reads them
        ["1", "1234567890123456", "12"],  # more than 15 digits
        ["-5", "5"],
    ],
)
def test_plain_digit_timestamps_parse_like_python_float(values: list[str]) -> None:
    got = python_floats(pa.chunked_array([pa.array(values, pa.string())]))
    assert got.tolist() == [float(s) for s in values]
