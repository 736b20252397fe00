"""The contest rules (shared/spec/reward-rules.md) on small hand-made months.

Every expected figure below is computed by hand from the spec; the arithmetic is in the comments.
Nothing here is copied from the engine's output. The period is 2026-10 (D = 31 days) unless stated.
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest

from payouts.addresses import BAD_CHECKSUM, check_address
from payouts.engine import BudgetExceeded
from payouts.money import format_units, format_usd, usd_to_wei
from payouts.policy import MultiNodeTier
from schemas.inputs import parse_metrics
from tests.builders import (
    PERIOD,
    PHASE3,
    addr,
    metrics_frame,
    node_rows,
    operator_row,
    run_month,
    with_policy,
)

pytestmark = pytest.mark.unit

WEI = 10**18
D = PERIOD.days
assert D == 31

#: The shipped policy with every rank slot worth 0 USD: isolates base + multi + role - cap.
NO_RANK = with_policy(rank_tiers=tuple(replace(t, usd=Decimal(0)) for t in PHASE3.rank_tiers))


def node(result, address: str) -> pd.Series:
    rows = result.nodes[result.nodes["node_address"] == address]
    assert len(rows) == 1, f"node {address} appears {len(rows)} times"
    return rows.iloc[0]


def operator(result, address: str) -> pd.Series:
    rows = result.operators[result.operators["operator_address"] == address]
    assert len(rows) == 1, f"operator {address} appears {len(rows)} times"
    return rows.iloc[0]


def assert_operator(result, address: str, **expected: object) -> None:
    row = operator(result, address)
    found = {k: row[k] for k in expected}
    assert found == {k: (Decimal(v) if isinstance(v, str) else v) for k, v in expected.items()}


def slot(result, address: str) -> int | None:
    value = node(result, address)["rank_slot"]
    return None if pd.isna(value) else int(value)


def rank(result, address: str) -> int | None:
    value = node(result, address)["rank"]
    return None if pd.isna(value) else int(value)


def bad_checksum(address: str) -> str:
    """`address` with the case of one letter flipped so that it is still mixed case: a bad EIP-55."""
    for i in range(2, 42):
        ch = address[i]
        if ch.isalpha():
            flipped = address[:i] + ch.swapcase() + address[i + 1 :]
            if check_address(flipped)[1] == BAD_CHECKSUM:
                return flipped
    raise AssertionError(f"no single-letter flip of {address} gives a bad checksum")


# ---------------------------------------------------------------------------------------------
# Section 6: the spec's worked examples


def test_worked_example_three_nodes_oracle_is_72_60_without_rank_reward():
    # Rank reward isolated with NO_RANK (every slot worth 0 USD).
    # base = 3 x 20 = 60; k = 3 -> multi 10% x 20 x 3 new = 6; subtotal 66
    # role oracle 10% x 66 = 6.60; cap 40% x 60 = 24 >= 6 + 6.60 = 12.60 -> reduction 0
    # total = 60 + 6 + 6.60 - 0 + 0 = 72.60
    o = addr("o", 1)
    rows = [r for i in (1, 2, 3) for r in node_rows(addr("n", i), o)]
    result = run_month(rows, [operator_row(o, roles="oracle")], policy=NO_RANK)
    assert_operator(
        result,
        o,
        eligible_nodes=3,
        base_usd="60",
        multi_node_bonus_usd="6",
        role_bonus_usd="6.60",
        bonus_cap_reduction_usd="0",
        rank_reward_usd="0",
        total_usd="72.60",
    )
    for i in (1, 2, 3):
        n = node(result, addr("n", i))
        assert (n["eligible"], n["is_new"], n["base_usd"], n["multi_node_bonus_usd"]) == (
            True,
            True,
            Decimal(20),
            Decimal(2),  # 10% x 20
        )
    assert format_usd(operator(result, o)["total_usd"]) == "72.60"


def test_worked_example_three_nodes_oracle_with_shipped_rank_slots():
    # Same month under the shipped policy: the three nodes (one operator) take slot 1 (50),
    # slot 6 (35, first free tier where the operator holds no spot) and slot 11 (25).
    # total = 72.60 + 50 + 35 + 25 = 182.60
    o = addr("o", 1)
    rows = [r for i in (1, 2, 3) for r in node_rows(addr("n", i), o)]
    result = run_month(rows, [operator_row(o, roles="oracle")])
    assert_operator(result, o, rank_reward_usd="110", total_usd="182.60")


def test_worked_example_five_nodes_oracle_is_132_without_rank_reward():
    # base 5 x 20 = 100; k = 5 -> multi 20% x 100 = 20; subtotal 120; role 10% x 120 = 12
    # cap 40% x 100 = 40 >= 32 -> 0; total 100 + 20 + 12 = 132
    o = addr("o", 1)
    rows = [r for i in range(1, 6) for r in node_rows(addr("n", i), o)]
    result = run_month(rows, [operator_row(o, roles="oracle")], policy=NO_RANK)
    assert_operator(
        result,
        o,
        eligible_nodes=5,
        base_usd="100",
        multi_node_bonus_usd="20",
        role_bonus_usd="12",
        bonus_cap_reduction_usd="0",
        rank_reward_usd="0",
        total_usd="132",
    )
    # shipped policy: slots 1, 6, 11, 21, 31 -> 50 + 35 + 25 + 15 + 10 = 135 -> 267
    shipped = run_month(rows, [operator_row(o, roles="oracle")])
    assert_operator(shipped, o, rank_reward_usd="135", total_usd="267")


def test_role_bonus_uses_the_largest_rate_among_roles():
    # roles miner (5%) + verifier (10%) -> r = 10%. One node: base 20, k = 1 -> multi 0
    # role 10% x 20 = 2; cap 40% x 20 = 8 -> 0; total 22
    o = addr("o", 1)
    result = run_month(node_rows(addr("n", 1), o), [operator_row(o, roles="miner;verifier")], policy=NO_RANK)
    assert_operator(result, o, base_usd="20", multi_node_bonus_usd="0", role_bonus_usd="2", total_usd="22")


# ---------------------------------------------------------------------------------------------
# Section 4: eligibility reasons and their precedence


def test_every_eligibility_reason_with_precedence():
    ok, dq, pre, cap, unknown = addr("o", 1), addr("o", 2), addr("o", 3), addr("o", 4), addr("o", 9)
    registry = [
        operator_row(ok),
        operator_row(dq, disqualified=True),
        operator_row(pre, preapproved=True),
        operator_row(cap),
    ]  # `unknown` is not in the registry
    n = {i: addr("n", i) for i in range(1, 14)}
    rows: list[dict[str, str]] = []

    # n1: unknown operator, low uptime, low stake AND one out-of-range row -> invalid_data (1st)
    r1 = node_rows(n[1], unknown, uptime="0.5", stake_pool="2")
    r1[4]["uptime_ratio"] = "1.7"
    rows += r1
    # n2: disqualified operator, 20 days (low uptime), one row accurate > completed -> invalid_data
    r2 = node_rows(n[2], dq, days=range(1, 21))
    r2[0]["tasks_accurate"] = "11"  # tasks_completed is 10
    rows += r2
    # n3: unknown operator + stake_pool 2 + 10 days -> unknown_operator (2nd beats 5th, 6th)
    rows += node_rows(n[3], unknown, days=range(1, 11), stake_pool="2")
    # n4: rows name `ok` (days 1-15) and `dq` (days 16-31) -> conflicting_operator (3rd beats 4th)
    rows += node_rows(n[4], ok, days=range(1, 16)) + node_rows(n[4], dq, days=range(16, 32))
    # n5: disqualified + 27 days (low uptime) + stake_pool 2 -> disqualified (4th beats 5th, 6th)
    rows += node_rows(n[5], dq, days=range(1, 28), stake_pool="2")
    # n6: stake_pool 2 and 20 days -> insufficient_stake (5th beats 6th)
    rows += node_rows(n[6], ok, days=range(1, 21), stake_pool="2")
    # n7: stake_cor 3999.999999 < 4000 -> insufficient_stake
    rows += node_rows(n[7], ok, stake_cor="3999.999999")
    # n8: preapproved operator, stake_pool 1, stake_cor 0 -> eligible (exempt from the stake rule)
    rows += node_rows(n[8], pre, stake_pool="1", stake_cor="0")
    # n9: 27 days of 1.0 -> uptime 27/31 = 0.8709... < 0.90, and no tasks -> low_uptime (6th beats 7th)
    rows += node_rows(n[9], ok, days=range(1, 28), tasks=0)
    # n10: 31 days of 0.9 -> uptime 27.9/31 = 0.90 exactly, not < 0.90 -> eligible
    rows += node_rows(n[10], ok, uptime="0.9")
    # n11: no tasks at all -> no_tasks
    rows += node_rows(n[11], ok, tasks=0)
    # n12 / n13: stake is the latest date's row, whatever the row order in the file.
    # n12: day 31 (listed first) has pool 3, days 1-30 pool 2 -> eligible
    rows += node_rows(n[12], ok, days=[31]) + node_rows(n[12], ok, days=range(1, 31), stake_pool="2")
    # n13: day 31 (listed first) has pool 2, days 1-30 pool 3 -> insufficient_stake
    rows += node_rows(n[13], ok, days=[31], stake_pool="2") + node_rows(n[13], ok, days=range(1, 31))
    # cap operator: 26 identical healthy nodes; the tie falls to the lowercase address, so the
    # 26th in rank order is the greatest address, addr("n", 126) -> over_node_cap (8th)
    cap_nodes = [addr("n", i) for i in range(101, 127)]
    for a in cap_nodes:
        rows += node_rows(a, cap)

    result = run_month(rows, registry)

    expected = {
        n[1]: "invalid_data",
        n[2]: "invalid_data",
        n[3]: "unknown_operator",
        n[4]: "conflicting_operator",
        n[5]: "disqualified",
        n[6]: "insufficient_stake",
        n[7]: "insufficient_stake",
        n[8]: "",
        n[9]: "low_uptime",
        n[10]: "",
        n[11]: "no_tasks",
        n[12]: "",
        n[13]: "insufficient_stake",
        **{a: "" for a in cap_nodes[:25]},
        cap_nodes[25]: "over_node_cap",
    }
    found = dict(zip(result.nodes["node_address"], result.nodes["reason"], strict=True))
    assert found == expected
    for a, reason in expected.items():
        row = node(result, a)
        assert bool(row["eligible"]) == (reason == "")
        if reason:
            assert pd.isna(row["rank"]) and pd.isna(row["rank_slot"])
            assert row["base_usd"] == 0 and row["multi_node_bonus_usd"] == 0 and row["rank_reward_usd"] == 0
    assert result.totals.eligible_nodes == 3 + 25
    assert result.totals.held_by_reason == (
        ("invalid_data", 2),
        ("unknown_operator", 1),
        ("conflicting_operator", 1),
        ("disqualified", 1),
        ("insufficient_stake", 3),
        ("low_uptime", 1),
        ("no_tasks", 1),
        ("over_node_cap", 1),
    )
    # the disqualified operator earns nothing
    assert_operator(result, dq, eligible_nodes=0, base_usd="0", total_usd="0")
    # uptime exactly at the threshold: 31 x 0.9 = 27.9 days, in nano-units
    assert node(result, n[10])["uptime_nano"] == 27_900_000_000


# ---------------------------------------------------------------------------------------------
# Section 5: score, ties and order


def test_exact_score_by_hand():
    # Three nodes, one operator each; percentile p = rank / 3 (average rank on ties).
    #                A (n3, bug 3)     B (n1, bug 0)       C (n2, bug 1)
    # uptime  2.5    1.0 -> 3  p=1     0.95 -> 1.5 p=1/2    0.95 -> 1.5 p=1/2
    # resp    1      0.90 -> 1 p=1/3   0.99 -> 3 p=1        0.95 -> 2 p=2/3
    # thr     1      100 -> 2 p=2/3    100 -> 2 p=2/3       100 -> 2 p=2/3
    # ping    0.5    50 -> 2 p=2/3     60 -> 1 p=1/3        40 -> 3 p=1        (lower is better)
    # gping   0.5    none->1 p=1/3     80 -> 2.5 p=5/6      80 -> 2.5 p=5/6    (none = worst)
    # sm      2      10/10 -> 3 p=1    9/10 -> 2 p=2/3      8/10 -> 1 p=1/3
    # tasks   1      310 -> 1.5 p=1/2  620 -> 3 p=1         310 -> 1.5 p=1/2
    # acc     1      1 -> 2.5 p=5/6    0.9 -> 1 p=1/3       1 -> 2.5 p=5/6
    # bug     0.5    3 -> 3 p=1        0 -> 1 p=1/3         1 -> 2 p=2/3
    # sum(w) = 10
    # A: 2.5 + 1/3 + 2/3 + 1/3 + 1/6 + 2 + 1/2 + 5/6 + 1/2 = 47/6  -> 47/60
    # B: 5/4 + 1 + 2/3 + 1/6 + 5/12 + 4/3 + 1 + 1/3 + 1/6 = 76/12  -> 19/30
    # C: 5/4 + 2/3 + 2/3 + 1/2 + 5/12 + 2/3 + 1/2 + 5/6 + 1/3 = 70/12 -> 7/12
    # check: 47/60 + 38/60 + 35/60 = 2 = 3 x mean percentile 2/3
    a, b, c = addr("n", 3), addr("n", 1), addr("n", 2)
    oa, ob, oc = addr("o", 1), addr("o", 2), addr("o", 3)
    rows = (
        node_rows(a, oa, uptime="1", response="0.90", ping="50", gping="", sm_ok=10, tasks=10)
        + node_rows(
            b, ob, uptime="0.95", response="0.99", ping="60", gping="80", sm_ok=9, tasks=20, accurate=18
        )
        + node_rows(c, oc, uptime="0.95", response="0.95", ping="40", gping="80", sm_ok=8, tasks=10)
    )
    registry = [
        operator_row(oa, bug_points=3),
        operator_row(ob, bug_points=0),
        operator_row(oc, bug_points=1),
    ]
    result = run_month(rows, registry)
    assert node(result, a)["score"] == Fraction(47, 60)
    assert node(result, b)["score"] == Fraction(19, 30)
    assert node(result, c)["score"] == Fraction(7, 12)
    assert (rank(result, a), rank(result, b), rank(result, c)) == (1, 2, 3)


def test_identical_metrics_share_percentiles_and_tie_falls_to_lowercase_address():
    # n2 = 0xa0..02 and n3 = 0xA0..03: identical metrics -> every percentile is 1.5/2 = 3/4,
    # score 3/4 each; tasks and uptime equal -> lowercase address: 0xa0..02 < 0xa0..03.
    # (A case-sensitive sort would put 0xA0..03 first: 'A' < 'a'.)
    n2, n3 = addr("n", 2), addr("n", 3)
    assert sorted([n2, n3]) == [n3, n2]  # precondition: case matters for these two
    o = addr("o", 1)
    result = run_month(node_rows(n3, o) + node_rows(n2, o), [operator_row(o)])
    assert node(result, n2)["score"] == node(result, n3)["score"] == Fraction(3, 4)
    assert (rank(result, n2), rank(result, n3)) == (1, 2)


def test_score_tie_falls_to_tasks_completed_before_uptime_and_address():
    # Two nodes: better p = 1, worse p = 1/2, equal p = 3/4.
    # X (n2): tasks 20/day (better, w1), sm 10/10 (better, w2),
    #         uptime 0.95 (worse, w2.5), ping 60 (worse, w0.5)
    # Y (n1): the opposite.
    # X: 1 + 2 + 1.25 + 0.25 = 4.5; Y: 0.5 + 1 + 2.5 + 0.5 = 4.5; rest w = 4 at 3/4 -> 3
    # both 7.5 / 10 = 3/4. Tie -> tasks desc -> X first, although Y has the higher uptime and
    # the lower address.
    x, y = addr("n", 2), addr("n", 1)
    ox, oy = addr("o", 1), addr("o", 2)
    rows = node_rows(x, ox, tasks=20, sm_ok=10, uptime="0.95", ping="60") + node_rows(
        y, oy, tasks=10, sm_ok=9, uptime="1", ping="50"
    )
    result = run_month(rows, [operator_row(ox), operator_row(oy)])
    assert node(result, x)["score"] == node(result, y)["score"] == Fraction(3, 4)
    assert (rank(result, x), rank(result, y)) == (1, 2)


def test_score_tie_with_equal_tasks_falls_to_uptime_before_address():
    # X (n2): uptime 1.0 (better, w2.5); response 0.90, throughput 50, ping 60 (worse, w 1+1+0.5)
    # Y (n1): uptime 0.95 (worse); response 0.99, throughput 100, ping 50 (better)
    # X: 2.5 + 2.5/2 = 3.75; Y: 1.25 + 2.5 = 3.75; rest w = 5 at 3/4 = 3.75 -> both 7.5/10 = 3/4
    # equal tasks -> uptime desc -> X first, although Y has the lower address.
    x, y = addr("n", 2), addr("n", 1)
    ox, oy = addr("o", 1), addr("o", 2)
    rows = node_rows(x, ox, uptime="1", response="0.90", throughput="50", ping="60") + node_rows(
        y, oy, uptime="0.95", response="0.99", throughput="100", ping="50"
    )
    result = run_month(rows, [operator_row(ox), operator_row(oy)])
    assert node(result, x)["score"] == node(result, y)["score"] == Fraction(3, 4)
    assert (rank(result, x), rank(result, y)) == (1, 2)


def test_equal_means_over_different_day_counts_are_a_tie():
    # response_rate is "mean over its rows": 31 rows of 0.99 and 28 rows of 0.99 both mean exactly
    # 0.99 -> a tie (p = 3/4 each), whatever float summation would give.
    # A (n1): 31 days -> uptime 31/31, tasks 310 (better: w 2.5 + 1); sm 9/10, throughput 50, ping 60
    # B (n2): 28 days -> uptime 28/31 >= 0.90, tasks 280; sm 10/10, throughput 100, ping 50 (better:
    #         w 2 + 1 + 0.5)
    # A: 2.5 + 1 + (2 + 1 + 0.5)/2 + 3 x 3/4 (response, gping, accuracy, bug: w 1+.5+1+.5 = 3)
    #    = 3.5 + 1.75 + 2.25 = 7.5 -> 3/4
    # B: (2.5 + 1)/2 + 3.5 + 2.25 = 7.5 -> 3/4
    # tie -> tasks desc -> A rank 1 (slot 1, 50 USD), B rank 2 (slot 2, 50 USD; another operator).
    a, b = addr("n", 1), addr("n", 2)
    oa, ob = addr("o", 1), addr("o", 2)
    rows = node_rows(a, oa, response="0.99", sm_ok=9, throughput="50", ping="60") + node_rows(
        b, ob, days=range(1, 29), response="0.99", sm_ok=10, throughput="100", ping="50"
    )
    result = run_month(rows, [operator_row(oa), operator_row(ob)])
    assert node(result, a)["score"] == node(result, b)["score"] == Fraction(3, 4)
    assert (rank(result, a), rank(result, b)) == (1, 2)


# ---------------------------------------------------------------------------------------------
# Node cap and rank slots


def test_thirty_healthy_nodes_keep_25_and_multi_rate_uses_k_25():
    # Node i (1..30) does (100 - i) tasks/day, all else equal: score strictly falls with i,
    # so rank = i. Nodes 26..30 are cut (over_node_cap). A test tier "30% from 26 nodes" tells
    # k = 25 (-> 20%) from k = 30 (-> 30%).
    # base 25 x 20 = 500; multi 20% x 500 = 100; cap 40% x 500 = 200 >= 100 -> 0
    # slots (one operator): rank 1 -> 1 (50), 2 -> 6 (35), 3 -> 11 (25), 4 -> 21 (15),
    #   ranks 5..14 -> slots 31..40 (10 each, 10 per operator in that tier) = 100,
    #   ranks 15..25 -> slots 101..111 (5 each, unlimited) = 55
    # rank = 50 + 35 + 25 + 15 + 100 + 55 = 280; total = 500 + 100 + 280 = 880
    policy = with_policy(
        multi_node=(
            MultiNodeTier(3, Decimal("0.10")),
            MultiNodeTier(5, Decimal("0.20")),
            MultiNodeTier(26, Decimal("0.30")),
        )
    )
    o = addr("o", 1)
    nodes = [addr("n", i) for i in range(1, 31)]
    rows = [r for i, a in enumerate(nodes, start=1) for r in node_rows(a, o, tasks=100 - i)]
    result = run_month(rows, [operator_row(o)], policy=policy)
    expected_slots = [1, 6, 11, 21, *range(31, 41), *range(101, 112)]
    for i, a in enumerate(nodes, start=1):
        row = node(result, a)
        if i <= 25:
            assert (row["reason"], rank(result, a), slot(result, a)) == ("", i, expected_slots[i - 1])
            assert row["multi_node_bonus_usd"] == Decimal(4)  # 20% x 20
        else:
            assert (row["reason"], rank(result, a), slot(result, a)) == ("over_node_cap", None, None)
    assert_operator(
        result,
        o,
        eligible_nodes=25,
        base_usd="500",
        multi_node_bonus_usd="100",
        role_bonus_usd="0",
        bonus_cap_reduction_usd="0",
        rank_reward_usd="280",
        total_usd="880",
    )


def top_three_month() -> tuple[list[dict[str, str]], dict[str, str], dict[str, str]]:
    """Big operator B holds ranks 1, 2, 4; single-node operators S1 (rank 3), S2 (rank 5).

    Only tasks/day differ (50, 40, 30, 20, 10), so rank follows tasks.
    """
    ops = {"B": addr("o", 1), "S1": addr("o", 2), "S2": addr("o", 3)}
    nodes = {
        "B1": addr("n", 1),
        "B2": addr("n", 2),
        "S1": addr("n", 3),
        "B3": addr("n", 4),
        "S2": addr("n", 5),
    }
    rows = (
        node_rows(nodes["B1"], ops["B"], tasks=50)
        + node_rows(nodes["B2"], ops["B"], tasks=40)
        + node_rows(nodes["S1"], ops["S1"], tasks=30)
        + node_rows(nodes["B3"], ops["B"], tasks=20)
        + node_rows(nodes["S2"], ops["S2"], tasks=10)
    )
    return rows, ops, nodes


def test_one_operator_with_top_ranks_takes_one_spot_per_tier():
    # Tier 1-5 (max 1): slot 1 <- B1 (rank 1); B2 cannot (B holds 1); slot 2 <- S1; B3 cannot;
    #   slot 3 <- S2; slots 4, 5: only B2/B3 remain and B is full in the tier -> stay empty.
    # Tier 6-10 (max 1): slot 6 <- B2; slot 7: B3 cannot -> 7..10 empty.
    # Tier 11-20: slot 11 <- B3; 12..20 empty. Nothing is left for 21..150.
    # B: base 60, k = 3 -> multi 10% x 60 = 6, rank 50 + 35 + 25 = 110 -> 176
    # S1, S2: 20 + 50 = 70 each
    rows, ops, nodes = top_three_month()
    result = run_month(rows, [operator_row(o) for o in ops.values()])
    assert {k: rank(result, a) for k, a in nodes.items()} == {"B1": 1, "B2": 2, "S1": 3, "B3": 4, "S2": 5}
    assert {k: slot(result, a) for k, a in nodes.items()} == {"B1": 1, "S1": 2, "S2": 3, "B2": 6, "B3": 11}
    rewards = {k: node(result, a)["rank_reward_usd"] for k, a in nodes.items()}
    assert rewards == {"B1": 50, "S1": 50, "S2": 50, "B2": 35, "B3": 25}
    assert set(result.nodes["rank_slot"].dropna().astype(int)) == {1, 2, 3, 6, 11}
    assert_operator(
        result, ops["B"], base_usd="60", multi_node_bonus_usd="6", rank_reward_usd="110", total_usd="176"
    )
    assert_operator(result, ops["S1"], rank_reward_usd="50", total_usd="70")
    assert_operator(result, ops["S2"], rank_reward_usd="50", total_usd="70")
    assert result.totals.total_usd == Decimal(316)  # 176 + 70 + 70


# ---------------------------------------------------------------------------------------------
# Bonus cap and budget


def test_bonus_cap_cuts_multi_plus_role_to_40_percent_of_base():
    # Test policy: oracle 30%, multi 30% from 3 nodes; rank slots worth 0.
    # C (3 nodes, oracle): base 60; multi 30% x 60 = 18; role 30% x (60 + 18) = 23.4
    #   multi + role = 41.4 > cap 40% x 60 = 24 -> reduction 17.4; total 60 + 18 + 23.4 - 17.4 = 84
    # M (5 nodes, miner 5%): base 100; multi 30% x 100 = 30; role 5% x 130 = 6.5
    #   30 + 6.5 = 36.5 <= 40 -> reduction 0; total 136.5
    policy = with_policy(
        role_rates=(("miner", Decimal("0.05")), ("oracle", Decimal("0.30")), ("verifier", Decimal("0.10"))),
        multi_node=(MultiNodeTier(3, Decimal("0.3")),),
        rank_tiers=NO_RANK.rank_tiers,
    )
    c, m = addr("o", 1), addr("o", 2)
    rows = [r for i in range(1, 4) for r in node_rows(addr("n", i), c)]
    rows += [r for i in range(11, 16) for r in node_rows(addr("n", i), m)]
    result = run_month(rows, [operator_row(c, roles="oracle"), operator_row(m, roles="miner")], policy=policy)
    assert_operator(
        result,
        c,
        base_usd="60",
        multi_node_bonus_usd="18",
        role_bonus_usd="23.4",
        bonus_cap_reduction_usd="17.4",
        total_usd="84",
    )
    assert_operator(
        result,
        m,
        base_usd="100",
        multi_node_bonus_usd="30",
        role_bonus_usd="6.5",
        bonus_cap_reduction_usd="0",
        total_usd="136.5",
    )
    assert node(result, addr("n", 1))["multi_node_bonus_usd"] == Decimal(6)  # 30% x 20


def test_budget_exceeded_stops_with_both_figures():
    rows, ops, _ = top_three_month()  # total 316 (see above)
    registry = [operator_row(o) for o in ops.values()]
    with pytest.raises(BudgetExceeded) as err:
        run_month(rows, registry, policy=with_policy(monthly_budget_usd=Decimal("100")))
    figures = {Decimal(x) for x in re.findall(r"\d+(?:\.\d+)?", str(err.value))}
    assert {Decimal(316), Decimal(100)} <= figures
    # exactly at the budget is not "exceeds"
    ok = run_month(rows, registry, policy=with_policy(monthly_budget_usd=Decimal("316")))
    assert ok.totals.total_usd == Decimal(316)


# ---------------------------------------------------------------------------------------------
# Section 7: USD -> wei


def test_amount_wei_rounds_down_at_price_0_03():
    # B 176 USD / 0.03 = 5866.666... COR -> floor(17600 x 10^18 / 3) = 5866666666666666666666
    # S1, S2 70 USD / 0.03 = 2333.333... -> floor(7000 x 10^18 / 3) = 2333333333333333333333
    rows, ops, _ = top_three_month()
    result = run_month(rows, [operator_row(o) for o in ops.values()], price="0.03")
    t = result.transfers
    assert list(t["payout_address"]) == [ops["B"], ops["S1"], ops["S2"]]  # 0xb0..00, ..01, ..02 order
    assert list(t["total_usd"]) == [Decimal(176), Decimal(70), Decimal(70)]
    b_wei = Fraction(176) * WEI / Fraction(3, 100)
    assert b_wei.denominator != 1  # not an integer: the floor matters
    assert int(t["amount_wei"].iloc[0]) == b_wei.numerator // b_wei.denominator == 5866666666666666666666
    assert int(t["amount_wei"].iloc[1]) == 7000 * WEI // 3 == 2333333333333333333333
    assert int(t["amount_wei"].iloc[2]) == 2333333333333333333333
    assert list(t["batch"]) == [1, 1, 1]


def test_shared_payout_address_gets_one_transfer_floored_once():
    # B (176) and S1 (70) both pay to P. At 0.03:
    #   per operator: 5866666666666666666666 + 2333333333333333333333 = 8199999999999999999999
    #   on the sum:   246 / 0.03 = 8200 COR exactly = 8200 x 10^18   <- the spec's rule (one floor)
    # S2 (70) keeps its own address 0xb0..03 < P = 0xc0..01 -> S2 first.
    rows, ops, _ = top_three_month()
    p = addr("p", 1)
    registry = [operator_row(ops["B"], p), operator_row(ops["S1"], p), operator_row(ops["S2"])]
    result = run_month(rows, registry, price="0.03")
    t = result.transfers
    assert list(t["payout_address"]) == [ops["S2"], p]
    assert list(t["total_usd"]) == [Decimal(70), Decimal(246)]
    per_operator = 17600 * WEI // 3 + 7000 * WEI // 3
    assert per_operator == 8199999999999999999999
    assert [int(w) for w in t["amount_wei"]] == [2333333333333333333333, 8200 * WEI]
    assert result.totals.transfers == 2


@pytest.mark.parametrize(
    ("usd", "price", "decimals", "expected"),
    [
        ("1", "0.5", 18, 2 * WEI),  # exact
        ("72.60", "0.02", 18, 3630 * WEI),  # 72.6 / 0.02 = 3630 exact
        ("1", "3", 18, 333333333333333333),  # 0.333... -> floor
        ("2.999999999999999999", "3", 18, 999999999999999999),  # just below 1 COR: .999...999666 -> floor
        ("0.000000000000000001", "1", 18, 1),  # 1 wei exactly
        ("0.0000000000000000009", "1", 18, 0),  # just below 1 wei
        ("1000000000000", "0.0000001", 18, 10**37),  # large: 10^12 / 10^-7 = 10^19 COR
        # 123456789.123456789 x 10^18 / 0.0215 = 1234567891234567890 x 10^17 / 215 -> floor
        ("123456789.123456789", "0.0215", 18, 5742176238300315767441860465),
        ("0", "0.02", 18, 0),
        ("5", "2", 6, 2_500_000),
    ],
)
def test_usd_to_wei(usd, price, decimals, expected):
    q = Fraction(Decimal(usd)) * 10**decimals / Fraction(Decimal(price))
    assert expected == q.numerator // q.denominator  # the table itself, re-derived exactly
    assert usd_to_wei(Decimal(usd), Decimal(price), decimals) == expected


def test_usd_to_wei_refuses_nonsense():
    with pytest.raises(ValueError):
        usd_to_wei(Decimal(1), Decimal(0), 18)
    with pytest.raises(ValueError):
        usd_to_wei(Decimal(-1), Decimal("0.02"), 18)


@pytest.mark.parametrize(
    ("amount", "decimals", "text"),
    [
        (1_500_000_000_000_000_000, 18, "1.5"),
        (0, 18, "0"),
        (1, 18, "0.000000000000000001"),
        (123 * WEI, 18, "123"),
        (5866666666666666666666, 18, "5866.666666666666666666"),
        (2_500_000, 6, "2.5"),
        (10**37, 18, "10000000000000000000"),
    ],
)
def test_format_units(amount, decimals, text):
    assert format_units(amount, decimals) == text


def test_format_units_refuses_negative():
    with pytest.raises(ValueError):
        format_units(-1, 18)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("72.6", "72.60"),
        ("72.600", "72.60"),
        ("0.6615", "0.6615"),
        ("20", "20.00"),
        ("1.05", "1.05"),
        ("0", "0.00"),
        ("0.00", "0.00"),
        ("1E+2", "100.00"),
        ("17.4", "17.40"),
        ("0.000000000000000001", "0.000000000000000001"),
    ],
)
def test_format_usd(value, text):
    assert format_usd(Decimal(value)) == text


# ---------------------------------------------------------------------------------------------
# is_new


def test_multi_node_bonus_only_for_new_nodes_but_k_counts_all():
    # 5 eligible nodes, n1 and n2 were eligible in an earlier period -> 3 new nodes.
    # k = 5 (all eligible) -> 20%; bonus on the new ones only: 3 x 20% x 20 = 12
    # (if k counted only new nodes it would be 3 -> 10% -> 6). base 100; cap 40 -> 0.
    # total (rank slots worth 0) = 100 + 12 = 112
    o = addr("o", 1)
    nodes = [addr("n", i) for i in range(1, 6)]
    rows = [r for a in nodes for r in node_rows(a, o)]
    previously = {nodes[0], nodes[1], addr("n", 99)}  # n99 is not in this month: harmless
    result = run_month(rows, [operator_row(o)], policy=NO_RANK, previously_eligible=previously)
    assert [bool(node(result, a)["is_new"]) for a in nodes] == [False, False, True, True, True]
    assert [node(result, a)["multi_node_bonus_usd"] for a in nodes] == [0, 0, 4, 4, 4]
    assert_operator(result, o, eligible_nodes=5, base_usd="100", multi_node_bonus_usd="12", total_usd="112")


# ---------------------------------------------------------------------------------------------
# Section 2: rejected rows hold the node, other nodes are paid

HEALTHY_NODE, HEALTHY_OP = addr("n", 1), addr("o", 1)
BAD_NODE, BAD_OP = addr("n", 10), addr("o", 11)  # 0xA0..0A / 0xB0..0B: a letter flip stays mixed case
# Lines: header 1; healthy node days 1..31 -> lines 2..32; bad node days 1..31 -> lines 33..63.
# The bad node's day 5 is list index 31 + 4 = 35 -> line 37.
BAD_LINE = 37


def _mutate(field: str, value: str):
    def apply(rows: list[dict[str, str]]) -> None:
        rows[35][field] = value

    return apply


def _duplicate(rows: list[dict[str, str]]) -> None:
    rows.append(dict(rows[35]))  # line 64, same (date, node) as line 37


REJECTIONS = {
    "uptime_1.7": (_mutate("uptime_ratio", "1.7"), {(BAD_LINE, "uptime_ratio", "range[0,1]")}),
    "uptime_nan": (_mutate("uptime_ratio", "nan"), {(BAD_LINE, "uptime_ratio", "number")}),
    "uptime_empty": (_mutate("uptime_ratio", ""), {(BAD_LINE, "uptime_ratio", "number")}),
    "stake_cor_exponent": (_mutate("stake_cor", "1e-3"), {(BAD_LINE, "stake_cor", "plain_decimal")}),
    "operator_checksum": (
        _mutate("operator_address", bad_checksum(BAD_OP)),
        {(BAD_LINE, "operator_address", "address_checksum")},
    ),
    "node_checksum": (
        _mutate("node_address", bad_checksum(BAD_NODE)),
        {(BAD_LINE, "node_address", "address_checksum")},
    ),
    "accurate_gt_completed": (
        _mutate("tasks_accurate", "11"),
        {(BAD_LINE, "tasks_accurate", "tasks_accurate<=tasks_completed")},
    ),
    "duplicate_date_node": (
        _duplicate,
        {(BAD_LINE, "node_address", "duplicate_date_node"), (64, "node_address", "duplicate_date_node")},
    ),
}


def rejection_month(case: str) -> list[dict[str, str]]:
    mutate, _ = REJECTIONS[case]
    rows = node_rows(HEALTHY_NODE, HEALTHY_OP) + node_rows(BAD_NODE, BAD_OP)  # tasks 10/day
    assert rows[35]["date"] == "2026-10-05" and rows[35]["node_address"] == BAD_NODE
    mutate(rows)
    return rows


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_rejected_row_findings(case):
    # one finding per failed check of the row: (CSV line, column, check)
    rows = rejection_month(case)
    _, expected_findings = REJECTIONS[case]
    parsed = parse_metrics(metrics_frame(rows), "metrics.csv", PERIOD)
    assert sorted((f.source_row, f.column, f.check) for f in parsed.findings) == sorted(expected_findings)
    assert parsed.row_count == len(rows)
    assert len(parsed.rows) == len(rows) - len({line for line, _, _ in expected_findings})


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_rejected_row_holds_exactly_its_node(case):
    rows = rejection_month(case)
    result = run_month(rows, [operator_row(HEALTHY_OP), operator_row(BAD_OP)])
    bad = node(result, BAD_NODE)
    assert (bad["reason"], bool(bad["eligible"]), bad["base_usd"]) == ("invalid_data", False, 0)
    healthy = node(result, HEALTHY_NODE)
    assert (healthy["reason"], rank(result, HEALTHY_NODE), slot(result, HEALTHY_NODE)) == ("", 1, 1)
    # healthy: one node, base 20 + slot 1 (50) = 70; the bad node's operator earns 0
    assert_operator(result, HEALTHY_OP, total_usd="70")
    assert result.totals.eligible_nodes == 1
    assert result.totals.held_by_reason == (("invalid_data", 1),)
    assert result.totals.total_usd == Decimal(70)
