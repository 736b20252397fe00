"""The reward policy: every number the contest calls "subject to change", as a frozen dataclass.

A policy is parsed from the TOML file's *bytes* (the shell reads the file); its SHA-256 is taken
over exactly those bytes, so the hash stamped on an output identifies the rules it was computed
under. Unknown keys and out-of-range values are refused with a message naming the key.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from payouts.errors import InputError

METRICS: tuple[str, ...] = (
    "uptime",
    "response_rate",
    "throughput",
    "ping_ms",
    "global_ping_ms",
    "sm_quality",
    "tasks_completed",
    "accuracy",
    "bug_points",
)
#: Metrics where a lower value is better (percentile computed descending).
LOWER_IS_BETTER: frozenset[str] = frozenset({"ping_ms", "global_ping_ms"})


@dataclass(frozen=True)
class MultiNodeTier:
    min_nodes: int
    rate: Decimal


@dataclass(frozen=True)
class RankTier:
    first: int
    last: int
    usd: Decimal
    max_per_operator: int  # 0 = unlimited

    @property
    def slots(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Policy:
    name: str
    version: str
    description: str
    sha256: str
    token_symbol: str
    token_decimals: int
    min_uptime: Decimal
    min_tasks: int
    required_stake_pool: int
    min_stake_cor: Decimal
    max_nodes_per_operator: int
    weights: tuple[tuple[str, Decimal], ...]
    base_usd: Decimal
    bonus_cap_rate: Decimal
    monthly_budget_usd: Decimal | None
    multi_node: tuple[MultiNodeTier, ...]  # ascending min_nodes
    role_rates: tuple[tuple[str, Decimal], ...]
    rank_tiers: tuple[RankTier, ...]
    max_transfers_per_batch: int
    emission_allocation_wei: int | None = None  # miner-incentive allocation (COR, in base units)
    emission_monthly_cap_wei: int | None = None  # most one period may emit

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(r for r, _ in self.role_rates)

    def multi_node_rate(self, eligible_nodes: int) -> Decimal:
        rate = Decimal(0)
        for tier in self.multi_node:
            if eligible_nodes >= tier.min_nodes:
                rate = tier.rate
        return rate

    def role_rate(self, roles: frozenset[str]) -> Decimal:
        rates = dict(self.role_rates)
        return max((rates[r] for r in roles), default=Decimal(0))


MAX_BATCH_SIZE = 500

_SCHEMA: dict[str, Any] = {
    "name": str,
    "version": str,
    "description": str,
    "token": {"symbol": str, "decimals": int},
    "eligibility": {
        "min_uptime": "dec",
        "min_tasks": int,
        "required_stake_pool": int,
        "min_stake_cor": "dec",
        "max_nodes_per_operator": int,
    },
    "score": {"weights": {m: "dec" for m in METRICS}},
    "amounts": {
        "base_usd": "dec",
        "bonus_cap_rate": "dec",
        "monthly_budget_usd": "dec?",
        "multi_node": [{"min_nodes": int, "rate": "dec"}],
        "roles": "roles",
    },
    "rank_tiers": [{"first": int, "last": int, "usd": "dec", "max_per_operator": int}],
    "batches": {"max_transfers": int},
    "emission": {"allocation_cor": "dec", "monthly_cap_cor": "dec?"},
}
_OPTIONAL_TABLES = frozenset({"emission"})


def _fail(source: str, key: str, problem: str) -> InputError:
    return InputError(f"policy {source}: key '{key}' {problem}", fix="edit the policy file")


def _dec(source: str, key: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(source, key, f'must be a decimal written as a string, e.g. "0.10" (found {value!r})')
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise _fail(source, key, f"is not a decimal number: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise _fail(source, key, f"must be a finite number >= 0 (found {value!r})")
    return d


def _check_shape(source: str, data: Mapping[str, Any], schema: Mapping[str, Any], prefix: str) -> None:
    for key in data:
        if key not in schema:
            raise _fail(source, prefix + key, "is not a known policy key (typo?)")
    for key, kind in schema.items():
        path = prefix + key
        if key not in data:
            if kind == "dec?" or (prefix == "" and key in _OPTIONAL_TABLES):
                continue
            raise _fail(source, path, "is missing")
        value = data[key]
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise _fail(source, path, "must be a table")
            _check_shape(source, value, kind, path + ".")
        elif isinstance(kind, list):
            if not isinstance(value, list) or not value:
                raise _fail(source, path, "must be a non-empty array of tables")
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise _fail(source, f"{path}[{i}]", "must be a table")
                _check_shape(source, item, kind[0], f"{path}[{i}].")
        elif kind in (str, int):
            if isinstance(value, bool) or not isinstance(value, kind):
                raise _fail(source, path, f"must be {kind.__name__} (found {value!r})")
            if kind is int and value < 0:
                raise _fail(source, path, f"must be >= 0 (found {value})")
        elif kind in ("dec", "dec?"):
            _dec(source, path, value)
        elif kind == "roles":
            if not isinstance(value, dict) or not value:
                raise _fail(source, path, "must be a table of role = rate")
            for role, rate in value.items():
                _dec(source, f"{path}.{role}", rate)


def parse_policy(raw: bytes, source: str = "<policy>") -> Policy:
    """Parse and check a policy file's bytes. Raises InputError naming the key on any fault."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(
            f"policy {source}: not valid UTF-8 TOML ({exc})", fix="fix the TOML syntax"
        ) from None
    _check_shape(source, data, _SCHEMA, "")
    elig, amounts = data["eligibility"], data["amounts"]

    def d(key: str, value: object) -> Decimal:
        return _dec(source, key, value)

    multi = tuple(
        sorted(
            (
                MultiNodeTier(t["min_nodes"], d("amounts.multi_node.rate", t["rate"]))
                for t in amounts["multi_node"]
            ),
            key=lambda t: t.min_nodes,
        )
    )
    tiers = tuple(
        RankTier(t["first"], t["last"], d("rank_tiers.usd", t["usd"]), t["max_per_operator"])
        for t in data["rank_tiers"]
    )
    policy = Policy(
        name=data["name"],
        version=data["version"],
        description=data["description"],
        sha256=hashlib.sha256(raw).hexdigest(),
        token_symbol=data["token"]["symbol"],
        token_decimals=data["token"]["decimals"],
        min_uptime=d("eligibility.min_uptime", elig["min_uptime"]),
        min_tasks=elig["min_tasks"],
        required_stake_pool=elig["required_stake_pool"],
        min_stake_cor=d("eligibility.min_stake_cor", elig["min_stake_cor"]),
        max_nodes_per_operator=elig["max_nodes_per_operator"],
        weights=tuple((m, d(f"score.weights.{m}", data["score"]["weights"][m])) for m in METRICS),
        base_usd=d("amounts.base_usd", amounts["base_usd"]),
        bonus_cap_rate=d("amounts.bonus_cap_rate", amounts["bonus_cap_rate"]),
        monthly_budget_usd=(
            d("amounts.monthly_budget_usd", amounts["monthly_budget_usd"])
            if "monthly_budget_usd" in amounts
            else None
        ),
        multi_node=multi,
        role_rates=tuple(sorted((r, d(f"amounts.roles.{r}", v)) for r, v in amounts["roles"].items())),
        rank_tiers=tiers,
        max_transfers_per_batch=data["batches"]["max_transfers"],
        emission_allocation_wei=_cor_to_wei(source, data, "allocation_cor"),
        emission_monthly_cap_wei=_cor_to_wei(source, data, "monthly_cap_cor"),
    )
    _check_ranges(policy, source)
    return policy


def _cor_to_wei(source: str, data: Mapping[str, Any], key: str) -> int | None:
    emission = data.get("emission")
    if not emission or key not in emission:
        return None
    amount = _dec(source, f"emission.{key}", emission[key]) * (10 ** data["token"]["decimals"])
    if amount != amount.to_integral_value() or amount <= 0:
        raise _fail(
            source, f"emission.{key}", "must be a positive COR amount with at most token.decimals places"
        )
    return int(amount)


def _check_ranges(p: Policy, source: str) -> None:
    def need(ok: bool, key: str, problem: str) -> None:
        if not ok:
            raise _fail(source, key, problem)

    need(p.name.strip() != "", "name", "must not be empty")
    need(p.version.strip() != "", "version", "must not be empty")
    need(0 < p.token_decimals <= 36, "token.decimals", f"must be 1..36 (found {p.token_decimals})")
    need(p.min_uptime <= 1, "eligibility.min_uptime", f"must be between 0 and 1 (found {p.min_uptime})")
    need(p.required_stake_pool >= 1, "eligibility.required_stake_pool", "must be >= 1")
    need(p.max_nodes_per_operator >= 1, "eligibility.max_nodes_per_operator", "must be >= 1")
    need(sum(w for _, w in p.weights) > 0, "score.weights", "must not all be 0")
    need(p.base_usd > 0, "amounts.base_usd", "must be > 0")
    need(p.bonus_cap_rate <= 10, "amounts.bonus_cap_rate", f"must be <= 10 (found {p.bonus_cap_rate})")
    need(
        p.monthly_budget_usd is None or p.monthly_budget_usd > 0, "amounts.monthly_budget_usd", "must be > 0"
    )
    mins = [t.min_nodes for t in p.multi_node]
    need(len(set(mins)) == len(mins), "amounts.multi_node", "has two tiers with the same min_nodes")
    need(all(m >= 1 for m in mins), "amounts.multi_node.min_nodes", "must be >= 1")
    rates = [t.rate for t in p.multi_node]
    need(rates == sorted(rates), "amounts.multi_node", "rates must not decrease as min_nodes grows")
    for role, rate in p.role_rates:
        need(rate <= 1, f"amounts.roles.{role}", f"must be <= 1 (found {rate})")
    expected_first = 1
    for i, t in enumerate(p.rank_tiers):
        key = f"rank_tiers[{i}]"
        need(t.first == expected_first, key, f"must start at slot {expected_first} (tiers in order, no gaps)")
        need(t.last >= t.first, key, "last must be >= first")
        expected_first = t.last + 1
    need(
        1 <= p.max_transfers_per_batch <= MAX_BATCH_SIZE,
        "batches.max_transfers",
        f"must be 1..{MAX_BATCH_SIZE} (found {p.max_transfers_per_batch})",
    )
