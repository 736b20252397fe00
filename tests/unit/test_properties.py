"""Invariants of the reward engine over random small months (hypothesis).

Each example is a whole month through the real schemas and engine: 1-8 operators, up to 60 nodes,
metrics drawn from small value sets (so ties are common), random roles / preapproved /
disqualified / stake / unregistered operators, shared payout addresses and a random price.
The invariants are re-derived from shared/spec/reward-rules.md, independently of the engine.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from payouts.money import usd_to_wei
from payouts.policy import MultiNodeTier
from tests.builders import PHASE3, addr, node_rows, operator_row, run_month, with_policy

pytestmark = pytest.mark.unit

MAX_NODES = 60
PRICES = ["0.02", "0.03", "0.0215", "0.7", "1", "0.000123"]
ROLES = ["", "", "miner", "oracle", "verifier", "miner;oracle", "miner;verifier"]
PAYOUT_POOL = [addr("p", i) for i in range(3)]
#: A test policy whose bonuses can exceed the 40% cap: oracle 30%, multi 30% from 3 nodes, 45% from 5.
HIGH_RATES = with_policy(
    role_rates=(("miner", Decimal("0.05")), ("oracle", Decimal("0.30")), ("verifier", Decimal("0.10"))),
    multi_node=(MultiNodeTier(3, Decimal("0.30")), MultiNodeTier(5, Decimal("0.45"))),
)


@st.composite
def months(draw):
    n_ops = draw(st.integers(1, 8))
    rows: list[dict[str, str]] = []
    registry: list[dict[str, str]] = []
    nodes: list[str] = []
    for j in range(n_ops):
        room = MAX_NODES - len(nodes)
        if room == 0:
            break
        op = addr("o", j)
        size = min(room, draw(st.one_of(st.integers(1, 6), st.integers(24, 30))))
        if j == 0 or draw(st.integers(0, 9)) > 0:  # 1 in 10 later operators is not in the registry
            registry.append(
                operator_row(
                    op,
                    draw(st.sampled_from([*PAYOUT_POOL, None])),
                    roles=draw(st.sampled_from(ROLES)),
                    preapproved=draw(st.booleans()),
                    disqualified=draw(st.integers(0, 9)) == 0,
                    bug_points=draw(st.integers(0, 3)),
                )
            )
        clean = draw(st.integers(0, 2)) > 0  # a clean operator's nodes pass checks 1-7 (node cap)
        for _ in range(size):
            node = addr("n", len(nodes) + 1)
            nodes.append(node)
            tasks = draw(st.sampled_from([10, 20, 30] if clean else [0, 10, 10, 20]))
            n_days = draw(st.sampled_from([31, 30, 28] if clean else [31, 31, 28, 25]))
            rows += node_rows(
                node,
                op,
                days=range(1, n_days + 1),
                uptime=draw(st.sampled_from(["1", "1"] if clean else ["1", "1", "0.95", "0.5"])),
                response=draw(st.sampled_from(["0.9", "0.99", "1"])),
                throughput=draw(st.sampled_from(["0", "50", "100"])),
                ping=draw(st.sampled_from(["", "40", "50"])),
                gping=draw(st.sampled_from(["", "80", "90"])),
                sm_ok=draw(st.integers(0, 10)),
                sm_total=10,
                tasks=tasks,
                accurate=draw(st.integers(0, tasks)),
                stake_pool=draw(st.sampled_from(["3"] if clean else ["3", "3", "3", "2", "1"])),
                stake_cor=draw(
                    st.sampled_from(["4000", "5000"] if clean else ["3999.999999", "4000", "5000"])
                ),
            )
    previously = frozenset(n for n in nodes if draw(st.integers(0, 3)) == 0)
    price = draw(st.sampled_from(PRICES))
    policy = draw(st.sampled_from([PHASE3, HIGH_RATES]))
    return rows, registry, previously, price, policy


def spec_slots(ranked: list[tuple[str, str]], tiers) -> dict[str, int]:
    """Section 6, literally: for each slot in order, the best-ranked node with no slot yet whose
    operator holds fewer than the tier's maximum spots in that tier. `ranked` = (node, operator)."""
    slot_of: dict[str, int] = {}
    for tier in tiers:
        held: Counter[str] = Counter()
        for s in range(tier.first, tier.last + 1):
            for node, op in ranked:
                if node in slot_of:
                    continue
                if tier.max_per_operator and held[op] >= tier.max_per_operator:
                    continue
                slot_of[node] = s
                held[op] += 1
                break
    return slot_of


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(months())
def test_month_invariants(month):
    rows, registry, previously, price, policy = month
    result = run_month(rows, registry, policy=policy, price=price, previously_eligible=previously)
    nodes, ops, transfers = result.nodes, result.operators, result.transfers
    elig = nodes[nodes["eligible"].astype(bool)]
    for reason in set(nodes["reason"]) - {""}:
        event(f"reason {reason}")
    if (ops["bonus_cap_reduction_usd"] > 0).any():
        event("bonus cap cut")
    if ops.loc[ops["total_usd"] > 0, "payout_address"].duplicated().any():
        event("shared payout address")

    # every node with a slot, a rank or a positive amount is eligible
    for _, n in nodes.iterrows():
        has_something = (
            pd.notna(n["rank_slot"])
            or pd.notna(n["rank"])
            or n["base_usd"] > 0
            or n["multi_node_bonus_usd"] > 0
            or n["rank_reward_usd"] > 0
        )
        if has_something:
            assert n["eligible"] and n["reason"] == ""
        assert bool(n["eligible"]) == (n["reason"] == "")

    # ranks are 1..n without gaps over eligible nodes, in the spec's order
    ranks = sorted(int(r) for r in elig["rank"])
    assert ranks == list(range(1, len(elig) + 1))
    ranked = elig.sort_values("rank")
    keys = [
        (-Fraction(s), -int(t), -int(u), a.lower())
        for s, t, u, a in zip(
            ranked["score"],
            ranked["tasks_completed"],
            ranked["uptime_nano"],
            ranked["node_address"],
            strict=True,
        )
    ]
    assert keys == sorted(keys)

    # no operator has more than 25 eligible nodes; over_node_cap only where an operator is full
    per_op = Counter(elig["operator_address"])
    assert all(c <= policy.max_nodes_per_operator for c in per_op.values())
    for op in nodes.loc[nodes["reason"] == "over_node_cap", "operator_address"]:
        assert per_op[op] == policy.max_nodes_per_operator

    # slots: each used once, no operator above its tier limit, equal to the spec's greedy fill
    slotted = elig[elig["rank_slot"].notna()]
    assert slotted["rank_slot"].is_unique
    for tier in policy.rank_tiers:
        in_tier = slotted[(slotted["rank_slot"] >= tier.first) & (slotted["rank_slot"] <= tier.last)]
        if tier.max_per_operator:
            assert max(Counter(in_tier["operator_address"]).values(), default=0) <= tier.max_per_operator
    expected_slots = spec_slots(
        list(zip(ranked["node_address"], ranked["operator_address"], strict=True)), policy.rank_tiers
    )
    found_slots = {a: int(s) for a, s in zip(slotted["node_address"], slotted["rank_slot"], strict=True)}
    assert found_slots == expected_slots
    usd_by_slot = {s: t.usd for t in policy.rank_tiers for s in range(t.first, t.last + 1)}
    for a, r in zip(elig["node_address"], elig["rank_reward_usd"], strict=True):
        assert r == (usd_by_slot[expected_slots[a]] if a in expected_slots else 0)

    # operators: sums of their nodes, and the section 6 formula re-derived
    reg = {r["operator_address"]: r for r in registry}
    for _, o in ops.iterrows():
        mine = elig[elig["operator_address"] == o["operator_address"]]
        k = len(mine)
        assert o["eligible_nodes"] == k
        assert sum(mine["base_usd"], Decimal(0)) + sum(mine["multi_node_bonus_usd"], Decimal(0)) == (
            o["base_usd"] + o["multi_node_bonus_usd"]
        )
        assert sum(mine["rank_reward_usd"], Decimal(0)) == o["rank_reward_usd"]
        assert o["total_usd"] == (
            o["base_usd"]
            + o["multi_node_bonus_usd"]
            + o["role_bonus_usd"]
            - o["bonus_cap_reduction_usd"]
            + o["rank_reward_usd"]
        )
        new = int(mine["is_new"].astype(bool).sum())
        assert new == sum(1 for a in mine["node_address"] if a not in previously)
        rate = max((t.rate for t in policy.multi_node if k >= t.min_nodes), default=Decimal(0))
        base = 20 * k
        multi = rate * 20 * new
        roles = {r for r in reg[o["operator_address"]]["roles"].split(";") if r}
        role_rate = max((dict(policy.role_rates)[r] for r in roles), default=Decimal(0))
        role = role_rate * (base + multi)
        cut = max(Decimal(0), multi + role - Decimal("0.40") * base)
        assert (
            o["base_usd"],
            o["multi_node_bonus_usd"],
            o["role_bonus_usd"],
            o["bonus_cap_reduction_usd"],
        ) == (
            base,
            multi,
            role,
            cut,
        )
        assert o["bonus_cap_reduction_usd"] <= o["multi_node_bonus_usd"] + o["role_bonus_usd"]

    # transfers: one per payout address, the sum of its operators, floored once
    assert (
        sum(ops["total_usd"], Decimal(0))
        == sum(transfers["total_usd"], Decimal(0))
        == result.totals.total_usd
    )
    by_payout: dict[str, Decimal] = defaultdict(Decimal)
    for p, t in zip(ops["payout_address"], ops["total_usd"], strict=True):
        if t > 0:
            by_payout[p] += t
    assert dict(zip(transfers["payout_address"], transfers["total_usd"], strict=True)) == dict(by_payout)
    assert list(transfers["payout_address"]) == sorted(by_payout, key=str.lower)
    for t, w in zip(transfers["total_usd"], transfers["amount_wei"], strict=True):
        q = Fraction(t) * 10**18 / Fraction(Decimal(price))
        assert w == q.numerator // q.denominator
    assert set(transfers["batch"]) <= {1}  # <= 60 nodes -> <= 8 recipients, one batch of 100


@given(
    st.decimals(min_value=0, max_value=10**12, places=6, allow_nan=False, allow_infinity=False),
    st.decimals(
        min_value=Decimal("0.000001"), max_value=10**6, places=8, allow_nan=False, allow_infinity=False
    ),
    st.sampled_from([0, 6, 8, 18]),
)
def test_usd_to_wei_is_the_floor_of_the_exact_rational(usd: Decimal, price: Decimal, decimals: int) -> None:
    """Integer-ratio arithmetic equals floor(Fraction(usd) * 10**decimals / Fraction(price))."""
    exact = Fraction(usd) * 10**decimals / Fraction(price)
    assert usd_to_wei(usd, price, decimals) == exact.numerator // exact.denominator
