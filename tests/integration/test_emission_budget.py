"""The emission budget: allocation and monthly cap, accounted across periods through the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.pipeline import RunRequest, run_without_prefect
from payouts.errors import InputError
from payouts.period import Period
from tests.builders import REPO, addr, csv_bytes, metrics_frame, node_rows, operator_row, registry_frame

pytestmark = pytest.mark.integration


def _month(tmp: Path, period: Period) -> tuple[str, str]:
    """One operator, one healthy node: 20 USD base + 50 USD rank slot 1 = 70 USD -> 3500 COR at 0.02."""
    folder = tmp / str(period)
    folder.mkdir(parents=True, exist_ok=True)
    rows = node_rows(addr("n", 1), addr("o", 1), period=period)
    (folder / "metrics.csv").write_bytes(csv_bytes(metrics_frame(rows)))
    (folder / "operators.csv").write_bytes(csv_bytes(registry_frame([operator_row(addr("o", 1))])))
    return str(folder / "metrics.csv"), str(folder / "operators.csv")


def _policy(tmp: Path, emission: str) -> str:
    path = tmp / "budget.toml"
    path.write_text((REPO / "policies/phase3.toml").read_text() + "\n[emission]\n" + emission + "\n")
    return str(path)


def _req(tmp: Path, period: Period, policy: str) -> RunRequest:
    metrics, operators = _month(tmp, period)
    return RunRequest(
        period=str(period), metrics=metrics, operators=operators, price="0.02", policy=policy, out=tmp / "out"
    )


def test_allocation_is_accounted_across_periods_and_exhaustion_refuses(tmp_path: Path) -> None:
    policy = _policy(tmp_path, 'allocation_cor = "5000"')
    folder, _, _ = run_without_prefect(_req(tmp_path, Period(2026, 10), policy))
    emission = json.loads((folder / "manifest.json").read_text())["emission"]
    assert emission == {
        "allocation_cor": "5000",
        "monthly_cap_cor": None,
        "this_run_cor": "3500",
        "period_total_cor": "3500",
        "other_periods_wei": "0",
        "cumulative_cor": "3500",
        "remaining_cor": "1500",
    }
    with pytest.raises(InputError) as err:
        run_without_prefect(_req(tmp_path, Period(2026, 11), policy))
    assert (
        "this run pays 3500 COR but only 1500 COR remain of the miner-incentive allocation of 5000 COR "
        "(3500 COR already emitted)" in str(err.value)
    )
    assert not (tmp_path / "out" / "2026-11").exists()


def test_second_period_reports_the_cumulative_total(tmp_path: Path) -> None:
    policy = _policy(tmp_path, 'allocation_cor = "10000"')
    run_without_prefect(_req(tmp_path, Period(2026, 10), policy))
    folder, _, _ = run_without_prefect(_req(tmp_path, Period(2026, 11), policy))
    emission = json.loads((folder / "manifest.json").read_text())["emission"]
    # month 2: the node is not new and the operator has 1 node: 20 + 50 = 70 USD again
    assert emission["this_run_cor"] == "3500"
    assert emission["other_periods_wei"] == str(3500 * 10**18)
    assert emission["cumulative_cor"] == "7000"
    assert emission["remaining_cor"] == "3000"


def test_monthly_cap_refuses_with_both_figures(tmp_path: Path) -> None:
    policy = _policy(tmp_path, 'allocation_cor = "1000000"\nmonthly_cap_cor = "3000"')
    with pytest.raises(InputError) as err:
        run_without_prefect(_req(tmp_path, Period(2026, 10), policy))
    assert (
        "this run would bring the period's emission to 3500 COR, above the monthly emission cap of 3000 COR"
        in str(err.value)
    )
    assert not (tmp_path / "out" / "2026-10").exists()
