"""The SQLite payout ledger on a real file: migrations, no double emission, supersede, first
eligibility, concurrency between processes and crash safety."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from flows.ledger import (
    SCHEMA_VERSION,
    AlreadyEmitted,
    ConcurrentRun,
    ConflictingRun,
    EmitResult,
    Ledger,
    LedgerUnusable,
    Plan,
    RunInProgress,
    RunMeta,
    TransferRecord,
    check_artifacts,
    run_key,
)
from payouts.deltas import assign_batches, render_overpaid_csv
from payouts.period import Period
from payouts.reconcile import OnChainTransfer
from tests.builders import addr, node_rows, operator_row, run_month

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
P1, P2 = "2026-10", "2026-11"
COR = 10**18
A, B, C, D = (addr("p", i) for i in range(1, 5))
N1, N2, N3, N4, N5 = (addr("n", i) for i in range(1, 6))


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def key_for(seed: str) -> str:
    """The run key of a run whose (only) input file has content `seed` (as the child script does)."""
    return run_key(policy_sha256="0" * 64, inputs=[("metrics", sha(seed))], price="0.02")


def artifacts(
    plan: Plan,
    *,
    nodes: Collection[str] = (),
    operators: Mapping[str, str] | None = None,
    history: Mapping[str, Collection[str]] | None = None,
    per_batch: int = 2,
) -> tuple[RunMeta, list[TransferRecord]]:
    """What the pipeline would stage: batch files of `plan.pay`, a manifest, and their hashes."""
    rows = assign_batches(plan.pay, per_batch)
    names = {b: f"{plan.kind}-batch-{b}.json" for b, _, _ in rows}
    outputs = {name: sha(f"{name}:{[r for r in rows if r[0] == b]}") for b, name in names.items()}
    outputs["manifest.json"] = sha(plan.run_key)
    meta = RunMeta(
        policy_name="phase3",
        policy_version="1",
        policy_sha256="0" * 64,
        price="0.02",
        inputs=[{"role": "metrics", "sha256": plan.run_key}],
        outputs=outputs,
        totals={"transfers": len(rows), "total_wei": str(sum(w for _, _, w in rows))},
        eligible_nodes=tuple(nodes),
        operator_payouts=dict(operators or {}),
        history=dict(history or {}),
    )
    transfers = [TransferRecord(a, w, b, names[b], outputs[names[b]]) for b, a, w in rows]
    return meta, transfers


def emit(
    ledger: Ledger,
    period: str,
    owed: Mapping[str, int],
    *,
    seed: str = "inputs-1",
    supersede: bool = False,
    **kwargs: Any,
) -> EmitResult:
    plan = ledger.plan_emission(period, key_for(seed), owed, supersede=supersede)
    meta, transfers = artifacts(plan, **kwargs)
    return ledger.emit(plan, meta, transfers)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "ledger.sqlite"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    with Ledger.open(path, clock=lambda: "2026-11-02T00:00:00Z") as opened:
        yield opened


# ---------------------------------------------------------------------------------------------
# Schema


def test_open_creates_parents_migrates_and_reopens_idempotently(path: Path) -> None:
    assert not path.parent.exists()
    with Ledger.open(path) as ledger:
        assert ledger.schema_version() == SCHEMA_VERSION
        emit(ledger, P1, {A: 1})
        before = ledger.dump()
    assert set(before) == {"node_first_eligible", "operator_payout_address", "run_owed", "runs", "transfers"}
    with Ledger.open(path) as again:
        assert again.schema_version() == SCHEMA_VERSION
        assert again.dump() == before
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


def test_a_newer_schema_or_a_non_ledger_file_is_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    raw = sqlite3.connect(newer)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(LedgerUnusable, match="newer than this program"):
        Ledger.open(newer)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(LedgerUnusable, match="not a usable payout ledger"):
        Ledger.open(junk)
    with pytest.raises(LedgerUnusable, match="is a directory"):
        Ledger.open(tmp_path)


def test_ledger_rows_are_append_only(ledger: Ledger, path: Path) -> None:
    emit(ledger, P1, {A: 5, B: 6})
    raw = sqlite3.connect(path)
    for sql in (
        "UPDATE transfers SET amount_wei = '7'",
        "DELETE FROM transfers",
        "DELETE FROM runs",
        "UPDATE runs SET run_key = ?",
        "UPDATE run_owed SET amount_wei = '1'",
        # a second active run of the period: the partial unique index
        """INSERT INTO runs (period, seq, kind, status, run_key, policy_name, policy_version, policy_sha256,
               price, inputs_json, outputs_json, totals_json, created_at)
           SELECT period, 2, kind, 'emitted', run_key, policy_name, policy_version, policy_sha256, price,
               inputs_json, outputs_json, totals_json, created_at FROM runs""",
    ):
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute(sql, ("f" * 64,) if "?" in sql else ())
    raw.close()


# ---------------------------------------------------------------------------------------------
# Emission


def test_first_run_records_everything(ledger: Ledger) -> None:
    result = emit(ledger, P1, {B: 2 * COR, A: 1 * COR, C: 0}, nodes=[N2, N1], operators={addr("o", 1): A})
    run = result.run
    assert (run.run_id, run.period, run.seq, run.kind, run.status) == (1, P1, 1, "full", "emitted")
    assert run.run_key == key_for("inputs-1") and run.superseded_by is None and result.superseded is None
    assert run.created_at == "2026-11-02T00:00:00Z"
    assert ledger.active_run(P1) == run and ledger.runs() == [run] and ledger.runs(P2) == []
    assert ledger.owed(run.run_id) == {A: COR, B: 2 * COR, C: 0}
    assert ledger.paid_by_address(P1) == {A: COR, B: 2 * COR}
    assert [(t.payout_address, t.amount_wei, t.batch, t.batch_file) for t in ledger.transfers(P1)] == [
        (A, COR, 1, "full-batch-1.json"),
        (B, 2 * COR, 1, "full-batch-1.json"),
    ]
    assert result.first_eligible_added == (N1, N2)
    assert ledger.first_eligible() == {N1: P1, N2: P1}
    assert ledger.last_payout_addresses(P2) == {addr("o", 1): A}
    assert ledger.last_payout_addresses(P1) == {}


def test_rerun_with_the_same_inputs_is_a_no_op(ledger: Ledger) -> None:
    first = emit(ledger, P1, {A: 5, B: 6}, nodes=[N1])
    before = ledger.dump()
    with pytest.raises(AlreadyEmitted, match=f"period {P1} already emitted") as excinfo:
        emit(ledger, P1, {A: 5, B: 6}, nodes=[N1])
    assert excinfo.value.run == first.run
    with pytest.raises(AlreadyEmitted):  # even with --supersede: identical inputs never pay again
        emit(ledger, P1, {A: 5, B: 6}, supersede=True)
    assert ledger.dump() == before


def test_changed_inputs_are_refused_with_the_per_address_diff(ledger: Ledger) -> None:
    emit(ledger, P1, {A: 100 * COR, B: 50 * COR, C: 30 * COR})
    before = ledger.dump()
    with pytest.raises(ConflictingRun) as excinfo:
        emit(ledger, P1, {A: 120 * COR, B: 50 * COR, D: 5 * 10**17}, seed="inputs-2")
    error = excinfo.value
    assert error.run.run_id == 1
    assert error.diff == [
        (A, 100 * COR, 120 * COR, 20 * COR),
        (C, 30 * COR, 0, -30 * COR),
        (D, 0, 5 * 10**17, 5 * 10**17),
    ]
    text = str(error)
    assert f"  {A}: 100 -> 120 COR (+20)" in text
    assert f"  {C}: 30 -> 0 COR (-30)" in text
    assert f"  {D}: 0 -> 0.5 COR (+0.5)" in text
    assert "--supersede" in text and B not in text
    assert ledger.dump() == before


def test_supersede_pays_exactly_the_positive_deltas_and_reports_overpayment(ledger: Ledger) -> None:
    emit(ledger, P1, {A: 100 * COR, B: 50 * COR, C: 30 * COR}, nodes=[N1])
    plan = ledger.plan_emission(P1, key_for("inputs-2"), {A: 120 * COR, B: 50 * COR, D: 7}, supersede=True)
    assert plan.kind == "topup" and plan.based_on is not None and plan.based_on.run_id == 1
    assert plan.seq == 2
    assert plan.pay == {A: 20 * COR, D: 7}
    assert plan.overpaid == {C: 30 * COR}
    meta, transfers = artifacts(plan, nodes=[N1, N2])
    result = ledger.emit(plan, meta, transfers)

    assert result.run.kind == "topup" and result.run.supersedes == 1 and result.run.seq == 2
    assert result.superseded is not None
    assert (result.superseded.status, result.superseded.superseded_by) == ("superseded", result.run.run_id)
    assert ledger.active_run(P1) == result.run
    assert {t.payout_address: t.amount_wei for t in ledger.transfers(run_id=result.run.run_id)} == {
        A: 20 * COR,
        D: 7,
    }
    assert ledger.paid_by_address(P1) == {A: 120 * COR, B: 50 * COR, C: 30 * COR, D: 7}
    assert ledger.owed(result.run.run_id) == {A: 120 * COR, B: 50 * COR, D: 7}
    assert result.first_eligible_added == (N2,)
    assert render_overpaid_csv(P1, plan.paid_before, plan.owed, 18) == (
        b"period,payout_address,paid_wei,owed_wei,overpaid_wei,overpaid_cor\n"
        + f"{P1},{C},30000000000000000000,0,30000000000000000000,30\n".encode()
    )

    # A second supersede compares with EVERYTHING emitted, not just the previous run.
    again = ledger.plan_emission(P1, key_for("inputs-3"), {A: 110 * COR, B: 60 * COR, D: 7}, supersede=True)
    assert again.diff == [(A, 120 * COR, 110 * COR, -10 * COR), (B, 50 * COR, 60 * COR, 10 * COR)]
    assert again.pay == {B: 10 * COR}
    assert again.overpaid == {A: 10 * COR, C: 30 * COR}
    third = ledger.emit(again, *artifacts(again))
    assert [(r.run_id, r.status, r.superseded_by) for r in ledger.runs(P1)] == [
        (1, "superseded", 2),
        (2, "superseded", 3),
        (third.run.run_id, "emitted", None),
    ]

    history = ledger.history_rows()
    assert [(h.seq, h.kind, h.status, h.transfers, h.paid_wei, h.owed_wei) for h in history] == [
        (1, "full", "superseded", 3, 180 * COR, 180 * COR),
        (2, "topup", "superseded", 2, 20 * COR + 7, 170 * COR + 7),
        (3, "topup", "emitted", 1, 10 * COR, 170 * COR + 7),
    ]
    assert [(b.batch, b.batch_file, b.transfers, b.total_wei) for b in history[0].batches] == [
        (1, "full-batch-1.json", 2, 150 * COR),
        (2, "full-batch-2.json", 1, 30 * COR),
    ]


def test_supersede_that_only_lowers_amounts_pays_nothing(ledger: Ledger) -> None:
    emit(ledger, P1, {A: 10, B: 10})
    result = emit(ledger, P1, {A: 4, B: 10}, seed="lower", supersede=True)
    assert ledger.transfers(run_id=result.run.run_id) == []
    assert result.run.outputs == {"manifest.json": sha(key_for("lower"))}
    assert ledger.paid_by_address(P1) == {A: 10, B: 10}


def test_emit_accepts_only_the_planned_transfers_in_recorded_batch_files(ledger: Ledger) -> None:
    plan = ledger.plan_emission(P1, key_for("x"), {A: 10, B: 20})
    meta, transfers = artifacts(plan)
    with pytest.raises(ValueError, match="not exactly the plan"):
        ledger.emit(plan, meta, transfers[:1])
    with pytest.raises(ValueError, match="not exactly the plan"):
        ledger.emit(
            plan,
            meta,
            [transfers[0], TransferRecord(B, 21, 1, transfers[1].batch_file, transfers[1].batch_sha256)],
        )
    with pytest.raises(ValueError, match="not among the run's recorded outputs"):
        ledger.emit(plan, meta, [transfers[0], TransferRecord(B, 20, 1, "other.json", "0" * 64)])
    assert ledger.runs() == []


def test_a_stale_plan_is_refused_as_a_concurrent_run(ledger: Ledger) -> None:
    stale = ledger.plan_emission(P1, key_for("a"), {A: 1})
    emit(ledger, P1, {A: 2}, seed="b")
    before = ledger.dump()
    with pytest.raises(ConcurrentRun, match="another run of period 2026-10"):
        ledger.emit(stale, *artifacts(stale))
    assert ledger.dump() == before


def test_check_artifacts_names_missing_and_changed_files(ledger: Ledger, tmp_path: Path) -> None:
    run = emit(ledger, P1, {A: 1}).run
    out = tmp_path / "out"
    out.mkdir()
    assert check_artifacts(run, out) == ["full-batch-1.json", "manifest.json"]
    (out / "manifest.json").write_text(key_for("inputs-1"))
    assert check_artifacts(run, out) == ["full-batch-1.json"]
    (out / "manifest.json").write_text("changed")
    assert check_artifacts(run, out) == ["full-batch-1.json", "manifest.json"]


# ---------------------------------------------------------------------------------------------
# First eligible period (the multi-node bonus's "new node" rule)


def test_first_eligible_period_across_months(ledger: Ledger) -> None:
    emit(ledger, P1, {A: 1}, nodes=[N1, N2])
    assert ledger.previously_eligible(P1) == frozenset()
    assert ledger.previously_eligible(P2) == {N1, N2}
    result = emit(ledger, P2, {A: 1}, nodes=[N2, N3])
    assert result.first_eligible_added == (N3,)
    assert ledger.first_eligible() == {N1: P1, N2: P1, N3: P2}
    assert ledger.previously_eligible(P2) == {N1, N2}
    assert ledger.previously_eligible("2026-12") == {N1, N2, N3}
    # A superseding month-1 run without N1 does not forget that N1 was already paid as new.
    emit(ledger, P1, {A: 2}, seed="fix", supersede=True, nodes=[N2])
    assert ledger.previously_eligible(P2) == {N1, N2}
    # An earlier month recorded later moves the record back (and says so).
    moved = emit(ledger, "2026-09", {A: 1}, nodes=[N3])
    assert moved.first_eligible_moved == ((N3, P2),)
    assert ledger.first_eligible()[N3] == "2026-09"


def test_history_import(ledger: Ledger) -> None:
    assert ledger.import_history("2026-08", [N1, N2]) == 2
    assert ledger.import_history("2026-08", [N1]) == 0
    emit(ledger, P1, {A: 1}, nodes=[N1, N3], history={"2026-09": [N4]})
    assert ledger.first_eligible() == {N1: "2026-08", N2: "2026-08", N3: P1, N4: "2026-09"}
    assert ledger.previously_eligible(P1) == {N1, N2, N4}
    with pytest.raises(ValueError, match="not before"):
        emit(ledger, P2, {A: 1}, history={P2: [N5]})
    assert ledger.active_run(P2) is None and N5 not in ledger.first_eligible()


def test_month_two_multi_node_bonus_goes_only_to_nodes_first_eligible_in_month_two(ledger: Ledger) -> None:
    op, payout = addr("o", 1), addr("p", 1)
    month1 = [r for n in (N1, N2, N3) for r in node_rows(n, op, period=Period(2026, 10))]
    result1 = run_month(month1, [operator_row(op, payout)], period=Period(2026, 10))
    nodes1 = result1.nodes.loc[result1.nodes["eligible"], "node_address"]
    assert result1.operators.loc[0, "multi_node_bonus_usd"] == 6  # 10% x $20 x 3 new nodes
    owed1 = dict(zip(result1.transfers["payout_address"], result1.transfers["amount_wei"], strict=True))
    emit(ledger, P1, owed1, nodes=list(nodes1), operators={op: payout})

    month2 = [r for n in (N1, N2, N3, N4, N5) for r in node_rows(n, op, period=Period(2026, 11))]
    previously = ledger.previously_eligible(P2)
    assert previously == {N1, N2, N3}
    result2 = run_month(
        month2, [operator_row(op, payout)], period=Period(2026, 11), previously_eligible=previously
    )
    new = result2.nodes.set_index("node_address")["is_new"]
    assert dict(new) == {N1: False, N2: False, N3: False, N4: True, N5: True}
    assert result2.operators.loc[0, "multi_node_bonus_usd"] == 8  # 20% x $20 x 2 new nodes, not 5
    without_ledger = run_month(month2, [operator_row(op, payout)], period=Period(2026, 11))
    assert without_ledger.operators.loc[0, "multi_node_bonus_usd"] == 20
    nodes2 = result2.nodes.loc[result2.nodes["eligible"], "node_address"]
    owed2 = dict(zip(result2.transfers["payout_address"], result2.transfers["amount_wei"], strict=True))
    assert emit(ledger, P2, owed2, nodes=list(nodes2)).first_eligible_added == (N4, N5)


# ---------------------------------------------------------------------------------------------
# Execution marks


def onchain(to: str, amount: int, tx: int, block: int, log_index: int = 0) -> OnChainTransfer:
    return OnChainTransfer(to=to, amount_wei=amount, tx_hash=f"0x{tx:064x}", block=block, log_index=log_index)


def test_mark_executed_matches_exact_amounts_once(ledger: Ledger) -> None:
    full = emit(ledger, P1, {A: 10, B: 20, C: 30}, per_batch=2).run
    topup = emit(ledger, P1, {A: 15, B: 20, C: 30}, seed="more", supersede=True).run
    logs = [onchain(A, 10, 1, 5, 0), onchain(B, 20, 1, 5, 1), onchain(A, 5, 2, 6), onchain(C, 29, 3, 7)]
    result = ledger.mark_executed(P1, logs)
    assert (result.marked, result.runs_executed) == (3, (topup.run_id,))
    executed = {(t.run_id, t.payout_address): (t.tx_hash, t.executed_block) for t in ledger.transfers(P1)}
    assert executed == {
        (full.run_id, A): (f"0x{1:064x}", 5),
        (full.run_id, B): (f"0x{1:064x}", 5),
        (full.run_id, C): (None, None),  # a 29-wei transfer does not execute a 30-wei one
        (topup.run_id, A): (f"0x{2:064x}", 6),
    }
    assert ledger.run(full.run_id).status == "superseded"  # type: ignore[union-attr]
    before = ledger.dump()
    assert ledger.mark_executed(P1, logs).marked == 0  # idempotent
    assert ledger.dump() == before
    assert ledger.onchain_attributed(exclude_period=P2) == {
        (f"0x{1:064x}", 0),
        (f"0x{1:064x}", 1),
        (f"0x{2:064x}", 0),
    }
    assert ledger.onchain_attributed(exclude_period=P1) == frozenset()


def test_a_fully_executed_run_becomes_executed(ledger: Ledger) -> None:
    run = emit(ledger, P1, {A: 10, B: 20}).run
    assert ledger.mark_executed(P1, [onchain(A, 10, 1, 5)]).runs_executed == ()
    assert ledger.mark_executed(P1, [onchain(B, 20, 2, 6)]).runs_executed == (run.run_id,)
    assert ledger.active_run(P1).status == "executed"  # type: ignore[union-attr]
    # still refuses a rerun with other inputs, and can be superseded
    with pytest.raises(ConflictingRun):
        emit(ledger, P1, {A: 11, B: 20}, seed="other")
    assert emit(ledger, P1, {A: 11, B: 20}, seed="other", supersede=True).run.kind == "topup"


# ---------------------------------------------------------------------------------------------
# Processes: concurrency and crashes

CHILD = r"""
import hashlib, json, sys, time
from pathlib import Path
from flows.ledger import Ledger, LedgerError, RunMeta, TransferRecord, run_key

a = json.loads(sys.argv[1])
owed = {k: int(v) for k, v in a["owed"].items()}
seed_sha = hashlib.sha256(a["seed"].encode()).hexdigest()
key = run_key(policy_sha256="0" * 64, inputs=[("metrics", seed_sha)], price="0.02")
with Ledger.open(Path(a["ledger"])) as ledger:
    try:
        plan = ledger.plan_emission(a["period"], key, owed, supersede=a["supersede"])
        sha = hashlib.sha256(key.encode()).hexdigest()
        meta = RunMeta("phase3", "1", "0" * 64, "0.02", [], {"batch-1.json": sha}, {},
                       eligible_nodes=a["nodes"])
        transfers = [TransferRecord(x, w, 1, "batch-1.json", sha) for x, w in plan.pay.items()]
        if a.get("ready"):
            Path(a["ready"]).touch()
            deadline = time.monotonic() + 30
            while not Path(a["go"]).exists():
                if time.monotonic() > deadline:
                    sys.exit(3)
                time.sleep(0.001)
        result = ledger.emit(plan, meta, transfers)
    except LedgerError as exc:
        print(json.dumps({"outcome": type(exc).__name__, "message": str(exc)}))
        sys.exit(2)
    print(json.dumps({"outcome": "emitted", "run_id": result.run.run_id}))
"""


def child_args(path: Path, seed: str, owed: Mapping[str, int], **extra: Any) -> str:
    return json.dumps(
        {
            "ledger": str(path),
            "period": P1,
            "seed": seed,
            "owed": {k: str(v) for k, v in owed.items()},
            "supersede": False,
            "nodes": [N1],
            **extra,
        }
    )


def spawn(args: str, fault: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "PAYOUTS_FAULT"}
    if fault:
        env["PAYOUTS_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("seeds", "supersede"),
    [(("same", "same"), False), (("one", "two"), False), (("one", "two"), True)],
    ids=["identical-inputs", "different-inputs", "two-supersedes"],
)
def test_two_processes_emitting_one_period_at_once_exactly_one_emits(
    path: Path, tmp_path: Path, seeds: tuple[str, str], supersede: bool
) -> None:
    if supersede:
        with Ledger.open(path) as ledger:
            emit(ledger, P1, {A: 1, B: 1}, seed="earlier")
    # else both processes also create and migrate the new ledger file at the same time
    owed = [{A: 3, B: 1}, {A: 2, B: 4}]
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    procs = [
        spawn(
            child_args(path, seeds[i], owed[i], supersede=supersede, ready=str(ready[i]), go=str(go)),
            # the winner holds the write lock a little while, so the loser really waits on it
            fault="ledger:emit:before-commit@sleep=0.3",
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 30
    while not all(r.exists() for r in ready):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [
            p.communicate() for p in procs
        ]
        time.sleep(0.005)
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    results = [json.loads(out) for out, _ in outs]
    codes = [p.returncode for p in procs]

    assert sorted(r["outcome"] for r in results) == ["ConcurrentRun", "emitted"], outs
    winner = next(i for i, r in enumerate(results) if r["outcome"] == "emitted")
    loser = 1 - winner
    assert codes[winner] == 0 and codes[loser] == 2
    assert (
        "another run of period 2026-10 was recorded while this one was computing" in results[loser]["message"]
    )
    assert "nothing was written" in results[loser]["message"]
    with Ledger.open(path) as ledger:
        runs = ledger.runs(P1)
        assert len(runs) == (2 if supersede else 1)
        active = ledger.active_run(P1)
        assert active is not None and active.run_id == results[winner]["run_id"]
        assert active.run_key == key_for(seeds[winner])
        if not supersede:
            assert ledger.paid_by_address(P1) == owed[winner]
        else:
            assert ledger.paid_by_address(P1) == {a: max(w, 1) for a, w in owed[winner].items()}


def test_a_second_process_cannot_take_a_running_periods_lock(path: Path, tmp_path: Path) -> None:
    holding = tmp_path / "holding"
    script = (
        "import sys, time\nfrom pathlib import Path\nfrom flows.ledger import Ledger\n"
        "with Ledger.open(Path(sys.argv[1])) as l, l.period_lock('2026-10'):\n"
        "    Path(sys.argv[2]).touch()\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script, str(path), str(holding)], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not holding.exists():
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.005)
        with Ledger.open(path) as ledger:
            with pytest.raises(RunInProgress, match="another run of period 2026-10 is in progress"):
                with ledger.period_lock(P1):
                    pass
            with ledger.period_lock(P2):  # other periods are not blocked
                pass
            holder.kill()  # a killed holder never leaves a stale lock
            holder.wait(timeout=30)
            with ledger.period_lock(P1):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_kill_inside_the_emit_transaction_leaves_the_ledger_exactly_as_before(path: Path) -> None:
    with Ledger.open(path) as ledger:
        emit(ledger, P1, {A: 10, B: 20}, seed="earlier", nodes=[N2])
        before = ledger.dump()
    args = child_args(path, "later", {A: 15, B: 20, C: 5}, supersede=True, nodes=[N1, N2])

    crashed = spawn(args, fault="ledger:emit:before-commit")
    crashed.communicate(timeout=60)
    assert crashed.returncode == -9  # SIGKILL, between the inserts and COMMIT

    with Ledger.open(path) as ledger:
        assert ledger.dump() == before
        assert ledger.active_run(P1).run_key == key_for("earlier")  # type: ignore[union-attr]
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()

    # the rerun recovers cleanly: one top-up of exactly the deltas
    rerun = spawn(args)
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, (out, err)
    with Ledger.open(path) as ledger:
        active = ledger.active_run(P1)
        assert active is not None and active.kind == "topup"
        assert {t.payout_address: t.amount_wei for t in ledger.transfers(run_id=active.run_id)} == {
            A: 5,
            C: 5,
        }
        assert ledger.first_eligible() == {N1: P1, N2: P1}


def test_a_kill_right_after_commit_never_emits_twice(path: Path) -> None:
    args = child_args(path, "only", {A: 10})
    crashed = spawn(args, fault="ledger:emit:after-commit")
    crashed.communicate(timeout=60)
    assert crashed.returncode == -9
    with Ledger.open(path) as ledger:
        before = ledger.dump()
        assert len(before["runs"]) == 1  # committed before the kill
    rerun = spawn(args)
    out, _ = rerun.communicate(timeout=60)
    assert rerun.returncode == 2 and json.loads(out)["outcome"] == "AlreadyEmitted"
    with Ledger.open(path) as ledger:
        assert ledger.dump() == before
