"""The Prefect flow `monthly_payout`: one payout period as observable, retryable tasks.

Only the fetch task retries (I/O can fail transiently); validation, computation, rendering and
writing are deterministic and fail fast. Tasks pass objects in memory (no result persistence,
no caching): a payout run must never be served from a stale cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from flows import pipeline
from flows.emission import Emission, emit_period
from flows.ledger import Ledger
from flows.sources import DEFAULT_MAX_BYTES, Source, TransientFetchError, fetch
from payouts.engine import Result, compute
from payouts.money import format_units, format_usd


def retry_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry only fetches that failed transiently (timeouts, 5xx), never a user mistake."""
    try:
        state.result()
    except TransientFetchError:
        return True
    except Exception:
        return False
    return False


@task(
    name="fetch",
    task_run_name="fetch-{role}-{period}",
    retries=4,
    retry_delay_seconds=exponential_backoff(backoff_factor=1),
    retry_jitter_factor=0.2,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def fetch_task(
    role: str, name: str, period: str, base_dir: Path | None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Source:
    return fetch(role, name, base_dir=base_dir, max_bytes=max_bytes)


@task(name="validate", task_run_name="validate-{period}", cache_policy=NO_CACHE)
def validate_task(
    period: str,
    params: pipeline.Params,
    metrics: Source,
    operators: Source,
    history: tuple[Source, ...],
    limits: pipeline.Limits,
) -> pipeline.Prepared:
    # The flow holds these sources (they are this task's parameters): release them in place once
    # read, so a 500 MB snapshot's bytes are freed before validation, as on the plain path.
    pending = [metrics, operators, *history]
    return pipeline.prepare_sources(
        params.policy, params.period, params.price, pending, limits, release_in_place=True
    )


@task(name="compute", task_run_name="compute-{period}", cache_policy=NO_CACHE)
def compute_task(period: str, prepared: pipeline.Prepared) -> Result:
    return compute(prepared.inputs)


@task(name="emit", task_run_name="emit-{period}", cache_policy=NO_CACHE)
def emit_task(
    period: str,
    req: pipeline.RunRequest,
    params: pipeline.Params,
    prepared: pipeline.Prepared,
    result: Result,
    sources: tuple[Source, ...],
) -> Emission:
    """Render, stage, record in the ledger, publish (flows.emission): never retried."""
    with Ledger.open(req.ledger_path) as ledger:
        return emit_period(req, params, prepared, result, sources, ledger)


def summary_markdown(emission: Emission, result: Result, prepared: pipeline.Prepared) -> str:
    """The run summary as Markdown (a Prefect artifact; the CLI prints the same facts)."""
    t = result.totals
    decimals = prepared.inputs.policy.token_decimals
    lines = [
        f"# COR payout {prepared.inputs.period}: {emission.status}",
        "",
        "| | |",
        "|---|---|",
        f"| nodes | {t.nodes} ({t.eligible_nodes} eligible, {t.held_nodes} held) |",
        *(f"| held: {reason} | {count} |" for reason, count in t.held_by_reason),
        f"| rejected rows | {prepared.rejected_rows} ({len(prepared.findings)} findings) |",
        f"| total USD | {format_usd(t.total_usd)} |",
        f"| total COR | {format_units(t.total_wei, decimals)} |",
        f"| transfers | {t.transfers} |",
        f"| dust | {t.dust_wei} wei |",
        f"| run | {emission.seq} ({emission.kind}) |",
        f"| folder | `{emission.folder}` |",
    ]
    return "\n".join(lines) + "\n"


@task(name="publish-artifacts", task_run_name="artifacts-{period}", cache_policy=NO_CACHE)
def artifacts_task(period: str, emission: Emission, result: Result, prepared: pipeline.Prepared) -> None:
    """Prefect UI artifacts: operator payouts table, summary, link to the output folder."""
    ops = result.operators
    key = f"payout-{period}".lower()
    create_table_artifact(
        table=[
            {
                "operator": o,
                "payout_address": p,
                "eligible_nodes": int(k),
                "total_usd": format_usd(total),
            }
            for o, p, k, total in zip(
                ops["operator_address"],
                ops["payout_address"],
                ops["eligible_nodes"],
                ops["total_usd"],
                strict=True,
            )
        ],
        key=f"{key}-operators",
        description=f"Operator payouts {period} (USD, exact)",
    )
    create_markdown_artifact(
        markdown=summary_markdown(emission, result, prepared), key=f"{key}-summary", description="Run summary"
    )
    create_link_artifact(
        link=emission.folder.resolve().as_uri(),
        link_text=f"output folder {emission.folder}",
        key=f"{key}-folder",
        description="Auditor CSVs, manifest, batches and report",
    )


@flow(name="monthly_payout", flow_run_name="payout-{period}", validate_parameters=False, log_prints=False)
def monthly_payout(period: str, req: pipeline.RunRequest) -> tuple[Emission, Result, pipeline.Prepared]:
    """Compute and emit one payout period. Raises InputError for bad input (nothing written)."""
    with pipeline.frozen_heap():
        return _monthly_payout(period, req)


def _monthly_payout(period: str, req: pipeline.RunRequest) -> tuple[Emission, Result, pipeline.Prepared]:
    # Arguments that need no file are checked first, so a typo fails before any fetch.
    params = pipeline.parse_request(req)
    metrics = fetch_task("metrics", req.metrics, period, req.base_dir, req.limits.max_bytes)
    operators = fetch_task("operators", req.operators, period, req.base_dir, req.limits.max_bytes)
    history = tuple(fetch_task("history", h, period, req.base_dir, req.limits.max_bytes) for h in req.history)
    validated = validate_task(period, params, metrics, operators, history, req.limits)
    # Only valid inputs reach the ledger; the period lock is held from here to publication.
    with Ledger.open(req.ledger_path) as ledger, ledger.period_lock(str(params.period)):
        prepared = pipeline.with_ledger(
            validated,
            ledger.first_eligible(),
            ledger.last_payout_addresses(str(params.period)),
            params.chain,
        )
        result = compute_task(period, prepared)
        emission = emit_task(period, req, params, prepared, result, validated.sources)
    artifacts_task(period, emission, result, prepared)
    return emission, result, prepared
