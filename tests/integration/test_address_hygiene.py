"""Address hygiene: never pay the Safe or the token; flag a payout address that changed."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from flows.chain_config import ChainOptions
from flows.pipeline import RunRequest, run_without_prefect
from flows.verify import verify_period
from payouts.period import Period
from tests.builders import addr, csv_bytes, metrics_frame, node_rows, operator_row, registry_frame

pytestmark = pytest.mark.integration

SAFE = addr("x", 1)
TOKEN = addr("x", 2)


def _month(folder: Path, period: Period, payouts: dict[int, str]) -> tuple[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [r for i in payouts for r in node_rows(addr("n", i), addr("o", i), period=period)]
    (folder / "metrics.csv").write_bytes(csv_bytes(metrics_frame(rows)))
    reg = [operator_row(addr("o", i), payout) for i, payout in payouts.items()]
    (folder / "operators.csv").write_bytes(csv_bytes(registry_frame(reg)))
    return str(folder / "metrics.csv"), str(folder / "operators.csv")


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def _req(m: str, o: str, period: str, out: Path) -> RunRequest:
    return RunRequest(
        period=period,
        metrics=m,
        operators=o,
        price="0.02",
        out=out,
        chain=ChainOptions(chain_id=42161, safe=SAFE, token=TOKEN, safe_nonce=0),
    )


def test_safe_and_token_payouts_are_held_and_a_changed_address_is_flagged(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # October: operator 1 pays to the Safe, operator 2 to the token, operator 3 to its own wallet.
    m, o = _month(tmp_path / "oct", Period(2026, 10), {1: SAFE, 2: TOKEN, 3: addr("p", 3)})
    folder, _, _ = run_without_prefect(_req(m, o, "2026-10", out))
    ops = {r["operator_address"]: r for r in _rows(folder / "operator_payouts.csv")}
    assert ops[addr("o", 1)]["held_reason"] == "payout_is_safe"
    assert ops[addr("o", 2)]["held_reason"] == "payout_is_token"
    assert ops[addr("o", 3)]["held_reason"] == ""
    assert {r["payout_address_changed"] for r in ops.values()} == {"false"}
    transfers = _rows(folder / "transfers.csv")
    assert [t["payout_address"] for t in transfers] == [addr("p", 3)]  # only the clean one is paid
    assert transfers[0]["total_usd"] == ops[addr("o", 3)]["total_usd"]
    # November: operator 3 moved to a new wallet -> flagged, with the old address beside it.
    m, o = _month(tmp_path / "nov", Period(2026, 11), {1: addr("p", 1), 2: addr("p", 2), 3: addr("p", 33)})
    folder, _, _ = run_without_prefect(_req(m, o, "2026-11", out))
    ops = {r["operator_address"]: r for r in _rows(folder / "operator_payouts.csv")}
    assert ops[addr("o", 3)]["payout_address_changed"] == "true"
    assert ops[addr("o", 3)]["previous_payout_address"] == addr("p", 3)
    assert ops[addr("o", 1)]["payout_address_changed"] == "true"  # it was the Safe in October
    assert _rows(folder / "previous_payout_addresses.csv") == [
        {"operator_address": addr("o", 1), "payout_address": SAFE},
        {"operator_address": addr("o", 2), "payout_address": TOKEN},
        {"operator_address": addr("o", 3), "payout_address": addr("p", 3)},
    ]
    # recomputable without the ledger: verify reads the recorded previous addresses
    assert verify_period(folder) == []
