"""--history: months paid before the ledger existed decide which nodes are new."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from flows.pipeline import RunRequest, run_without_prefect
from payouts.errors import InputError
from payouts.period import Period
from tests.builders import addr, csv_bytes, metrics_frame, node_rows, operator_row, registry_frame

pytestmark = pytest.mark.integration


def _write_month(folder: Path, period: Period, nodes: range) -> tuple[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [r for i in nodes for r in node_rows(addr("n", i), addr("o", 1), period=period)]
    (folder / "metrics.csv").write_bytes(csv_bytes(metrics_frame(rows)))
    (folder / "operators.csv").write_bytes(csv_bytes(registry_frame([operator_row(addr("o", 1))])))
    return str(folder / "metrics.csv"), str(folder / "operators.csv")


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_history_file_marks_earlier_nodes_not_new(tmp_path: Path) -> None:
    # October (paid elsewhere, before the ledger): nodes 0-2 eligible.
    m, o = _write_month(tmp_path / "oct", Period(2026, 10), range(3))
    oct_folder, _, _ = run_without_prefect(
        RunRequest(period="2026-10", metrics=m, operators=o, price="0.02", out=tmp_path / "old")
    )
    # November, in a fresh ledger, 5 nodes: 3 known from October's node_rewards.csv, 2 new.
    m, o = _write_month(tmp_path / "nov", Period(2026, 11), range(5))
    req = RunRequest(
        period="2026-11",
        metrics=m,
        operators=o,
        price="0.02",
        out=tmp_path / "new",
        history=(str(oct_folder / "node_rewards.csv"),),
    )
    folder, _, _ = run_without_prefect(req)
    nodes = {r["node_address"]: r for r in _rows(folder / "node_rewards.csv")}
    assert [nodes[addr("n", i)]["is_new"] for i in range(5)] == ["false"] * 3 + ["true"] * 2
    # k = 5 eligible nodes -> 20% multi-node bonus, on the 2 new nodes only: 2 x 4.00
    assert [nodes[addr("n", i)]["multi_node_bonus_usd"] for i in range(5)] == ["0.00"] * 3 + ["4.00"] * 2
    (operator,) = _rows(folder / "operator_payouts.csv")
    assert operator["multi_node_bonus_usd"] == "8.00"
    prior = _rows(folder / "prior_eligibility.csv")
    assert prior == [{"node_address": addr("n", i), "first_eligible_period": "2026-10"} for i in range(3)]
    # the import is recorded: a rerun without --history keeps the same answer (same ledger)
    again = RunRequest(period="2026-11", metrics=m, operators=o, price="0.02", out=tmp_path / "new")
    with pytest.raises(InputError):  # different inputs (no history file) -> refused, not silently re-paid
        run_without_prefect(again)


def test_history_of_the_same_or_a_later_period_is_refused(tmp_path: Path) -> None:
    m, o = _write_month(tmp_path / "oct", Period(2026, 10), range(3))
    first, _, _ = run_without_prefect(
        RunRequest(period="2026-10", metrics=m, operators=o, price="0.02", out=tmp_path / "a")
    )
    with pytest.raises(InputError) as err:
        run_without_prefect(
            RunRequest(
                period="2026-10",
                metrics=m,
                operators=o,
                price="0.02",
                out=tmp_path / "b",
                history=(str(first / "node_rewards.csv"),),
            )
        )
    assert "--history covers period(s) ['2026-10'], not before the period 2026-10" in str(err.value)
    assert not (tmp_path / "b" / "2026-10").exists()
