"""Top-up deltas, diff summaries and overpaid.csv: exact values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payouts.deltas import (
    assign_batches,
    describe_diff,
    diff_summary,
    render_overpaid_csv,
    topup_deltas,
)

pytestmark = pytest.mark.unit

A = "0xaAaAaAaaAaAaAaaAaAAAAAAAAaaaAaAaAaaAaaAa"
B = "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"
C = "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccCcCCC"
D = "0xdDdDddDdDdddDDddDDddDDDDdDdDDdDDdDDDDDDd"
COR = 10**18


def test_topups_are_the_positive_deltas_and_overpaid_the_negative_ones() -> None:
    paid = {A: 100 * COR, B: 50 * COR, C: 30 * COR}
    new = {A: 120 * COR + 1, B: 50 * COR, C: 10 * COR, D: 5}
    topups, overpaid = topup_deltas(paid, new)
    assert topups == {A: 20 * COR + 1, D: 5}
    assert overpaid == {C: 20 * COR}
    assert list(topups) == [A, D]  # lowercase-address order


def test_an_address_no_longer_owed_is_overpaid_by_everything_it_got() -> None:
    assert topup_deltas({A: 7, B: 3}, {B: 3}) == ({}, {A: 7})


def test_first_payment_pays_everything() -> None:
    assert topup_deltas({}, {B: 2, A: 1}) == ({A: 1, B: 2}, {})


def test_addresses_match_case_insensitively_and_keep_the_new_spelling() -> None:
    topups, overpaid = topup_deltas({A.lower(): 10}, {A: 15})
    assert topups == {A: 5} and overpaid == {}
    topups, overpaid = topup_deltas({A.lower(): 10}, {})
    assert overpaid == {A.lower(): 10}


def test_wei_beyond_int64_is_exact() -> None:
    big = 2**200 + 12345
    assert topup_deltas({A: big}, {A: big + 1}) == ({A: 1}, {})
    assert diff_summary({A: big}, {A: big - 1}) == [(A, big, big - 1, -1)]


@pytest.mark.parametrize(
    ("paid", "new", "match"),
    [
        ({A: -1}, {}, "negative"),
        ({}, {A: 1.0}, "must be an int"),
        ({}, {A: True}, "must be an int"),
        ({A: 1, A.lower(): 2}, {}, "appears twice"),
    ],
)
def test_bad_amounts_are_refused(paid: dict, new: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        topup_deltas(paid, new)


def test_diff_summary_lists_only_changed_addresses_sorted_by_lowercase() -> None:
    old = {C: 30, A: 100, B: 50}
    new = {B: 50, A: 90, D: 4}
    assert diff_summary(old, new) == [(A, 100, 90, -10), (C, 30, 0, -30), (D, 0, 4, 4)]
    assert diff_summary(new, new) == []


def test_describe_diff_is_exact_and_truncates() -> None:
    text = describe_diff(
        [(A, 100 * COR, 90 * COR + 5 * 10**17, -(95 * 10**17)), (D, 0, 4 * COR, 4 * COR)], 18
    )
    assert text.splitlines() == [
        f"  {A}: 100 -> 90.5 COR (-9.5)",
        f"  {D}: 0 -> 4 COR (+4)",
        "  2 address(es) changed: +4 COR more owed, -9.5 COR less owed",
    ]
    many = [(A, i, i + 1, 1) for i in range(5)]
    lines = describe_diff(many, 0, limit=2).splitlines()
    assert lines[2] == "  ... and 3 more payout address(es)"
    assert describe_diff([], 18) == "every payout amount is identical"


def test_assign_batches_follows_the_engine_rule() -> None:
    assert assign_batches({C: 3, A: 1, D: 0, B: 2}, 2) == [(1, A, 1), (1, B, 2), (2, C, 3)]
    with pytest.raises(ValueError):
        assign_batches({A: 1}, 0)


def test_overpaid_csv_exact_bytes() -> None:
    paid = {A: 100 * COR, B: 50 * COR, C: 1}
    owed = {A: 120 * COR, B: 40 * COR + 25 * 10**16, D: 7}
    assert render_overpaid_csv("2026-10", paid, owed, 18) == (
        b"period,payout_address,paid_wei,owed_wei,overpaid_wei,overpaid_cor\n"
        + f"2026-10,{B},50000000000000000000,40250000000000000000,9750000000000000000,9.75\n".encode()
        + f"2026-10,{C},1,0,1,0.000000000000000001\n".encode()
    )
    assert render_overpaid_csv("2026-10", {}, owed, 18) == (
        b"period,payout_address,paid_wei,owed_wei,overpaid_wei,overpaid_cor\n"
    )


addresses = st.sampled_from([A, B, C, D])
amounts = st.dictionaries(addresses, st.integers(min_value=0, max_value=2**256 - 1), max_size=4)


@given(paid=amounts, new=amounts)
def test_paid_plus_topups_minus_overpaid_is_what_is_owed(paid: dict, new: dict) -> None:
    topups, overpaid = topup_deltas(paid, new)
    assert not topups.keys() & overpaid.keys()
    assert all(v > 0 for v in [*topups.values(), *overpaid.values()])
    for address in {*paid, *new}:
        assert paid.get(address, 0) + topups.get(address, 0) - overpaid.get(address, 0) == new.get(address, 0)
    assert {a for a, *_ in diff_summary(paid, new)} == topups.keys() | overpaid.keys()
