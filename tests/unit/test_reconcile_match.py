"""Reconciliation matching and reconciliation.csv: exact values."""

from __future__ import annotations

import pytest

from payouts.reconcile import (
    MISSING,
    OVER,
    PAID,
    SHORT,
    UNEXPECTED,
    OnChainTransfer,
    ReconRow,
    all_paid,
    reconcile,
    render_reconciliation_csv,
    status_counts,
)

pytestmark = pytest.mark.unit

A = "0xaAaAaAaaAaAaAaaAaAAAAAAAAaaaAaAaAaaAaaAa"
B = "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"
C = "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccCcCCC"
D = "0xdDdDddDdDdddDDddDDddDDDDdDdDDdDDdDDDDDDd"
E = "0xeEEEeEEeEEEEeeEEeEeeEEeEEEEeEEEeeEeEeEEe"
TX1, TX2, TX3 = ("0x" + c * 64 for c in "123")


def t(to: str, amount: int, tx: str = TX1, block: int = 10, log_index: int = 0) -> OnChainTransfer:
    return OnChainTransfer(to=to, amount_wei=amount, tx_hash=tx, block=block, log_index=log_index)


def test_every_status() -> None:
    expected = {A: 100, B: 200, C: 300, D: 400}
    onchain = [
        t(A, 100, TX1, 10, 0),
        t(B, 150, TX1, 10, 1),  # short
        t(D, 400, TX1, 10, 2),
        t(D, 1, TX2, 11, 0),  # over
        t(E, 5, TX2, 11, 1),  # unexpected
    ]
    rows = reconcile(expected, onchain)
    assert [(r.payout_address, r.expected_wei, r.paid_wei, r.status) for r in rows] == [
        (A, 100, 100, PAID),
        (B, 200, 150, SHORT),
        (C, 300, 0, MISSING),
        (D, 400, 401, OVER),
        (E, 0, 5, UNEXPECTED),
    ]
    assert rows[3].tx_hashes == (TX1, TX2)
    assert status_counts(rows) == {PAID: 1, MISSING: 1, SHORT: 1, OVER: 1, UNEXPECTED: 1}
    assert not all_paid(rows)


def test_an_address_paid_in_several_transfers_is_paid_when_the_sum_matches() -> None:
    rows = reconcile({A: 100}, [t(A, 60, TX2, 20, 3), t(A, 40, TX1, 12, 0)])
    assert rows == [ReconRow(A, 100, 100, PAID, (t(A, 40, TX1, 12, 0), t(A, 60, TX2, 20, 3)))]
    assert rows[0].tx_hashes == (TX1, TX2)  # chain order
    assert all_paid(rows)


def test_addresses_match_case_insensitively() -> None:
    rows = reconcile({A.lower(): 5}, [t(A, 5)])
    assert [(r.payout_address, r.status) for r in rows] == [(A.lower(), PAID)]


def test_a_zero_transfer_to_an_expected_address_is_short_not_missing() -> None:
    assert reconcile({A: 5}, [t(A, 0)])[0].status == SHORT
    assert reconcile({A: 5}, [])[0].status == MISSING


def test_a_log_listed_twice_counts_once_and_ignored_logs_do_not_count() -> None:
    log = t(A, 5, TX1, 10, 7)
    assert reconcile({A: 5}, [log, log])[0].status == PAID
    rows = reconcile({A: 5}, [log, t(B, 9, TX2, 11, 0)], ignore={(TX2, 0)})
    assert [(r.payout_address, r.status) for r in rows] == [(A, PAID)]


def test_zero_expectations_are_not_expected() -> None:
    assert reconcile({A: 0}, []) == []
    assert reconcile({A: 0}, [t(A, 3)])[0].status == UNEXPECTED
    with pytest.raises(ValueError):
        reconcile({A: -1}, [])


def test_reconciliation_csv_exact_bytes() -> None:
    rows = reconcile(
        {B: 2 * 10**30, A: 100, C: 7},
        [t(B, 2 * 10**30, TX1, 10, 0), t(A, 60, TX1, 10, 1), t(A, 40, TX2, 11, 0), t(E, 1, TX3, 12, 0)],
    )
    assert (
        render_reconciliation_csv("2026-10", rows)
        == (
            "period,payout_address,expected_wei,paid_wei,status,tx_hashes\n"
            f"2026-10,{A},100,100,paid,{TX1};{TX2}\n"
            f"2026-10,{B},2000000000000000000000000000000,2000000000000000000000000000000,paid,{TX1}\n"
            f"2026-10,{C},7,0,missing,\n"
            f"2026-10,{E},0,1,unexpected,{TX3}\n"
        ).encode()
    )
    assert render_reconciliation_csv("2026-10", []) == (
        b"period,payout_address,expected_wei,paid_wei,status,tx_hashes\n"
    )
