"""schemas.inputs parses each column once (`Columns`) and the Pandera checks read those results.

These tests pin the fast paths to independent references: Python's `re.fullmatch` and `float()`
(correctly rounded) for the plain-notation columns, the original string key `date|lower(node)`
for duplicates, and the checks run without any precomputed results for whole files of the
bad-input corpus (the same failure cases, check by check and line by line).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.sources import Source, read_table
from payouts.addresses import BAD_CHECKSUM, BAD_FORMAT, check_address_series
from schemas.inputs import (
    METRICS_COLUMNS,
    Columns,
    _findings,
    metrics_schema,
)
from tests.conftest import REPO

pytestmark = pytest.mark.unit

INT_RE = r"[0-9]{1,18}"
FLOAT_RE = r"-?[0-9]{1,15}(\.[0-9]{1,30})?"
DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"

HOSTILE: list[object] = [
    "", "0", "00", "-0", "-0.0", "1", "1.0", "0.5", ".5", "1.", "+1", " 1", "1 ", "1e3", "1E3",
    "inf", "nan", "NaN", "-1", "0x10", "١٢", "１", "٣", "1_000", "1,5", "0.5\n", "\t2", "1.2.3",
    "9" * 15, "9" * 16, "9" * 18, "9" * 19, "1" + "0" * 17, "0." + "1" * 30, "0." + "1" * 31,
    "123456789012345.123456789012345678901234567890", "0.1000000000000000055511151231257827",
    "0.30000000000000004", "2.675", "1.0000000000000002220446", None, float("nan"), 7, 2.5,
]  # fmt: skip


def _random_decimals(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        whole = str(rnd.randrange(0, 10 ** rnd.randint(1, 15)))
        frac = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(0, 30)))
        out.append(whole + ("." + frac if frac else ""))
    return out


@pytest.mark.parametrize("dtype", ["str", object])
def test_float_and_int_parse_equal_python(dtype: object) -> None:
    values = HOSTILE + _random_decimals(20_000, seed=7)
    series = pd.Series(values, dtype=object)
    if dtype == "str":
        series = series.map(lambda v: v if isinstance(v, str) else None).astype("str")
    cols = Columns(pd.DataFrame({"x": series}))
    f, i = cols.float("x"), cols.int("x")
    for n, v in enumerate(series):
        text = v if isinstance(v, str) else None
        ok_f = text is not None and re.fullmatch(FLOAT_RE, text) is not None
        ok_i = text is not None and re.fullmatch(INT_RE, text) is not None
        assert f.ok[n] == ok_f, v
        assert i.ok[n] == ok_i, v
        if ok_f:  # the same correctly rounded double, sign of zero included
            assert f.value[n] == float(text) and np.signbit(f.value[n]) == text.startswith("-"), v
        else:
            assert np.isnan(f.value[n]), v
        assert i.value[n] == (int(text) if ok_i else 0), v


def test_dates_parse_each_distinct_value_once_and_equal_to_datetime() -> None:
    values = ["2026-10-01", "2026-10-31", "2026-02-30", "2026-1-01", "2026-10-01 ", "", "2026-13-01"]
    series = pd.Series(values * 3 + [None], dtype=object)
    shaped, parsed = Columns(pd.DataFrame({"date": series})).dates()
    for n, v in enumerate(series):
        form = isinstance(v, str) and re.fullmatch(DATE_RE, v) is not None
        assert shaped[n] == form
        expected = pd.to_datetime(v, format="%Y-%m-%d", errors="coerce") if form else pd.NaT
        assert (pd.isna(expected) and np.isnat(parsed[n])) or parsed[n] == np.datetime64(expected)


def test_duplicate_date_node_equals_the_string_key() -> None:
    rnd = random.Random(3)
    nodes = ["0x" + "".join(rnd.choice("0123456789abcdef") for _ in range(40)) for _ in range(50)]
    rows = []
    for _ in range(3000):
        node = rnd.choice(nodes)
        node = node.upper() if rnd.random() < 0.2 else node  # the same node in another case
        rows.append((f"2026-10-{rnd.randint(1, 31):02d}", node))
    df = pd.DataFrame(rows, columns=["date", "node_address"]).astype("str")
    schema = metrics_schema()
    check = next(c for c in schema.checks if c.name == "duplicate_date_node")
    got = check._check_fn(df).to_numpy()
    key = df["date"] + "|" + df["node_address"].str.lower()
    assert list(got) == list(~key.duplicated(keep=False))
    assert 0 < int((~got).sum()) < len(df)  # the data has both kinds


def _metric_files() -> list[Path]:
    corpus = REPO / "tests" / "data" / "bad"
    return [*sorted((corpus / "metrics").glob("*.csv")), corpus / "base" / "metrics.csv"]


def _cases(err: object, raw: pd.DataFrame) -> set[object]:
    """The findings (line, column, check, echoed value) the pipeline writes for these failures."""
    if err is None:
        return set()
    return set(_findings(err, raw, "m.csv", pd.Series("node", index=raw.index)))  # type: ignore[arg-type]


def _validate(schema: object, raw: pd.DataFrame) -> object:
    import pandera.pandas as pa

    try:
        schema.validate(raw, lazy=True)  # type: ignore[attr-defined]
    except pa.errors.SchemaErrors as err:
        return err
    return None


def test_precomputed_results_give_the_same_failures_as_plain_checks() -> None:
    """Over every metrics file of the bad-input corpus that parses as a table: the schema fed
    with `Columns` and per-distinct-address flags (cross-column checks anchored to a column)
    gives exactly the same findings - line, column, check, value - as the schema computing
    everything from what Pandera hands it (cross-column checks DataFrame-wide)."""
    compared = 0
    seen: set[str] = set()
    for path in _metric_files():
        try:
            raw = read_table(Source("metrics", str(path), path.read_bytes()))
        except Exception:  # a file-level fault of the reader: not a validation case
            continue
        if not set(METRICS_COLUMNS) <= set(raw.columns) or len(raw) == 0:
            continue
        raw = raw.loc[:, list(METRICS_COLUMNS)]
        flags = {}
        for col in ("node_address", "operator_address"):
            problems = check_address_series(raw[col])[1]
            flags[col] = (
                (problems == BAD_FORMAT).to_numpy(dtype=bool),
                (problems == BAD_CHECKSUM).to_numpy(dtype=bool),
            )
        fast = _cases(_validate(metrics_schema(flags, Columns(raw)), raw), raw)
        plain = _cases(_validate(metrics_schema(), raw), raw)
        assert fast == plain, path.name
        seen |= {f.check for f in fast}  # type: ignore[attr-defined]
        compared += 1
    assert compared >= 20
    # the corpus exercises the cross-column checks and the per-column ones
    assert {"duplicate_date_node", "tasks_accurate<=tasks_completed", "number", "integer"} <= seen
    assert any(c.startswith("sm_") and "<=" in c for c in seen)


@pytest.mark.parametrize("dtype", ["int64", "float64", "datetime64[us]"])
def test_kept_rows_equals_take_and_reuses_the_array(dtype: str) -> None:
    """`_kept_rows` (in-place compaction) gives exactly `take(keep)` for any sorted row subset."""
    from schemas.inputs import _kept_rows

    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 50, 10_000):
        for p_drop in (0.0, 0.001, 0.1, 0.5, 1.0):
            source = rng.integers(-(2**62), 2**62, n).astype(dtype)
            keep = np.flatnonzero(rng.random(n) >= p_drop)
            expected = source.take(keep)
            values = source.copy()
            got = _kept_rows(values, keep)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
            if 0 < len(keep) and len(np.flatnonzero(np.diff(keep) != 1)) <= 4096:
                assert np.shares_memory(got, values)  # no new array
    # a read-only view (an Arrow buffer) is never written: a copy is taken
    frozen = np.arange(10, dtype="int64")
    frozen.flags.writeable = False
    got = _kept_rows(frozen, np.array([0, 2, 3]))
    np.testing.assert_array_equal(got, [0, 2, 3])
    np.testing.assert_array_equal(frozen, np.arange(10))


@pytest.mark.parametrize(
    "values",
    [
        ["0x" + "ab" * 20, "0x" + "Cd" * 20, None],  # addresses and the NA sentinel
        ["0x" + "ab" * 20, "0xabc", None],  # a short value
        ["0x" + "ab" * 20, "0x" + "é" * 40, None],  # non-ASCII of the same length
        ["a", "b", "c"],
        ["", "", None],
        ["x\x00y", "abc", None],  # NUL inside a value is kept
    ],
)
def test_take_str_equals_arrow_take(values: list[str | None]) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from schemas.inputs import _take_str

    rng = np.random.default_rng(3)
    n = len(values)
    for codes in (
        rng.integers(0, n, 1000),
        rng.integers(0, n - 1 if values[-1] is None else n, 1000),  # never the sentinel
        np.array([0, 0, 1], dtype=np.int64) % n,
    ):
        expected = pc.take(pa.array(values, type=pa.large_string()), pa.array(codes)).to_pylist()
        got = _take_str(values, codes)
        assert str(got.dtype) == "str"
        assert [v if isinstance(v, str) else None for v in got] == expected


def test_prefetch_computes_a_shared_result_once() -> None:
    """Two prefetch jobs needing the same result (the address checks and the duplicate check both
    need a factorized column) compute it once: `memo` locks per key."""
    import threading
    import time

    cols = Columns(pd.DataFrame({"a": ["x", "y"]}, dtype="str"))
    calls: list[str] = []
    import pyarrow as pa

    started = threading.Barrier(min(2, pa.cpu_count()))  # prefetch's thread count

    def slow() -> int:
        calls.append(threading.current_thread().name)
        time.sleep(0.05)
        return 42

    def job() -> object:
        started.wait(timeout=5)  # both threads ask at the same moment
        return cols.memo(("a", "slow"), slow)

    cols.prefetch([job, job])
    assert len(calls) == 1 and cols.memo(("a", "slow"), lambda: 0) == 42
