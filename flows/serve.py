"""`payouts serve`: the monthly payout on a Prefect schedule, configured by `payouts.toml`.

A small wrapper flow, `scheduled_monthly_payout(config_path)`, runs at 06:00 UTC on the 1st of
every month and pays the PREVIOUS month: it takes the month from the flow run's *scheduled* start
time (`prefect.runtime.flow_run.scheduled_start_time`), never from the wall clock, so a late or
re-run scheduled run still pays the month it was scheduled for. It reads the config file at run
time (edits apply to the next run without redeploying), fills the `{period}` placeholders of the
sources, fetches the price when the config gives a `price_url`, and calls the ordinary
`monthly_payout` flow as a subflow: same checks, ledger, outputs and artifacts as `payouts run`.

The config is checked when `payouts serve` starts (unknown keys, types, policy, network and Safe
addresses), so a typo fails at deployment time, not at 06:00 on the 1st.

Importing this module imports Prefect (~3 s): the CLI imports it only inside `payouts serve`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.chain_config import ChainOptions
from flows.monthly import retry_transient
from payouts.errors import InputError
from payouts.period import Period

if TYPE_CHECKING:
    from flows.pipeline import RunRequest

DEPLOYMENT_NAME = "cor-monthly-payout"
FLOW_NAME = "scheduled_monthly_payout"
CRON = "0 6 1 * *"
TIMEZONE = "UTC"
SCHEDULE_TEXT = "06:00 UTC on the 1st of every month, paying the previous month"

#: Keys of payouts.toml and their types (see payouts.toml.example for what each one means).
_STR_KEYS = (
    "metrics",
    "operators",
    "price",
    "price_url",
    "price_source",
    "policy",
    "out",
    "ledger",
    "network",
    "safe",
    "token",
    "currency",
    "safe_version",
    "multisend_call_only",
)
_INT_KEYS = ("chain_id", "safe_nonce", "batch_size")
_LIST_KEYS = ("history",)
KNOWN_KEYS = frozenset(_STR_KEYS + _INT_KEYS + _LIST_KEYS)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PLACEHOLDERS = ("period", "year", "month")


@dataclass(frozen=True)
class ServeConfig:
    """A checked payouts.toml. Paths are resolved against the config file's folder at run time."""

    path: Path  # the config file (absolute)
    metrics: str
    operators: str
    history: tuple[str, ...] = ()
    price: str | None = None
    price_url: str | None = None
    price_source: str = ""
    policy: str = "phase3"
    out: str = "output"
    ledger: str | None = None
    chain: ChainOptions = field(default_factory=ChainOptions)
    batch_size: int | None = None

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def out_dir(self) -> Path:
        return self._path(self.out)

    def ledger_path(self) -> Path:
        return self._path(self.ledger) if self.ledger else self.out_dir() / "ledger.sqlite"

    def policy_spec(self) -> str:
        """A policy name stays a name; a .toml path is resolved against the config's folder."""
        if self.policy.endswith(".toml"):
            return str(self._path(self.policy))
        return self.policy

    def _path(self, text: str) -> Path:
        p = Path(text).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def _bad(path: Path, key: str, message: str, fix: str) -> InputError:
    return InputError(message, file=str(path), column=key, fix=fix)


def fill(text: str, period: str) -> str:
    """Replace `{period}` (YYYY-MM), `{year}` (YYYY) and `{month}` (MM) in a source or price URL."""
    p = Period.parse(period)
    values = {"period": str(p), "year": f"{p.year:04d}", "month": f"{p.month:02d}"}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def load_config(path: Path) -> ServeConfig:
    """Read and check payouts.toml (types, unknown keys, placeholders, price). Raises InputError."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise InputError(
            f"config file not found: {path}",
            file=str(path),
            fix="copy payouts.toml.example to payouts.toml and fill it in, or pass --config PATH",
        )
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"not valid TOML: {exc}", file=str(path), fix="fix the syntax") from None
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise _bad(
            path,
            unknown[0],
            f"unknown key(s) {unknown}",
            f"use only the keys documented in payouts.toml.example: {sorted(KNOWN_KEYS)}",
        )
    for key in ("metrics", "operators"):
        if key not in data:
            raise _bad(path, key, f"'{key}' is missing", f'add {key} = "path or URL, may use {{period}}"')
    for key in _STR_KEYS:
        if key in data and not isinstance(data[key], str):
            fix = f'write it as a string: {key} = "..."'
            if key == "price":
                fix = 'write the price as a string, e.g. price = "0.0215" (money is never a float)'
            raise _bad(path, key, f"'{key}' must be a string, not {type(data[key]).__name__}", fix)
    for key in _INT_KEYS:
        if key in data and (not isinstance(data[key], int) or isinstance(data[key], bool)):
            raise _bad(path, key, f"'{key}' must be an integer", f"write it without quotes: {key} = 42")
    history = data.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise _bad(path, "history", "'history' must be a list of strings", 'history = ["a.csv", "b.csv"]')
    has_price, has_url = "price" in data, "price_url" in data
    if has_price == has_url:
        raise _bad(
            path,
            "price_url" if has_url else "price",
            "give exactly one of 'price' and 'price_url'"
            + (" (both are set)" if has_price else " (neither is set)"),
            'price_url = "https://.../{period}" returning a plain decimal, or a fixed price = "0.0215"',
        )
    for key in ("metrics", "operators", "price_url", "price_source", *(() if not history else ("history",))):
        values = history if key == "history" else [data.get(key, "")]
        for value in values:
            names = sorted({m.group(1) for m in _PLACEHOLDER.finditer(value)} - set(PLACEHOLDERS))
            if names:
                raise _bad(
                    path,
                    key,
                    f"unknown placeholder(s) {['{' + n + '}' for n in names]} in {value!r}",
                    "use {period} (YYYY-MM), {year} (YYYY) or {month} (MM)",
                )
    for key in ("safe", "token"):
        if isinstance(data.get(key), str) and re.fullmatch(r"0x0{40}", data[key]):
            raise _bad(
                path,
                key,
                f"'{key}' is the zero address (the example's placeholder)",
                f"fill in the real {key} address, or remove the key",
            )
    chain = ChainOptions(
        network=data.get("network"),
        chain_id=data.get("chain_id"),
        safe=data.get("safe"),
        token=data.get("token"),
        currency=data.get("currency"),
        safe_nonce=data.get("safe_nonce"),
        safe_version=data.get("safe_version", "1.4.1"),
        multisend=data.get("multisend_call_only"),
    )
    return ServeConfig(
        path=path,
        metrics=data["metrics"],
        operators=data["operators"],
        history=tuple(history),
        price=data.get("price"),
        price_url=data.get("price_url"),
        price_source=data.get("price_source", ""),
        policy=data.get("policy", "phase3"),
        out=data.get("out", "output"),
        ledger=data.get("ledger"),
        chain=chain,
        batch_size=data.get("batch_size"),
    )


def previous_period(when: datetime) -> str:
    """The month before `when` (taken in UTC): a run scheduled 2026-11-01 06:00 UTC pays 2026-10."""
    if when.tzinfo is None:
        raise ValueError("a schedule time must be timezone-aware")
    utc = when.astimezone(UTC)
    year, month = (utc.year, utc.month - 1) if utc.month > 1 else (utc.year - 1, 12)
    return str(Period(year, month))


def build_request(cfg: ServeConfig, period: str, price: str, price_source: str) -> RunRequest:
    from flows import pipeline

    return pipeline.RunRequest(
        period=period,
        metrics=fill(cfg.metrics, period),
        operators=fill(cfg.operators, period),
        price=price,
        price_source=price_source or "unspecified",
        policy=cfg.policy_spec(),
        out=cfg.out_dir(),
        history=tuple(fill(h, period) for h in cfg.history),
        base_dir=cfg.base_dir,
        chain=cfg.chain,
        batch_size=cfg.batch_size,
        ledger=cfg.ledger_path(),
    )


def check_config(cfg: ServeConfig, period: str) -> None:
    """Everything a run would check before reading a file: policy, price, network, Safe, batch size."""
    from flows import pipeline

    pipeline.parse_request(build_request(cfg, period, cfg.price or "1", cfg.price_source))


def price_for(cfg: ServeConfig, period: str) -> tuple[str | None, str]:
    """(fixed price or None, price_url filled for the period or ''): what a run will use."""
    return cfg.price, fill(cfg.price_url, period) if cfg.price_url else ""


def parse_price_body(url: str, data: bytes) -> str:
    """The body of a price URL: one plain positive decimal (surrounding whitespace allowed)."""
    from payouts.money import parse_price

    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = ""
    if not text or len(text) > 64 or not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        raise InputError(
            f"the price URL did not return a plain decimal (got {data[:40]!r})",
            file=url,
            fix="serve the COR price in USD as plain text, e.g. 0.0215, or set a fixed price in the config",
        )
    return str(parse_price(text))


def next_runs(count: int = 3, after: datetime | None = None) -> list[datetime]:
    """The next `count` run times of the schedule, computed by Prefect's own scheduler code."""
    import asyncio

    from prefect.server.schemas.schedules import CronSchedule

    start = after or datetime.now(UTC)
    dates = asyncio.run(CronSchedule(cron=CRON, timezone=TIMEZONE).get_dates(count, start=start))
    return [datetime.fromtimestamp(d.timestamp(), UTC) for d in dates]


def describe(cfg: ServeConfig, after: datetime | None = None) -> list[str]:
    """The deployment `payouts serve` would create, its next 3 runs and the periods they pay."""
    runs = next_runs(3, after)
    check_config(cfg, previous_period(runs[0]))
    chain = cfg.chain
    lines = [
        f"deployment  {DEPLOYMENT_NAME} (flow {FLOW_NAME})",
        f'schedule    cron "{CRON}", timezone {TIMEZONE}: {SCHEDULE_TEXT}',
        f"config      {cfg.path} (read at each run)",
        "next runs:",
    ]
    for when in runs:
        period = previous_period(when)
        lines.append(f"  {when:%Y-%m-%d %H:%M} UTC  pays {period}")
        lines.append(f"      metrics   {fill(cfg.metrics, period)}")
        lines.append(f"      operators {fill(cfg.operators, period)}")
        lines.extend(f"      history   {fill(h, period)}" for h in cfg.history)
        price, url = price_for(cfg, period)
        lines.append(f"      price     {price} USD (fixed)" if price else f"      price     from {url}")
    if chain.any_given:
        where = chain.network or f"chain id {chain.chain_id}"
        nonce = (
            f"first Safe nonce {chain.safe_nonce}"
            if chain.safe_nonce is not None
            else "no Safe nonce (signing sheet without safeTxHash)"
        )
        lines.append(f"pays on     {where}: Safe {chain.safe}, token {chain.token or 'native'}, {nonce}")
    else:
        lines.append("pays on     no network/safe/token set: auditor files only, no Safe batches")
    lines += [
        f"outputs     {cfg.out_dir()}/YYYY-MM/, ledger {cfg.ledger_path()}, policy {cfg.policy}",
        "review      each run only prepares batches: the treasury reviews the run (report, signing sheet,",
        "            `payouts check-batch`) before anyone signs",
    ]
    return lines


def deployment_options(cfg: ServeConfig) -> dict[str, Any]:
    """The keyword arguments shared by `flow.serve(...)` and `flow.to_deployment(...)`."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    return {
        "name": DEPLOYMENT_NAME,
        "schedules": [Cron(CRON, timezone=TIMEZONE)],
        "parameters": {"config_path": str(cfg.path)},
        "description": f"Monthly COR contest payout: {SCHEDULE_TEXT}. Config: {cfg.path}",
        "tags": ["cor-payouts"],
        # imported as flows.serve (the installed package), not by a path relative to the cwd
        "entrypoint_type": EntrypointType.MODULE_PATH,
    }


def serve_forever(cfg: ServeConfig) -> None:
    """Register the deployment with the Prefect API and run its scheduled runs until interrupted.

    Stopping the process (Ctrl-C) pauses the deployment's schedule (Prefect's default).
    """
    scheduled_monthly_payout.serve(**deployment_options(cfg), print_starting_message=True)


# ---------------------------------------------------------------------------------------------
# The Prefect objects


def _run_name() -> str:
    """`scheduled-payout-2026-10`: the period in the run's name, as the Prefect UI lists it."""
    from prefect.runtime import flow_run

    try:
        given = (flow_run.parameters or {}).get("period")
        period = str(Period.parse(given)) if given else previous_period(flow_run.scheduled_start_time)
    except Exception:  # a bad `period` parameter fails in the flow itself, with its message
        return "scheduled-payout"
    return f"scheduled-payout-{period}"


@task(
    name="fetch-price",
    task_run_name="fetch-price-{period}",
    retries=4,
    retry_delay_seconds=[1, 2, 4, 8],
    retry_jitter_factor=0.2,
    retry_condition_fn=retry_transient,
    cache_policy=NO_CACHE,
)
def fetch_price_task(url: str, period: str) -> str:
    """GET the price URL (same error rules as the inputs: 5xx/timeouts retry, 404 stops)."""
    from flows.sources import fetch

    return parse_price_body(url, fetch("price", url).data)


@flow(name=FLOW_NAME, flow_run_name=_run_name, validate_parameters=True, log_prints=False)
def scheduled_monthly_payout(config_path: str, period: str | None = None) -> str:
    """Pay the month before this run's scheduled start (or `period`, to redo a month by hand)."""
    from prefect.runtime import flow_run

    from flows.monthly import monthly_payout
    from payouts.money import format_usd

    logger = get_run_logger()
    cfg = load_config(Path(config_path))
    scheduled = flow_run.scheduled_start_time
    if period is None:
        period = previous_period(scheduled)
    else:
        period = str(Period.parse(period))
    fixed, url = price_for(cfg, period)
    source = fill(cfg.price_source, period)
    if fixed is not None:
        price = fixed
    else:
        price = fetch_price_task(url, period)
        source = f"{source} ({url})" if source else url
    logger.info("scheduled %s: paying %s at %s USD (%s)", scheduled, period, price, source)
    req = build_request(cfg, period, price, source)
    emission, result, _ = monthly_payout(period, req)
    logger.info(
        "%s %s: %s transfers, %s USD; the treasury reviews %s before anyone signs",
        period,
        emission.status,
        result.totals.transfers,
        format_usd(result.totals.total_usd),
        emission.folder,
    )
    return str(emission.folder)
