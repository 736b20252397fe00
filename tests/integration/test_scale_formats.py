"""A generated month validates, and CSV and Parquet inputs of the same data give identical outputs.

The issue asks for this on the 100k-node month (3.1M rows). Two full runs of that size take far
longer than a test should (see docs/performance.md), so the suite runs it at NODES nodes - the
largest size that keeps this test near 45 s on the 2-core reference machine - and the full
100k-node check is `python -m bench.run --sizes 100000 --check-formats` (its result is recorded in
bench/results/).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run as bench

pytestmark = pytest.mark.integration

#: nodes x 31 days; operators = nodes / 5 (bench.run's shape)
NODES = 10_000


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    work = tmp_path_factory.mktemp("formats")
    return bench.check_formats(NODES, work), work


def test_generated_month_validates_and_runs(checked: tuple[dict, Path]) -> None:
    res, work = checked
    assert res["rows"] > 29 * NODES  # ~31 days per node, a few missing
    folder = work / "out-csv" / bench.PERIOD
    manifest = json.loads((folder / "manifest.json").read_bytes())
    totals = manifest["totals"]
    assert totals["nodes"] == NODES
    assert 0 < totals["eligible_nodes"] < NODES
    # the generator injects a few bad rows: each is rejected (a finding), never paid or fatal
    assert 0 < totals["rejected_rows"] < res["rows"] // 1000
    assert res["transfers"] == totals["transfers"] > 0
    assert len(manifest["batches"]) == -(-res["transfers"] // manifest["batch_size"])


def test_csv_and_parquet_inputs_give_identical_outputs(checked: tuple[dict, Path]) -> None:
    res, work = checked
    assert res["identical"], res["problems"]
    a, b = work / "out-csv" / bench.PERIOD, work / "out-parquet" / bench.PERIOD
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert "node_rewards.csv" in names and "batches/batch-001.json" in names
    for name in names:
        if name != "manifest.json":
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ma, mb = json.loads((a / "manifest.json").read_bytes()), json.loads((b / "manifest.json").read_bytes())
    assert [i["sha256"] for i in ma["inputs"]] != [i["sha256"] for i in mb["inputs"]]  # the files differ
    for m in (ma, mb):
        for i in m["inputs"]:
            del i["sha256"]
    assert ma == mb  # everything else, input names and row counts included
