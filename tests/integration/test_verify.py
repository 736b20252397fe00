"""`payouts verify`: an auditor recomputes a period and finds every tampering, with its location."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flows.chain_config import ChainOptions
from flows.pipeline import RunRequest, run_without_prefect
from tests.cli import run_cli
from tests.conftest import REPO

pytestmark = pytest.mark.integration

EXAMPLE = REPO / "examples" / "2026-10"
SAFE = "0x175fF7e28908933157B7701B3799BB3eD52cABb8"
TOKEN = "0x75b757d248DC620895eA7ed54888327891787543"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A computed period (inputs copied beside it), never modified: tests copy it."""
    root = tmp_path_factory.mktemp("verify")
    for name in ("metrics.csv", "operators.csv"):
        shutil.copy(EXAMPLE / name, root / name)
    req = RunRequest(
        period="2026-10",
        metrics="metrics.csv",
        operators="operators.csv",
        price="0.0215",
        price_source="test",
        out=root / "out",
        base_dir=root,
        chain=ChainOptions(network="arbitrum-sepolia", safe=SAFE, token=TOKEN, safe_nonce=3),
    )
    run_without_prefect(req)
    return root


@pytest.fixture
def run_dir(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "r")
    return tmp_path / "r"


def _verify(capsys, root: Path):
    return run_cli(capsys, "verify", str(root / "out" / "2026-10"), "--inputs-dir", str(root))


def test_untouched_output_verifies(run_dir: Path, capsys) -> None:
    res = _verify(capsys, run_dir)
    assert res.code == 0, res.out + res.err
    assert "every output file is identical" in res.out


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


def test_changed_amount_is_located(run_dir: Path, capsys) -> None:
    transfers = run_dir / "out/2026-10/transfers.csv"
    line3 = transfers.read_text().split("\n")[2]
    wei = line3.split(",")[-1]
    _edit(transfers, line3, line3[: -len(wei)] + str(int(wei) + 1))
    res = _verify(capsys, run_dir)
    assert res.code == 1
    assert f"transfers.csv: row 3, column amount_wei: expected '{wei}', found '{int(wei) + 1}'" in res.out


def test_changed_address_is_located(run_dir: Path, capsys) -> None:
    ops = run_dir / "out/2026-10/operator_payouts.csv"
    row = ops.read_text().split("\n")[4]
    payout = row.split(",")[2]
    other = "0x" + "1" * 40
    _edit(ops, row, row.replace(payout, other))
    res = _verify(capsys, run_dir)
    assert res.code == 1
    where = "operator_payouts.csv: row 5, column payout_address"
    assert f"{where}: expected '{payout}', found '{other}'" in res.out


def test_changed_batch_checksum_is_located(run_dir: Path, capsys) -> None:
    batch = run_dir / "out/2026-10/batches/batch-001.json"
    checksum = json.loads(batch.read_text())["meta"]["checksum"]
    forged = checksum[:-4] + "beef"
    _edit(batch, checksum, forged)
    res = _verify(capsys, run_dir)
    assert res.code == 1
    assert (
        f"batches/batch-001.json: row meta.checksum, column (value): expected '\"{checksum}\"', "
        f"found '\"{forged}\"'" in res.out
    )


def test_removed_row_is_located(run_dir: Path, capsys) -> None:
    nodes = run_dir / "out/2026-10/node_rewards.csv"
    lines = nodes.read_text().split("\n")
    last = lines[-2]
    nodes.write_text("\n".join([*lines[:-2], ""]))
    res = _verify(capsys, run_dir)
    assert res.code == 1
    where = f"node_rewards.csv: row {len(lines) - 1}, column (row)"
    assert f"{where}: expected '{last}', found '(missing)'" in res.out


def test_changed_input_exits_2(run_dir: Path, capsys) -> None:
    _edit(run_dir / "operators.csv", "false", "true")
    res = _verify(capsys, run_dir)
    assert res.code == 2
    assert "input operators.csv changed" in res.err


def test_missing_input_exits_2(run_dir: Path, capsys) -> None:
    (run_dir / "metrics.csv").unlink()
    res = _verify(capsys, run_dir)
    assert res.code == 2
    assert "metrics.csv" in res.err and "missing" in res.err


def test_old_month_verifies_after_the_policy_moved_on(
    run_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """phase3.toml gets a new version; the old one is kept as phase3-v1.toml and found by its hash."""
    import flows.pipeline as pipeline

    policies = tmp_path / "policies"
    policies.mkdir()
    original = (REPO / "policies" / "phase3.toml").read_text()
    (policies / "phase3-v1.toml").write_text(original)
    (policies / "phase3.toml").write_text(
        original.replace('version = "1"', 'version = "2"').replace('base_usd = "20"', 'base_usd = "25"')
    )
    monkeypatch.setattr(pipeline, "POLICY_DIR", policies)
    assert _verify(capsys, run_dir).code == 0
    (policies / "phase3-v1.toml").unlink()
    res = _verify(capsys, run_dir)
    assert res.code == 2 and "no policy file has the recorded SHA-256" in res.err


def test_native_period_is_not_reconciled_by_erc20_logs(tmp_path: Path) -> None:
    from flows.ledger import Ledger
    from flows.reconcile import reconcile_period
    from payouts.errors import InputError

    for name in ("metrics.csv", "operators.csv"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    req = RunRequest(
        period="2026-10",
        metrics="metrics.csv",
        operators="operators.csv",
        price="0.0215",
        out=tmp_path / "out",
        base_dir=tmp_path,
        chain=ChainOptions(chain_id=424242, safe=SAFE, currency="native", multisend=TOKEN),
    )
    run_without_prefect(req)
    with Ledger.open(tmp_path / "out" / "ledger.sqlite") as led, pytest.raises(InputError) as err:
        reconcile_period(led, None, "2026-10")  # type: ignore[arg-type]  # refused before any RPC call
    assert "paid in the chain's native currency" in str(err.value)
