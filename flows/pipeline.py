"""The pipeline's steps as plain functions (no Prefect): load, validate, compute, render, write.

`flows.monthly` wraps each step in a Prefect task; `payouts verify` and the benchmark call these
directly, so the engine path never needs a Prefect server.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from flows.chain_config import ChainOptions, resolve_chain
from flows.sources import DEFAULT_MAX_BYTES, Source, fetch, read_table
from payouts import render
from payouts.addresses import ZERO_ADDRESS, check_address_series
from payouts.batches import MAX_BATCH_SIZE, ChainConfig, batch_manifest, build_batches, signing_markdown
from payouts.budget import check_emission
from payouts.deltas import assign_batches, render_overpaid_csv
from payouts.engine import Inputs, Result, compute
from payouts.errors import Finding, InputError
from payouts.manifest import InputRecord, build_manifest, render_json, sha256_hex
from payouts.money import parse_price
from payouts.period import Period
from payouts.policy import Policy, parse_policy
from schemas import outputs as out_schemas
from schemas.inputs import (
    DEFAULT_MAX_NODES,
    DEFAULT_MAX_ROWS,
    ParsedMetrics,
    ParsedRegistry,
    parse_metrics,
    parse_registry,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
POLICY_DIR = REPO_ROOT / "policies"

NODE_REWARDS = "node_rewards.csv"
OPERATOR_PAYOUTS = "operator_payouts.csv"
TRANSFERS = "transfers.csv"
REJECTED_ROWS = "rejected_rows.csv"
MANIFEST = "manifest.json"
PRIOR_ELIGIBILITY = "prior_eligibility.csv"
PREVIOUS_PAYOUTS = "previous_payout_addresses.csv"
OVERPAID = "overpaid.csv"
SIGNING = "batches/signing.md"


def tool_version() -> str:
    try:
        return version("cor-payouts")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


@dataclass(frozen=True)
class Limits:
    """Input size limits: far beyond a real month, they bound memory. Raised with --max-* flags.

    They only refuse input, never change output bytes, so they are not part of the run's identity.
    """

    max_rows: int = DEFAULT_MAX_ROWS
    max_nodes: int = DEFAULT_MAX_NODES
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class RunRequest:
    """What `payouts run` was asked to do (all strings as given by the user)."""

    period: str
    metrics: str
    operators: str
    price: str
    price_source: str = "unspecified"
    policy: str = "phase3"
    out: Path = Path("output")
    history: tuple[str, ...] = ()
    base_dir: Path | None = None  # relative input paths are resolved against this
    chain: ChainOptions = field(default_factory=ChainOptions)
    batch_size: int | None = None  # overrides the policy's batches.max_transfers
    ledger: Path | None = None  # default: <out>/ledger.sqlite
    supersede: bool = False
    policy_label: str | None = None  # verify: the recorded label when the file is found by its hash
    limits: Limits = field(default_factory=Limits)

    @property
    def ledger_path(self) -> Path:
        return self.ledger if self.ledger is not None else self.out / "ledger.sqlite"


@dataclass(frozen=True)
class Loaded:
    policy: Policy
    policy_source: str
    period: Period
    price: Decimal
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class Prepared:
    inputs: Inputs
    metrics: ParsedMetrics
    registry: ParsedRegistry
    history_rows: tuple[tuple[str, int], ...]  # (source name, rows) per history file
    history_nodes: dict[str, frozenset[str]]  # --history import: earlier period -> nodes eligible then
    prior: dict[str, str]  # node seen this period -> first period it was eligible (before this one)
    previous_payouts: dict[str, str] = field(default_factory=dict)  # operator -> last paid payout address
    #: the inputs validated here, without their bytes (role, name, SHA-256): metrics, operators, history
    sources: tuple[Source, ...] = ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.metrics.findings + self.registry.findings

    @property
    def rejected_rows(self) -> int:
        """Distinct input rows rejected (a row failing several checks counts once)."""
        return len({(f.source_file, f.source_row) for f in self.findings})


@dataclass(frozen=True)
class RunInfo:
    """Which run of a period the outputs belong to (see flows.ledger)."""

    seq: int = 1
    kind: str = "full"  # "full" | "topup"
    pay: Mapping[str, int] = field(default_factory=dict)  # top-up: what this run pays
    paid_before: Mapping[str, int] = field(default_factory=dict)  # top-up: emitted before it
    owed: Mapping[str, int] = field(default_factory=dict)  # top-up: what the period now owes
    other_periods_wei: int = 0  # everything the ledger records as emitted for other periods

    def as_manifest(self) -> dict[str, object]:
        out: dict[str, object] = {"seq": self.seq, "kind": self.kind}
        if self.kind == "topup":
            out["paid_before_wei"] = str(sum(self.paid_before.values()))
            out["owed_wei"] = str(sum(self.owed.values()))
            out["pays_wei"] = str(sum(self.pay.values()))
        return out


def topup_transfers(pay: Mapping[str, int], price: Decimal, policy: Policy) -> pd.DataFrame:
    """The transfers of a top-up run: the positive deltas, batched like any run.

    total_usd is the delta's value at the period price (wei x price / 10^decimals, exact).
    """
    rows = assign_batches(dict(pay), policy.max_transfers_per_batch)
    scale = Decimal(10) ** policy.token_decimals
    return pd.DataFrame(
        {
            "batch": [b for b, _, _ in rows],
            "payout_address": [a for _, a, _ in rows],
            "total_usd": pd.Series([Decimal(w) * price / scale for _, _, w in rows], dtype=object),
            "amount_wei": pd.Series([w for _, _, w in rows], dtype=object),
        }
    )


@dataclass(frozen=True)
class Outputs:
    """A complete, validated set of output files (name -> bytes), manifest included."""

    files: dict[str, bytes] = field(default_factory=dict)


def resolve_policy(spec: str) -> tuple[Path, str]:
    """`--policy` is a name under policies/ (phase3) or a path to a TOML file."""
    path = Path(spec)
    if spec.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise InputError(f"policy file not found: {spec}", column="--policy", fix="check the path")
        return path, str(path)
    named = POLICY_DIR / f"{spec}.toml"
    if not named.is_file():
        known = sorted(p.stem for p in POLICY_DIR.glob("*.toml"))
        raise InputError(
            f"unknown policy {spec!r}", column="--policy", fix=f"use one of {known} or a .toml path"
        )
    return named, spec


def load_policy(spec: str) -> tuple[Policy, str]:
    path, label = resolve_policy(spec)
    return parse_policy(path.read_bytes(), source=label), label


@dataclass(frozen=True)
class Params:
    """The checked arguments of a run (everything but the input files)."""

    policy: Policy
    policy_source: str
    period: Period
    price: Decimal
    chain: ChainConfig | None


def parse_request(req: RunRequest) -> Params:
    """Check the arguments that need no input file: period, price, policy, chain, batch size."""
    period = Period.parse(req.period)
    price = parse_price(req.price)
    policy, label = load_policy(req.policy)
    label = req.policy_label or label
    if req.batch_size is not None:
        if not 1 <= req.batch_size <= MAX_BATCH_SIZE:
            raise InputError(
                f"--batch-size {req.batch_size} is out of range",
                column="--batch-size",
                fix=f"use 1..{MAX_BATCH_SIZE} (the Safe CSV Airdrop app's limit; 100 is the tested default)",
            )
        policy = replace(policy, max_transfers_per_batch=req.batch_size)
    return Params(policy, label, period, price, resolve_chain(req.chain))


def read_history(
    sources: Sequence[Source], limits: Limits | None = None
) -> tuple[dict[str, frozenset[str]], tuple[tuple[str, int], ...]]:
    """Earlier months' node_rewards.csv (the import path for months paid before the ledger).

    Returns period -> nodes eligible in it, and (source name, rows) per file.
    """
    return _read_history(list(sources), limits or Limits())


def _read_history(
    pending: list[Source], lim: Limits, *, in_place: bool = False
) -> tuple[dict[str, frozenset[str]], tuple[tuple[str, int], ...]]:
    """read_history over a list it takes over: each entry is released once its table is read."""
    by_period: dict[str, set[str]] = {}
    counts = []
    for i in range(len(pending)):
        name = pending[i].name
        frame = _table(pending, i, lim, in_place=in_place)
        for col in ("period", "node_address", "eligible"):
            if col not in frame.columns:
                raise InputError(
                    f"history file has no '{col}' column",
                    file=name,
                    row=1,
                    fix="pass an earlier month's node_rewards.csv",
                )
        eligible = frame[frame["eligible"].str.lower() == "true"]
        for period_text, nodes in eligible.groupby("period")["node_address"]:
            Period.parse(str(period_text))
            by_period.setdefault(str(period_text), set()).update(nodes.unique())
        counts.append((name, len(frame)))
    out: dict[str, frozenset[str]] = {}
    for period_text, nodes in sorted(by_period.items()):
        fixed, _ = check_address_series(pd.Series(sorted(nodes), dtype="string"))
        out[period_text] = frozenset(str(x) for x in fixed.dropna())
    return out, tuple(counts)


def _table(pending: list[Source], i: int, lim: Limits, *, in_place: bool = False) -> pd.DataFrame:
    """Read `pending[i]`'s table, then replace the entry by its copy without bytes.

    When nothing else holds the source, its bytes (500 MB for a 100k-node month) are freed here,
    before validation builds its own copies of the table. `in_place`: release the source object
    itself instead (`Source.release`), for a caller whose references cannot be dropped.
    """
    frame = read_table(pending[i], max_rows=lim.max_rows, max_bytes=lim.max_bytes)
    if in_place:
        pending[i].release()
    else:
        pending[i] = pending[i].without_data()
    return frame


def prior_eligibility(
    period: Period, first_eligible: Mapping[str, str], history: Mapping[str, frozenset[str]]
) -> dict[str, str]:
    """node -> the first period before `period` in which it was eligible (ledger, then --history)."""
    prior: dict[str, str] = {}
    for node, first in first_eligible.items():
        if first < str(period):
            prior[node] = first
    for hist_period, nodes in history.items():
        if hist_period < str(period):
            for node in nodes:
                if node not in prior or hist_period < prior[node]:
                    prior[node] = hist_period
    return prior


def prepare(
    policy: Policy,
    period: Period,
    price: Decimal,
    metrics: Source,
    operators: Source,
    history: Sequence[Source],
    limits: Limits | None = None,
) -> Prepared:
    """Validate both inputs (file faults raise, row faults become findings) into engine Inputs.

    Every node counts as new here; `with_ledger` then applies the ledger's and the --history
    files' first-eligible periods. The result's `sources` are the inputs without their bytes.
    The caller's own references keep the bytes alive: `load_and_prepare` (or `prepare_sources`
    with a list the caller does not otherwise hold) frees them as soon as each table is read.
    """
    return prepare_sources(policy, period, price, [metrics, operators, *history], limits)


def load_and_prepare(req: RunRequest, params: Params) -> Prepared:
    """Fetch every input, then validate as `prepare` does, freeing each input's bytes once read.

    Fetching all inputs first keeps today's order of errors (a missing file before a bad one).
    """
    return prepare_sources(params.policy, params.period, params.price, _source_list(req), req.limits)


def _source_list(req: RunRequest) -> list[Source]:
    metrics, operators, history = load_sources(req)
    return [metrics, operators, *history]


def prepare_sources(
    policy: Policy,
    period: Period,
    price: Decimal,
    pending: list[Source],
    limits: Limits | None = None,
    *,
    release_in_place: bool = False,
) -> Prepared:
    """`prepare` over the list [metrics, operators, *history], which it takes over.

    Each entry is replaced by its `without_data()` copy as soon as its table is read (see `_table`);
    when the caller holds no other reference to a source, its bytes are freed before validation.
    On return the list holds the released sources, also given as the result's `sources`.

    `release_in_place`: release each source object itself instead (`Source.release`), for a caller
    that holds them elsewhere (the Prefect flow): their bytes are then freed all the same.
    """
    lim = limits or Limits()
    parsed_metrics = parse_metrics(
        _table(pending, 0, lim, in_place=release_in_place),
        pending[0].name,
        period,
        max_rows=lim.max_rows,
        max_nodes=lim.max_nodes,
    )
    parsed_registry = parse_registry(
        _table(pending, 1, lim, in_place=release_in_place),
        pending[1].name,
        policy.roles,
        max_rows=lim.max_rows,
    )
    history = pending[2:]
    del pending[2:]  # the history files' only references are now in `history`
    history_nodes, hist_rows = _read_history(history, lim, in_place=release_in_place)
    pending += history
    late = sorted(p for p in history_nodes if p >= str(period))
    if late:
        raise InputError(
            f"--history covers period(s) {late}, not before the period {period} being paid",
            column="--history",
            fix="pass node_rewards.csv files of earlier months only",
        )
    inputs = Inputs(
        period=period,
        rows=parsed_metrics.rows,
        held=parsed_metrics.held,
        registry=parsed_registry.operators,
        held_operators=parsed_registry.held_operators,
        previously_eligible=frozenset(),
        price_usd=price,
        policy=policy,
    )
    return Prepared(
        inputs, parsed_metrics, parsed_registry, hist_rows, history_nodes, {}, sources=tuple(pending)
    )


def blocked_payouts(chain: ChainConfig | None) -> dict[str, str]:
    """Payout addresses that must never be paid: the zero address, the paying Safe, the token."""
    blocked = {ZERO_ADDRESS.lower(): "payout_is_zero"}
    if chain is not None:
        blocked[chain.safe.lower()] = "payout_is_safe"
        if chain.token is not None:
            blocked[chain.token.lower()] = "payout_is_token"
    return blocked


def with_ledger(
    prep: Prepared,
    first_eligible: Mapping[str, str],
    previous_payouts: Mapping[str, str] | None = None,
    chain: ChainConfig | None = None,
) -> Prepared:
    """`prep` with what the ledger knows and where the run pays applied.

    The ledger's first-eligible periods decide the new-node rule; the operators' last paid payout
    addresses flag a changed address; the chain's Safe and token are never paid. Validation runs
    before the ledger is opened, so a bad file never touches the ledger.
    """
    period = prep.inputs.period
    seen = set(prep.metrics.rows["node_address"].unique()) | set(prep.metrics.held["node_address"].dropna())
    prior = {
        n: p for n, p in prior_eligibility(period, first_eligible, prep.history_nodes).items() if n in seen
    }
    operators = set(prep.registry.operators["operator_address"])
    previous = {o: a for o, a in (previous_payouts or {}).items() if o in operators}
    inputs = replace(
        prep.inputs,
        previously_eligible=frozenset(prior),
        previous_payouts=previous,
        blocked_payouts=blocked_payouts(chain),
    )
    return replace(
        prep,
        inputs=inputs,
        prior=dict(sorted(prior.items())),
        previous_payouts=dict(sorted(previous.items())),
    )


def render_outputs(
    prep: Prepared,
    result: Result,
    *,
    policy_source: str,
    price_source: str,
    sources: Sequence[Source],
    chain: ChainConfig | None = None,
    run: RunInfo | None = None,
) -> Outputs:
    """Render, validate against the output schemas, and build the manifest.

    `run` describes which run of the period this is: the first (full) run pays every transfer of
    `result`; a superseding top-up run pays only `run.pay` (positive deltas) and adds overpaid.csv.
    """
    inp = prep.inputs
    period, decimals = inp.period, inp.policy.token_decimals
    run = run or RunInfo()
    if run.kind == "topup":
        result = replace(result, transfers=topup_transfers(run.pay, inp.price_usd, inp.policy))
    tables = {
        NODE_REWARDS: (render.node_table(result, period), out_schemas.node_rewards_schema()),
        OPERATOR_PAYOUTS: (render.operator_table(result, period), out_schemas.operator_payouts_schema()),
        TRANSFERS: (render.transfer_table(result, period, decimals), out_schemas.transfers_schema(decimals)),
        REJECTED_ROWS: (render.rejected_table(prep.findings), out_schemas.rejected_rows_schema()),
        PRIOR_ELIGIBILITY: (render.prior_table(prep.prior), out_schemas.prior_eligibility_schema()),
        PREVIOUS_PAYOUTS: (
            render.previous_payout_table(prep.previous_payouts),
            out_schemas.previous_payouts_schema(),
        ),
    }
    files: dict[str, bytes] = {}
    for name, (frame, schema) in tables.items():
        out_schemas.validate_output(frame, schema)
        files[name] = render.to_csv_bytes(frame)
    rows = {"metrics": prep.metrics.row_count, "operators": prep.registry.row_count}
    rows.update(dict(prep.history_rows))
    records = [
        InputRecord(s.role, s.name, s.sha256, rows.get(s.role if s.role != "history" else s.name, 0))
        for s in sources
    ]
    emission = check_emission(
        inp.policy,
        run_wei=sum(int(w) for w in result.transfers["amount_wei"]),
        period_before_wei=sum(run.paid_before.values()) if run.kind == "topup" else 0,
        other_periods_wei=run.other_periods_wei,
    )
    if run.kind == "topup":
        files[OVERPAID] = render_overpaid_csv(str(period), run.paid_before, run.owed, decimals)
    extra: dict[str, object] = {
        "chain": None if chain is None else chain.as_manifest(),
        "batches": [],
        "batch_size": inp.policy.max_transfers_per_batch,
        "run": run.as_manifest(),
        "emission": emission.as_manifest(decimals),
    }
    if chain is not None and len(result.transfers) > 0:
        batch_files, infos = build_batches(
            result.transfers,
            chain,
            period=str(period),
            created_at_ms=period.end_ms,
            decimals=decimals,
            symbol=inp.policy.token_symbol,
            transfers_sha256=sha256_hex(files[TRANSFERS]),
        )
        files.update(batch_files)
        files[SIGNING] = signing_markdown(
            infos, chain, period=str(period), decimals=decimals, symbol=inp.policy.token_symbol
        )
        extra["batches"] = batch_manifest(infos, decimals)
    manifest = build_manifest(
        period=str(period),
        policy=inp.policy,
        policy_source=policy_source,
        price=inp.price_usd,
        price_source=price_source,
        inputs=records,
        outputs=files,
        totals=result.totals,
        rejected_rows=prep.rejected_rows,
        findings=len(prep.findings),
        tool_version=tool_version(),
        extra=extra,
    )
    files[MANIFEST] = render_json(manifest)
    return Outputs(files)


def stage_outputs(out_root: Path, name: str, outputs: Outputs) -> Path:
    """Write every file (fsync'd) into a fresh staging directory `<out>/.staging-<name>-*`."""
    out_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=out_root))
    try:
        for file_name, data in sorted(outputs.files.items()):
            target = staging / file_name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def publish(staging: Path, final: Path) -> Path:
    """Move a complete staging directory into place as `final` (replacing an older copy)."""
    try:
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".replaced-{final.name}-", dir=final.parent))
            os.replace(final, old / final.name)
            os.replace(staging, final)
            shutil.rmtree(old)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def write_outputs(out_root: Path, period: str, outputs: Outputs) -> Path:
    """Stage every file, then move the directory into place as `<out>/<period>` (no ledger).

    The final directory appears complete or not at all: an interrupted run leaves at most a
    hidden staging directory, never a half-written period.
    """
    return publish(stage_outputs(out_root, period, outputs), out_root / period)


def load_sources(req: RunRequest) -> tuple[Source, Source, tuple[Source, ...]]:
    """Fetch every input (without retries; the Prefect flow retries transient failures)."""
    cap = req.limits.max_bytes
    metrics = fetch("metrics", req.metrics, base_dir=req.base_dir, max_bytes=cap)
    operators = fetch("operators", req.operators, base_dir=req.base_dir, max_bytes=cap)
    history = tuple(fetch("history", h, base_dir=req.base_dir, max_bytes=cap) for h in req.history)
    return metrics, operators, history


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Run one period with the objects that exist before it (interpreter, imported libraries,
    configuration: some 180k) out of the cyclic garbage collector's reach (`gc.freeze`).

    A run creates millions of objects, so Python runs full collections during it, and each one
    also walks every object of the imported libraries: about 0.5 s of collections at 100k nodes,
    0.07 s with them frozen (docs/performance.md). They are handed back (`gc.unfreeze`) when the
    run ends, so a process that runs several periods (tests, `payouts serve`) still collects
    them. Only the collector's work changes, never what a run computes.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_without_prefect(req: RunRequest) -> tuple[Path, Result, Prepared]:
    """The whole pipeline as plain calls, through the ledger: tests, the benchmark, scripts."""
    with frozen_heap():
        return _run_without_prefect(req)


def _run_without_prefect(req: RunRequest) -> tuple[Path, Result, Prepared]:
    from flows.emission import emit_period
    from flows.ledger import Ledger

    params = parse_request(req)
    validated = load_and_prepare(req, params)  # the input bytes are freed once parsed
    with Ledger.open(req.ledger_path) as ledger, ledger.period_lock(str(params.period)):
        prep = with_ledger(
            validated,
            ledger.first_eligible(),
            ledger.last_payout_addresses(str(params.period)),
            params.chain,
        )
        result = compute(prep.inputs)
        emission = emit_period(req, params, prep, result, prep.sources, ledger)
    return emission.folder, result, prep


def recompute(
    req: RunRequest,
    prior: Mapping[str, str],
    other_periods_wei: int = 0,
    previous_payouts: Mapping[str, str] | None = None,
) -> Outputs:
    """Recompute a full run's files without a ledger, given its recorded prior eligibility (verify)."""
    params = parse_request(req)
    validated = load_and_prepare(req, params)
    # the recorded prior eligibility stands in for the ledger (it already includes --history)
    prep = with_ledger(validated, prior, previous_payouts, params.chain)
    result = compute(prep.inputs)
    return render_outputs(
        prep,
        result,
        policy_source=params.policy_source,
        price_source=req.price_source,
        sources=prep.sources,
        chain=params.chain,
        run=RunInfo(other_periods_wei=other_periods_wei),
    )
