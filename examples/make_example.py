"""Build the bundled example month ``examples/2026-10`` (metrics, registry, README, run.toml).

A synthetic population from ``bench.generate`` plus hand-built operators and nodes, one per
case, so that a run of the pipeline shows every eligibility reason of the spec (section 4)
and the edge cases an auditor will want to check. The README written next to the data lists
every deliberate case with its addresses and expected outcome.

Deterministic: running it again gives byte-identical files.

    python -m examples.make_example            # from the repository root
    python examples/make_example.py --out DIR  # elsewhere
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

try:
    from bench.generate import (
        METRICS_COLUMNS,
        REGISTRY_COLUMNS,
        break_checksum,
        generate_month,
        make_address,
        period_dates,
        write_frame,
    )
except ModuleNotFoundError:  # run as a script from elsewhere: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.generate import (
        METRICS_COLUMNS,
        REGISTRY_COLUMNS,
        break_checksum,
        generate_month,
        make_address,
        period_dates,
        write_frame,
    )

PERIOD = "2026-10"
BASE_SEED = 202610  # the random population
CASE_SEED = 2610  # addresses and metrics of the hand-built cases
BASE_OPERATORS = 100
BASE_NODES = 570
OUT_DIR = Path(__file__).resolve().parent / PERIOD

RUN_TOML = """\
period = "2026-10"
metrics = "metrics.csv"
operators = "operators.csv"
price = "0.0215"
price_source = "example: fixed illustrative price, not a market quote"

# Where the example month is paid: Arbitrum Sepolia (Testnet-0). The Safe and token below are
# ILLUSTRATIVE addresses (the last 20 bytes of keccak("cortensor example safe") and of
# keccak("cortensor example token")), not deployments: never sign a batch built for them.
network = "arbitrum-sepolia"
safe = "0x175fF7e28908933157B7701B3799BB3eD52cABb8"
token = "0x75b757d248DC620895eA7ed54888327891787543"
safe_nonce = 0
"""

DATES = period_dates(PERIOD)
D = len(DATES)  # 31


# ----------------------------------------------------------------------------- row building


def fx(value: float, decimals: int) -> str:
    """Plain notation, at most `decimals` decimals, trailing zeros stripped (keeps one: '1.0')."""
    s = f"{value:.{decimals}f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


@dataclass
class NodeSpec:
    """One hand-built node: healthy by default; the fields below make it a case."""

    label: str
    operator: str  # operator label (or "unregistered")
    expected: str  # expected reason ("" = eligible)
    note: str
    days: list[int] = field(default_factory=lambda: list(range(1, D + 1)))  # days with a row
    uptime: float | None = None  # fixed uptime_ratio on every row (None: healthy 0.93..1.0)
    tasks: bool = True  # False: tasks_completed 0 all month
    pool: int = 3
    cor: str = ""  # stake_cor ("" = a sufficient stake picked for it)
    stake_from_day: dict[int, tuple[int, str]] = field(default_factory=dict)  # day -> (pool, cor) from then
    ping: bool = True  # False: ping_ms / global_ping_ms never measured (empty)
    operator_from_day: dict[int, str] = field(default_factory=dict)  # day -> operator label from then


@dataclass
class OperatorSpec:
    label: str
    note: str
    roles: str = ""
    preapproved: bool = False
    disqualified: bool = False
    bug_points: int = 0
    payout: str = ""  # "" = own address; "op:<label>" = that operator's address; "wallet:<name>"


SUFFICIENT_STAKES = ["4000", "5123.5", "4250.25", "6000", "4000.000001", "12500", "4800.125"]


def node_rows(
    rng: np.random.Generator, node: NodeSpec, node_addr: str, op_addr: dict[str, str]
) -> list[dict]:
    """Rows for one hand-built node, formatted like bench.generate (all strings)."""
    rows = []
    cor = node.cor or SUFFICIENT_STAKES[int(rng.integers(len(SUFFICIENT_STAKES)))]
    pool = node.pool
    operator = node.operator
    thr_base = float(np.exp(rng.normal(np.log(30.0), 0.4)))
    ping_base = float(np.exp(rng.normal(np.log(45.0), 0.4)))
    for day in node.days:
        pool, cor = node.stake_from_day.get(day, (pool, cor))
        operator = node.operator_from_day.get(day, operator)
        if node.uptime is None:  # healthy: mostly 0.95..1.0, never below 0.93
            up_sec = 86400 - int(min(rng.exponential(900.0), 4000.0)) if rng.random() > 0.35 else 86400
            uptime = round(up_sec / 86400, 6)
        else:
            uptime = node.uptime
        total = int(rng.poisson(40 * uptime))
        sm = []
        for _state in range(4):
            ok = int(rng.binomial(total, 0.99))
            sm += [ok, total]
            total = ok
        tasks = int(rng.poisson(120 * uptime)) + 1 if node.tasks else 0
        rows.append(
            {
                "date": DATES[day - 1],
                "node_address": node_addr,
                "operator_address": op_addr[operator],
                "uptime_ratio": fx(uptime, 6),
                "response_rate": fx(min(1.0, 0.97 + rng.random() * 0.03), 4),
                "throughput_tph": fx(thr_base * uptime * float(np.exp(rng.normal(0.0, 0.2))), 2),
                "ping_ms": fx(ping_base * float(np.exp(rng.normal(0.0, 0.15))), 1) if node.ping else "",
                "global_ping_ms": fx(ping_base * 2.5 * float(np.exp(rng.normal(0.0, 0.1))), 1)
                if node.ping
                else "",
                "sm_create_ok": str(sm[0]),
                "sm_create_total": str(sm[1]),
                "sm_prepare_ok": str(sm[2]),
                "sm_prepare_total": str(sm[3]),
                "sm_precommit_ok": str(sm[4]),
                "sm_precommit_total": str(sm[5]),
                "sm_commit_ok": str(sm[6]),
                "sm_commit_total": str(sm[7]),
                "tasks_completed": str(tasks),
                "tasks_accurate": str(int(rng.binomial(tasks, 0.97))),
                "stake_pool": str(pool),
                "stake_cor": cor,
            }
        )
    return rows


# ----------------------------------------------------------------------------- the cases


def cases() -> tuple[list[OperatorSpec], list[NodeSpec]]:
    ops: list[OperatorSpec] = []
    nodes: list[NodeSpec] = []

    def op(label: str, note: str, **kw: object) -> None:
        ops.append(OperatorSpec(label, note, **kw))  # type: ignore[arg-type]

    def node(label: str, operator: str, expected: str, note: str, **kw: object) -> None:
        nodes.append(NodeSpec(label, operator, expected, note, **kw))  # type: ignore[arg-type]

    # Case 1 - invalid_data: each of these nodes has exactly one rejected row (row-level faults,
    # spec 2); the rest of its month is healthy. The operator's clean node is still paid.
    op("op-invalid-data", "operator of the invalid_data nodes; its clean node stays eligible")
    node("node-uptime-1.7", "op-invalid-data", "invalid_data", "uptime_ratio 1.7 on 2026-10-10 (> 1)")
    node(
        "node-duplicate",
        "op-invalid-data",
        "invalid_data",
        "the 2026-10-12 row appears twice (duplicate key)",
    )
    node(
        "node-bad-checksum",
        "op-invalid-data",
        "invalid_data",
        "operator_address on 2026-10-15 is mixed case with a wrong EIP-55 checksum",
    )
    node(
        "node-accurate-gt-completed",
        "op-invalid-data",
        "invalid_data",
        "tasks_accurate > tasks_completed on 10-20",
    )
    node("node-empty-response", "op-invalid-data", "invalid_data", "response_rate empty on 2026-10-05")
    node("node-invalid-op-clean", "op-invalid-data", "", "healthy node of the same operator: paid")

    # Case 2 - unknown_operator: the node's operator is not in operators.csv.
    node("node-unknown-operator", "unregistered", "unknown_operator", "operator not in the registry")

    # Case 3 - conflicting_operator: the node names op-conflict-a on 10-01..10-15 and op-conflict-b
    # from 10-16; both operators are registered and each has another, clean node.
    op("op-conflict-a", "first operator named by the conflicting node")
    op("op-conflict-b", "second operator named by the conflicting node")
    node(
        "node-conflicting",
        "op-conflict-a",
        "conflicting_operator",
        "rows name op-conflict-a (10-01..10-15) and op-conflict-b (10-16..10-31)",
        operator_from_day={16: "op-conflict-b"},
    )
    node("node-conflict-a-clean", "op-conflict-a", "", "clean node of op-conflict-a")
    node("node-conflict-b-clean", "op-conflict-b", "", "clean node of op-conflict-b")

    # Case 4 - disqualified: healthy nodes of an operator with disqualified=true.
    op("op-disqualified", "disqualified=true", disqualified=True, roles="oracle")
    node("node-disqualified-1", "op-disqualified", "disqualified", "healthy, operator disqualified")
    node("node-disqualified-2", "op-disqualified", "disqualified", "healthy, operator disqualified")

    # Case 5 - stake rule (not preapproved): pool must be 3 and stake_cor >= 4000 on the latest row.
    op("op-stake", "not preapproved; nodes around the stake rule")
    node("node-stake-pool-2", "op-stake", "insufficient_stake", "stake_pool 2 all month", pool=2, cor="5000")
    node("node-stake-3999.5", "op-stake", "insufficient_stake", "stake_cor 3999.5", cor="3999.5")
    node(
        "node-stake-3999.999999", "op-stake", "insufficient_stake", "stake_cor 3999.999999", cor="3999.999999"
    )
    node(
        "node-stake-exactly-4000",
        "op-stake",
        "",
        "stake_pool 3, stake_cor exactly 4000 (boundary)",
        cor="4000",
    )
    node(
        "node-stake-upgraded",
        "op-stake",
        "",
        "stake_pool 2 until 10-20, pool 3 / 4000 from 10-21: the latest row counts",
        pool=2,
        cor="4000",
        stake_from_day={21: (3, "4000")},
    )
    node(
        "node-stake-dropped",
        "op-stake",
        "insufficient_stake",
        "pool 3 / 4500 until 10-30, stake_cor 3000 on 10-31: the latest row counts",
        cor="4500",
        stake_from_day={31: (3, "3000")},
    )

    # Case 6 - preapproved operator: exempt from the stake rule, eligible despite a low stake.
    op("op-preapproved-low-stake", "preapproved=true, stake below the rule", preapproved=True)
    node(
        "node-preapproved-pool-1",
        "op-preapproved-low-stake",
        "",
        "stake_pool 1, stake_cor 100",
        pool=1,
        cor="100",
    )
    node(
        "node-preapproved-cor-0", "op-preapproved-low-stake", "", "stake_pool 2, stake_cor 0", pool=2, cor="0"
    )

    # Case 7 - uptime = sum(uptime_ratio) / 31; a day with no row counts 0; eligible from 0.90.
    op("op-uptime", "nodes around the 0.90 uptime threshold")
    node(
        "node-uptime-26-of-31",
        "op-uptime",
        "low_uptime",
        "26 days at 1.0, no rows 10-27..10-31: 26/31 = 0.8387",
        days=list(range(1, 27)),
        uptime=1.0,
    )
    node(
        "node-uptime-27-of-31",
        "op-uptime",
        "low_uptime",
        "27 days at 1.0, 4 days missing (10-03, 10-09, 10-17, 10-25): 27/31 = 0.8710",
        days=[d for d in range(1, D + 1) if d not in (3, 9, 17, 25)],
        uptime=1.0,
    )
    node(
        "node-uptime-exactly-0.90",
        "op-uptime",
        "",
        "31 days at 0.9: 27.9/31 = 0.90 exactly (boundary; a float sum gives 0.8999999999999997)",
        uptime=0.9,
    )
    node(
        "node-uptime-0.899999",
        "op-uptime",
        "low_uptime",
        "31 days at 0.899999: just below 0.90",
        uptime=0.899999,
    )
    node(
        "node-uptime-28-of-31",
        "op-uptime",
        "",
        "28 days at 1.0, no rows 10-01..10-03: 28/31 = 0.9032",
        days=list(range(4, D + 1)),
        uptime=1.0,
    )
    node(
        "node-ping-never-measured", "op-uptime", "", "ping_ms and global_ping_ms empty all month", ping=False
    )

    # Case 8 - no_tasks: healthy node with tasks_completed 0 every day.
    op("op-no-tasks", "one node without tasks, one normal")
    node("node-no-tasks", "op-no-tasks", "no_tasks", "tasks_completed 0 all month", tasks=False)
    node("node-no-tasks-op-clean", "op-no-tasks", "", "clean node of the same operator")

    # Case 9 - over_node_cap: 30 healthy nodes; the 5 ranked after its 25th are cut.
    op(
        "op-30-nodes",
        "30 healthy nodes: 25 eligible, 5 over_node_cap; k=25 (20% tier) + verifier: "
        "500 + 100 + 60 = 660 USD + rank rewards",
        roles="verifier",
    )
    for i in range(1, 31):
        node(f"node-cap-{i:02d}", "op-30-nodes", "eligible or over_node_cap", "one of 30 healthy nodes")

    # Case 10 - payout sharing: operators grouped by payout_address get one transfer per address.
    op("op-share1-a", "shares wallet-shared-1 with op-share1-b and op-share1-c", payout="wallet:shared-1")
    op("op-share1-b", "shares wallet-shared-1", payout="wallet:shared-1", roles="miner")
    op("op-share1-c", "shares wallet-shared-1", payout="wallet:shared-1")
    op("op-share2-a", "paid to its own address, which op-share2-b also uses")
    op("op-share2-b", "paid to op-share2-a's operator address", payout="op:op-share2-a")
    for label, n in (
        ("op-share1-a", 1),
        ("op-share1-b", 2),
        ("op-share1-c", 1),
        ("op-share2-a", 1),
        ("op-share2-b", 1),
    ):
        for i in range(1, n + 1):
            node(f"node-{label[3:]}-{i}", label, "", f"clean node of {label}")

    # Case 11 - roles and multi-node tiers (k = the operator's eligible nodes: 10% from 3, 20% from 5).
    op(
        "op-3-nodes-oracle",
        "k=3 (10% tier) + oracle 10%: 60 + 6 + 6.60 = 72.60 USD + rank rewards",
        roles="oracle",
    )
    op(
        "op-5-nodes-verifier",
        "k=5 (20% tier) + verifier 10%: 100 + 20 + 12 = 132 USD + rank rewards",
        roles="verifier",
    )
    op("op-miner", "k=1, miner 5%: 20 + 1 = 21 USD + rank rewards", roles="miner")
    op(
        "op-4-nodes-miner-oracle",
        "k=4 (10% tier), roles miner;oracle: the largest rate (10%)",
        roles="miner;oracle",
    )
    op("op-all-roles", "k=2, roles miner;oracle;verifier: 10%", roles="miner;oracle;verifier")
    op("op-tier-drop", "3 nodes but one low_uptime: k=2, no multi-node bonus; oracle 10%", roles="oracle")
    op("op-bug-points", "bug_points 7 (the bug_points metric)", bug_points=7)
    for label, n in (
        ("op-3-nodes-oracle", 3),
        ("op-5-nodes-verifier", 5),
        ("op-miner", 1),
        ("op-4-nodes-miner-oracle", 4),
        ("op-all-roles", 2),
        ("op-tier-drop", 2),
        ("op-bug-points", 1),
    ):
        for i in range(1, n + 1):
            node(f"node-{label[3:]}-{i}", label, "", f"clean node of {label}")
    node(
        "node-tier-drop-low",
        "op-tier-drop",
        "low_uptime",
        "20 days at 1.0 (10-01..10-20): 0.645",
        days=list(range(1, 21)),
        uptime=1.0,
    )
    return ops, nodes


# ----------------------------------------------------------------------------- build


def build(out_dir: Path = OUT_DIR) -> dict[str, Path]:
    """Write metrics.csv, operators.csv, README.md and run.toml into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base_metrics, base_registry = generate_month(
        period=PERIOD, operators=BASE_OPERATORS, nodes=BASE_NODES, seed=BASE_SEED, bad_row_rate=0.0
    )
    ops, nodes = cases()
    op_addr = {o.label: make_address(CASE_SEED, "example-operator", i) for i, o in enumerate(ops)}
    op_addr["unregistered"] = make_address(CASE_SEED, "example-unregistered", 0)
    wallets: dict[str, str] = {}
    reg_rows = []
    for o in ops:
        if o.payout.startswith("wallet:"):
            name = o.payout.removeprefix("wallet:")
            payout = wallets.setdefault(name, make_address(CASE_SEED, f"example-wallet-{name}", 0))
        elif o.payout.startswith("op:"):
            payout = op_addr[o.payout.removeprefix("op:")]
        else:
            payout = op_addr[o.label]
        reg_rows.append(
            {
                "operator_address": op_addr[o.label],
                "payout_address": payout,
                "roles": o.roles,
                "preapproved": "true" if o.preapproved else "false",
                "disqualified": "true" if o.disqualified else "false",
                "bug_points": str(o.bug_points),
            }
        )
    node_addr = {n.label: make_address(CASE_SEED, "example-node", i) for i, n in enumerate(nodes)}

    rng = np.random.default_rng(CASE_SEED)
    rows: list[dict] = []
    for n in nodes:
        nr = node_rows(rng, n, node_addr[n.label], op_addr)
        if n.label == "node-uptime-1.7":  # one out-of-range uptime_ratio
            nr[9]["uptime_ratio"] = "1.7"
        elif n.label == "node-duplicate":  # the 2026-10-12 row twice, identical
            nr.insert(12, dict(nr[11]))
        elif n.label == "node-bad-checksum":  # operator address with one letter's case flipped
            nr[14]["operator_address"] = break_checksum(nr[14]["operator_address"])
        elif n.label == "node-accurate-gt-completed":  # more accurate tasks than completed
            nr[19]["tasks_accurate"] = str(int(nr[19]["tasks_completed"]) + 5)
        elif n.label == "node-empty-response":  # response_rate is not nullable
            nr[4]["response_rate"] = ""
        rows += nr
    case_metrics = pd.DataFrame(rows, columns=list(METRICS_COLUMNS), dtype="str")
    metrics = pd.concat([base_metrics, case_metrics], ignore_index=True)
    # one file ordered by date (a daily export), stable: a node's duplicate stays next to its original
    metrics = metrics.sort_values("date", kind="stable", ignore_index=True)
    registry = pd.concat(
        [base_registry, pd.DataFrame(reg_rows, columns=list(REGISTRY_COLUMNS), dtype="str")],
        ignore_index=True,
    )

    paths = {
        "metrics": write_frame(metrics, out_dir / "metrics.csv"),
        "operators": write_frame(registry, out_dir / "operators.csv"),
        "run": out_dir / "run.toml",
        "readme": out_dir / "README.md",
    }
    paths["run"].write_text(RUN_TOML, encoding="utf-8", newline="\n")
    paths["readme"].write_text(
        readme(ops, nodes, op_addr, node_addr, wallets, metrics, registry), encoding="utf-8", newline="\n"
    )
    return paths


def readme(
    ops: list[OperatorSpec],
    nodes: list[NodeSpec],
    op_addr: dict[str, str],
    node_addr: dict[str, str],
    wallets: dict[str, str],
    metrics: pd.DataFrame,
    registry: pd.DataFrame,
) -> str:
    n_nodes = metrics["node_address"].str.lower().nunique()
    lines = [
        "# Example month 2026-10",
        "",
        "Generated by `python -m examples.make_example` (deterministic: do not edit these files by hand,",
        "change `examples/make_example.py` and regenerate; `tests/unit/test_generate.py` checks they match).",
        "",
        f"* `metrics.csv`: {len(metrics)} rows, {n_nodes} nodes, 31 days (2026-10-01..2026-10-31).",
        f"* `operators.csv`: {len(registry)} operators.",
        "* `run.toml`: period, input files and the COR price (0.0215 USD, illustrative, not a market quote).",
        "",
        f"The first {BASE_OPERATORS} operators and {BASE_NODES} nodes are a random population from",
        f"`bench.generate` (seed {BASE_SEED}, no injected bad rows): besides the cases below, some of",
        "its nodes are naturally `low_uptime`, `insufficient_stake`, `no_tasks`, `disqualified` or",
        "`over_node_cap`, and some of its operators share payout addresses. The hand-built cases follow;",
        "all their nodes are otherwise healthy (stake_pool 3, stake_cor >= 4000, uptime >= 0.93 every",
        "day, tasks every day) unless stated, and all are new (no earlier period).",
        "",
        "## Operators of the hand-built cases",
        "",
        "| operator | address | payout address | roles | preapproved | disqualified | bug_points | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in ops:
        if o.payout.startswith("wallet:"):
            payout = f"`{wallets[o.payout.removeprefix('wallet:')]}` ({o.payout})"
        elif o.payout.startswith("op:"):
            payout = f"`{op_addr[o.payout.removeprefix('op:')]}` (= {o.payout.removeprefix('op:')})"
        else:
            payout = "own address"
        lines.append(
            f"| {o.label} | `{op_addr[o.label]}` | {payout} | {o.roles or '-'} "
            f"| {str(o.preapproved).lower()} | {str(o.disqualified).lower()} | {o.bug_points} | {o.note} |"
        )
    lines += [
        f"| (unregistered) | `{op_addr['unregistered']}` | - | - | - | - | - | not in operators.csv |",
        "",
        "## Nodes of the hand-built cases and their expected reason",
        "",
        "Expected reason: empty = eligible. `uptime` = sum of uptime_ratio / 31, a missing day counts 0.",
        "",
        "| node | address | operator | expected reason | how it is built |",
        "|---|---|---|---|---|",
    ]
    for n in nodes:
        op_label = n.operator if n.operator != "unregistered" else "(unregistered)"
        expected = f"`{n.expected}`" if n.expected and " " not in n.expected else (n.expected or "eligible")
        lines.append(f"| {n.label} | `{node_addr[n.label]}` | {op_label} | {expected} | {n.note} |")
    lines += [
        "",
        "## What to check in a run",
        "",
        "* `invalid_data`: 5 nodes of op-invalid-data, one rejected row each in `rejected_rows.csv`",
        "  (for the duplicate, one or both copies of the 2026-10-12 row, as the pipeline reports it).",
        "* op-30-nodes: exactly 25 eligible nodes and 5 `over_node_cap` (the 5 ranked lowest), 20% tier.",
        "* node-uptime-exactly-0.90 is eligible: uptime must be computed exactly (27.9 / 31 = 0.9).",
        "* wallet-shared-1 receives one transfer for op-share1-a, -b and -c; op-share2-a's address",
        "  receives one transfer for op-share2-a and op-share2-b.",
        "* op-tier-drop: 3 nodes but only 2 eligible, so no multi-node bonus.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the example month examples/2026-10.")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help=f"output directory (default {OUT_DIR})")
    args = ap.parse_args(argv)
    for name, path in build(args.out).items():
        print(f"{name:10s} {path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
