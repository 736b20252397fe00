"""flows.sources' fast paths give exactly what the careful paths give, and inputs are hashed once.

* CSV: `_read_clean_csv` (one pyarrow call over the bytes) must return the very frame of
  `_read_csv_careful` (today's line-by-line reader) for a clean file, and decline (None) for every
  other file, so that `read_table` then gives the careful path's frame or error, unchanged;
* Parquet: a file whose columns all read as "str" is converted in Arrow; the result equals the
  general path (`pd.read_parquet` + `_parquet_cell` on every cell), which is kept here verbatim as
  the reference; other column types keep the general path (one call per distinct value only where
  that is exact);
* `Source`: the SHA-256 is computed once, when the source is fetched, and a run lets the input
  bytes go once their table is read (`without_data`), keeping the same hash for the manifest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench import generate
from flows import pipeline
from flows import sources as S
from flows.sources import MAX_COLUMNS, MAX_LINE_CHARS, Source, fetch, read_table
from payouts.errors import InputError

PERIOD = "2026-10"


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A generated month (60 nodes x 31 days, a few bad rows) as CSV bytes: metrics, operators."""
    metrics, registry = generate.generate_month(
        period=PERIOD, operators=12, nodes=60, seed=3, bad_row_rate=0.01
    )
    m_path, o_path = generate.write_month(metrics, registry, tmp_path_factory.mktemp("month"))
    data = m_path.read_bytes(), o_path.read_bytes()
    assert data[0].count(b"\n") > 1500 and b'"' not in data[0] and b"\r" not in data[0]
    return data


# ---------------------------------------------------------------------------------------------
# helpers


def _outcome(fn: Callable[[], pd.DataFrame]) -> pd.DataFrame | tuple[Any, ...]:
    """A frame, or an InputError as everything the user sees of it."""
    try:
        return fn()
    except InputError as exc:
        return ("InputError", exc.message, exc.file, exc.row, exc.column, exc.fix, str(exc))


def _assert_same(a: pd.DataFrame | tuple[Any, ...], b: pd.DataFrame | tuple[Any, ...]) -> None:
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    pd.testing.assert_frame_equal(a, b, check_exact=True, check_index_type=True, check_column_type=True)
    assert type(a.index) is type(b.index) and a.index.dtype == b.index.dtype
    assert list(a.columns) == list(b.columns) and a.columns.dtype == b.columns.dtype
    assert [str(t) for t in a.dtypes] == [str(t) for t in b.dtypes]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _join(lines: list[bytes]) -> bytes:
    return b"\n".join(lines)


def _swap_line(data: bytes, number: int, new: bytes) -> bytes:
    """Replace physical line `number` (header = 1)."""
    lines = _lines(data)
    lines[number - 1] = new
    return _join(lines)


def _insert_line(data: bytes, number: int, new: bytes) -> bytes:
    lines = _lines(data)
    lines.insert(number - 1, new)
    return _join(lines)


def _with_extra_columns(data: bytes, names: list[bytes], value: Callable[[int], bytes]) -> bytes:
    lines = _lines(data)
    out = [lines[0] + b"," + b",".join(names)]
    for i, line in enumerate(lines[1:]):
        out.append(line + b"," + b",".join(value(i) for _ in names) if line else line)
    return _join(out)


def _rows(data: bytes) -> int:
    return len([x for x in _lines(data)[1:] if x])


# ---------------------------------------------------------------------------------------------
# CSV: the clean shapes take the fast path and give the careful path's frame


CLEAN: dict[str, Callable[[bytes], bytes]] = {
    "as_generated": lambda d: d,
    "no_trailing_newline": lambda d: d.rstrip(b"\n"),
    "extra_columns": lambda d: _with_extra_columns(d, [b"note", b"zone"], lambda i: b"n%d" % (i % 7)),
    "extra_column_non_ascii": lambda d: _with_extra_columns(d, [b"r\xc3\xa9gion"], lambda i: "é€😀".encode()),
    "empty_cells": lambda d: _with_extra_columns(d, [b"spare"], lambda i: b""),
    "spaces_in_cells": lambda d: _with_extra_columns(d, [b"memo"], lambda i: b" a b "),
}


@pytest.mark.unit
@pytest.mark.parametrize("shape", sorted(CLEAN))
def test_clean_csv_takes_the_fast_path_with_the_careful_frame(month: tuple[bytes, bytes], shape: str) -> None:
    data = CLEAN[shape](month[0])
    src = Source("metrics", "metrics.csv", data)
    fast = S._read_clean_csv(src, 5_000_000)
    assert fast is not None, "a clean file must take the fast path"
    careful = S._read_csv_careful(src, 5_000_000)
    _assert_same(fast, careful)
    _assert_same(read_table(src), careful)
    assert len(fast) == _rows(data)
    assert fast.index[0] == 2 and fast.index[-1] == len(fast) + 1
    assert all(str(t) == "str" for t in fast.dtypes)


@pytest.mark.unit
def test_registry_and_exactly_max_rows_take_the_fast_path(month: tuple[bytes, bytes]) -> None:
    for data in month:
        src = Source("operators", "o.csv", data)
        rows = _rows(data)
        fast = S._read_clean_csv(src, rows)  # exactly at the limit: accepted
        assert fast is not None
        _assert_same(fast, S._read_csv_careful(src, rows))
        # one above the limit: declined, and the careful path's error is what read_table raises
        assert S._read_clean_csv(src, rows - 1) is None
        want = _outcome(lambda src=src, rows=rows: S._read_csv_careful(src, rows - 1))
        assert want[0] == "InputError" and "--max-rows" in want[5]
        assert _outcome(lambda src=src, rows=rows: read_table(src, max_rows=rows - 1)) == want


# ---------------------------------------------------------------------------------------------
# CSV: anything else is declined, and read_table gives the careful path's frame or error

_H = b"date,node_address,operator_address"


def _decline_cases(d: bytes) -> dict[str, bytes]:
    header = _lines(d)[0]
    second = _lines(d)[1]
    return {
        "repeated_header": _insert_line(d, 40, header),
        "repeated_header_last_no_newline": d + header,
        "repeated_header_last": d + header + b"\n",
        "blank_line": _insert_line(d, 30, b""),
        "blank_line_at_end": d + b"\n",
        "blank_first_line": b"\n" + d,
        "space_line": _insert_line(d, 30, b"   "),
        "ragged_missing_field": _swap_line(d, 25, second.rsplit(b",", 1)[0]),
        "ragged_extra_field": _swap_line(d, 25, second + b",x"),
        "quoted_value": _swap_line(d, 25, b'"' + second.replace(b",", b'",', 1)),
        "quoted_unclosed": _swap_line(d, 25, b'"' + second),
        "crlf": d.replace(b"\n", b"\r\n"),
        "cr_only": d.replace(b"\n", b"\r"),
        "lone_cr": _swap_line(d, 7, _lines(d)[6] + b"\r"),
        "bom": b"\xef\xbb\xbf" + d,
        "utf16_bom": b"\xff\xfe" + d.decode().encode("utf-16-le"),
        "utf16_no_bom": d.decode().encode("utf-16-le"),
        "nul_byte": _swap_line(d, 9, _lines(d)[8] + b"\x00"),
        "invalid_utf8_middle": _swap_line(d, 1000, _lines(d)[999].replace(b",", b",\xff", 1)),
        "surrogate_bytes": _swap_line(d, 1000, _lines(d)[999] + b"\xed\xa0\x80"),
        "overlong_utf8": _swap_line(d, 1000, _lines(d)[999] + b"\xc0\xaf"),
        "truncated_utf8_at_end": d + b"\xe2\x82",
        "bad_header_and_invalid_utf8": _swap_line(
            _swap_line(d, 1000, _lines(d)[999] + b"\xff"), 1, header + b",date"
        ),
        "duplicated_header_column": _swap_line(d, 1, header + b",date"),
        "empty_header_name": _swap_line(d, 1, header + b","),
        "semicolon_header": b"a;b;c\n1;2;3\n",
        "data_as_header": _join(_lines(d)[1:]),
        "leading_space": b" " + d,
        "html_page": b"<!DOCTYPE html><html><body>sign in</body></html>\n",
        "html_after_blank_first_line": b"\n<html>\n" + d,
        "header_only": header + b"\n",
        "empty_file": b"",
        "spaces_only": b"  \n \n",
        "one_column_with_space_line": b"name\nalice\n \nbob\n",
        "one_column": b"name\nalice\nbob\n",
        "over_long_line": header + b"\n" + b"x" * (MAX_LINE_CHARS + 1) + b"\n",
        "over_long_non_ascii_line_within_chars": header
        + b"\n"
        + "é".encode() * (MAX_LINE_CHARS // 2 + 1)
        + b"\n",
        "too_many_columns": b",".join(b"c%d" % i for i in range(MAX_COLUMNS + 1)) + b"\n" + b"1" * 5 + b"\n",
        "small_ragged": _H + b"\n2026-10-01,0xabc\n",
    }


DECLINED = sorted(_decline_cases(b"h1,h2\n" + b"a,b\n" * 1200))


@pytest.mark.unit
@pytest.mark.parametrize("case", DECLINED)
def test_other_csv_is_declined_and_read_as_before(month: tuple[bytes, bytes], case: str) -> None:
    data = _decline_cases(month[0])[case]
    src = Source("metrics", "metrics.csv", data)
    assert S._read_clean_csv(src, 5_000_000) is None, "only a clean file may take the fast path"
    want = _outcome(lambda: S._read_csv_careful(src, 5_000_000))
    _assert_same(_outcome(lambda: read_table(src)), want)


@pytest.mark.unit
def test_declined_cases_cover_errors_and_frames(month: tuple[bytes, bytes]) -> None:
    """The decline cases include files the careful path reads (blank lines, CRLF, BOM, quotes) and
    files it refuses, so both halves of 'the same frame or the same error' are exercised."""
    cases = _decline_cases(month[0])
    outcomes = {
        k: _outcome(lambda v=v: S._read_csv_careful(Source("m", "m.csv", v), 5_000_000))
        for k, v in cases.items()
    }
    frames = {k for k, v in outcomes.items() if isinstance(v, pd.DataFrame)}
    assert {
        "blank_line",
        "blank_line_at_end",
        "crlf",
        "cr_only",
        "bom",
        "quoted_value",
        "space_line",
    } <= frames
    # a blank line is skipped, not read as a row of empty cells (pyarrow would make one)
    base = S._read_csv_careful(Source("m", "m.csv", month[0]), 5_000_000)
    assert len(outcomes["blank_line"]) == len(base)
    errors = {k: v for k, v in outcomes.items() if isinstance(v, tuple)}
    assert "repeats the header" in errors["repeated_header"][1] and errors["repeated_header"][3] == 40
    assert "not UTF-8" in errors["invalid_utf8_middle"][1] and errors["invalid_utf8_middle"][3] == 1000
    # the file-level UTF-8 check comes before the header checks: the error order is the careful path's
    assert "not UTF-8" in errors["bad_header_and_invalid_utf8"][1]
    assert "HTML" in errors["html_after_blank_first_line"][1]
    assert "field(s)" in errors["ragged_missing_field"][1] and errors["ragged_missing_field"][3] == 25


@pytest.mark.unit
def test_too_many_rows_never_reaches_pyarrow(
    month: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("parsed although over the row limit")

    monkeypatch.setattr(S.pa_csv, "read_csv", never)
    with pytest.raises(InputError, match="--max-rows"):
        read_table(Source("metrics", "m.csv", month[0]), max_rows=100)


@pytest.mark.unit
def test_newline_scan_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S, "_SCAN_CHUNK", 16)
    data = b"h1,h2\n" + b"".join(b"%d,%s\n" % (i, b"v" * (i % 23)) for i in range(1, 400))
    assert S._newlines(data).tolist() == [i for i, c in enumerate(data) if c == 10]
    assert S._is_utf8("é€😀".encode() * 50) and not S._is_utf8("é€😀".encode() * 50 + b"\xe2\x82")
    src = Source("m", "m.csv", data)
    fast = S._read_clean_csv(src, 10_000)
    assert fast is not None
    _assert_same(fast, S._read_csv_careful(src, 10_000))


# ---------------------------------------------------------------------------------------------
# Parquet


def _reference_read_parquet(src: Source, max_rows: int) -> pd.DataFrame:
    """flows.sources._read_parquet as it was before the fast paths (every cell through Python)."""
    meta = pq.ParquetFile(io.BytesIO(src.data)).metadata
    if meta.num_rows > max_rows:
        raise S._too_many_rows(src, meta.num_rows, max_rows)
    frame = pd.read_parquet(io.BytesIO(src.data))
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            text = s.dt.strftime("%Y-%m-%d")
        else:
            text = s.map(S._parquet_cell)
        out[str(col)] = text.fillna("").astype(str)
    out = out.reset_index(drop=True)
    out.index = pd.RangeIndex(2, len(out) + 2)
    S._check_names(src, [str(c) for c in out.columns])
    return out


def _parquet(table: pa.Table | pd.DataFrame, **kw: Any) -> Source:
    buf = io.BytesIO()
    if isinstance(table, pd.DataFrame):
        table.to_parquet(buf, **kw)
    else:
        pq.write_table(table, buf, **kw)
    return Source("metrics", "metrics.parquet", buf.getvalue())


def _string_parquets(month: tuple[bytes, bytes]) -> dict[str, Source]:
    frame = S._read_csv_careful(Source("m", "m.csv", month[0]), 5_000_000).reset_index(drop=True)
    with_nulls = frame.copy()
    with_nulls.loc[::7, "ping_ms"] = None
    text = {c: pa.array(frame[c].tolist(), pa.string()) for c in frame.columns[:5]}
    nulls = pa.array([None if i % 5 == 0 else f"v{i}" for i in range(len(frame))], pa.large_string())
    return {
        "from_pandas": _parquet(frame),
        "from_pandas_with_nulls": _parquet(with_nulls),
        "from_pandas_small_row_groups": _parquet(frame, row_group_size=100),
        "arrow_string_no_pandas_metadata": _parquet(pa.table(text)),
        "arrow_large_string_with_nulls": _parquet(pa.table({**text, "memo": nulls})),
        "zero_rows": _parquet(frame.iloc[:0]),
        "non_ascii": _parquet(pa.table({"a": ["é", "€", None, "😀"], "b": ["1", "", "3", "4"]})),
    }


@pytest.mark.unit
def test_string_parquet_takes_the_fast_path_with_the_reference_frame(month: tuple[bytes, bytes]) -> None:
    for name, src in _string_parquets(month).items():
        fast = S._read_string_parquet(src, 5_000_000)
        assert fast is not None, name
        want = _reference_read_parquet(src, 5_000_000)
        _assert_same(fast, want)
        _assert_same(read_table(src), want)


def _mixed_parquets() -> dict[str, Source]:
    n = 40
    floats = [0.1, -0.0, 0.0, 1e-05, float("nan"), float("inf"), 1e22, 3.0, -2.5, 0.1] * (n // 10)
    frame = pd.DataFrame(
        {
            "text": [f"t{i % 3}" for i in range(n)],
            "i64": np.arange(n, dtype=np.int64) % 4 - 2,
            "u8": (np.arange(n) % 3).astype(np.uint8),
            "u64": np.full(n, 2**64 - 1, dtype=np.uint64),
            "f64": floats,
            "f32": np.array(floats, dtype=np.float32),
            "bool": [i % 2 == 0 for i in range(n)],
            "int_with_nulls": [None if i % 6 == 0 else i for i in range(n)],
            "nullable_int": pd.array([None if i % 6 == 0 else i for i in range(n)], dtype="Int64"),
            "dec": [Decimal("1.0"), Decimal("1.00"), Decimal("0E-18"), None] * (n // 4),
            "date": [dt.date(2026, 10, 1 + i % 3) for i in range(n)],
            "ts": pd.date_range("2026-10-01", periods=n, freq="h"),
            "obj_bool": [True, False, None, True] * (n // 4),
        }
    )
    return {
        "mixed": _parquet(frame),
        "one_int_column_among_strings": _parquet(pa.table({"a": ["x"] * 5, "n": [1, 2, 2, 1, 3]})),
        # pandas metadata asks for the python-storage "string" dtype: NA reaches _parquet_cell there
        "string_python_storage": _parquet(
            pd.DataFrame({"a": pd.array(["x", None, "z"], dtype="string[python]")})
        ),
        "string_pyarrow_storage": _parquet(
            pd.DataFrame({"a": pd.array(["x", None, "z"], dtype="string[pyarrow]")})
        ),
        "stored_index": _parquet(pd.DataFrame({"a": ["x", "y"]}, index=pd.Index(["i", "j"], name="k"))),
        "int_column_names": _parquet(pd.DataFrame({0: ["x", "y"], 1: ["1", "2"]})),
        "all_null_column": _parquet(pa.table({"a": ["x", "y"], "b": pa.array([None, None], pa.null())})),
        "dictionary_strings": _parquet(pa.table({"a": pa.array(["x", "y", "x"]).dictionary_encode()})),
    }


@pytest.mark.unit
@pytest.mark.parametrize("case", sorted(_mixed_parquets()))
def test_other_parquet_keeps_the_general_path(case: str) -> None:
    src = _mixed_parquets()[case]
    fast = S._read_string_parquet(src, 5_000_000)
    want = _outcome(lambda: _reference_read_parquet(src, 5_000_000))
    if case in ("int_column_names",):  # string columns whose names pandas reads as ints: same text
        assert fast is not None
    else:
        assert fast is None, "only files whose every column reads as 'str' take the fast path"
    _assert_same(_outcome(lambda: read_table(src)), want)


@pytest.mark.unit
def test_parquet_cells_rendered_once_per_distinct_value_equal_every_cell() -> None:
    rng = np.random.default_rng(7)
    specials = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-05, 5e-324, 1e300, 0.1, 2.5])
    with np.errstate(over="ignore"):  # 1e300 as float32 / float16 is inf
        f32 = np.concatenate([specials, rng.normal(size=300)]).astype(np.float32)
        f16 = np.concatenate([specials, rng.normal(size=30)]).astype(np.float16)
    columns = [
        pd.Series(rng.integers(-5, 5, 500), dtype=np.int64),
        pd.Series(rng.integers(0, 3, 500), dtype=np.int8),
        pd.Series(rng.integers(0, 2**63, 500, dtype=np.uint64) * 2, dtype=np.uint64),
        pd.Series(rng.integers(0, 2, 500).astype(bool)),
        pd.Series(np.concatenate([specials, rng.normal(size=300).round(3), specials])),
        pd.Series(f32),
        pd.Series(f16),
        pd.Series([Decimal("1.0"), Decimal("1.00"), Decimal("-0"), None, Decimal("NaN")]),
        pd.Series(["a", None, "b"], dtype="str"),
        pd.Series(["a", None, "b"], dtype="string[python]"),
        pd.Series([1, None, 3], dtype="Int64"),
        pd.Series([], dtype=np.float64),
    ]
    for s in columns:
        got = S._parquet_text(s).fillna("").astype(str)
        want = s.map(S._parquet_cell).fillna("").astype(str)
        pd.testing.assert_series_equal(got, want, check_exact=True)
    neg_zero = S._parquet_text(pd.Series([0.0, -0.0, 0.0]))
    assert list(neg_zero) == ["0", "-0", "0"]


@pytest.mark.unit
def test_parquet_limits_are_unchanged(month: tuple[bytes, bytes]) -> None:
    src = _string_parquets(month)["from_pandas"]
    assert S._read_string_parquet(src, 10) is None
    with pytest.raises(InputError, match="--max-rows"):
        read_table(src, max_rows=10)
    wide = _parquet(pa.table({f"c{i}": ["x"] for i in range(MAX_COLUMNS + 1)}))
    assert S._read_string_parquet(wide, 10) is None
    with pytest.raises(InputError, match="columns, above the limit"):
        read_table(wide)
    broken = Source("metrics", "m.parquet", src.data[:-100])
    assert S._read_string_parquet(broken, 10**6) is None
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_table(broken)
    unnamed = _parquet(pa.table({"a": ["x"], "Unnamed: 1": ["y"]}))
    assert _outcome(lambda: read_table(unnamed)) == _outcome(lambda: _reference_read_parquet(unnamed, 10))


# ---------------------------------------------------------------------------------------------
# Source: hashed once, bytes released


@pytest.mark.unit
def test_sha256_is_a_field_computed_at_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"h1,h2\n1,2\n"
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    calls: list[int] = []
    real = hashlib.sha256

    def counting(*args: Any) -> Any:
        calls.append(len(args[0]) if args else 0)
        return real(*args)

    monkeypatch.setattr(S.hashlib, "sha256", counting)
    src = fetch("metrics", str(path))
    assert src.sha256 == real(data).hexdigest() and calls == [len(data)]
    assert "sha256" in {f.name for f in dataclasses.fields(src)}
    for _ in range(3):
        assert src.sha256 == real(data).hexdigest()
    read_table(src)
    released = src.without_data()
    assert calls == [len(data)], "the hash is computed once, when the source is fetched"
    assert (released.role, released.name, released.sha256) == (src.role, src.name, src.sha256)
    assert released.data == b"" and released.released and not src.released
    assert released.without_data() is released
    with pytest.raises(ValueError, match="released"):
        read_table(released)
    with pytest.raises(ValueError, match="not the hash"):
        Source("metrics", "m.csv", data, "0" * 64)
    assert Source("metrics", str(path), data, real(data).hexdigest()) == src
    assert "data=" not in repr(src)  # a 500 MB repr is never built


class _Tracked(bytes):
    """Input bytes that record when they are freed."""

    freed: list[str] = []  # noqa: RUF012

    def __del__(self) -> None:
        _Tracked.freed.append(self[:9].decode("ascii", "replace"))

    @staticmethod
    def settled(expected: int) -> list[str]:
        """The freed list once it has `expected` entries (or after 2 s): pyarrow's reader thread
        drops its reference to the parsed bytes a moment after read_csv returns (it must take the
        GIL to do so), so "freed before validation" allows for that moment."""
        deadline = time.monotonic() + 2.0
        while len(_Tracked.freed) < expected and time.monotonic() < deadline:
            time.sleep(0.001)
        return list(_Tracked.freed)


@pytest.mark.integration
def test_a_run_frees_the_input_bytes_once_read_and_keeps_their_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics, registry = generate.generate_month(period=PERIOD, operators=10, nodes=40, seed=5)
    m_path, o_path = generate.write_month(metrics, registry, tmp_path / "in")
    req = pipeline.RunRequest(
        period=PERIOD, metrics=str(m_path), operators=str(o_path), price="0.02", out=tmp_path / "out"
    )
    real_fetch = pipeline.fetch

    def tracked_fetch(role: str, name: str, **kw: Any) -> Source:
        src = real_fetch(role, name, **kw)
        return Source(src.role, src.name, _Tracked(src.data))

    seen: dict[str, list[str]] = {}

    def spy(real: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(*a: Any, **k: Any) -> Any:
            seen[label] = _Tracked.settled(1 if label == "metrics" else 2)
            return real(*a, **k)

        return wrapper

    _Tracked.freed.clear()
    monkeypatch.setattr(pipeline, "fetch", tracked_fetch)
    monkeypatch.setattr(pipeline, "parse_metrics", spy(pipeline.parse_metrics, "metrics"))
    monkeypatch.setattr(pipeline, "parse_registry", spy(pipeline.parse_registry, "registry"))
    prep = pipeline.load_and_prepare(req, pipeline.parse_request(req))
    m_head, o_head = m_path.read_bytes()[:9].decode(), o_path.read_bytes()[:9].decode()
    # freed before validation starts: the parsed table holds no reference to the bytes
    assert seen["metrics"] == [m_head]
    assert seen["registry"] == [m_head, o_head]
    assert [(s.role, s.name, s.released, s.data) for s in prep.sources] == [
        ("metrics", str(m_path), True, b""),
        ("operators", str(o_path), True, b""),
    ]
    assert [s.sha256 for s in prep.sources] == [
        hashlib.sha256(m_path.read_bytes()).hexdigest(),
        hashlib.sha256(o_path.read_bytes()).hexdigest(),
    ]
    # prepare (the Prefect task's entry point) gives the same result and the same released sources
    m_src, o_src = real_fetch("metrics", str(m_path)), real_fetch("operators", str(o_path))
    again = pipeline.prepare(prep.inputs.policy, prep.inputs.period, prep.inputs.price_usd, m_src, o_src, ())
    assert again.sources == prep.sources and m_src.data == m_path.read_bytes()
    pd.testing.assert_frame_equal(again.metrics.rows, prep.metrics.rows)


@pytest.mark.integration
def test_run_manifest_records_the_hash_of_the_input_bytes(tmp_path: Path) -> None:
    import json

    metrics, registry = generate.generate_month(period=PERIOD, operators=10, nodes=40, seed=5)
    m_path, o_path = generate.write_month(metrics, registry, tmp_path / "in")
    req = pipeline.RunRequest(
        period=PERIOD, metrics=str(m_path), operators=str(o_path), price="0.02", out=tmp_path / "out"
    )
    folder, _, prep = pipeline.run_without_prefect(req)
    manifest = json.loads((folder / "manifest.json").read_bytes())
    assert [(i["role"], i["sha256"]) for i in manifest["inputs"]] == [
        ("metrics", hashlib.sha256(m_path.read_bytes()).hexdigest()),
        ("operators", hashlib.sha256(o_path.read_bytes()).hexdigest()),
    ]
    assert all(s.released for s in prep.sources)
    # verify recomputes from the files and gets the same bytes
    outputs = pipeline.recompute(req, prep.prior)
    assert outputs.files["manifest.json"] == (folder / "manifest.json").read_bytes()


@pytest.mark.integration
def test_the_flow_validate_task_frees_bytes_its_caller_still_holds(tmp_path: Path) -> None:
    """The Prefect flow keeps its fetched sources (task parameters): the validate task releases
    them in place once read, so their bytes are freed before validation all the same."""
    from flows import monthly

    metrics, registry = generate.generate_month(period=PERIOD, operators=10, nodes=40, seed=5)
    m_path, o_path = generate.write_month(metrics, registry, tmp_path / "in")
    req = pipeline.RunRequest(
        period=PERIOD, metrics=str(m_path), operators=str(o_path), price="0.02", out=tmp_path / "out"
    )
    params = pipeline.parse_request(req)
    m_src = Source("metrics", str(m_path), _Tracked(m_path.read_bytes()))
    o_src = Source("operators", str(o_path), _Tracked(o_path.read_bytes()))
    _Tracked.freed.clear()
    seen: list[str] = []
    real_parse = pipeline.parse_metrics

    def spy(*a: Any, **k: Any) -> Any:
        seen.extend(_Tracked.settled(1))
        return real_parse(*a, **k)

    pipeline.parse_metrics, saved = spy, pipeline.parse_metrics  # type: ignore[assignment]
    try:
        prep = monthly.validate_task.fn(PERIOD, params, m_src, o_src, (), req.limits)
    finally:
        pipeline.parse_metrics = saved  # type: ignore[assignment]
    assert seen == [m_path.read_bytes()[:9].decode()]  # freed before the metrics are validated
    assert (m_src.released, m_src.data, o_src.released, o_src.data) == (True, b"", True, b"")
    assert [s.sha256 for s in prep.sources] == [
        hashlib.sha256(m_path.read_bytes()).hexdigest(),
        hashlib.sha256(o_path.read_bytes()).hexdigest(),
    ]
    with pytest.raises(ValueError, match="released"):
        read_table(m_src)
