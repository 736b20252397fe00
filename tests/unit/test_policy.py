"""The policy file: the shipped phase3 defaults (spec sections 4-7) and refusal of bad files."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from payouts.errors import InputError
from payouts.policy import MultiNodeTier, RankTier, parse_policy
from tests.builders import REPO

pytestmark = pytest.mark.unit

POLICY_FILE = REPO / "policies" / "phase3.toml"
RAW = POLICY_FILE.read_bytes()
TEXT = RAW.decode("utf-8")


def test_shipped_policy_has_the_spec_defaults():
    p = parse_policy(RAW, "phase3.toml")
    assert (p.name, p.version) == ("phase3", "1")
    assert (p.token_symbol, p.token_decimals) == ("COR", 18)
    # section 4
    assert p.min_uptime == Decimal("0.90")
    assert p.min_tasks == 1
    assert p.required_stake_pool == 3
    assert p.min_stake_cor == Decimal("4000")
    assert p.max_nodes_per_operator == 25
    # section 5
    assert dict(p.weights) == {
        "uptime": Decimal("2.5"),
        "response_rate": Decimal("1"),
        "throughput": Decimal("1"),
        "ping_ms": Decimal("0.5"),
        "global_ping_ms": Decimal("0.5"),
        "sm_quality": Decimal("2"),
        "tasks_completed": Decimal("1"),
        "accuracy": Decimal("1"),
        "bug_points": Decimal("0.5"),
    }
    # section 6
    assert p.base_usd == Decimal("20")
    assert p.bonus_cap_rate == Decimal("0.40")
    assert p.monthly_budget_usd is None
    assert p.multi_node == (MultiNodeTier(3, Decimal("0.10")), MultiNodeTier(5, Decimal("0.20")))
    assert [p.multi_node_rate(k) for k in range(0, 8)] == [Decimal(0)] * 3 + [Decimal("0.10")] * 2 + [
        Decimal("0.20")
    ] * 3
    assert dict(p.role_rates) == {
        "miner": Decimal("0.05"),
        "oracle": Decimal("0.10"),
        "verifier": Decimal("0.10"),
    }
    assert p.rank_tiers == (
        RankTier(1, 5, Decimal("50"), 1),
        RankTier(6, 10, Decimal("35"), 1),
        RankTier(11, 20, Decimal("25"), 1),
        RankTier(21, 30, Decimal("15"), 1),
        RankTier(31, 100, Decimal("10"), 10),
        RankTier(101, 150, Decimal("5"), 0),
    )
    assert sum(t.slots for t in p.rank_tiers) == 150
    # section 7
    assert p.max_transfers_per_batch == 100


def test_policy_hash_is_sha256_of_the_file_bytes():
    p = parse_policy(RAW, "phase3.toml")
    assert p.sha256 == hashlib.sha256(POLICY_FILE.read_bytes()).hexdigest()
    # one more byte (a trailing comment) -> another hash, same rules
    q = parse_policy(RAW + b"# note\n", "phase3.toml")
    assert q.sha256 != p.sha256 and q.sha256 == hashlib.sha256(RAW + b"# note\n").hexdigest()
    assert q.rank_tiers == p.rank_tiers


def edited(old: str, new: str) -> bytes:
    assert TEXT.count(old) == 1, f"{old!r} must occur exactly once in the shipped policy"
    return TEXT.replace(old, new).encode("utf-8")


def zero_weights() -> bytes:
    """Every line of [score.weights] set to "0"."""
    head, rest = TEXT.split("[score.weights]\n", 1)
    weights, tail = rest.split("\n\n", 1)
    zeroed = "\n".join(line.split("=")[0] + '= "0"' for line in weights.split("\n"))
    return f"{head}[score.weights]\n{zeroed}\n\n{tail}".encode()


TIER_1 = 'first = 1\nlast = 5\nusd = "50"\nmax_per_operator = 1\n'
TIER_2 = 'first = 6\nlast = 10\nusd = "35"\nmax_per_operator = 1\n'

BAD_POLICIES = {
    "unknown_top_level_key": (TEXT.replace('version = "1"\n', 'version = "1"\nfoo = 1\n', 1).encode(), "foo"),
    "unknown_nested_key": (
        edited('bonus_cap_rate = "0.40"', 'bonus_cap_rate = "0.40"\nbonus_cap = "0.40"'),
        "amounts.bonus_cap",
    ),
    "negative_role_rate": (edited('oracle = "0.10"', 'oracle = "-0.10"'), "amounts.roles.oracle"),
    "negative_cap_rate": (
        edited('bonus_cap_rate = "0.40"', 'bonus_cap_rate = "-0.40"'),
        "amounts.bonus_cap_rate",
    ),
    "negative_multi_rate": (edited('rate = "0.10"', 'rate = "-0.10"'), "amounts.multi_node[0].rate"),
    "rank_tiers_out_of_order": (
        TEXT.replace(TIER_1, "@@").replace(TIER_2, TIER_1).replace("@@", TIER_2).encode(),
        "rank_tiers[0]",
    ),
    "rank_tiers_gap": (edited("first = 6\nlast = 10\n", "first = 7\nlast = 10\n"), "rank_tiers[1]"),
    "batch_size_501": (edited("max_transfers = 100", "max_transfers = 501"), "batches.max_transfers"),
    "weights_all_zero": (zero_weights(), "score.weights"),
}


def test_bad_policy_edits_really_change_the_file():
    for name, (raw, _) in BAD_POLICIES.items():
        assert raw != RAW, name
    # the out-of-order edit swapped the first two tiers
    swapped = BAD_POLICIES["rank_tiers_out_of_order"][0].decode()
    assert swapped.index(TIER_2) < swapped.index(TIER_1)
    zero = BAD_POLICIES["weights_all_zero"][0].decode()
    assert zero.count('= "0"') == 9


@pytest.mark.parametrize("case", list(BAD_POLICIES))
def test_bad_policy_is_refused_naming_the_key(case):
    raw, key = BAD_POLICIES[case]
    with pytest.raises(InputError) as err:
        parse_policy(raw, "bad.toml")
    assert f"key '{key}'" in str(err.value), str(err.value)
    assert "bad.toml" in str(err.value)


def test_batch_size_500_is_accepted():
    p = parse_policy(edited("max_transfers = 100", "max_transfers = 500"), "ok.toml")
    assert p.max_transfers_per_batch == 500
