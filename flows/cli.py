"""`payouts`: the command line. Thin: parses arguments, calls the flows, maps errors to exit codes.

Exit codes: 0 done; 2 bad input or arguments (a message naming file, row, column and the fix -
never a traceback); 1 anything else. Heavy imports (Prefect, pandas) happen inside the commands
that need them, so `payouts --help` stays fast.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(
    name="payouts",
    help="Monthly COR contest payouts for Cortensor node operators, paid from a Safe multisig.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DIR = REPO_ROOT / "examples" / "2026-10"

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2


@app.callback(epilog="Example: payouts run   (no arguments: the bundled example month, into output/2026-10)")
def _root() -> None:
    """Monthly COR contest payouts for Cortensor node operators, paid from a Safe multisig."""


def _fail_input(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_INPUT)


def _prefect_environment() -> None:
    """Quiet, offline-friendly Prefect defaults; an explicit environment always wins."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")


#: Background services of Prefect's server (settings PREFECT_SERVER_SERVICES_<NAME>_ENABLED of
#: prefect 3.8.8). A one-shot `payouts run` against a temporary server needs none: it schedules
#: nothing, and the server is gone when the run ends. In 3.8.8 a temporary server starts only the
#: task-run recorder, event persister (and with it the events vacuum), triggers (and their actions);
#: event logger is off by default; the others run in a `prefect server start` only, and are listed
#: so that the intent survives an upgrade. Not DB_VACUUM: its "false" means "events only", the
#: default. tests/e2e/test_cli_prefect_settings.py checks that every name is a real setting.
ONE_SHOT_SERVICES_OFF = (
    "CANCELLATION_CLEANUP",
    "CLEANUP_RECONCILER",
    "EVENT_LOGGER",
    "EVENT_PERSISTER",
    "FOREMAN",
    "LATE_RUNS",
    "PAUSE_EXPIRATIONS",
    "REPOSSESSOR",
    "SCHEDULER",
    "TASK_RUN_RECORDER",
    "TRIGGERS",
)


@contextmanager
def _one_shot_prefect() -> Iterator[bool]:
    """Prefect as light as its settings allow for one `payouts run` on a temporary server.

    Without PREFECT_API_URL (a temporary server starts at the flow's first API call, inside this
    block, and inherits the environment): the server's background services are off (each
    PREFECT_SERVER_SERVICES_<NAME>_ENABLED=false unless the user set it: in the environment, under
    that name or its PREFECT_API_SERVICES_ alias, or in a profile), and the flow run sends no
    heartbeats (they let a server mark a lost run as crashed; an environment value cannot be
    None, hence `temporary_settings`). The environment is restored on exit. With PREFECT_API_URL
    (a persistent server, maybe watching this run) nothing changes. `payouts serve` never comes
    here: scheduling and heartbeats are its point. Yields whether the light settings apply.
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    if PREFECT_API_URL.value():
        yield False
        return
    services = get_current_settings().server.services

    def user_set(name: str) -> bool:  # in the environment, a profile, prefect.toml or .env
        return (
            f"PREFECT_SERVER_SERVICES_{name}_ENABLED" in os.environ
            or f"PREFECT_API_SERVICES_{name}_ENABLED" in os.environ
            or "enabled" in getattr(services, name.lower()).model_fields_set
        )

    added = [f"PREFECT_SERVER_SERVICES_{n}_ENABLED" for n in ONE_SHOT_SERVICES_OFF if not user_set(n)]
    for var in added:
        os.environ[var] = "false"
    try:
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield True
    finally:
        for var in added:
            os.environ.pop(var, None)


def _example_request() -> dict[str, Any]:
    """The bundled example month's arguments (examples/2026-10/run.toml), paths repo-relative."""
    cfg = tomllib.loads((EXAMPLE_DIR / "run.toml").read_text("utf-8"))
    rel = EXAMPLE_DIR.relative_to(REPO_ROOT).as_posix()
    return {
        "period": cfg["period"],
        "metrics": f"{rel}/{cfg['metrics']}",
        "operators": f"{rel}/{cfg['operators']}",
        "price": cfg["price"],
        "price_source": cfg["price_source"],
        **{k: cfg[k] for k in ("network", "safe", "token", "safe_nonce") if k in cfg},
    }


# Input size limits, shared by `run` and `verify` (a month run with raised limits must verify).
MaxRows = Annotated[int | None, typer.Option(min=1, help="Refuse inputs with more rows (default 5,000,000).")]
MaxNodes = Annotated[
    int | None, typer.Option(min=1, help="Refuse a snapshot with more nodes (default 100,000).")
]
MaxInputBytes = Annotated[
    int | None, typer.Option(min=1, help="Refuse an input file larger than this (default 2 GiB).")
]


def _limits(max_rows: int | None, max_nodes: int | None, max_input_bytes: int | None) -> Any:
    """Input size limits from the --max-* flags (defaults where not given)."""
    from flows.pipeline import Limits

    default = Limits()
    return Limits(
        max_rows=max_rows or default.max_rows,
        max_nodes=max_nodes or default.max_nodes,
        max_bytes=max_input_bytes or default.max_bytes,
    )


@app.command()
def run(
    period: Annotated[str | None, typer.Option(help="Payout month, YYYY-MM (UTC).")] = None,
    metrics: Annotated[
        str | None, typer.Option(help="Metrics snapshot: path or http(s) URL, CSV or Parquet.")
    ] = None,
    operators: Annotated[
        str | None, typer.Option(help="Operator registry: path or URL, CSV or Parquet.")
    ] = None,
    price: Annotated[str | None, typer.Option(help="COR price in USD for the period, e.g. 0.0215.")] = None,
    price_source: Annotated[
        str, typer.Option(help="Where the price comes from (recorded in the manifest).")
    ] = "",
    policy: Annotated[str, typer.Option(help="Policy name under policies/ or a .toml path.")] = "phase3",
    out: Annotated[Path, typer.Option(help="Output root; the period is written to OUT/YYYY-MM/.")] = Path(
        "output"
    ),
    history: Annotated[
        list[str] | None,
        typer.Option(
            help="An earlier month's node_rewards.csv (repeatable): its eligible nodes are not new."
        ),
    ] = None,
    network: Annotated[str | None, typer.Option(help="Network in networks.toml (arbitrum-one, ...).")] = None,
    chain_id: Annotated[int | None, typer.Option(help="Chain id (overrides the network's).")] = None,
    safe: Annotated[str | None, typer.Option(help="The paying Safe's address (EIP-55).")] = None,
    token: Annotated[str | None, typer.Option(help="COR token address on an ERC-20 network.")] = None,
    currency: Annotated[str | None, typer.Option(help="erc20 or native (overrides the network's).")] = None,
    safe_nonce: Annotated[
        int | None, typer.Option(help="The Safe's next nonce; batches take consecutive nonces.")
    ] = None,
    safe_version: Annotated[str, typer.Option(help="Safe contract version: 1.3.0 or 1.4.1.")] = "1.4.1",
    multisend_call_only: Annotated[str | None, typer.Option(help="MultiSendCallOnly address.")] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Transfers per batch (policy default; max 500).")
    ] = None,
    ledger: Annotated[Path | None, typer.Option(help="Ledger file (default: OUT/ledger.sqlite).")] = None,
    supersede: Annotated[
        bool,
        typer.Option("--supersede", help="Replace an emitted run of the period: pay only positive deltas."),
    ] = False,
    max_rows: MaxRows = None,
    max_nodes: MaxNodes = None,
    max_input_bytes: MaxInputBytes = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the output folder line (and errors).")
    ] = False,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object (sorted keys, exact amounts as strings) and nothing else on stdout.",
        ),
    ] = False,
) -> None:
    """Compute one payout period and write its auditor CSVs and manifest.

    With no arguments, runs the bundled example month (examples/2026-10).

    Progress goes to stderr, one line per phase; --quiet and --json print no progress.

    Example: payouts run --period 2026-10 --metrics metrics.csv --operators operators.csv --price 0.0215
    """
    if quiet and json_out:
        _fail_input("--quiet and --json exclude each other: pick one")
    given = [x is not None for x in (period, metrics, operators, price)]
    base_dir: Path | None = None
    if not any(given) and not history:
        ex = _example_request()
        if not quiet:  # stdout carries only the JSON object with --json
            typer.echo(
                f"No arguments: running the bundled example month {ex['period']} (examples/2026-10).",
                err=json_out,
            )
        period, metrics, operators, price = ex["period"], ex["metrics"], ex["operators"], ex["price"]
        price_source = price_source or ex["price_source"]
        base_dir = REPO_ROOT
        network = network or ex.get("network")
        safe = safe or ex.get("safe")
        token = token or ex.get("token")
        if safe_nonce is None and "safe_nonce" in ex:
            safe_nonce = int(ex["safe_nonce"])
    elif not all(given):
        missing = [
            n
            for n, g in zip(("--period", "--metrics", "--operators", "--price"), given, strict=True)
            if not g
        ]
        _fail_input(f"missing {', '.join(missing)} (or give no arguments to run the example month)")
    assert period is not None and metrics is not None and operators is not None and price is not None
    _prefect_environment()

    from flows import pipeline
    from flows.chain_config import ChainOptions

    req = pipeline.RunRequest(
        period=period,
        metrics=metrics,
        operators=operators,
        price=price,
        price_source=price_source or "unspecified",
        policy=policy,
        out=out,
        history=tuple(history or ()),
        base_dir=base_dir,
        chain=ChainOptions(
            network=network,
            chain_id=chain_id,
            safe=safe,
            token=token,
            currency=currency,
            safe_nonce=safe_nonce,
            safe_version=safe_version,
            multisend=multisend_call_only,
        ),
        batch_size=batch_size,
        ledger=ledger,
        supersede=supersede,
        limits=_limits(max_rows, max_nodes, max_input_bytes),
    )
    pipeline.parse_request(req)  # argument mistakes fail here, before Prefect starts
    from prefect.settings import PREFECT_API_URL

    from flows.monthly import monthly_payout

    if not PREFECT_API_URL.value() and not quiet:
        typer.echo("Prefect: no PREFECT_API_URL set, starting a temporary local server (5-15 s).", err=True)
    from flows.sources import TransientFetchError

    try:
        # One run, not a service: a temporary server without background services, no heartbeats.
        with _one_shot_prefect(), _phase_lines(req, enabled=not (quiet or json_out)):
            emission, result, prepared = monthly_payout(period, req)
    except TransientFetchError as exc:  # still failing after the fetch task's retries
        typer.echo(
            f"error: {exc} (still failing after retries) -> the source is unavailable: try again later",
            err=True,
        )
        raise typer.Exit(EXIT_FAIL) from None
    if json_out:
        typer.echo(_summary_json(emission, result, prepared))
    elif quiet:
        typer.echo(_folder_line(emission))
    else:
        _print_summary(emission, result, prepared)


@app.command("check-batch")
def check_batch(
    files: Annotated[list[Path], typer.Argument(help="Transaction Builder batch files (.json).")],
) -> None:
    """Verify batch files: builder checksum, structure, and (beside transfers.csv) every transfer.

    One line per file; exit 0 when every file is good, 1 otherwise, 2 when a file does not exist.

    Example: payouts check-batch output/2026-10/batches/*.json
    """
    from flows.check_batch import check_file

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        _fail_input(f"no such file: {', '.join(missing)}")
    results = [check_file(f) for f in files]
    for r in results:
        typer.echo(r.line())
    raise typer.Exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAIL)


@app.command()
def verify(
    folder: Annotated[
        Path, typer.Argument(help="A period folder written by `payouts run`, e.g. output/2026-10.")
    ],
    inputs_dir: Annotated[
        Path | None, typer.Option(help="Where the manifest's relative input paths are (default: cwd, repo).")
    ] = None,
    max_rows: MaxRows = None,
    max_nodes: MaxNodes = None,
    max_input_bytes: MaxInputBytes = None,
) -> None:
    """Recompute a period from its manifest and compare every output file byte for byte.

    Exit 0 identical; 1 different (each difference as file, row, column, expected, found);
    2 inputs missing or changed. Needs no Prefect server.

    Example: payouts verify output/2026-10
    """
    from flows.verify import verify_period

    diffs = verify_period(folder, inputs_dir, _limits(max_rows, max_nodes, max_input_bytes))
    if not diffs:
        typer.echo(f"OK {folder}: every output file is identical to a fresh recomputation")
        raise typer.Exit(EXIT_OK)
    for d in diffs[:200]:
        typer.echo(d.line())
    if len(diffs) > 200:
        typer.echo(f"... and {len(diffs) - 200} more differences")
    typer.echo(f"DIFFERENT {folder}: {len(diffs)} difference(s)")
    raise typer.Exit(EXIT_FAIL)


@app.command()
def reconcile(
    period: Annotated[str, typer.Option(help="The period to reconcile, YYYY-MM.")],
    rpc: Annotated[str, typer.Option(help="JSON-RPC URL of the chain the batches were built for.")],
    from_block: Annotated[int, typer.Option(help="First block to scan for the Safe's transfers.")] = 0,
    to_block: Annotated[str, typer.Option(help="Last block to scan (a number or 'latest').")] = "latest",
    out: Annotated[Path, typer.Option(help="Output root (reconciliation.csv goes to OUT/PERIOD/).")] = Path(
        "output"
    ),
    ledger: Annotated[Path | None, typer.Option(help="Ledger file (default: OUT/ledger.sqlite).")] = None,
) -> None:
    """Match the token's Transfer events from the Safe with the ledger; write reconciliation.csv.

    Statuses per payout address: paid, missing, short, over, unexpected. Matched transfers are
    marked executed in the ledger. Exit 0 when everything is paid, 1 otherwise.

    Example: payouts reconcile --period 2026-10 --rpc https://arb1.example/rpc --from-block 270000000
    """
    from flows.ledger import Ledger
    from flows.reconcile import connect, reconcile_period
    from payouts.period import Period

    p = str(Period.parse(period))
    if to_block != "latest" and not to_block.isdigit():
        _fail_input(f"--to-block {to_block!r} must be a block number or 'latest'")
    last: int | str = "latest" if to_block == "latest" else int(to_block)
    path = ledger if ledger is not None else out / "ledger.sqlite"
    if not path.is_file():
        _fail_input(f"no ledger at {path}: run `payouts run` first, or pass --ledger")
    with Ledger.open(path) as led:
        result = reconcile_period(
            led,
            connect(rpc),
            p,
            from_block=from_block,
            to_block=last,
            out_path=out / p / "reconciliation.csv",
        )
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    typer.echo(f"period {p}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for row in result.rows:
        if row.status != "paid":
            typer.echo(
                f"  {row.status:<10} {row.payout_address} expected {row.expected_wei} paid {row.paid_wei}"
            )
    typer.echo(f"written to {result.written}")
    raise typer.Exit(EXIT_OK if result.all_paid else EXIT_FAIL)


@app.command()
def report(
    folder: Annotated[
        Path, typer.Argument(help="A period folder written by `payouts run`, e.g. output/2026-10.")
    ],
) -> None:
    """(Re)write report.html and report.md for a period folder (self-contained, no network).

    `payouts run` writes them too. Change vs the previous month is shown when its folder is beside.

    Example: payouts report output/2026-10
    """
    from flows.report import previous_from_folder, write_report

    html_path, md_path = write_report(folder, previous_from_folder(folder))
    typer.echo(f"written {html_path} and {md_path}")


@app.command()
def history(
    out: Annotated[Path, typer.Option(help="Output root whose ledger to read.")] = Path("output"),
    ledger: Annotated[Path | None, typer.Option(help="Ledger file (default: OUT/ledger.sqlite).")] = None,
) -> None:
    """List every recorded run: period, run, status, totals and batches.

    Example: payouts history --ledger output/ledger.sqlite
    """
    from flows.ledger import Ledger
    from payouts.money import format_units

    path = ledger if ledger is not None else out / "ledger.sqlite"
    if not path.is_file():
        _fail_input(f"no ledger at {path}: run `payouts run` first, or pass --ledger")
    with Ledger.open(path) as led:
        rows = led.history_rows()
    if not rows:
        typer.echo("no runs recorded")
        return
    for r in rows:
        sup = f", superseded by run {r.superseded_by}" if r.superseded_by else ""
        typer.echo(
            f"{r.period} run {r.seq} ({r.kind}, {r.status}{sup}): policy {r.policy}, price {r.price} USD, "
            f"owes {format_units(r.owed_wei, 18)} COR to {r.owed_addresses} addresses; "
            f"pays {format_units(r.paid_wei, 18)} COR in {r.transfers} transfers "
            f"({r.executed_transfers} executed)"
        )
        for b in r.batches:
            typer.echo(
                f"    batch {b.batch}: {b.transfers} transfers, {format_units(b.total_wei, 18)} COR, "
                f"{b.executed} executed, {b.batch_file} sha256 {b.batch_sha256[:16]}…"
            )


def _folder_line(emission: Any) -> str:
    status = {
        "emitted": "written to",
        "already emitted": "already emitted:",
        "restored": "already emitted, folder restored:",
    }[emission.status]
    return f"{status} {emission.folder}"


def _manifest(emission: Any) -> dict[str, Any]:
    """The run's manifest.json (batches, safeTxHashes, chain, price source); {} if unreadable."""
    import json

    try:
        data = json.loads((Path(emission.folder) / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _summary_data(emission: Any, result: Any, prepared: Any) -> dict[str, Any]:
    """The facts `payouts run --json` prints: counts as numbers, every amount as an exact string."""
    from payouts.money import format_units, format_usd

    t = result.totals
    decimals = prepared.inputs.policy.token_decimals
    manifest = _manifest(emission)
    batches = [
        {
            "batch": b.get("batch"),
            "file": b.get("file"),
            "transfers": b.get("transfers"),
            "total_wei": b.get("total_wei"),
            "total_cor": b.get("total_cor"),
            "safe_nonce": b.get("safe_nonce"),
            "safe_tx_hash": b.get("safe_tx_hash"),
        }
        for b in manifest.get("batches", [])
    ]
    return {
        "period": str(prepared.inputs.period),
        "status": emission.status,
        "run": emission.seq,
        "kind": emission.kind,
        "folder": str(emission.folder),
        "nodes": t.nodes,
        "eligible": t.eligible_nodes,
        "held": t.held_nodes,
        "held_by_reason": dict(t.held_by_reason),
        "rejected_rows": prepared.rejected_rows,
        "findings": len(prepared.findings),
        "operators": t.operators,
        "price_usd": str(prepared.inputs.price_usd),
        "price_source": manifest.get("price", {}).get("source"),
        "total_usd": format_usd(t.total_usd),
        "total_cor": format_units(t.total_wei, decimals),
        "total_wei": str(t.total_wei),
        "transfers": t.transfers,
        "dust_wei": str(t.dust_wei),
        "pays_wei": str(emission.pays_wei),
        "overpaid_wei": str(emission.overpaid_wei),
        "chain": manifest.get("chain"),
        "emission": manifest.get("emission"),
        "held_operators": [
            {"operator": o, "payout_address": p, "reason": r}
            for o, p, r in zip(
                result.operators["operator_address"],
                result.operators["payout_address"],
                result.operators["held_reason"],
                strict=True,
            )
            if r
        ],
        "payout_address_changed": [
            {"operator": o, "previous": prev, "now": p}
            for o, p, prev, changed in zip(
                result.operators["operator_address"],
                result.operators["payout_address"],
                result.operators["previous_payout_address"],
                result.operators["payout_address_changed"],
                strict=True,
            )
            if changed
        ],
        "batches": batches,
        "inputs": manifest.get("inputs", []),
    }


def _summary_json(emission: Any, result: Any, prepared: Any) -> str:
    import json

    return json.dumps(_summary_data(emission, result, prepared), sort_keys=True)


def _print_summary(emission: Any, result: Any, prepared: Any) -> None:
    """The run as a compact table (rich): counts, holds, totals, batches; then the folder line."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from payouts.money import format_units

    data = _summary_data(emission, result, prepared)
    # Not a terminal (a pipe, a log file): wide enough that a safeTxHash is never folded.
    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 160)
    title = f"COR payout {data['period']}: {data['status']}, run {data['run']} ({data['kind']})"
    table = Table(title=title, title_justify="left", box=None, show_header=False, pad_edge=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_column("note", style="dim")
    table.add_row("nodes", str(data["nodes"]), f"{data['eligible']} eligible, {data['held']} held")
    for reason, count in data["held_by_reason"].items():
        table.add_row(f"  held {reason}", str(count), "")
    table.add_row(
        "rejected rows", str(data["rejected_rows"]), f"{data['findings']} findings, see rejected_rows.csv"
    )
    table.add_row("operators", str(data["operators"]), "")
    source = data["price_source"] or "source not recorded"
    table.add_row("price", data["price_usd"], f"USD per COR ({source})")
    table.add_row("total USD", data["total_usd"], "")
    table.add_row("total COR", data["total_cor"], f"{data['total_wei']} wei")
    table.add_row("transfers", str(data["transfers"]), "")
    table.add_row("dust", data["dust_wei"], "wei (rounding down, once per recipient)")
    for h in data["held_operators"]:
        table.add_row("  operator held", h["reason"], f"{h['operator']} -> {h['payout_address']} (not paid)")
    for c in data["payout_address_changed"]:
        table.add_row("  payout changed", "CHECK", f"{c['operator']}: {c['previous']} -> {c['now']}")
    em = data.get("emission") or {}
    if em:
        table.add_row("emitted this run", str(em["this_run_cor"]), "COR")
        table.add_row("emitted, all periods", str(em["cumulative_cor"]), "COR (ledger)")
        if em.get("allocation_cor") is not None:
            table.add_row(
                "allocation remaining", str(em["remaining_cor"]), f"COR of {em['allocation_cor']} COR"
            )
    if emission.kind == "topup" and emission.status == "emitted":
        decimals = prepared.inputs.policy.token_decimals
        pays = format_units(emission.pays_wei, decimals)
        table.add_row("top-up pays", pays, f"COR ({emission.pays_wei} wei)")
        table.add_row(
            "overpaid",
            format_units(emission.overpaid_wei, decimals),
            "COR (see overpaid.csv; never clawed back automatically)",
        )
    parts: list[Any] = [table]
    if data["batches"]:
        chain = data["chain"] or {}
        batches = Table(
            title=f"Safe batches on {chain.get('network')} (chain {chain.get('chain_id')}), "
            f"Safe {chain.get('safe')}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        for name, justify in (
            ("batch", "right"),
            ("transfers", "right"),
            ("COR", "right"),
            ("nonce", "right"),
            ("safeTxHash", "left"),
        ):
            batches.add_column(name, justify=justify, no_wrap=name == "safeTxHash")
        for b in data["batches"]:
            batches.add_row(
                str(b["batch"]),
                str(b["transfers"]),
                str(b["total_cor"]),
                "-" if b["safe_nonce"] is None else str(b["safe_nonce"]),
                b["safe_tx_hash"] or "not computed (pass --safe-nonce)",
            )
        parts.append(batches)
    with console.capture() as captured:
        for part in parts:
            console.print(part)
    # rich pads every cell to the table's width: no trailing blanks in a terminal or a log file
    typer.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))
    typer.echo(_folder_line(emission))


@contextmanager
def _phase_lines(req: Any, *, enabled: bool) -> Iterator[None]:
    """One stderr line as each task of the flow starts (and when a fetch is retried).

    Uses Prefect `on_running` hooks on the flow's tasks, for this call only: the flow and the
    pure core know nothing about the terminal.
    """
    if not enabled:
        yield
        return
    from prefect import Task

    from flows import monthly

    names = {"metrics": req.metrics, "operators": req.operators}

    def hook(task: Any, task_run: Any, state: Any) -> None:
        typer.echo(_phase_text(task.name, task_run.name, state.name, names), err=True)

    saved = {k: v for k, v in vars(monthly).items() if isinstance(v, Task)}
    try:
        for k, t in saved.items():
            setattr(monthly, k, t.with_options(on_running=[*t.on_running_hooks, hook]))
        yield
    finally:
        for k, t in saved.items():
            setattr(monthly, k, t)


def _phase_text(task: str, run_name: str, state: str, names: dict[str, str]) -> str:
    if task == "fetch":
        role = run_name.split("-")[1] if run_name.count("-") >= 2 else "input"
        what = f"{role} {names.get(role, '')}".rstrip()
        return f"retrying fetch of {what} …" if state == "Retrying" else f"fetching {what} …"
    files = " and ".join(Path(n).name or n for n in names.values())
    return {
        "validate": f"validating {files} …",
        "compute": "computing rewards …",
        "emit": "writing output files and recording the run in the ledger …",
        "report": "writing report.html and report.md …",
        "publish-artifacts": "publishing Prefect artifacts …",
    }.get(task, f"{task} …")


@app.command()
def serve(
    config: Annotated[
        Path, typer.Option(help="The schedule's settings: sources, price, Safe (see payouts.toml.example).")
    ] = Path("payouts.toml"),
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the deployment, its next 3 runs and the periods they pay; serve nothing."
        ),
    ] = False,
    after: Annotated[
        str | None,
        typer.Option(help="With --dry-run: list the runs after this UTC time (ISO 8601) instead of now."),
    ] = None,
) -> None:
    """Serve the monthly payout on a Prefect schedule: 06:00 UTC on the 1st, paying the previous month.

    Registers the deployment cor-monthly-payout with the server in PREFECT_API_URL, runs it here.

    Each run reads the config, fills {period} in the sources and gets the price (fixed or price_url).

    A run only prepares the Safe batches: the treasury reviews it before signing (docs/prefect.md).

    Example: payouts serve --config payouts.toml --dry-run
    """
    from datetime import UTC, datetime

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    since = None
    if after is not None:
        try:
            since = datetime.fromisoformat(after.replace("Z", "+00:00"))
        except ValueError:
            _fail_input(f"--after {after!r} is not an ISO 8601 time, e.g. 2026-10-15T00:00:00Z")
        since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    from flows import serve as serving

    cfg = serving.load_config(config)
    if dry_run:
        for line in serving.describe(cfg, since):
            typer.echo(line)
        typer.echo("dry run: nothing deployed. Without --dry-run (and with PREFECT_API_URL set) it serves.")
        return
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        _fail_input(
            "payouts serve needs a running Prefect server (a temporary one runs no schedules) -> "
            "start one with `prefect server start`, then export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    serving.describe(cfg)  # checks the config (policy, network, Safe) before deploying
    typer.echo(f"serving {serving.DEPLOYMENT_NAME}: {serving.SCHEDULE_TEXT} (config {cfg.path})", err=True)
    serving.serve_forever(cfg)


def main() -> None:
    """Console-script entry point: bad input exits 2 with a message, never a traceback.

    Typer/click (standalone mode) already exit 2 on usage errors and honour `typer.Exit`.
    """
    from payouts.errors import InputError

    try:
        app()
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)


if __name__ == "__main__":
    main()
