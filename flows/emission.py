"""Emitting a period through the ledger: never pay twice, never show an unrecorded batch.

Order (see flows.ledger's crash-ordering contract): compute and render in memory -> stage every
file -> record the run in the ledger (one transaction) -> move the staging directory into place.
A rerun with identical inputs is a no-op ("already emitted"), and restores the period folder if a
crash left it recorded but not yet visible. Different inputs are refused with a per-address diff
unless --supersede, which emits a top-up run paying only the positive deltas into
`<out>/<period>-r<seq>/`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from flows import pipeline
from flows.ledger import (
    AlreadyEmitted,
    Ledger,
    Plan,
    RunMeta,
    TransferRecord,
    check_artifacts,
    fault_point,
    run_key,
)
from flows.sources import Source
from payouts.deltas import assign_batches
from payouts.engine import Result
from payouts.errors import InputError
from payouts.manifest import sha256_hex


@dataclass(frozen=True)
class Emission:
    folder: Path
    status: str  # "emitted" | "already emitted" | "restored"
    seq: int
    kind: str  # "full" | "topup"
    pays_wei: int
    overpaid_wei: int


def folder_name(period: str, seq: int) -> str:
    return period if seq == 1 else f"{period}-r{seq}"


def key_for(
    req: pipeline.RunRequest, params: pipeline.Params, prep: pipeline.Prepared, sources: tuple[Source, ...]
) -> str:
    chain = params.chain
    return run_key(
        policy_sha256=params.policy.sha256,
        inputs=[(s.role, s.sha256) for s in sources],
        price=params.price,
        previously_eligible=prep.inputs.previously_eligible,
        extra={
            "price_source": req.price_source,
            "batch_size": str(params.policy.max_transfers_per_batch),
            "chain": "" if chain is None else repr(sorted(chain.as_manifest().items())),
        },
    )


def _render(
    req: pipeline.RunRequest,
    params: pipeline.Params,
    prep: pipeline.Prepared,
    result: Result,
    sources: tuple[Source, ...],
    run: pipeline.RunInfo,
) -> pipeline.Outputs:
    return pipeline.render_outputs(
        prep,
        result,
        policy_source=params.policy_source,
        price_source=req.price_source,
        sources=sources,
        chain=params.chain,
        run=run,
    )


def other_periods_wei(ledger: Ledger, period: str) -> int:
    """Everything the ledger records as emitted for periods other than `period` (all runs)."""
    periods = {r.period for r in ledger.runs()} - {period}
    return sum(sum(ledger.paid_by_address(p).values()) for p in periods)


def _run_info(plan: Plan, other: int) -> pipeline.RunInfo:
    if plan.kind == "full":
        return pipeline.RunInfo(other_periods_wei=other)
    return pipeline.RunInfo(
        seq=plan.seq,
        kind="topup",
        pay=plan.pay,
        paid_before=plan.paid_before,
        owed=plan.owed,
        other_periods_wei=other,
    )


def emit_period(
    req: pipeline.RunRequest,
    params: pipeline.Params,
    prep: pipeline.Prepared,
    result: Result,
    sources: tuple[Source, ...],
    ledger: Ledger,
) -> Emission:
    """Plan against the ledger, render, stage, record, publish. The caller holds the period lock."""
    period = str(params.period)
    decimals = params.policy.token_decimals
    key = key_for(req, params, prep, sources)
    owed = {
        str(a): int(w)
        for a, w in zip(result.transfers["payout_address"], result.transfers["amount_wei"], strict=True)
    }
    try:
        plan = ledger.plan_emission(
            period, key, owed, supersede=req.supersede, decimals=decimals, symbol=params.policy.token_symbol
        )
    except AlreadyEmitted as already:
        return _already(req, params, prep, result, sources, already, ledger)
    outputs = _render(req, params, prep, result, sources, _run_info(plan, other_periods_wei(ledger, period)))
    files = outputs.files
    hashes = {name: sha256_hex(data) for name, data in files.items()}
    transfers = _transfer_records(files, hashes, plan, params.policy.max_transfers_per_batch)
    sweep_stale(req.out, period)
    staging = pipeline.stage_outputs(req.out, folder_name(period, plan.seq), outputs)
    try:
        _write_report(staging)
        fault_point("pipeline:emit:staged")
        ledger.emit(
            plan,
            RunMeta(
                policy_name=params.policy.name,
                policy_version=params.policy.version,
                policy_sha256=params.policy.sha256,
                price=str(params.price),
                inputs=[{"role": s.role, "name": s.name, "sha256": s.sha256} for s in sources],
                outputs=hashes,
                totals={
                    "total_wei": str(result.totals.total_wei),
                    "eligible_nodes": result.totals.eligible_nodes,
                },
                eligible_nodes=frozenset(result.nodes.loc[result.nodes["eligible"], "node_address"]),
                operator_payouts=dict(
                    zip(result.operators["operator_address"], result.operators["payout_address"], strict=True)
                ),
                chain_id=None if params.chain is None else params.chain.chain_id,
                safe_address=None if params.chain is None else params.chain.safe,
                token_address=None if params.chain is None else params.chain.token,
                history=prep.history_nodes,
            ),
            transfers,
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fault_point("pipeline:emit:recorded")
    final = pipeline.publish(staging, req.out / folder_name(period, plan.seq))
    return Emission(
        final, "emitted", plan.seq, plan.kind, sum(plan.pay.values()), sum(plan.overpaid.values())
    )


def sweep_stale(out: Path, period: str) -> None:
    """Remove staging/replaced directories a killed run of `period` left behind.

    Safe because the caller holds the period lock: no other run of this period is writing.
    """
    for pattern in (f".staging-{period}-*", f".replaced-{period}-*"):
        for stale in out.glob(pattern):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)


def _write_report(folder: Path) -> None:
    """report.html / report.md, written into the staging folder so they appear atomically with it.

    Not recorded in the manifest or the ledger: the report is derived from the recorded files.
    """
    from flows.report import previous_from_folder, write_report

    write_report(folder, previous_from_folder(folder))


def _transfer_records(
    files: dict[str, bytes], hashes: dict[str, str], plan: Plan, batch_size: int
) -> list[TransferRecord]:
    """One record per transfer this run pays, naming the batch file that carries it."""
    records = []
    for batch, address, wei in assign_batches(plan.pay, batch_size):  # the batches' own rule
        name = f"batches/batch-{batch:03d}.json"
        if name not in files:  # no chain configured: the transfer is recorded against transfers.csv
            name = pipeline.TRANSFERS
        records.append(TransferRecord(address, wei, batch, name, hashes[name]))
    return records


def _already(
    req: pipeline.RunRequest,
    params: pipeline.Params,
    prep: pipeline.Prepared,
    result: Result,
    sources: tuple[Source, ...],
    already: AlreadyEmitted,
    ledger: Ledger,
) -> Emission:
    """Identical inputs: nothing new. Restore the folder if a crash left the run recorded but unseen."""
    run = already.run
    final = req.out / folder_name(str(params.period), run.seq)
    bad = check_artifacts(run, final)
    if not bad:
        return Emission(final, "already emitted", run.seq, run.kind, 0, 0)
    if run.kind != "full":
        raise InputError(
            f"run {run.seq} of {params.period} is recorded but its folder {final} is missing or changed "
            f"({', '.join(bad[:5])})",
            fix="restore the folder from backup; a top-up run cannot be rebuilt from the inputs alone",
        )
    other = other_periods_wei(ledger, str(params.period))
    outputs = _render(req, params, prep, result, sources, pipeline.RunInfo(other_periods_wei=other))
    rebuilt = {name: sha256_hex(data) for name, data in outputs.files.items()}
    if rebuilt != dict(run.outputs):
        raise InputError(
            f"period {params.period} is recorded in the ledger, its folder {final} is missing or changed "
            f"({', '.join(bad[:5])}), and the files rebuilt now differ from the recorded ones",
            fix="restore the folder from backup (the ledger keeps every file's SHA-256)",
        )
    sweep_stale(req.out, str(params.period))
    staging = pipeline.stage_outputs(req.out, folder_name(str(params.period), run.seq), outputs)
    _write_report(staging)
    pipeline.publish(staging, final)
    return Emission(final, "restored", run.seq, run.kind, 0, 0)
