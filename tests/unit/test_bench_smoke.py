"""The benchmark harness (bench/run.py) at its small size, and the fast paths it motivated.

The timing targets are checked by running the benchmark (`python -m bench.run`, see
docs/performance.md), never by timed tests: these tests check that the harness works and that
every vectorized path used at network scale gives exactly what its reference gives.
"""

from __future__ import annotations

import io
import json
import random
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import run as bench
from payouts import engine, render, txbuilder
from payouts.addresses import is_checksummed
from schemas.outputs import eip55_flags

# ---------------------------------------------------------------------------------------------
# the harness


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One in-process run of the harness at 1,000 nodes (about 30k rows)."""
    return bench.run_size(1000, tmp_path_factory.mktemp("bench"))


@pytest.mark.integration
def test_harness_reports_every_phase_with_time_and_memory(small_run: dict) -> None:
    r = small_run
    assert set(r["phases"]) == set(bench.PHASES)
    for name, phase in r["phases"].items():
        assert phase["seconds"] > 0, name
        assert phase["cpu_s"] >= 0, name
        assert phase["peak_rss_mb"] > 0, name
    assert r["total_s"] == pytest.approx(sum(p["seconds"] for p in r["phases"].values()))
    assert r["peak_rss_mb"] == max(p["peak_rss_mb"] for p in r["phases"].values())
    assert r["baseline"]["engine"] in ("pyarrow", "c")
    assert r["baseline"]["seconds"] > 0 and r["baseline"]["rows"] == r["rows"]
    assert r["baseline_ratio"] == pytest.approx(r["total_s"] / r["baseline"]["seconds"])
    assert r["rows"] > 29_000 and r["nodes"] == 1000 and r["operators"] == 200
    assert r["transfers"] > 0 and r["batches"] >= 1 and r["rejected_rows"] > 0
    assert r["detail"]["output_pandera_s"] > 0
    assert r["emission"] == "emitted"


@pytest.mark.integration
def test_harness_renders_a_table_and_checks_targets(small_run: dict) -> None:
    report = {
        "machine": bench.machine_info(),
        "config": {},
        "sizes": [small_run, {**small_run, "size": 10_000}],
        "batches_10k": {"transfers": 10_000, "batches": 100, "seconds": 1.0, "peak_rss_mb": 200.0},
    }
    report["targets"] = bench.evaluate_targets(report)
    text = bench.render_markdown(report)
    assert "| 1,000 |" in text and "| read | validate | compute | render | batches | write |" in text
    assert {t["target"] for t in report["targets"]} == {
        "10k / 1k nodes time <= 12x",
        "batches for 10,000 transfers <= 5 s",
    }
    json.dumps(report, default=str)  # the results file is plain JSON


@pytest.mark.integration
def test_baseline_targets_name_both_conditions(small_run: dict) -> None:
    """At 100k nodes the 4x target is judged against the settled baseline; the read started as
    the pipeline's process exits is a second, reported row (docs/performance.md)."""
    big = {
        **small_run,
        "size": 100_000,
        "total_s": 12.0,
        "baseline": {**small_run["baseline"], "seconds": 2.5},
        "baseline_ratio": 12.0 / 2.5,
        "baseline_after": {**small_run["baseline"], "seconds": 1.0},
        "baseline_after_ratio": 12.0,
    }
    report = {"machine": bench.machine_info(), "config": {"settle_s": 5.0}, "sizes": [big]}
    report["targets"] = bench.evaluate_targets(report)
    by_name = {t["target"]: t for t in report["targets"]}
    settled = by_name["100k nodes <= 4x baseline read (both from a settled machine)"]
    after = by_name["100k nodes <= 4x baseline read started as the pipeline's process exits"]
    assert (settled["value"], settled["ok"]) == ("4.8x", False)
    assert (after["value"], after["ok"]) == ("12.0x", False)
    text = bench.render_markdown(report)
    assert "after a pause of 5 s" in text
    assert "| 2.50 | 4.8x | 1.00 | 12.0x |" in text


@pytest.mark.integration
def test_bench_main_measures_in_fresh_processes(tmp_path: Path) -> None:
    """`python -m bench.run` as documented, at 1k nodes without pauses: every process runs."""
    assert bench.main(["--sizes", "1000", "--settle", "0", "--no-batches", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "latest.json").read_text())
    (r,) = report["sizes"]
    assert report["config"]["settle_s"] == 0
    assert r["baseline"]["rows"] == r["baseline_after"]["rows"] == r["rows"]
    assert r["baseline_ratio"] == pytest.approx(r["total_s"] / r["baseline"]["seconds"])
    assert r["baseline_after_ratio"] == pytest.approx(r["total_s"] / r["baseline_after"]["seconds"])
    assert r["baseline_warm"]["rows"] == r["rows"]
    assert "| 1,000 |" in (tmp_path / "latest.md").read_text()


@pytest.mark.integration
def test_batch_measurement_builds_hashes_for_every_batch() -> None:
    res = bench.measure_batches(250)
    assert res["transfers"] == 250 and res["batches"] == 3 and res["files"] == 6
    assert res["safe_tx_hashes"] == 3 and res["seconds"] > 0


@pytest.mark.unit
def test_manifest_comparison_ignores_only_input_names_and_hashes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d, name, sha in ((a, "m.csv", "1" * 64), (b, "m.parquet", "2" * 64)):
        d.mkdir()
        (d / "x.csv").write_text("h\n1\n")
        manifest = {"inputs": [{"role": "metrics", "name": name, "sha256": sha, "rows": 3}], "totals": 1}
        (d / "manifest.json").write_text(json.dumps(manifest))
    assert bench.compare_outputs(a, b) == []
    (b / "x.csv").write_text("h\n2\n")
    assert bench.compare_outputs(a, b) == ["x.csv differs"]
    manifest["inputs"][0]["rows"] = 4
    (b / "manifest.json").write_text(json.dumps(manifest))
    assert "manifest.json differs beyond input names and hashes" in bench.compare_outputs(a, b)


# ---------------------------------------------------------------------------------------------
# fast paths == their references


def _addresses(n: int, seed: int) -> list[str]:
    from bench.generate import make_addresses

    return make_addresses(seed, "smoke", n)


@pytest.mark.unit
def test_vectorized_eip55_check_equals_is_checksummed() -> None:
    rnd = random.Random(5)
    values: list[object] = []
    for a in _addresses(300, 1):
        flipped = "0x" + "".join(c.swapcase() if rnd.random() < 0.3 else c for c in a[2:])
        values += [a, a.lower(), a.upper(), "0X" + a[2:], " " + a, a + "\n", a[:-1], a + "0", flipped]
    values += [None, float("nan"), 7, b"0x00", "", "0x", "0x" + "0" * 40, "0x" + "g" * 40, "0x" + "٠" * 40]
    assert list(eip55_flags(values)) == [is_checksummed(v) for v in values]


@pytest.mark.unit
def test_fixed_point_rendering_equals_fraction_str() -> None:
    rnd = random.Random(9)
    pairs = [(rnd.randint(0, 3 * d), d) for d in (rnd.randint(1, 10**9) for _ in range(20_000))]
    pairs += [(2 * k + 1, 2 * 10**8) for k in range(200)] + [(2 * k + 1, 2 * 10**6) for k in range(200)]
    num = np.array([p[0] for p in pairs], dtype=np.int64)
    den = np.array([p[1] for p in pairs], dtype=np.int64)
    for places in (6, 8):
        got = render._fixed_point(num, den, places)
        assert got is not None
        assert list(got) == [render.fraction_str(Fraction(n, d), places) for n, d in pairs]
    assert render._fixed_point(np.array([10**12]), np.array([3]), 8) is None  # could overflow int64
    scores = pd.Series(
        [Fraction(1, 3), None, Fraction(2, 3), float("nan"), Fraction(10**30, 7)], dtype=object
    )
    assert list(render._fraction_column(scores, 8)) == [
        render.fraction_str(v, 8) if isinstance(v, Fraction) else "" for v in scores
    ]
    uptime = pd.Series([0, 31 * 10**9, 15 * 10**9 + 1], dtype="int64")
    assert list(render._uptime_column(uptime, 31)) == [
        render.fraction_str(Fraction(int(v), 31 * 10**9), 6) for v in uptime
    ]


@pytest.mark.unit
def test_usd_column_keeps_each_representation() -> None:
    from payouts.money import format_usd

    values = pd.Series(
        [Decimal("20"), Decimal("20.0"), Decimal("-0"), Decimal("0"), Decimal("0.6615"), Decimal("5E+1")],
        dtype=object,
    )
    assert list(render._usd(values)) == [format_usd(v) for v in values]


@pytest.mark.unit
def test_csv_fast_path_gives_pandas_bytes_or_steps_aside() -> None:
    def reference(frame: pd.DataFrame) -> bytes:
        buf = io.StringIO()
        frame.to_csv(buf, index=False, lineterminator="\n")
        return buf.getvalue().encode("utf-8")

    plain = pd.DataFrame({"a": ["1", "", "é"], "b": ["x", "y", "0x00"]}, dtype=str)
    assert render._csv_bytes_unquoted(plain) == reference(plain)
    for cell in ("a,b", 'say "hi"', "two\nlines", "cr\r"):
        quoted = pd.DataFrame({"a": ["1", cell], "b": ["x", "y"]}, dtype=str)
        assert render._csv_bytes_unquoted(quoted) is None
        assert render.to_csv_bytes(quoted) == reference(quoted)
    for frame in (
        pd.DataFrame({"a": pd.Series([], dtype=str), "b": pd.Series([], dtype=str)}),
        pd.DataFrame({"a": [""]}, dtype=str),  # one column: an empty row is written as ""
    ):
        assert render._csv_bytes_unquoted(frame) is None
        assert render.to_csv_bytes(frame) == reference(frame)


@pytest.mark.unit
def test_js_string_fast_path_equals_json_stringify() -> None:
    rnd = random.Random(3)
    alphabet = [
        "a",
        "Z",
        "0",
        '"',
        "\\",
        "/",
        "\x00",
        "\x1f",
        "\x7f",
        " ",
        "\n",
        "\u2028",
        "é",
        "😀",
        "\ufeff",
    ]
    for _ in range(5_000):
        s = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 8)))
        assert txbuilder._js_string(s) == json.dumps(s, ensure_ascii=False)  # no surrogates here


def _random_rows(rng: np.random.Generator, n_nodes: int, days: int) -> pd.DataFrame:
    nodes = [a.lower() if i % 3 else a for i, a in enumerate(_addresses(n_nodes, 2))]
    ops = _addresses(4, 3)
    rows = []
    for i, node in enumerate(nodes):
        for d in rng.choice(days, size=rng.integers(1, days + 1), replace=False):
            rows.append(
                {
                    "source_row": len(rows) + 2,
                    "date": pd.Timestamp(2026, 10, 1) + pd.Timedelta(days=int(d)),
                    "node_address": node,
                    "operator_address": ops[(i + int(rng.random() < 0.1)) % 4],
                    "ping_ms": np.nan if rng.random() < 0.2 else float(rng.integers(1, 500)) / 10,
                    "global_ping_ms": np.nan if rng.random() < 0.5 else float(rng.integers(1, 900)),
                    "stake_pool": int(rng.integers(1, 4)),
                    "stake_cor": Decimal(int(rng.integers(3_000, 9_000))) / 10,
                    **{c: int(rng.integers(0, 10**6)) for c in engine._SUM_COLUMNS},
                }
            )
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=int(rng.integers(1 << 30)))
    frame["node_address"] = frame["node_address"].astype(str)
    frame["operator_address"] = frame["operator_address"].astype(str)
    frame["date"] = frame["date"].astype("datetime64[us]")
    return frame.reset_index(drop=True)


@pytest.mark.unit
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorized_aggregate_equals_groupby_reference(seed: int) -> None:
    rows = _random_rows(np.random.default_rng(seed), 40, 31)
    expected = engine._aggregate_grouped(rows)
    got = engine.aggregate(rows)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert [repr(v) for v in got["stake_cor"]] == [repr(v) for v in expected["stake_cor"]]
    empty = rows.iloc[:0]
    pd.testing.assert_frame_equal(engine.aggregate(empty), engine._aggregate_grouped(empty), check_exact=True)


def _as_categorical(rows: pd.DataFrame, *, order: str = "sorted", unused: bool = False) -> pd.DataFrame:
    out = rows.copy()
    for c in ("node_address", "operator_address"):
        cats = sorted(set(rows[c]))
        if order == "reversed":
            cats = cats[::-1]
        if unused:
            cats = [*cats, "0x" + "f" * 40]
        out[c] = pd.Categorical(rows[c], categories=pd.Index(cats, dtype="str"))
    return out


@pytest.mark.unit
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(("order", "unused"), [("sorted", False), ("reversed", False), ("sorted", True)])
def test_aggregate_of_categorical_addresses_equals_plain_strings(seed: int, order: str, unused: bool) -> None:
    """Validation hands the engine Categorical address columns (`schemas.inputs._address_column`):
    read off the codes when the categories are sorted and all used, factorized otherwise; the
    result is the same frame, with plain "str" columns and index, either way."""
    rows = _random_rows(np.random.default_rng(seed), 40, 31)
    expected = engine.aggregate(rows)
    cat_rows = _as_categorical(rows, order=order, unused=unused)
    assert (engine._sorted_codes(cat_rows["node_address"]) is not None) == (order == "sorted" and not unused)
    got = engine.aggregate(cat_rows)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert str(got.index.dtype) == "str" and str(got["operator_address"].dtype) == "str"


@pytest.mark.unit
def test_address_column_is_a_sorted_categorical_of_the_values() -> None:
    from schemas.inputs import _address_column

    values = ["0xB" + "1" * 39, "0xa" + "2" * 39, "0xB" + "1" * 39, "0xC" + "3" * 39, None]
    codes = np.array([3, 0, 2, 0, 1, 3], dtype=np.int64)  # value 2 repeats value 0; never None
    col = _address_column(values, codes)
    assert isinstance(col, pd.Categorical)
    assert list(col.categories) == sorted({values[i] for i in codes.tolist()})  # used ones, sorted
    assert [str(v) for v in col] == [values[i] for i in codes.tolist()]
    plain = _address_column(values, np.array([0, 4]))  # a missing value: plain strings
    assert str(plain.dtype) == "str" and plain.iloc[0] == values[0] and pd.isna(plain.iloc[1])


@pytest.mark.unit
@pytest.mark.parametrize("unit", ["D", "s", "us", "ns", "h"])
def test_node_date_order_equals_lexsort(unit: str) -> None:
    """The counting sort of (node, day) keys gives lexsort's order, and every case it cannot
    take (repeated keys, NaT, a time of day, another unit, a wide range) falls back to it."""
    rng = np.random.default_rng(9)
    start = np.datetime64("2026-10-01", unit)
    for n_codes, days, n, extra in [
        (50, 31, 1_000, "unique"),
        (7, 3, 21, "unique"),
        (1, 1, 1, "unique"),
        (40, 31, 600, "repeat"),
        (40, 31, 600, "nat"),
        (40, 31, 600, "time"),
        (5, 4000, 200, "unique"),  # a wide range: span above the bound
    ]:
        pairs = rng.permutation(n_codes * days)[: min(n, n_codes * days)]
        codes = (pairs // days).astype(np.intp)
        dates = start + (pairs % days).astype(f"timedelta64[{'D' if unit != 'h' else 'h'}]").astype(
            f"timedelta64[{unit}]"
        )
        if extra == "repeat":
            codes, dates = np.concatenate([codes, codes[:50]]), np.concatenate([dates, dates[:50]])
        elif extra == "nat":
            dates[::7] = np.datetime64("NaT")
        elif extra == "time" and unit != "D":
            dates[3] = dates[3] + np.timedelta64(1, unit)
        expected = np.lexsort((dates.astype("int64"), codes))
        fast = extra == "unique" and unit != "h" and days < 4000
        with pytest.MonkeyPatch.context() as patch:
            if fast:  # the counting sort must answer without lexsort
                patch.setattr(engine.np, "lexsort", lambda *_: pytest.fail("fell back to lexsort"))
            got = engine._node_date_order(codes, dates, n_codes)
        np.testing.assert_array_equal(got, expected)
