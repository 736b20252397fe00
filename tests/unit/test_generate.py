"""The synthetic month generator (bench.generate) and the committed example month."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from eth_utils import is_checksum_address

from bench.generate import (
    BAD_ROW_KINDS,
    METRICS_COLUMNS,
    REGISTRY_COLUMNS,
    format_fixed,
    generate_month,
    parse_period,
    period_dates,
    write_month,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = ROOT / "examples" / "2026-10"

SMALL = {"period": "2026-02", "operators": 60, "nodes": 300, "seed": 11}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def month_1k() -> tuple[pd.DataFrame, pd.DataFrame, float]:
    t0 = time.perf_counter()
    metrics, registry = generate_month(period="2026-10", operators=200, nodes=1000, seed=3)
    return metrics, registry, time.perf_counter() - t0


@pytest.fixture(scope="module")
def make_example():
    spec = importlib.util.spec_from_file_location("make_example", ROOT / "examples" / "make_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_identical_bytes(tmp_path: Path, fmt: str) -> None:
    for name in ("a", "b"):
        write_month(*generate_month(**SMALL), tmp_path / name, fmt=fmt)
    for file in (f"metrics.{fmt}", f"operators.{fmt}"):
        assert sha256(tmp_path / "a" / file) == sha256(tmp_path / "b" / file)


def test_different_seed_gives_different_files(tmp_path: Path) -> None:
    write_month(*generate_month(**SMALL), tmp_path / "a")
    write_month(*generate_month(**{**SMALL, "seed": 12}), tmp_path / "b")
    for file in ("metrics.csv", "operators.csv"):
        assert sha256(tmp_path / "a" / file) != sha256(tmp_path / "b" / file)


def test_csv_is_what_pandas_would_write(tmp_path: Path) -> None:
    metrics, registry = generate_month(**SMALL, bad_row_rate=0.01)
    m_path, r_path = write_month(metrics, registry, tmp_path)
    assert m_path.read_bytes() == metrics.to_csv(index=False, lineterminator="\n").encode()
    assert r_path.read_bytes() == registry.to_csv(index=False, lineterminator="\n").encode()
    assert b"\r" not in m_path.read_bytes() and b'"' not in m_path.read_bytes()


def test_parquet_round_trips_the_strings(tmp_path: Path) -> None:
    metrics, registry = generate_month(**SMALL)
    m_path, r_path = write_month(metrics, registry, tmp_path, fmt="parquet")
    back = pd.read_parquet(m_path)
    assert list(back.columns) == list(METRICS_COLUMNS)
    assert back.astype(str).equals(metrics.astype(str))
    assert pd.read_parquet(r_path).astype(str).equals(registry.astype(str))


# ----------------------------------------------------------------------------- shape and formats


def test_columns_exact_and_in_order(month_1k) -> None:
    metrics, registry, _ = month_1k
    assert tuple(metrics.columns) == METRICS_COLUMNS
    assert tuple(registry.columns) == REGISTRY_COLUMNS
    assert all(pd.api.types.is_string_dtype(metrics[c]) for c in metrics.columns)
    assert all(pd.api.types.is_string_dtype(registry[c]) for c in registry.columns)


def test_sizes(month_1k) -> None:
    metrics, registry, _ = month_1k
    assert len(registry) == 200
    assert metrics["node_address"].nunique() == 1000
    # ~2% missing days, plus nodes that joined / left during the month
    assert 0.85 * 31_000 < len(metrics) <= 31_000 + len(metrics.attrs["bad_rows"])


def test_addresses_are_eip55(month_1k) -> None:
    metrics, registry, _ = month_1k
    bad_checksum_rows = {b["row"] for b in metrics.attrs["bad_rows"] if b["kind"] == "bad_checksum"}
    good = metrics.drop(index=list(bad_checksum_rows))
    addresses = (
        set(good["node_address"])
        | set(good["operator_address"])
        | set(registry["operator_address"])
        | set(registry["payout_address"])
    )
    assert all(is_checksum_address(a) for a in addresses)
    for row in bad_checksum_rows:  # the injected ones are mixed case but fail the checksum
        addr = metrics.at[row, "operator_address"]
        assert re.fullmatch(r"0x[0-9a-fA-F]{40}", addr) and not is_checksum_address(addr)
    assert set(good["operator_address"]) <= set(registry["operator_address"])


def test_dates_inside_the_period(month_1k) -> None:
    metrics, _, _ = month_1k
    assert set(metrics["date"]) <= set(period_dates("2026-10"))
    assert metrics["date"].is_monotonic_increasing  # a daily export
    assert period_dates("2024-02")[-1] == "2024-02-29" and parse_period("2026-10") == (2026, 10, 31)


def test_one_row_per_node_and_date_except_injected_duplicates(month_1k) -> None:
    metrics, _, _ = month_1k
    dup = metrics.duplicated(["date", "node_address"])
    expected = {b["row"] for b in metrics.attrs["bad_rows"] if b["kind"] == "duplicate_row"}
    assert set(metrics.index[dup]) == expected


def test_value_formats(month_1k) -> None:
    metrics, registry, _ = month_1k
    plain = r"\d+\.\d{1,6}"
    for col in ("uptime_ratio", "response_rate", "throughput_tph", "ping_ms", "global_ping_ms"):
        values = metrics[col][metrics[col] != ""]
        assert values.str.fullmatch(plain).all(), col
    assert metrics["stake_cor"].str.fullmatch(r"\d+(\.\d{1,6})?").all()
    assert not metrics["stake_cor"].str.fullmatch(r".*\.\d*0").any()  # no trailing zeros
    for col in METRICS_COLUMNS[8:19]:
        assert metrics[col].str.fullmatch(r"\d+").all(), col
    assert (metrics["ping_ms"] == "").any() and (metrics["global_ping_ms"] == "").any()
    assert registry["preapproved"].isin(["true", "false"]).all()
    assert registry["disqualified"].isin(["true", "false"]).all()
    assert registry["bug_points"].str.fullmatch(r"\d+").all()
    roles = registry["roles"].str.split(";").explode()
    assert set(roles) <= {"", "miner", "oracle", "verifier"}


def test_realistic_distributions(month_1k) -> None:
    metrics, registry, _ = month_1k
    per_op = metrics.groupby("operator_address")["node_address"].nunique()
    per_op = per_op[per_op.index.isin(registry["operator_address"])]
    assert (per_op <= 3).mean() > 0.5 and (per_op > 25).any()
    up = metrics["uptime_ratio"].astype(float)
    assert ((up >= 0.93) & (up <= 1.0)).mean() > 0.85
    node_uptime = metrics.groupby("node_address")["uptime_ratio"].agg(lambda s: s.astype(float).sum()) / 31
    assert 0.02 < (node_uptime < 0.9).mean() < 0.3
    tasks = metrics.groupby("node_address")["tasks_completed"].agg(lambda s: s.astype(int).sum())
    assert (tasks == 0).any()
    last = metrics.drop_duplicates("node_address", keep="last")
    low_stake = (last["stake_pool"] != "3") | (last["stake_cor"].astype(float) < 4000)
    assert 0.01 < low_stake.mean() < 0.3
    assert (metrics["stake_cor"] == "4000").any()
    assert (registry["preapproved"] == "true").any() and (registry["disqualified"] == "true").any()
    assert (registry["bug_points"] != "0").any() and (registry["bug_points"] == "0").mean() > 0.8
    assert (registry["payout_address"].value_counts() > 1).any()


def test_bad_rows_are_reported_and_bad(tmp_path: Path) -> None:
    metrics, _ = generate_month(**SMALL, bad_row_rate=0.01)
    report = pd.DataFrame(metrics.attrs["bad_rows"])
    assert set(report["kind"]) == set(BAD_ROW_KINDS)
    for b in metrics.attrs["bad_rows"]:
        row = metrics.loc[b["row"]]
        assert row["node_address"] == b["node_address"]
        kind = b["kind"]
        if kind == "uptime_out_of_range":
            assert float(row["uptime_ratio"]) > 1
        elif kind == "accurate_gt_completed":
            assert int(row["tasks_accurate"]) > int(row["tasks_completed"])
        elif kind == "empty_response_rate":
            assert row["response_rate"] == ""
        elif kind == "sm_ok_gt_total":
            assert int(row["sm_commit_ok"]) > int(row["sm_commit_total"])
        elif kind == "duplicate_row":
            assert metrics.loc[b["row"] - 1].equals(row)
        elif kind == "bad_checksum":
            assert not is_checksum_address(row["operator_address"])
        elif kind == "zero_ping":
            assert row["ping_ms"] == "0.0"
        elif kind == "zero_stake_pool":
            assert row["stake_pool"] == "0"
    clean, _ = generate_month(**SMALL, bad_row_rate=0.0)
    assert clean.attrs["bad_rows"] == [] and not clean.duplicated(["date", "node_address"]).any()


def test_1k_node_month_is_fast(month_1k) -> None:
    _, _, seconds = month_1k
    assert seconds < 10.0


def test_argument_checks() -> None:
    with pytest.raises(ValueError, match="nodes"):
        generate_month(period="2026-10", operators=10, nodes=5, seed=1)
    with pytest.raises(ValueError, match="YYYY-MM"):
        generate_month(period="2026-13", operators=1, nodes=1, seed=1)
    metrics, registry = generate_month(period="2026-10", operators=1, nodes=1, seed=1)
    assert len(registry) == 1 and metrics["node_address"].nunique() == 1


def test_format_fixed() -> None:
    out = format_fixed([0, 1_000_000, 4_000_000_000, 5_123_500_000, 3_999_999_999, 1, -1_500_000], 6)
    assert out.to_pylist() == ["0", "1", "4000", "5123.5", "3999.999999", "0.000001", "-1.5"]
    out = format_fixed([0, 10_000, 9_876], 4, min_decimals=1)
    assert out.to_pylist() == ["0.0", "1.0", "0.9876"]


# ----------------------------------------------------------------------------- the example month


def test_example_files_are_what_make_example_generates(tmp_path: Path, make_example) -> None:
    make_example.build(tmp_path)
    for name in ("metrics.csv", "operators.csv", "README.md"):
        assert sha256(tmp_path / name) == sha256(EXAMPLE_DIR / name), (
            f"examples/2026-10/{name} differs from what examples/make_example.py generates: "
            "run `python -m examples.make_example` and commit the result"
        )


def test_example_run_toml() -> None:
    run = tomllib.loads((EXAMPLE_DIR / "run.toml").read_text(encoding="utf-8"))
    assert run["period"] == "2026-10"
    assert run["metrics"] == "metrics.csv" and run["operators"] == "operators.csv"
    assert run["price"] == "0.0215"
    assert run["price_source"] == "example: fixed illustrative price, not a market quote"


def test_example_contents() -> None:
    metrics = pd.read_csv(EXAMPLE_DIR / "metrics.csv", dtype=str, keep_default_na=False)
    registry = pd.read_csv(EXAMPLE_DIR / "operators.csv", dtype=str, keep_default_na=False)
    assert tuple(metrics.columns) == METRICS_COLUMNS and tuple(registry.columns) == REGISTRY_COLUMNS
    assert (EXAMPLE_DIR / "metrics.csv").stat().st_size < 4_000_000
    assert len(registry) >= 100
    assert metrics["node_address"].str.lower().nunique() >= 600
    assert set(metrics["date"]) == set(period_dates("2026-10"))
    assert metrics.duplicated(["date", "node_address"]).sum() >= 1
    assert (registry["payout_address"].value_counts() >= 2).sum() >= 2  # at least two shared wallets
    per_op = metrics.groupby("operator_address")["node_address"].nunique()
    assert per_op.max() >= 30
    assert (registry["disqualified"] == "true").any() and (registry["preapproved"] == "true").any()
    assert not set(metrics["operator_address"]) <= set(registry["operator_address"])  # unknown + bad checksum
    assert (metrics["uptime_ratio"] == "1.7").sum() == 1
    assert {"miner", "oracle", "verifier", "miner;oracle", "miner;oracle;verifier"} <= set(registry["roles"])
