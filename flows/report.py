"""Write a period's report: read `<out>/<period>/` (CSVs + manifest.json), write report.html and report.md.

The shell around `payouts.report` (which is pure). Every CSV read here must have the SHA-256 the
manifest records, so the report always describes the files the run wrote; a mismatch stops with
an InputError (exit 2) rather than reporting on edited files. The rank tiers come from the
policy file whose SHA-256 the manifest records (looked up by hash under policies/, so a renamed
old version such as phase3-v1.toml is found too).

    write_report(Path("output/2026-10"))                      # -> (report.html, report.md)
    write_report(folder, previous_from_folder(folder))        # with the change vs last month

The Emission section comes from the manifest's `emission` block. Its cumulative curve also reads
the sibling run folders of the same `<out>` (`YYYY-MM` or `YYYY-MM-rN` with a manifest.json):
for every earlier period the folder with the highest run number (its latest run), plus this
period from this folder. Only those manifests are read (not their CSVs); a sibling whose
manifest cannot be used is left out of the curve and named under it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections import Counter
from decimal import Decimal
from itertools import compress, repeat
from pathlib import Path
from typing import Any

from flows.pipeline import (
    MANIFEST,
    NODE_REWARDS,
    OPERATOR_PAYOUTS,
    POLICY_DIR,
    REJECTED_ROWS,
    TRANSFERS,
)
from payouts.engine import OPERATOR_AMOUNT_COLUMNS, REASONS
from payouts.errors import InputError
from payouts.period import Period
from payouts.policy import parse_policy
from payouts.report import (
    DEFAULT_REJECTED_SHOWN,
    BatchRow,
    ChainInfo,
    EmissionInfo,
    FilledSlot,
    OperatorRow,
    PeriodEmission,
    PreviousMonth,
    RankTier,
    RejectedRow,
    ReportData,
    ReportTotals,
    RunInfo,
    build_report,
    units_to_int,
)

__all__ = [
    "PreviousMonth",
    "emission_history",
    "load_report_data",
    "previous_from_folder",
    "write_report",
]

REPORT_HTML = "report.html"
REPORT_MD = "report.md"

_FIX = "re-run `payouts run` for the period; the files of a run must not be edited"


def _read_manifest(period_dir: Path) -> dict[str, Any]:
    path = period_dir / MANIFEST
    if not path.is_file():
        raise InputError(
            f"no {MANIFEST} in {period_dir}", fix="pass an <out>/<period> folder written by a run"
        )
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{MANIFEST} is not valid JSON: {exc}", file=str(path), fix=_FIX) from None
    if not isinstance(manifest, dict):
        raise InputError(f"{MANIFEST} is not a JSON object", file=str(path), fix=_FIX)
    return manifest


class _Table:
    """An output CSV by column: ``columns[name]`` is that column's values in file order.

    What `load_report_data` reads from ``rows[i][name]`` it reads from ``columns[name][i]``: the
    same strings, without building a dict per row (100k rows for node_rewards.csv). As with
    ``dict(zip(header, row))``, a repeated header name keeps its last column.
    """

    __slots__ = ("columns", "rows")

    def __init__(self, columns: dict[str, list[str]], rows: int) -> None:
        self.columns = columns
        self.rows = rows

    def __getitem__(self, name: str) -> list[str]:
        return self.columns[name]

    def get(self, name: str) -> list[str] | None:
        return self.columns.get(name)


def _plain_lines(text: str) -> list[str] | None:
    """`text` split on ``\n`` when `str.split` cuts it exactly as `csv.reader` would, else None.

    That is when it has no ``"`` (so no quoting), no ``\r`` (the only other line end csv
    knows), no NUL, and no line longer than `csv.field_size_limit` (so csv refuses no field).
    Then csv's records are: a blank line -> ``[]``; any other line -> ``line.split(",")``.
    """
    if '"' in text or "\r" in text or "\x00" in text:
        return None
    lines = text.split("\n")
    if max(map(len, lines)) > csv.field_size_limit():
        return None
    return lines


def _read_csv(period_dir: Path, name: str, manifest: dict[str, Any], columns: tuple[str, ...]) -> _Table:
    """The columns of an output CSV whose SHA-256 matches the manifest's record of it.

    Same checks, in the same order and with the same messages, as reading it row by row with
    `csv.reader` into ``dict(zip(header, row))`` (blank lines skipped, as csv.DictReader): the
    SHA-256, a missing column (row 1), then the first row whose field count differs from the
    header's. A file `_plain_lines` accepts (in practice every output but rejected_rows.csv, whose
    values may be quoted) skips csv: the field count of a line is its ``,`` count + 1, and when
    every row has the header's width, column j is every width-th item of one split of the joined
    rows. Any other file goes through `csv.reader` as before.
    """
    path = period_dir / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name} is missing", file=str(path), fix=_FIX) from None
    recorded = {o.get("name"): o.get("sha256") for o in manifest.get("outputs", [])}
    if name not in recorded:
        raise InputError(f"{MANIFEST} does not list {name}", file=str(period_dir / MANIFEST), fix=_FIX)
    actual = hashlib.sha256(data).hexdigest()
    if actual != recorded[name]:
        raise InputError(
            f"SHA-256 {actual} differs from the manifest's {recorded[name]}: the file changed after the run",
            file=str(path),
            fix=_FIX,
        )
    text = data.decode("utf-8")
    lines = _plain_lines(text)
    if lines is not None:
        header = lines[0].split(",") if lines[0] else []  # csv.reader gives [] for a blank line
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(f"no column {missing[0]!r}", file=str(path), row=1, fix=_FIX)
    width = len(header)
    if lines is not None:
        body = list(filter(None, lines[1:]))  # blank lines skipped
        if set(map(str.count, body, repeat(","))) - {width - 1}:
            ragged = next(line for line in body if line.count(",") != width - 1)
            raise InputError(
                f"a row has {ragged.count(',') + 1} fields, not {width}", file=str(path), fix=_FIX
            )
        # every row has `width` fields: field j of row i is item i * width + j of the joined split
        flat = ",".join(body).split(",") if body else []
        return _Table({h: flat[j::width] for j, h in enumerate(header)}, len(body))
    rows = [row for row in reader if row]  # blank lines skipped
    ragged_row = next((row for row in rows if len(row) != width), None)
    if ragged_row is not None:
        raise InputError(f"a row has {len(ragged_row)} fields, not {width}", file=str(path), fix=_FIX)
    by_column = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in header]
    return _Table(dict(zip(header, by_column, strict=True)), len(rows))


def _operator_row(texts: tuple[str, ...]) -> OperatorRow:
    """One operator_payouts.csv row (its `OPERATOR_AMOUNT_COLUMNS` values, in that order) as
    `OperatorRow` holds it: addresses as text, the node count as int, money as Decimal."""
    values: dict[str, str | int | Decimal] = {}
    for column, text in zip(OPERATOR_AMOUNT_COLUMNS, texts, strict=True):
        if column in ("operator_address", "payout_address"):
            values[column] = text
        else:
            values[column] = int(text) if column == "eligible_nodes" else Decimal(text)
    return OperatorRow(**values)  # type: ignore[arg-type]


def _rank_tiers(manifest: dict[str, Any], policy_dir: Path) -> tuple[RankTier, ...]:
    """The rank tiers of the policy file whose SHA-256 the manifest records."""
    pol = manifest.get("policy") or {}
    want = pol.get("sha256")
    source = str(pol.get("source") or "")
    candidates: list[Path] = []
    if source.endswith(".toml"):
        candidates.append(Path(source))
    candidates.append(policy_dir / f"{pol.get('name')}.toml")
    candidates += sorted(policy_dir.glob("*.toml"))
    for path in candidates:
        if not path.is_file():
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == want:
            policy = parse_policy(data, source=str(path))
            return tuple(RankTier(t.first, t.last, t.usd, t.max_per_operator) for t in policy.rank_tiers)
    raise InputError(
        f"no policy file with SHA-256 {want} (policy {pol.get('name')} version {pol.get('version')}) "
        f"in {policy_dir}",
        fix="keep every policy version the runs used under policies/ (e.g. phase3-v1.toml)",
    )


def _int_or_none(value: object) -> int | None:
    return None if value is None or value == "" else int(str(value))


#: A run folder: `YYYY-MM` (run 1) or `YYYY-MM-rN` (run N of the period, a top-up).
RUN_FOLDER = re.compile(r"(\d{4}-\d{2})(?:-r([1-9]\d*))?")


def _decimals(manifest: dict[str, Any]) -> int:
    return int((manifest.get("token") or {}).get("decimals", 18))


def _emission_info(manifest: dict[str, Any], path: Path) -> EmissionInfo | None:
    """The manifest's `emission` block (None when the run predates it); amounts checked to be exact."""
    e = manifest.get("emission")
    if e is None:
        return None
    decimals = _decimals(manifest)

    def amount(key: str, optional: bool = False) -> str | None:
        value = e.get(key) if isinstance(e, dict) else None
        if value is None and optional:
            return None
        try:
            units_to_int(str(value), decimals)
        except ValueError:
            raise InputError(
                f"emission.{key} is {value!r}, not an exact COR amount", file=str(path), fix=_FIX
            ) from None
        return str(value)

    try:
        other = int(str(e.get("other_periods_wei")) if isinstance(e, dict) else "")
    except ValueError:
        raise InputError(
            "emission.other_periods_wei is not a wei integer", file=str(path), fix=_FIX
        ) from None
    return EmissionInfo(
        this_run_cor=str(amount("this_run_cor")),
        period_total_cor=str(amount("period_total_cor")),
        other_periods_wei=other,
        cumulative_cor=str(amount("cumulative_cor")),
        allocation_cor=amount("allocation_cor", optional=True),
        monthly_cap_cor=amount("monthly_cap_cor", optional=True),
        remaining_cor=amount("remaining_cor", optional=True),
    )


def _run_folders(out: Path) -> dict[str, tuple[int, Path]]:
    """period -> (highest run number, its folder) over the run folders with a manifest in `out`."""
    latest: dict[str, tuple[int, Path]] = {}
    for child in sorted(out.iterdir()) if out.is_dir() else ():
        m = RUN_FOLDER.fullmatch(child.name)
        if m is None or not (child / MANIFEST).is_file():
            continue
        try:
            period = str(Period.parse(m.group(1)))
        except InputError:  # e.g. 2026-13: not a period folder
            continue
        seq = int(m.group(2) or 1)
        if period not in latest or seq > latest[period][0]:
            latest[period] = (seq, child)
    return latest


def _period_total_wei(manifest: dict[str, Any]) -> int:
    """What a run's period has emitted in all: `emission.period_total_cor`, or for a manifest
    written before the emission block, paid-before + pays (top-up) or the run's total (full run)."""
    e = manifest.get("emission")
    if isinstance(e, dict) and e.get("period_total_cor") is not None:
        return units_to_int(str(e["period_total_cor"]), _decimals(manifest))
    run = manifest.get("run") or {}
    if run.get("kind") == "topup":
        return int(str(run["paid_before_wei"])) + int(str(run["pays_wei"]))
    return int(str(manifest["totals"]["total_wei"]))


def emission_history(period_dir: Path) -> tuple[tuple[PeriodEmission, ...], tuple[str, ...]]:
    """Earlier periods' emission from the sibling run folders, and the folders left out (with why).

    Per earlier period, the folder with the highest run number counts (the period's latest run).
    """
    period_dir = Path(period_dir)
    return _emission_history(period_dir, _read_manifest(period_dir))


def _emission_history(
    period_dir: Path, manifest: dict[str, Any]
) -> tuple[tuple[PeriodEmission, ...], tuple[str, ...]]:
    """`emission_history` with this folder's manifest already read (`load_report_data` has it)."""
    period, decimals = str(manifest["period"]), _decimals(manifest)
    found: list[PeriodEmission] = []
    ignored: list[str] = []
    for p, (seq, folder) in sorted(_run_folders(period_dir.parent).items()):
        if p >= period:
            continue
        try:
            other = _read_manifest(folder)
            if str(other.get("period")) != p:
                raise ValueError(f"its manifest is for period {other.get('period')}")
            run_seq = int((other.get("run") or {}).get("seq", 1))
            if run_seq != seq:
                raise ValueError(f"its manifest is run {run_seq}")
            if _decimals(other) != decimals:
                raise ValueError(f"its token has {_decimals(other)} decimals, this run's {decimals}")
            found.append(PeriodEmission(p, folder.name, _period_total_wei(other)))
        except InputError as exc:
            ignored.append(f"{folder.name} ({exc.message})")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) else f"its manifest has no usable {exc}"
            ignored.append(f"{folder.name} ({reason})")
    return tuple(found), tuple(ignored)


def load_report_data(
    period_dir: Path,
    previous: PreviousMonth | None = None,
    *,
    rejected_shown: int = DEFAULT_REJECTED_SHOWN,
    policy_dir: Path = POLICY_DIR,
) -> ReportData:
    """Everything the report shows, read from a period folder (strings -> Decimal / int, exactly)."""
    manifest = _read_manifest(period_dir)
    nodes = _read_csv(
        period_dir,
        NODE_REWARDS,
        manifest,
        ("node_address", "operator_address", "eligible", "reason", "rank", "rank_slot", "rank_reward_usd"),
    )
    operators = _read_csv(period_dir, OPERATOR_PAYOUTS, manifest, OPERATOR_AMOUNT_COLUMNS)
    transfers = _read_csv(
        period_dir, TRANSFERS, manifest, ("batch", "payout_address", "total_usd", "amount_wei")
    )
    rejected = _read_csv(
        period_dir, REJECTED_ROWS, manifest, ("source_row", "node_address", "column", "check", "value")
    )

    # reason of every node whose eligible is not "true", counted (in file order, like a loop)
    held: dict[str, int] = Counter(compress(nodes["reason"], map("true".__ne__, nodes["eligible"])))
    held_by_reason = tuple((reason, held.get(reason, 0)) for reason in REASONS) + tuple(
        sorted((r, c) for r, c in held.items() if r not in REASONS)
    )

    per_batch: dict[int, list[int]] = {}  # batch -> its row indices, in file order
    for i, b in enumerate(transfers["batch"]):
        per_batch.setdefault(int(b), []).append(i)
    transfer_usd, transfer_wei = transfers["total_usd"], transfers["amount_wei"]
    signed = {int(b["batch"]): b for b in manifest.get("batches") or []}
    batches = tuple(
        BatchRow(
            number=n,
            transfers=len(rows),
            total_usd=sum((Decimal(transfer_usd[i]) for i in rows), Decimal(0)),
            total_wei=sum(int(transfer_wei[i]) for i in rows),
            safe_nonce=_int_or_none(signed.get(n, {}).get("safe_nonce")),
            safe_tx_hash=signed.get(n, {}).get("safe_tx_hash") or None,
        )
        for n, rows in sorted(per_batch.items())
    )

    history, ignored = _emission_history(period_dir, manifest)
    # source_file: absent in files written before it existed (None per row, as dict.get gave)
    rejected_files: list[str] | list[None] = rejected.get("source_file") or [None] * rejected.rows
    t = manifest["totals"]
    chain = manifest.get("chain")
    run = manifest.get("run")
    token = manifest.get("token") or {}
    return ReportData(
        period=str(manifest["period"]),
        policy_name=str(manifest["policy"]["name"]),
        policy_version=str(manifest["policy"]["version"]),
        policy_sha256=str(manifest["policy"]["sha256"]),
        price_usd=Decimal(manifest["price"]["cor_usd"]),
        price_source=str(manifest["price"]["source"]),
        token_symbol=str(token.get("symbol", "COR")),
        token_decimals=int(token.get("decimals", 18)),
        totals=ReportTotals(
            nodes=int(t["nodes"]),
            eligible_nodes=int(t["eligible_nodes"]),
            held_nodes=int(t["held_nodes"]),
            operators=int(t["operators"]),
            total_usd=Decimal(t["total_usd"]),
            transfers=int(t["transfers"]),
            total_wei=int(t["total_wei"]),
            dust_wei=int(t["dust_wei"]),
            rejected_rows=int(t["rejected_rows"])
            if "rejected_rows" in t
            else len(set(zip(rejected_files, rejected["source_row"], strict=True))),
            findings=rejected.rows,
        ),
        held_by_reason=held_by_reason,
        rejected_shown=tuple(
            RejectedRow(
                source_row=row,
                node_address=node,
                column=column,
                check=check,
                value=value,
                source_file=source_file or "",
            )
            for row, node, column, check, value, source_file in zip(
                rejected["source_row"][:rejected_shown],
                rejected["node_address"],
                rejected["column"],
                rejected["check"],
                rejected["value"],
                rejected_files,
                strict=False,  # the first rejected_shown rows
            )
        ),
        operators=tuple(
            _operator_row(row) for row in zip(*(operators[c] for c in OPERATOR_AMOUNT_COLUMNS), strict=True)
        ),
        rank_tiers=_rank_tiers(manifest, policy_dir),
        rank_slots=tuple(
            sorted(
                (
                    FilledSlot(
                        slot=int(nodes["rank_slot"][i]),
                        rank=int(nodes["rank"][i]),
                        node_address=nodes["node_address"][i],
                        operator_address=nodes["operator_address"][i],
                        reward_usd=Decimal(nodes["rank_reward_usd"][i]),
                    )
                    for i in compress(range(nodes.rows), nodes["rank_slot"])  # rows with a slot
                ),
                key=lambda f: f.slot,
            )
        ),
        batches=batches,
        chain=None
        if not chain
        else ChainInfo(
            network=str(chain.get("network")),
            chain_id=int(chain["chain_id"]),
            safe=str(chain["safe"]),
            token=chain.get("token"),
        ),
        run=None
        if not run
        else RunInfo(
            seq=int(run.get("seq", 1)),
            kind=str(run.get("kind", "full")),
            paid_before_wei=_int_or_none(run.get("paid_before_wei")),
            owed_wei=_int_or_none(run.get("owed_wei")),
            pays_wei=_int_or_none(run.get("pays_wei")),
        ),
        previous=previous,
        tool_version=str((manifest.get("tool") or {}).get("version", "")),
        emission=_emission_info(manifest, period_dir / MANIFEST),
        emission_history=history,
        emission_ignored=ignored,
    )


def previous_from_folder(period_dir: Path) -> PreviousMonth | None:
    """The previous month's totals from its latest run folder next to this one
    (`<out>/<previous period>` or, after a top-up, `<out>/<previous period>-rN`), if any."""
    period_dir = Path(period_dir)
    manifest = _read_manifest(period_dir)
    prev = str(Period.parse(str(manifest["period"])).previous())
    latest = _run_folders(period_dir.parent).get(prev)
    if latest is None:
        return None
    t = _read_manifest(latest[1])["totals"]
    return PreviousMonth(
        period=prev,
        total_usd=Decimal(t["total_usd"]),
        total_wei=int(t["total_wei"]),
        eligible_nodes=int(t["eligible_nodes"]),
        operators=int(t["operators"]),
    )


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename: never a half-written report."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:  # default permissions (umask), like the run's outputs
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_report(period_dir: Path, previous: PreviousMonth | None = None) -> tuple[Path, Path]:
    """Write `report.html` and `report.md` into `period_dir` (deterministic bytes); return their paths."""
    period_dir = Path(period_dir)
    html_bytes, md_bytes = build_report(load_report_data(period_dir, previous))
    html_path, md_path = period_dir / REPORT_HTML, period_dir / REPORT_MD
    _write_atomic(html_path, html_bytes)
    _write_atomic(md_path, md_bytes)
    return html_path, md_path
