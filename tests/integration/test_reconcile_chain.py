"""Reconcile against a real Safe on the in-process chain: batches executed, skipped, short, extra."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from flows.ledger import Ledger, RunMeta, TransferRecord, run_key
from flows.reconcile import read_transfers, reconcile_period
from payouts.deltas import assign_batches
from payouts.errors import InputError
from payouts.reconcile import MISSING, OVER, PAID, SHORT, UNEXPECTED
from tests.builders import run_meta
from tests.support.chain import MULTISEND_CALL_ONLY_141, LocalChain, start_chain

pytestmark = pytest.mark.integration

PERIOD = "2026-10"
COR = 10**18
TRANSFER_METHOD: dict[str, Any] = {
    "inputs": [
        {"internalType": "address", "name": "to", "type": "address"},
        {"internalType": "uint256", "name": "value", "type": "uint256"},
    ],
    "name": "transfer",
    "payable": False,
}


def recipient(i: int) -> ChecksumAddress:
    return to_checksum_address(keccak(text=f"reconcile-recipient-{i}")[-20:])


# Five payout addresses in two batches (3 + 2), by lowercase address as the pipeline orders them.
OWED = {recipient(i): (i + 1) * COR + i for i in range(5)}
BATCHES = assign_batches(OWED, 3)
BATCH_OF = {address: batch for batch, address, _ in BATCHES}


def batch_file(chain: LocalChain, safe: str, amounts: dict[str, int]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "chainId": str(chain.chain_id),
        "createdAt": 1764547200000,
        "meta": {
            "name": f"COR payout {PERIOD}",
            "description": "",
            "txBuilderVersion": "1.18.3",
            "createdFromSafeAddress": safe,
            "createdFromOwnerAddress": "",
            "checksum": "0xnot-checked-here",
        },
        "transactions": [
            {
                "to": chain.token,
                "value": "0",
                "data": None,
                "contractMethod": copy.deepcopy(TRANSFER_METHOD),
                "contractInputsValues": {"to": to, "value": str(amount)},
            }
            for to, amount in amounts.items()
        ],
    }


def file_bytes(batch: dict[str, Any]) -> bytes:
    return (json.dumps(batch, indent=2) + "\n").encode()


@pytest.fixture(scope="module")
def chain() -> LocalChain:
    return start_chain()


@pytest.fixture(scope="module")
def safe(chain: LocalChain) -> ChecksumAddress:
    address = chain.create_safe(threshold=2)
    chain.fund_erc20(address, 1_000 * COR)
    return address


@pytest.fixture(autouse=True)
def isolated(chain: LocalChain, safe: ChecksumAddress) -> Iterator[None]:
    snap = chain.snapshot()
    yield
    chain.revert(snap)


@pytest.fixture
def files(chain: LocalChain, safe: ChecksumAddress) -> dict[int, dict[str, Any]]:
    """The emitted batch files, batch number -> Transaction Builder JSON."""
    by_batch: dict[int, dict[str, int]] = {}
    for batch, address, wei in BATCHES:
        by_batch.setdefault(batch, {})[address] = wei
    return {b: batch_file(chain, safe, amounts) for b, amounts in by_batch.items()}


@pytest.fixture
def ledger(
    tmp_path: Path, chain: LocalChain, safe: ChecksumAddress, files: dict[int, dict]
) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite") as opened:
        key = run_key(policy_sha256="0" * 64, inputs=[("metrics", "1" * 64)], price="0.02")
        plan = opened.plan_emission(PERIOD, key, OWED)
        outputs = {f"batch-{b}.json": hashlib.sha256(file_bytes(f)).hexdigest() for b, f in files.items()}
        meta = run_meta(
            outputs,
            chain_id=chain.chain_id,
            safe_address=safe,
            token_address=chain.token,
        )
        transfers = [
            TransferRecord(a, w, b, f"batch-{b}.json", outputs[f"batch-{b}.json"]) for b, a, w in BATCHES
        ]
        opened.emit(plan, meta, transfers)
        yield opened


def execute(chain: LocalChain, safe: str, batch: dict[str, Any]) -> str:
    result = chain.execute_batch_file(
        batch, safe=safe, nonce=chain.safe_nonce(safe), multisend=MULTISEND_CALL_ONLY_141
    )
    assert result.status == 1
    return result.tx_hash


def statuses(rows: Any) -> dict[str, str]:
    return {r.payout_address: r.status for r in rows}


def test_all_batches_executed_reconcile_all_paid(
    chain: LocalChain, safe: ChecksumAddress, ledger: Ledger, files: dict[int, dict], tmp_path: Path
) -> None:
    start = chain.w3.eth.block_number
    tx = {b: execute(chain, safe, f) for b, f in files.items()}
    out = tmp_path / "out" / PERIOD / "reconciliation.csv"

    result = reconcile_period(ledger, chain.w3, PERIOD, from_block=start, out_path=out)

    assert result.all_paid and statuses(result.rows) == dict.fromkeys(OWED, PAID)
    expected_csv = "period,payout_address,expected_wei,paid_wei,status,tx_hashes\n" + "".join(
        f"{PERIOD},{a},{w},{w},paid,{tx[b]}\n" for b, a, w in sorted(BATCHES, key=lambda r: r[1].lower())
    )
    assert out.read_bytes() == result.csv == expected_csv.encode()
    assert result.marked.marked == 5 and result.marked.runs_executed == (1,)
    assert {t.payout_address: t.tx_hash for t in ledger.transfers(PERIOD)} == {
        a: tx[BATCH_OF[a]] for a in OWED
    }
    assert ledger.active_run(PERIOD).status == "executed"  # type: ignore[union-attr]

    again = reconcile_period(ledger, chain.w3, PERIOD, from_block=start, max_blocks=1)  # chunked reads
    assert again.csv == result.csv and again.marked.marked == 0


def test_only_some_batches_executed_leaves_the_rest_missing(
    chain: LocalChain, safe: ChecksumAddress, ledger: Ledger, files: dict[int, dict]
) -> None:
    execute(chain, safe, files[1])

    result = reconcile_period(ledger, chain.w3, PERIOD)

    assert not result.all_paid
    assert statuses(result.rows) == {a: PAID if BATCH_OF[a] == 1 else MISSING for a in OWED}
    missing = [r for r in result.rows if r.status == MISSING]
    assert all(r.paid_wei == 0 and r.tx_hashes == () for r in missing) and len(missing) == 2
    assert result.marked.marked == 3 and result.marked.runs_executed == ()
    assert ledger.active_run(PERIOD).status == "emitted"  # type: ignore[union-attr]

    execute(chain, safe, files[2])  # the rest lands later
    later = reconcile_period(ledger, chain.w3, PERIOD)
    assert later.all_paid and later.marked.marked == 2 and later.marked.runs_executed == (1,)


def test_an_extra_transfer_from_the_safe_is_unexpected(
    chain: LocalChain, safe: ChecksumAddress, ledger: Ledger, files: dict[int, dict]
) -> None:
    for f in files.values():
        execute(chain, safe, f)
    stranger = recipient(99)
    extra = chain.transfer_erc20_from_safe(safe, stranger, 3 * COR)

    result = reconcile_period(ledger, chain.w3, PERIOD)

    assert statuses(result.rows) == {**dict.fromkeys(OWED, PAID), stranger: UNEXPECTED}
    row = next(r for r in result.rows if r.payout_address == stranger)
    assert (row.expected_wei, row.paid_wei, row.tx_hashes) == (0, 3 * COR, (extra.tx_hash,))
    assert not result.all_paid
    assert f"{PERIOD},{stranger},0,{3 * COR},unexpected,{extra.tx_hash}\n".encode() in result.csv


def test_a_short_transfer_is_short_and_not_marked_executed(
    chain: LocalChain, safe: ChecksumAddress, ledger: Ledger, files: dict[int, dict]
) -> None:
    shorted = {a: w for b, a, w in BATCHES if b == 2}
    victim = sorted(shorted, key=str.lower)[0]
    edited = batch_file(chain, safe, {a: (w - 10**17 if a == victim else w) for a, w in shorted.items()})
    execute(chain, safe, files[1])
    execute(chain, safe, edited)

    result = reconcile_period(ledger, chain.w3, PERIOD)

    assert statuses(result.rows) == {a: SHORT if a == victim else PAID for a in OWED}
    row = next(r for r in result.rows if r.payout_address == victim)
    assert (row.expected_wei, row.paid_wei) == (OWED[victim], OWED[victim] - 10**17)
    assert result.marked.marked == 4
    assert [t.payout_address for t in ledger.transfers(PERIOD) if t.tx_hash is None] == [victim]


def test_a_second_payment_to_an_expected_address_is_over(
    chain: LocalChain, safe: ChecksumAddress, ledger: Ledger, files: dict[int, dict]
) -> None:
    for f in files.values():
        execute(chain, safe, f)
    twice = next(iter(OWED))
    chain.transfer_erc20_from_safe(safe, twice, 1)

    result = reconcile_period(ledger, chain.w3, PERIOD)

    assert statuses(result.rows) == {a: OVER if a == twice else PAID for a in OWED}
    assert result.marked.marked == 5  # the batch transfer itself did execute


def test_block_range_and_sender_filter(
    chain: LocalChain, safe: ChecksumAddress, files: dict[int, dict]
) -> None:
    before = chain.w3.eth.block_number
    execute(chain, safe, files[1])
    chain.fund_erc20(recipient(50), 7)  # a Transfer from the deployer, not from the Safe
    after = chain.w3.eth.block_number

    inside = read_transfers(chain.w3, chain.token, safe, before + 1, after)
    assert [(t.to, t.amount_wei) for t in inside] == [(a, w) for b, a, w in BATCHES if b == 1]
    assert [t.log_index for t in inside] == sorted(t.log_index for t in inside)
    assert read_transfers(chain.w3, chain.token, safe, after, after) == []
    assert read_transfers(chain.w3, chain.token, safe, 0, "latest", max_blocks=2) == inside
    with pytest.raises(InputError, match="is empty"):
        read_transfers(chain.w3, chain.token, safe, after + 1, after)


def test_reconcile_refuses_another_chain_and_an_unknown_period(chain: LocalChain, tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "other.sqlite") as other:
        with pytest.raises(InputError, match="no run for period"):
            reconcile_period(other, chain.w3, PERIOD)
        key = run_key(policy_sha256="0" * 64, inputs=[], price="1")
        plan = other.plan_emission(PERIOD, key, {})
        meta = RunMeta(
            "p", "1", "0" * 64, "1", [], {}, {}, chain_id=chain.chain_id + 1, safe_address=recipient(7)
        )
        other.emit(plan, meta, [])
        with pytest.raises(InputError, match="emitted for chain"):
            reconcile_period(other, chain.w3, PERIOD, token=chain.token)
