"""Pandera models of the two inputs, and their parsing into typed frames.

Inputs arrive as tables of *strings* (the loader never lets pandas guess a type, so money never
passes through float and "1e3" or " 0.5" cannot sneak in). Validation has two levels:

* file-level faults (missing column, no rows, a date outside the period, a duplicated operator)
  raise `InputError` - the run stops;
* row-level faults are found by the Pandera schema (lazy, vectorized checks) and returned as
  `Finding` rows; the affected node is held (`invalid_data`), other nodes are paid.

The frame index is the row's CSV line number (header = line 1), so every finding points at a line.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
import pandera.pandas as pa

from payouts.addresses import (
    BAD_CHECKSUM,
    BAD_FORMAT,
    ZERO_ADDRESS,
    check_address_series,
    identify_address_series,
)
from payouts.errors import Finding, InputError
from payouts.period import Period

STATES = ("create", "prepare", "precommit", "commit")
SM_COLUMNS = tuple(c for s in STATES for c in (f"sm_{s}_ok", f"sm_{s}_total"))
METRICS_COLUMNS: tuple[str, ...] = (
    "date",
    "node_address",
    "operator_address",
    "uptime_ratio",
    "response_rate",
    "throughput_tph",
    "ping_ms",
    "global_ping_ms",
    *SM_COLUMNS,
    "tasks_completed",
    "tasks_accurate",
    "stake_pool",
    "stake_cor",
)
REGISTRY_COLUMNS: tuple[str, ...] = (
    "operator_address",
    "payout_address",
    "roles",
    "preapproved",
    "disqualified",
    "bug_points",
)
FLOAT_COLUMNS = ("uptime_ratio", "response_rate", "throughput_tph", "ping_ms", "global_ping_ms")
INT_COLUMNS = (*SM_COLUMNS, "tasks_completed", "tasks_accurate", "stake_pool")

#: uptime_ratio and response_rate are summed exactly as integer nano-units (1e-9): a month of
#: 31 x 0.9 is exactly 0.90. throughput_tph is kept in micro-units (1e-6 tasks/hour).
UPTIME_SCALE = 10**9
THROUGHPUT_SCALE = 10**6
#: Upper bound on throughput_tph (tasks/hour): far above any real node, it keeps exact sums in range.
MAX_THROUGHPUT = 1e8

_INT_RE = r"\d{1,18}"
_DECIMAL_RE = r"\d{1,30}(\.\d{1,18})?"
_DATE_RE = r"\d{4}-\d{2}-\d{2}"


# ---------------------------------------------------------------------------------------------
# Vectorized checks on string columns. Each returns True where the value passes. A value that
# is not a number passes the range checks, so it is reported once (as "number"), not twice.


def _as_float(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.where(s.str.len() > 0), errors="coerce").astype("float64")


def _is_number(s: pd.Series) -> pd.Series:
    v = _as_float(s)
    return pd.Series(np.isfinite(v.to_numpy()), index=s.index)


def _range(lo: float, hi: float | None, lo_open: bool = False) -> pa.Check:
    def fn(s: pd.Series) -> pd.Series:
        v = _as_float(s).to_numpy()
        ok = np.ones(len(v), dtype=bool)
        with np.errstate(invalid="ignore"):
            ok &= (v > lo) if lo_open else (v >= lo)
            if hi is not None:
                ok &= v <= hi
        return pd.Series(ok | ~np.isfinite(v), index=s.index)

    left = "(" if lo_open else "["
    right = "]" if hi is not None else ")"
    name = f"range{left}{lo:g},{'inf' if hi is None else format(hi, 'g')}{right}"
    return pa.Check(fn, name=name)


def _number_check(*, optional: bool = False) -> pa.Check:
    def fn(s: pd.Series) -> pd.Series:
        ok = _is_number(s)
        return ok | (s == "") if optional else ok

    return pa.Check(fn, name="number_or_empty" if optional else "number")


def _regex_check(pattern: str, name: str) -> pa.Check:
    return pa.Check(lambda s: s.str.fullmatch(pattern).fillna(False).astype(bool), name=name)


def _address_checks() -> list[pa.Check]:
    return [
        pa.Check(lambda s: check_address_series(s)[1] != BAD_FORMAT, name=BAD_FORMAT),
        pa.Check(
            lambda s: check_address_series(s)[1] != BAD_CHECKSUM,
            name=BAD_CHECKSUM,
        ),
    ]


def _valid_date(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format="%Y-%m-%d", errors="coerce").notna()


def _le(small: str, big: str) -> pa.Check:
    def fn(df: pd.DataFrame) -> pd.Series:
        a = pd.to_numeric(df[small].where(df[small].str.fullmatch(_INT_RE)), errors="coerce")
        b = pd.to_numeric(df[big].where(df[big].str.fullmatch(_INT_RE)), errors="coerce")
        return (a <= b) | a.isna() | b.isna()

    return pa.Check(fn, name=f"{small}<={big}")


def _unique_date_node(df: pd.DataFrame) -> pd.Series:
    key = df["date"] + "|" + df["node_address"].str.lower()
    return ~key.duplicated(keep=False)


def _str_col(checks: list[pa.Check]) -> pa.Column:
    return pa.Column(pa.String, checks=checks, nullable=False, coerce=False)


def metrics_schema() -> pa.DataFrameSchema:
    """Pandera model of the metrics snapshot (spec 1.1), over string columns."""
    cols: dict[str, pa.Column] = {
        "date": _str_col(
            [
                _regex_check(_DATE_RE, "date_format"),
                pa.Check(_valid_date, name="date_valid"),
            ]
        ),
        "node_address": _str_col(_address_checks()),
        "operator_address": _str_col(_address_checks()),
        "uptime_ratio": _str_col([_number_check(), _range(0, 1)]),
        "response_rate": _str_col([_number_check(), _range(0, 1)]),
        "throughput_tph": _str_col([_number_check(), _range(0, MAX_THROUGHPUT)]),
        "ping_ms": _str_col([_number_check(optional=True), _range(0, None, lo_open=True)]),
        "global_ping_ms": _str_col([_number_check(optional=True), _range(0, None, lo_open=True)]),
        "stake_pool": _str_col(
            [
                _regex_check(_INT_RE, "integer"),
                pa.Check(
                    lambda s: (
                        pd.to_numeric(s.where(s.str.fullmatch(_INT_RE)), errors="coerce").fillna(1) >= 1
                    ),
                    name="range[1,inf)",
                ),
            ]
        ),
        "stake_cor": _str_col([_regex_check(_DECIMAL_RE, "plain_decimal")]),
    }
    for c in (*SM_COLUMNS, "tasks_completed", "tasks_accurate"):
        cols[c] = _str_col([_regex_check(_INT_RE, "integer")])
    checks = [_le(f"sm_{s}_ok", f"sm_{s}_total") for s in STATES]
    checks.append(_le("tasks_accurate", "tasks_completed"))
    checks.append(pa.Check(_unique_date_node, name="duplicate_date_node"))
    return pa.DataFrameSchema(cols, checks=checks, strict=False, ordered=False, name="metrics")


def registry_schema(roles: frozenset[str]) -> pa.DataFrameSchema:
    """Pandera model of the operator registry (spec 1.2), over string columns."""

    def roles_ok(s: pd.Series) -> pd.Series:
        parts = s.str.split(";")
        return parts.map(lambda xs: all(x.strip() in roles for x in xs if x.strip() != "")).astype(bool)

    bool_check = _regex_check(r"(?i:true|false)", "boolean")
    return pa.DataFrameSchema(
        {
            "operator_address": _str_col(_address_checks()),
            "payout_address": _str_col(
                [
                    *_address_checks(),
                    pa.Check(
                        lambda s: s.str.lower() != ZERO_ADDRESS,
                        name="not_zero_address",
                    ),
                ]
            ),
            "roles": _str_col([pa.Check(roles_ok, name="known_roles")]),
            "preapproved": _str_col([bool_check]),
            "disqualified": _str_col([bool_check]),
            "bug_points": _str_col([_regex_check(_INT_RE, "integer")]),
        },
        strict=False,
        name="operators",
    )


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedMetrics:
    """Typed valid rows, the nodes held for invalid data, and the findings."""

    rows: pd.DataFrame  # valid rows only, typed (see _typed_metrics)
    held: pd.DataFrame  # node_address, operator_address of nodes with >= 1 rejected row
    findings: tuple[Finding, ...]
    row_count: int


@dataclass(frozen=True)
class ParsedRegistry:
    operators: pd.DataFrame  # valid rows, typed
    held_operators: frozenset[str]  # EIP-55 operators whose registry row was rejected
    findings: tuple[Finding, ...]
    row_count: int


def require_columns(df: pd.DataFrame, required: tuple[str, ...], source: str) -> None:
    """File-level: every required column present exactly once, and at least one row."""
    cols = [str(c) for c in df.columns]
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise InputError(
            f"duplicated header column(s) {dupes}", file=source, row=1, fix="keep one column of each name"
        )
    missing = [c for c in required if c not in cols]
    if missing:
        raise InputError(
            f"missing column(s) {missing}; found {cols}",
            file=source,
            row=1,
            fix=f"the header must contain {list(required)}",
        )
    if len(df) == 0:
        raise InputError("the file has a header but no rows", file=source, fix="export the data rows too")


def _findings(
    err: pa.errors.SchemaErrors | None, raw: pd.DataFrame, source: str, node_col: str
) -> list[Finding]:
    if err is None:
        return []
    fc = err.failure_cases
    fc = fc[fc["index"].notna()]
    out: set[Finding] = set()
    # A dataframe-wide check is reported once per column of a failing row: keep one finding,
    # naming the column the check is about.
    wide = fc["schema_context"].astype(str) == "DataFrameSchema"
    fc = fc.assign(column=fc["column"].where(~wide, None))
    for rec in fc[["index", "column", "check"]].drop_duplicates().itertuples(index=False):
        row = int(rec.index)
        check = str(rec.check)
        column = rec.column if isinstance(rec.column, str) and rec.column in raw.columns else None
        if column is None:
            column = {"duplicate_date_node": "node_address"}.get(check, check.split("<=")[0])
        value = str(raw.at[row, column]) if column in raw.columns else ""
        if check == "duplicate_date_node":
            value = f"{raw.at[row, 'date']} {raw.at[row, 'node_address']}"
        out.add(Finding(source, row, str(raw.at[row, node_col]), column, check, value))
    return sorted(out)


def _validate(schema: pa.DataFrameSchema, raw: pd.DataFrame) -> pa.errors.SchemaErrors | None:
    try:
        schema.validate(raw, lazy=True)
    except pa.errors.SchemaErrors as err:
        return err
    return None


def parse_metrics(raw: pd.DataFrame, source: str, period: Period) -> ParsedMetrics:
    """Validate the metrics snapshot (strings, index = CSV line) and type its valid rows."""
    require_columns(raw, METRICS_COLUMNS, source)
    raw = raw.loc[:, list(METRICS_COLUMNS)]
    # File-level: a (valid) date outside the period means the wrong file or the wrong --period.
    dates = pd.to_datetime(raw["date"], format="%Y-%m-%d", errors="coerce")
    outside = dates.notna() & ((dates < period.start_ts) | (dates > period.end_ts))
    if outside.any():
        line = int(raw.index[outside.to_numpy().nonzero()[0][0]])
        raise InputError(
            f"date {raw.at[line, 'date']} is outside the period {period} "
            f"({int(outside.sum())} row(s) outside)",
            file=source,
            row=line,
            column="date",
            fix="pass the snapshot of this month only, or the right --period",
        )
    findings = _findings(_validate(metrics_schema(), raw), raw, source, "node_address")
    bad_lines = {f.source_row for f in findings}
    bad = raw.index.isin(sorted(bad_lines))

    fixed_nodes, _ = check_address_series(raw["node_address"])
    fixed_ops, _ = check_address_series(raw["operator_address"])
    # Held nodes: every node identifiable from a rejected row - including one whose address on that
    # row has a wrong checksum but is otherwise 0x + 40 hex (same lowercase address = same node).
    held = pd.DataFrame(
        {
            "node_address": identify_address_series(raw.loc[bad, "node_address"]),
            "operator_address": identify_address_series(raw.loc[bad, "operator_address"]),
        }
    )
    held = held[held["node_address"].notna()]
    held = held.drop_duplicates("node_address").reset_index(drop=True)

    good = raw[~bad]
    rows = _typed_metrics(good, fixed_nodes[~bad], fixed_ops[~bad], dates[~bad])
    return ParsedMetrics(rows=rows, held=held, findings=tuple(findings), row_count=len(raw))


def _typed_metrics(good: pd.DataFrame, nodes: pd.Series, ops: pd.Series, dates: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame(index=good.index)
    out["source_row"] = good.index.to_numpy(dtype="int64")
    out["date"] = dates.to_numpy()
    out["node_address"] = nodes.astype(str)
    out["operator_address"] = ops.astype(str)
    up = pd.to_numeric(good["uptime_ratio"]).to_numpy(dtype="float64")
    out["uptime_nano"] = np.rint(up * UPTIME_SCALE).astype("int64")
    resp = pd.to_numeric(good["response_rate"]).to_numpy(dtype="float64")
    out["response_nano"] = np.rint(resp * UPTIME_SCALE).astype("int64")
    tph = pd.to_numeric(good["throughput_tph"]).to_numpy(dtype="float64")
    out["throughput_micro"] = np.rint(tph * THROUGHPUT_SCALE).astype("int64")
    for c in ("ping_ms", "global_ping_ms"):
        out[c] = pd.to_numeric(good[c].where(good[c] != ""), errors="coerce").astype("float64")
    for c in INT_COLUMNS:
        out[c] = pd.to_numeric(good[c]).astype("int64")
    out["stake_cor"] = pd.Series([Decimal(v) for v in good["stake_cor"]], index=good.index, dtype=object)
    return out.reset_index(drop=True)


def parse_registry(raw: pd.DataFrame, source: str, roles: frozenset[str]) -> ParsedRegistry:
    """Validate the operator registry (strings, index = CSV line) and type its valid rows."""
    require_columns(raw, REGISTRY_COLUMNS, source)
    raw = raw.loc[:, list(REGISTRY_COLUMNS)]
    fixed_ops, _ = check_address_series(raw["operator_address"])
    key = fixed_ops.fillna(raw["operator_address"].str.lower())
    dup = key.duplicated(keep=False)
    if dup.any():
        lines = [int(i) for i in raw.index[dup.to_numpy()]]
        raise InputError(
            f"operator {raw.at[lines[0], 'operator_address']} appears more than once (lines {lines[:10]})",
            file=source,
            row=lines[0],
            column="operator_address",
            fix="keep exactly one registry row per operator",
        )
    findings = _findings(_validate(registry_schema(roles), raw), raw, source, "operator_address")
    bad = raw.index.isin(sorted({f.source_row for f in findings}))
    held_ops = frozenset(str(x) for x in fixed_ops[bad].dropna())
    good = raw[~bad]
    fixed_pay, _ = check_address_series(good["payout_address"])
    ops = pd.DataFrame(
        {
            "operator_address": fixed_ops[~bad].astype(str).to_numpy(),
            "payout_address": fixed_pay.astype(str).to_numpy(),
            "roles": [frozenset(x.strip() for x in r.split(";") if x.strip() != "") for r in good["roles"]],
            "preapproved": good["preapproved"].str.lower().eq("true").to_numpy(dtype=bool),
            "disqualified": good["disqualified"].str.lower().eq("true").to_numpy(dtype=bool),
            "bug_points": pd.to_numeric(good["bug_points"]).astype("int64").to_numpy(),
        }
    )
    return ParsedRegistry(ops, held_ops, tuple(findings), len(raw))
